"""The gate's summary as one comment on the pull request, updated by each run.

Runs in the `perf-gate comment` workflow (on `workflow_run`), which has a
token that may write pull-request comments but checks out and runs only the
default branch's code: the pull request's code, a fork's included, ran in the
gate's own workflow with a read-only token. What comes from that run (the
results artifact) is treated as text to post, never as instructions: the pull
request is found from GitHub's own event (the run's head commit and branch),
and the text is cut to GitHub's comment limit.

    python -m perfgate.comment --results gate-results --event "$GITHUB_EVENT_PATH"

Standard library only: the workflow installs nothing.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

MARKER = "<!-- perf-gate comment -->"
BOT = "github-actions[bot]"
MAX_BODY = 65_000  # GitHub refuses comments over 65,536 characters


class Api(Protocol):
    def get(self, path: str, query: Mapping[str, str] | None = None) -> object: ...
    def send(self, method: str, path: str, body: Mapping[str, object]) -> object: ...


@dataclass
class GitHubApi:
    """The REST API with the workflow's token."""

    token: str
    base: str = "https://api.github.com"

    def _call(self, method: str, path: str, body: Mapping[str, object] | None = None) -> object:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def get(self, path: str, query: Mapping[str, str] | None = None) -> object:
        return self._call("GET", path + ("?" + urllib.parse.urlencode(query) if query else ""))

    def send(self, method: str, path: str, body: Mapping[str, object]) -> object:
        return self._call(method, path, body)


class NoPullRequest(Exception):
    pass


def pull_request(event: Mapping, api: Api) -> int:
    """The open pull request whose head is the gate run's head commit. From the
    event when GitHub lists it (same repository); for a fork, where it does not,
    by the fork's owner and branch, then checked against the head commit."""
    run = event["workflow_run"]
    repo = event["repository"]["full_name"]
    sha = run["head_sha"]
    for pr in run.get("pull_requests") or []:
        if pr["head"]["sha"] == sha:
            return int(pr["number"])
    owner = run["head_repository"]["owner"]["login"]
    pulls = api.get(f"/repos/{repo}/pulls", {"state": "open", "head": f"{owner}:{run['head_branch']}"})
    for pr in pulls if isinstance(pulls, list) else []:
        if pr["head"]["sha"] == sha:
            return int(pr["number"])
    raise NoPullRequest(f"no open pull request has head {sha} ({owner}:{run['head_branch']})")


def body(results: Path, run: Mapping) -> str:
    """The summary the gate wrote, with where it came from; cut to fit."""
    link = f"[perf-gate run]({run['html_url']}) on `{run['head_sha'][:12]}`"
    try:
        text = (results / "summary.md").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = f"## Perf gate: ⛔ error\n\nThe gate left no summary (it ended `{run.get('conclusion')}`): see the run."
    footer = f"\n\n---\n{link}: the whole report, `junit.xml` and `timeline.png` are in its artifact.\n"
    room = MAX_BODY - len(MARKER) - len(footer) - 40
    if len(text) > room:
        text = text[:room].rsplit("\n", 1)[0] + "\n\n*(cut to fit a comment: the run has all of it)*"
    return f"{MARKER}\n{text.rstrip()}{footer}"


def upsert(api: Api, repo: str, number: int, text: str) -> str:
    """Update this gate's comment on the pull request, or create it: one per pull request."""
    page = 1
    while True:
        comments = api.get(f"/repos/{repo}/issues/{number}/comments", {"per_page": "100", "page": str(page)})
        if not isinstance(comments, list) or not comments:
            break
        for c in comments:
            if c.get("user", {}).get("login") == BOT and c.get("body", "").startswith(MARKER):
                api.send("PATCH", f"/repos/{repo}/issues/comments/{c['id']}", {"body": text})
                return "updated"
        page += 1
    api.send("POST", f"/repos/{repo}/issues/{number}/comments", {"body": text})
    return "created"


def run(event: Mapping, results: Path, api: Api) -> str:
    workflow_run = event.get("workflow_run") or {}
    if workflow_run.get("event") != "pull_request":
        return f"not a pull request's run ({workflow_run.get('event')}): no comment"
    number = pull_request(event, api)
    action = upsert(api, event["repository"]["full_name"], number, body(results, workflow_run))
    return f"comment {action} on pull request #{number}"


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, required=True, help="the gate run's results artifact, downloaded")
    parser.add_argument("--event", type=Path, required=True, help="the workflow_run event ($GITHUB_EVENT_PATH)")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
        api = GitHubApi(env["GITHUB_TOKEN"], env.get("GITHUB_API_URL") or GitHubApi.base)
        print(run(event, args.results, api))
    except NoPullRequest as exc:
        print(f"::warning title=perf gate comment::{exc}")
    except (OSError, ValueError, KeyError, urllib.error.URLError) as exc:
        print(f"::error title=perf gate comment::{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
