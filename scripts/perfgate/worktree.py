"""The baseline's source: REF checked out into its own git worktree, so both
backends run at once from their own code."""

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from perfgate.errors import ConfigError, NoVerdict


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


@contextmanager
def baseline_worktree(repo: Path, ref: str, where: Path) -> Iterator[Path]:
    if shutil.which("git") is None:
        raise NoVerdict("git is not installed; --compare-to needs it")
    resolved = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if resolved.returncode != 0:
        raise ConfigError(f"--compare-to {ref}: not a commit in {repo} (fetch it first, e.g. git fetch origin {ref})")
    if where.exists():
        _git(repo, "worktree", "remove", "--force", str(where))
        shutil.rmtree(where, ignore_errors=True)
    added = _git(repo, "worktree", "add", "--detach", str(where), resolved.stdout.strip())
    if added.returncode != 0:
        raise NoVerdict(f"git worktree add failed: {added.stderr.strip()}")
    try:
        yield where.resolve()
    finally:
        _git(repo, "worktree", "remove", "--force", str(where))
        _git(repo, "worktree", "prune")
