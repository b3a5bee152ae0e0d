"""Locustfiles in the styles Locust's documentation shows, each run for a few
seconds plainly and side by side (A/A) against local catch-all servers that
keep their own sessions, tokens and cart ids (tests/fixtures/locustfiles/
server.py): side by side, every entry of the plain run appears on both sides
with the plain run's failure ratio, and Locust reports no exception."""

import csv
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

pytestmark = pytest.mark.e2e

CORPUS = FIXTURES / "locustfiles"
PLUGIN = Path(__file__).parents[2] / "scripts" / "perfgate" / "locust_entry" / "perfgate_plugin.py"
EXTRA = {"tagged.py": ["--tags", "browse"]}
FILES = sorted(p.name for p in CORPUS.glob("*.py") if p.name != "server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """baseline, candidate and another service, each a server of its own."""
    procs, urls = [], {}
    try:
        for name in ("baseline", "candidate", "other"):
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, str(CORPUS / "server.py"), str(port)], stdout=subprocess.PIPE, text=True
            )
            procs.append(proc)
            assert proc.stdout.readline().strip() == "ready"
            urls[name] = f"http://127.0.0.1:{port}"
        yield urls
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
            proc.stdout.close()


def locust(locustfile: str, out: Path, servers: dict[str, str], *extra: str) -> subprocess.Popen:
    out.mkdir(parents=True)
    cmd = [
        sys.executable, "-m", "locust", "-f", f"{CORPUS / locustfile},{PLUGIN}", "--headless",
        "--users", "4", "--spawn-rate", "20", "--run-time", "3s", "--stop-timeout", "2",
        "--host", servers["candidate"], "--csv", str(out / "locust"), "--raw-samples", str(out / "raw.csv"),
        "--run-info", str(out / "run_info.json"), "--only-summary", "--exit-code-on-error", "0",
        *EXTRA.get(locustfile, []), *extra,
    ]  # fmt: skip
    env = {**os.environ, "OTHER_HOST": servers["other"]}
    return subprocess.Popen(cmd, cwd=out, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stats(out: Path) -> dict[str, tuple[int, int]]:
    """'TYPE name' -> (requests, failures), the Aggregated row left out."""
    with (out / "locust_stats.csv").open() as f:
        return {
            f"{row['Type']} {row['Name']}": (int(row["Request Count"]), int(row["Failure Count"]))
            for row in csv.DictReader(f)
            if row["Type"]
        }


def finished(proc: subprocess.Popen) -> str:
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    return output


def side_of(entries: dict[str, tuple[int, int]], side: str) -> dict[str, tuple[int, int]]:
    prefix = f"[{side}] "
    return {
        f"{key.split(' ', 1)[0]} {key.split(' ', 1)[1].removeprefix(prefix)}": value
        for key, value in entries.items()
        if key.split(" ", 1)[1].startswith(prefix)
    }


def ratio(requests: int, failures: int) -> float:
    return round(failures / requests, 2) if requests else 0.0


def run_both(locustfile: str, tmp_path: Path, servers: dict[str, str]) -> tuple[dict, dict, dict, str]:
    hosts = f"baseline={servers['baseline']},candidate={servers['candidate']}"
    plain = locust(locustfile, tmp_path / "plain", servers)
    paired = locust(locustfile, tmp_path / "paired", servers, "--compare-hosts", hosts)
    output = finished(plain) + finished(paired)
    info = json.loads((tmp_path / "paired" / "run_info.json").read_text())
    return stats(tmp_path / "plain"), stats(tmp_path / "paired"), info, output


@pytest.mark.parametrize("locustfile", FILES)
def test_a_locustfile_runs_side_by_side_as_it_runs_plainly(locustfile, tmp_path, servers):
    plain, paired, info, output = run_both(locustfile, tmp_path, servers)
    assert "Traceback" not in output, output
    for out in ("plain", "paired"):
        exceptions = (tmp_path / out / "locust_exceptions.csv").read_text().splitlines()
        assert len(exceptions) <= 1, exceptions  # the header only
    unpaired, elsewhere = info["unpaired_users"], info["not_compared_hosts"]
    uncompared = {key for key in paired if not key.split(" ", 1)[1].startswith("[")}
    assert bool(uncompared) == bool(unpaired or elsewhere), (uncompared, info)  # every one named in the run info
    compared = {key: value for key, value in plain.items() if key not in uncompared}
    assert compared, plain
    for side in ("baseline", "candidate"):
        ours = side_of(paired, side)
        assert ours.keys() == compared.keys(), (side, ours, plain)
        for entry, (requests, failures) in ours.items():
            assert requests > 0
            assert ratio(requests, failures) == ratio(*plain[entry]), (side, entry, ours, plain)
    if locustfile == "unpairable.py":
        assert list(unpaired) == ["Fixed"] and "perfgate_client" in unpaired["Fixed"]
        assert "queue publish" in paired  # run against --host, unlabelled: not compared
    else:
        assert unpaired == {}
    if locustfile == "host_and_urls.py":
        with (tmp_path / "paired" / "raw.csv").open() as f:
            sent = sum(1 for row in csv.DictReader(f) if row["name"] == "/health")
        assert paired["GET /health"][0] > 0 and elsewhere == {servers["other"]: sent}
    else:
        assert elsewhere == {}
    if locustfile == "stepped_shape.py":
        assert info["shape"] == "Steps"
