"""The pull request comment, built from workflow_run event payloads (in the
shape GitHub documents) against a stand-in for GitHub's REST API."""

import io
import json

import pytest

from perfgate import comment, summary
from perfgate.check import FAIL, PASS, RuleResult, Verdict
from tests.conftest import FIXTURES

EVENTS = FIXTURES / "events"


class FakeApi:
    """Pull requests and comments as GitHub's REST API returns them; records writes."""

    def __init__(self, pulls=(), comments=()) -> None:
        self.pulls, self.comments, self.calls = list(pulls), list(comments), []

    def get(self, path, query=None):
        self.calls.append(("GET", path, dict(query or {})))
        if path.endswith("/pulls"):
            owner, _, branch = query["head"].partition(":")
            return [p for p in self.pulls if p["head"]["label"] == f"{owner}:{branch}"]
        if path.endswith("/comments"):
            page = int(query["page"])
            return self.comments[(page - 1) * 100 : page * 100]
        raise AssertionError(path)

    def send(self, method, path, body):
        self.calls.append((method, path, body))
        return {}


def event(name: str) -> dict:
    return json.loads((EVENTS / f"workflow_run-{name}.json").read_text())


def results(tmp_path, text="## Perf gate: ❌ fail\n\n**1 of 3 rules failed**\n"):
    folder = tmp_path / "gate-results"
    folder.mkdir()
    (folder / "summary.md").write_text(text)
    return folder


def test_same_repository_pull_request_gets_a_new_comment(tmp_path):
    api = FakeApi()
    assert comment.run(event("same-repo"), results(tmp_path), api) == "comment created on pull request #42"
    method, path, body = api.calls[-1]
    assert (method, path) == ("POST", "/repos/acme/orders/issues/42/comments")
    assert body["body"].startswith(comment.MARKER + "\n## Perf gate: ❌ fail")
    assert "[perf-gate run](https://github.com/acme/orders/actions/runs/9001) on `111111111111`" in body["body"]
    assert not any(call[1].endswith("/pulls") for call in api.calls)  # the event named it


def test_the_same_comment_is_updated_by_the_next_run(tmp_path):
    mine = {"id": 5, "user": {"login": comment.BOT}, "body": comment.MARKER + "\nold"}
    someone = {"id": 6, "user": {"login": "reviewer"}, "body": comment.MARKER + "\nquoted by a person"}
    filler = [{"id": 100 + i, "user": {"login": "reviewer"}, "body": "lgtm"} for i in range(100)]
    api = FakeApi(comments=[someone, *filler, mine])  # ours is on the second page
    assert comment.run(event("same-repo"), results(tmp_path), api) == "comment updated on pull request #42"
    method, path, body = api.calls[-1]
    assert (method, path) == ("PATCH", "/repos/acme/orders/issues/comments/5")
    assert not any(call[0] == "POST" for call in api.calls)


def test_a_forks_pull_request_is_found_by_owner_branch_and_head_commit(tmp_path):
    sha = "3333333333333333333333333333333333333333"
    pulls = [
        {"number": 7, "head": {"label": "outsider:main", "sha": "0" * 40}},  # the branch moved on: not this run
        {"number": 8, "head": {"label": "outsider:main", "sha": sha}},
        {"number": 9, "head": {"label": "acme:main", "sha": sha}},
    ]
    api = FakeApi(pulls=pulls)
    assert comment.run(event("fork"), results(tmp_path), api) == "comment created on pull request #8"
    assert ("GET", "/repos/acme/orders/pulls", {"state": "open", "head": "outsider:main"}) in api.calls


def test_no_pull_request_for_the_commit_is_not_commented(tmp_path):
    api = FakeApi()
    with pytest.raises(comment.NoPullRequest, match="no open pull request has head 3333"):
        comment.run(event("fork"), results(tmp_path), api)
    assert not any(call[0] in ("POST", "PATCH") for call in api.calls)


def test_a_push_run_is_not_commented(tmp_path):
    api = FakeApi()
    assert comment.run(event("push"), results(tmp_path), api) == "not a pull request's run (push): no comment"
    assert api.calls == []


def test_a_run_without_results_still_says_so(tmp_path):
    api = FakeApi()
    comment.run(event("same-repo"), tmp_path / "nothing", api)
    text = api.calls[-1][2]["body"]
    assert "The gate left no summary (it ended `failure`)" in text


def test_a_huge_summary_is_cut_to_fit_a_comment(tmp_path):
    api = FakeApi()
    huge = "## Perf gate: ❌ fail\n\n" + "| row | x |\n" * 20_000
    comment.run(event("same-repo"), results(tmp_path, huge), api)
    text = api.calls[-1][2]["body"]
    assert len(text) <= 65_536 and "*(cut to fit a comment: the run has all of it)*" in text
    assert text.rstrip().endswith("are in its artifact.")


def test_main_reports_api_errors_as_an_annotation(tmp_path, capsys):
    event_path = tmp_path / "event.json"
    event_path.write_text((EVENTS / "workflow_run-same-repo.json").read_text())
    env = {"GITHUB_TOKEN": "t", "GITHUB_API_URL": "http://127.0.0.1:9"}  # nothing listens there
    code = comment.main(["--results", str(results(tmp_path)), "--event", str(event_path)], env=env)
    assert code == 1 and capsys.readouterr().out.startswith("::error title=perf gate comment::")


def test_the_comment_shows_tolerances_as_the_summary_does(tmp_path):
    """The comment is the summary: a tolerance reads `≤ ×1.07` there as in the job summary."""
    verdict = Verdict(
        results=[
            RuleResult("ASYNC s", "p50_regression", 0.02, 103.0, FAIL, "m", baseline=100.0, interval=(1.021, 1.04)),
            RuleResult("POST /r", "p95_regression", 0.07, 101.0, PASS, "m", baseline=100.0, interval=(0.98, 1.03)),
        ]
    )
    text = io.StringIO()
    summary.markdown(verdict, text)
    api = FakeApi()
    comment.run(event("same-repo"), results(tmp_path, text.getvalue()), api)
    posted = api.calls[-1][2]["body"]
    assert "tolerated ≤ ×1.02)" in posted and "| ≤ ×1.07 |" in posted and "| ≤ ×1.02 |" in posted
    assert "%" not in posted.split("### Against the baseline", 1)[1].split("###", 1)[0]
