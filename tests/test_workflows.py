"""The workflows, dependabot, compose file and Dockerfile: validated offline, and
each validation shown to catch what it should on a deliberately broken copy."""

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from perfgate import gate_options, inputs, reporters
from tests import workflow_expressions as expressions
from tests import workflow_rules
from tests.conftest import ROOT

BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
GATE = ROOT / ".github" / "workflows" / "perf-gate.yml"
COMMENT = ROOT / ".github" / "workflows" / "perf-gate-comment.yml"
README = (ROOT / "README.md").read_text()
ACTIONS_DOC = (ROOT / "docs" / "github-actions.md").read_text()  # the workflows' page


def tool(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True)


def schema_check(schema: str, path: Path) -> subprocess.CompletedProcess:
    return tool("check-jsonschema", "--builtin-schema", schema, str(path))


def zizmor(path: Path) -> subprocess.CompletedProcess:
    return tool("zizmor", "--offline", "--min-severity", "medium", str(path))


# -- the real files pass ---------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_schema(path):
    proc = schema_check("vendor.github-workflows", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dependabot_schema():
    proc = schema_check("vendor.dependabot", ROOT / ".github" / "dependabot.yml")
    assert proc.returncode == 0, proc.stdout


def test_compose_schema():
    proc = schema_check("vendor.compose-spec", ROOT / "docker-compose.yml")
    assert proc.returncode == 0, proc.stdout


def test_hadolint_dockerfile():
    proc = tool("hadolint", "backend/Dockerfile")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_no_findings_at_medium_or_above():
    proc = zizmor(ROOT / ".github")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_rules(path):
    assert workflow_rules.problems(path) == []


# -- the gate workflow agrees with the code and the docs -------------------------------


def job_steps(path: Path, job: str) -> dict[str, dict]:
    return {s["name"]: s for s in workflow_rules.load(path)["jobs"][job]["steps"]}


def test_triggers_and_inputs():
    wf = workflow_rules.load(GATE)
    assert set(wf["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert wf["on"]["push"]["branches"] == ["main"]
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert {k: v["type"] for k, v in inputs.items()} == {
        "users": "number",
        "spawn-rate": "number",
        "run-time": "string",
        "compare-to": "string",
        "runners": "number",
    }
    assert inputs["runners"]["default"] == 1 and inputs["compare-to"]["default"] == ""


INPUT_ENV = {
    "INPUT_USERS": "${{ inputs.users }}",
    "INPUT_SPAWN_RATE": "${{ inputs.spawn-rate }}",
    "INPUT_RUN_TIME": "${{ inputs.run-time }}",
}


def test_inputs_reach_shell_only_through_env_and_are_validated_first():
    wf = workflow_rules.load(GATE)
    # the plan job checks every input, installs nothing, and everything else waits for it
    plan = job_steps(GATE, "plan")
    check = plan["Validate inputs and plan the runners"]
    assert check["run"] == "PYTHONPATH=scripts python -m perfgate.inputs"
    assert set(check["env"]) == {*INPUT_ENV, "INPUT_RUNNERS", "INPUT_COMPARE_TO"}
    assert INPUT_ENV.items() <= check["env"].items()
    assert not any("pip install" in step.get("run", "") for step in plan.values())
    assert wf["jobs"]["gate"]["needs"] == "plan" and "plan" in wf["jobs"]["merge"]["needs"]
    # the gate job hands the same inputs to Locust, checked again before its install
    names = list(job_steps(GATE, "gate"))
    assert names.index("Validate inputs") < names.index("Install") < names.index("Run the gate")
    assert job_steps(GATE, "gate")["Validate inputs"]["env"] == INPUT_ENV
    assert all("inputs." not in s.get("run", "") for s in workflow_rules.steps(wf))


def test_steps_run_the_commands_the_readme_documents():
    steps = job_steps(GATE, "gate")
    assert "pip install -r requirements.txt" in steps["Install"]["run"] and "pip install -r requirements.txt" in README
    assert steps["Run the gate"]["run"].startswith("perf-gate ") and "perf-gate" in README
    env = steps["Run the gate"]["env"]
    parser = gate_options.build_parser({k: "x" for k in env})
    for name in ("backend", "compare_to", "max_run_time", "shard"):  # the names the code reads
        assert parser.get_default(name) == "x", name
    assert "github.event.pull_request.base.sha" in env["PERF_GATE_COMPARE_TO"]
    merge = job_steps(GATE, "merge")
    assert merge["Install"]["run"] == steps["Install"]["run"]
    assert merge["Merge and judge"]["run"] == 'perf-gate merge shards/* --results "$RESULTS"'


@pytest.mark.parametrize("job", ["gate", "merge"])
def test_artifact_and_junit_paths_match_what_the_checker_writes(job):
    wf = workflow_rules.load(GATE)
    results = wf["jobs"][job]["env"]["RESULTS"]
    assert Path(results) == gate_options.build_parser().get_default("results")
    steps = job_steps(GATE, job)
    assert steps["Upload results"]["with"]["path"] == "${{ env.RESULTS }}/"
    junit = steps["Publish JUnit report"]["with"]["report_paths"]
    assert junit == "${{ env.RESULTS }}/junit.xml" and "junit.xml" in reporters.FILE_REPORTERS
    assert steps["Publish JUnit report"]["with"]["annotate_only"] is True  # read-only token on forks
    assert steps["Publish JUnit report"]["with"]["skip_annotations"] is True  # the gate's own are the only ones
    assert steps["Upload results"]["if"].startswith("always()")
    if job == "gate":
        assert steps["Dump docker compose logs"]["if"] == "failure()"
        assert steps["Upload the shard's results"]["with"]["path"] == "${{ env.RESULTS }}/"


# -- the plan, the matrix and the merge, followed for each kind of run -----------------

RUN = {"run_id": "4242", "run_attempt": "1", "repository": "owner/perf-gate"}
BASE = "b" * 40


def dispatch_inputs(**given) -> dict:
    """The inputs context of a manual run: the workflow's defaults, then what was given."""
    inputs = workflow_rules.load(GATE)["on"]["workflow_dispatch"]["inputs"]
    return {name: spec.get("default") for name, spec in inputs.items()} | given


def event(name: str, runners_var: str = "", **given) -> dict:
    """The contexts the plan job sees for one kind of run."""
    github = {**RUN, "event_name": name, "event": {}, "ref": "refs/heads/main", "job": "plan"}
    if name == "pull_request":
        github |= {"event": {"pull_request": {"number": 7, "base": {"sha": BASE}}}, "ref": "refs/pull/7/merge"}
    inputs = dispatch_inputs(**given) if name == "workflow_dispatch" else {}
    return {"github": github, "inputs": inputs, "vars": {"PERF_GATE_RUNNERS": runners_var} if runners_var else {}}


def plan(ctx: dict, tmp_path: Path) -> tuple[int, dict]:
    """The plan job as the runner would run it: its step's env filled in, the
    input check run on it, and the step's outputs mapped to the job's."""
    job = workflow_rules.load(GATE)["jobs"]["plan"]
    [step] = [s for s in job["steps"] if s.get("id") == "plan"]
    env = {k: expressions.to_string(expressions.value(v, ctx)) for k, v in step["env"].items()}
    output = tmp_path / f"output-{len(list(tmp_path.iterdir()))}"
    code = inputs.main({**env, "GITHUB_OUTPUT": str(output)})
    written = dict(line.split("=", 1) for line in output.read_text().splitlines())
    step_ctx = {**ctx, "steps": {"plan": {"outputs": written}}}
    return code, {k: expressions.to_string(expressions.value(v, step_ctx)) for k, v in job["outputs"].items()}


def after_plan(ctx: dict, outputs: dict, **needs) -> dict:
    return {**ctx, "needs": {"plan": {"result": "success", "outputs": outputs}, **needs}, "env": {}}


@pytest.mark.parametrize(
    "ctx, runners",
    [
        (event("pull_request"), "1"),
        (event("pull_request", runners_var="3"), "3"),
        (event("push", runners_var="3"), "1"),  # a push judges the thresholds alone: nothing to spread
        (event("workflow_dispatch"), "1"),
        (event("workflow_dispatch", **{"runners": 4, "compare-to": "origin/main"}), "4"),
    ],
    ids=["pull request", "pull request, PERF_GATE_RUNNERS=3", "push", "manual", "manual, 4 runners"],
)
def test_the_plan_job_gives_the_runners_and_the_matrix(ctx, runners, tmp_path):
    code, outputs = plan(ctx, tmp_path)
    assert code == 0
    assert outputs == {
        "runners": runners,
        "shards": json.dumps(list(range(1, int(runners) + 1)), separators=(",", ":")),
    }
    matrix = workflow_rules.load(GATE)["jobs"]["gate"]["strategy"]["matrix"]["shard"]
    assert expressions.value(matrix, after_plan(ctx, outputs)) == list(range(1, int(runners) + 1))


@pytest.mark.parametrize(
    "ctx, message",
    [
        (event("workflow_dispatch", runners=3), "runners: 3 runners spread the trials of a comparison"),
        (event("workflow_dispatch", runners=0, **{"compare-to": "main"}), "runners: expected 1 to 20, got 0"),
        (event("workflow_dispatch", runners=2.5, **{"compare-to": "main"}), "runners: expected a whole number"),
        (event("pull_request", runners_var="many"), "runners: expected a whole number, got 'many'"),
        (event("workflow_dispatch", users=0), "users: expected 1 to 2000, got 0"),
    ],
    ids=["manual, no comparison", "manual, 0", "manual, 2.5", "bad repository variable", "bad users"],
)
def test_the_plan_job_refuses_bad_inputs_before_any_runner_starts(ctx, message, tmp_path, capsys):
    code, outputs = plan(ctx, tmp_path)
    assert code == 2 and outputs == {"runners": "", "shards": ""}
    assert f"::error title=invalid workflow input::{message}" in capsys.readouterr().out
    merge = workflow_rules.load(GATE)["jobs"]["merge"]
    failed = {**ctx, "needs": {"plan": {"result": "failure", "outputs": {}}, "gate": {"result": "skipped"}}}
    assert not expressions.condition(merge["if"], failed, {"failure": True})  # nothing to merge


@pytest.mark.parametrize(
    "expression, expected",
    [  # GitHub's documented behaviour, which the tests above rely on
        ("'a' && 'b'", "b"),
        ("'' && 'b'", ""),
        ("null || 'x'", "x"),
        ("0 || 'x'", "x"),
        ("'0' || 'x'", "0"),  # a non-empty string is true
        ("1 == '1'", True),  # loose equality: as numbers
        ("'Pull_Request' == 'pull_request'", True),  # strings without case
        ("null == ''", True),
        ("!'' && !null && !0", True),
        ("format('{0}/{1}', 2, '3')", "2/3"),
        ("format('{0}', null)", ""),
        ("format('{{{0}}}', 1)", "{1}"),
        ("fromJSON('[1,2,3]')", [1, 2, 3]),
        ("a.b-c['d']", 5),
        ("a.missing.deeper", None),
        ("1 < 2 && 2 <= 2 && 'b' > 'A'", True),
    ],
)
def test_the_expression_evaluator_follows_githubs_rules(expression, expected):
    assert expressions.evaluate(expression, {"a": {"b-c": {"d": 5}}}) == expected


def test_the_expression_evaluator_reads_conditions_as_the_runner_does():
    assert expressions.condition(None, {}) and not expressions.condition(None, {}, {"failure": True})
    assert not expressions.condition("true", {}, {"failure": True})  # success() && ... when no status check
    assert expressions.condition("${{ always() }}", {}, {"cancelled": True})
    assert expressions.condition("!cancelled()", {}, {"failure": True})
    assert expressions.value("x-${{ 1 }}-${{ 'y' }}", {}) == "x-1-y"
    with pytest.raises(ValueError, match="does not know: hashFiles"):
        expressions.evaluate("hashFiles('x')", {})
    with pytest.raises(ValueError):
        expressions.evaluate("a ==", {})


def gate_jobs(ctx: dict, outputs: dict) -> list[dict]:
    """Each job of the gate's matrix: its name, the gate's env, the steps that run
    when everything passes, and the artifacts it uploads."""
    job = workflow_rules.load(GATE)["jobs"]["gate"]
    jobs = []
    for shard in expressions.value(job["strategy"]["matrix"]["shard"], after_plan(ctx, outputs)):
        here = after_plan(ctx, outputs) | {"matrix": {"shard": shard}, "steps": {"gate": {"outcome": "success"}}}
        here["github"] = {**here["github"], "job": "gate"}
        steps = {s["name"]: s for s in job["steps"] if expressions.condition(s.get("if"), here)}
        env = {k: expressions.to_string(expressions.value(v, here)) for k, v in steps["Run the gate"]["env"].items()}
        uploads = [
            expressions.value(s["with"]["name"], here) for s in steps.values() if "upload-artifact" in s.get("uses", "")
        ]
        jobs.append(
            {"name": expressions.value(job["name"], here), "env": env, "steps": list(steps), "uploads": uploads}
        )
    return jobs


def test_with_one_runner_the_gate_job_is_the_whole_gate_as_before(tmp_path):
    ctx = event("pull_request")
    _, outputs = plan(ctx, tmp_path)
    [job] = gate_jobs(ctx, outputs)
    assert job["name"] == "perf gate"
    assert job["env"]["PERF_GATE_SHARD"] == "" and job["env"]["PERF_GATE_MAX_RUN_TIME"] == "5m"
    assert job["env"]["PERF_GATE_COMPARE_TO"] == BASE
    assert "Publish JUnit report" in job["steps"] and "Upload the shard's results" not in job["steps"]
    assert job["uploads"] == ["perf-results-pull_request-4242-1"]
    args = gate_options.parse_args([], job["env"])  # the CLI takes what the job gives
    assert args.backend == "compose" and args.shard is None and args.max_run_time == "300s" and args.compare_to == BASE
    merge = workflow_rules.load(GATE)["jobs"]["merge"]
    assert not expressions.condition(merge["if"], after_plan(ctx, outputs, gate={"result": "success"}))


def test_with_more_runners_each_gate_job_is_one_shard(tmp_path):
    ctx = event("pull_request", runners_var="3")
    _, outputs = plan(ctx, tmp_path)
    jobs = gate_jobs(ctx, outputs)
    assert [job["name"] for job in jobs] == [f"perf gate, shard {i}/3" for i in (1, 2, 3)]
    assert [job["env"]["PERF_GATE_SHARD"] for job in jobs] == ["1/3", "2/3", "3/3"]
    for i, job in enumerate(jobs, 1):
        assert job["env"]["PERF_GATE_MAX_RUN_TIME"] == ""  # the merge decides; a shard makes its planned trials
        assert "Publish JUnit report" not in job["steps"] and "Upload results" not in job["steps"]
        assert job["uploads"] == [f"perf-shard-{i}-pull_request-4242-1"]
        args = gate_options.parse_args([], job["env"])  # the CLI takes it, --shard without --max-run-time
        assert args.shard == (i, 3) and args.compare_to == BASE


def test_the_merge_job_downloads_every_shard_and_uploads_what_the_comment_downloads(tmp_path):
    ctx = event("pull_request", runners_var="3")
    _, outputs = plan(ctx, tmp_path)
    shard_uploads = [name for job in gate_jobs(ctx, outputs) for name in job["uploads"]]
    merge = workflow_rules.load(GATE)["jobs"]["merge"]
    here = after_plan(ctx, outputs, gate={"result": "success"}) | {"steps": {"merge": {"outcome": "success"}}}
    steps = {s["name"]: s for s in merge["steps"]}
    download = steps["Download the shards' results"]["with"]
    assert "merge-multiple" not in download and download["path"] == "shards"  # a folder per shard
    pattern = expressions.value(download["pattern"], here)
    _, one = plan(event("pull_request"), tmp_path)
    [single_upload] = gate_jobs(event("pull_request"), one)[0]["uploads"]
    merged_upload = expressions.value(steps["Upload results"]["with"]["name"], here)
    assert [name for name in shard_uploads if fnmatch.fnmatchcase(name, pattern)] == shard_uploads
    assert not fnmatch.fnmatchcase(merged_upload, pattern) and not fnmatch.fnmatchcase(single_upload, pattern)
    assert not fnmatch.fnmatchcase("perf-shard-1-push-4242-1", pattern)  # another event's
    assert not fnmatch.fnmatchcase("perf-shard-1-pull_request-4242-2", pattern)  # another attempt's
    assert merged_upload == single_upload  # the name the comment workflow looks for, with one runner or more
    comment = job_steps(COMMENT, "comment")["Download the gate's results"]["with"]["pattern"]
    assert fnmatch.fnmatchcase(merged_upload, comment)
    assert expressions.condition(steps["Publish JUnit report"]["if"], here)


def test_the_comment_workflow_never_downloads_a_shard():
    comment = job_steps(COMMENT, "comment")["Download the gate's results"]["with"]["pattern"]
    upload = job_steps(GATE, "gate")["Upload the shard's results"]["with"]["name"]
    for event_name in ("pull_request", "push", "workflow_dispatch"):
        for shard in (1, 2, 20):
            ctx = {"github": {**RUN, "event_name": event_name}, "matrix": {"shard": shard}}
            assert not fnmatch.fnmatchcase(expressions.value(upload, ctx), comment)


@pytest.mark.parametrize(
    "gate_result, status, runs",
    [("success", {}, True), ("failure", {"failure": True}, True), ("cancelled", {"cancelled": True}, False)],
)
def test_the_merge_job_runs_after_every_shard_even_a_failed_one_but_not_when_cancelled(
    gate_result, status, runs, tmp_path
):
    ctx = event("pull_request", runners_var="3")
    _, outputs = plan(ctx, tmp_path)
    merge = workflow_rules.load(GATE)["jobs"]["merge"]
    assert merge["needs"] == ["plan", "gate"]
    assert expressions.condition(merge["if"], after_plan(ctx, outputs, gate={"result": gate_result}), status) is runs


def test_act_payloads_exist_and_the_docs_show_the_commands():
    for event in ("pull_request", "workflow_dispatch"):
        assert (ROOT / ".github" / "act" / f"{event}.json").exists()
        assert re.search(rf"act {event} .*-e \.github/act/{event}\.json", ACTIONS_DOC)


# -- each validation catches a deliberately broken copy ----------------------------------


def broken_copy(tmp_path: Path, old: str, new: str, source: Path = GATE) -> Path:
    text = source.read_text()
    assert old in text
    dest = tmp_path / ".github" / "workflows" / source.name if source.suffix == ".yml" else tmp_path / source.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text.replace(old, new, 1))
    return dest


def test_schema_catches_a_misspelt_key(tmp_path):
    path = broken_copy(tmp_path, "runs-on: ubuntu-latest", "runs_on: ubuntu-latest")
    assert schema_check("vendor.github-workflows", path).returncode != 0


def test_schema_catches_an_unknown_event(tmp_path):
    path = broken_copy(tmp_path, "\n  pull_request:", "\n  pull_requests:")
    assert schema_check("vendor.github-workflows", path).returncode != 0


def test_rules_and_zizmor_catch_an_input_expanded_in_shell(tmp_path):
    path = broken_copy(
        tmp_path,
        'run: perf-gate --results "$RESULTS"',
        'run: perf-gate --results "$RESULTS" --users ${{ inputs.users }} --run-time ${{ inputs.run-time }}',
    )
    assert any("expression inside run" in p for p in workflow_rules.problems(path))
    proc = tool("zizmor", "--offline", "--min-severity", "low", str(path.parent.parent))
    assert proc.returncode != 0 and "template-injection" in proc.stdout


def test_rules_and_zizmor_catch_an_unpinned_action(tmp_path):
    path = broken_copy(
        tmp_path, "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "actions/checkout@v4"
    )
    assert any("not pinned" in p for p in workflow_rules.problems(path))
    assert zizmor(path.parent.parent).returncode != 0


def test_rules_and_zizmor_catch_persisted_credentials(tmp_path):
    path = broken_copy(tmp_path, "persist-credentials: false", "fetch-tags: false")
    assert "checkout without persist-credentials: false" in workflow_rules.problems(path)
    assert zizmor(path.parent.parent).returncode != 0


def test_rules_catch_wide_permissions(tmp_path):
    path = broken_copy(tmp_path, "permissions: {}", "permissions: write-all")
    assert any("least privilege" in p for p in workflow_rules.problems(path))


def test_compose_schema_catches_a_bad_depends_on(tmp_path):
    path = broken_copy(tmp_path, "condition: service_healthy", "condition: healthy", source=ROOT / "docker-compose.yml")
    assert schema_check("vendor.compose-spec", path).returncode != 0


def test_hadolint_catches_an_unpinned_base_image(tmp_path):
    path = broken_copy(
        tmp_path, "FROM python:3.11-slim-bookworm", "FROM python:latest", source=ROOT / "backend" / "Dockerfile"
    )
    proc = tool("hadolint", str(path))
    assert proc.returncode != 0 and "DL3007" in proc.stdout


def test_dependabot_schema_catches_an_unknown_ecosystem(tmp_path):
    path = broken_copy(
        tmp_path,
        "package-ecosystem: github-actions",
        "package-ecosystem: gha",
        source=ROOT / ".github" / "dependabot.yml",
    )
    assert schema_check("vendor.dependabot", path).returncode != 0


def test_tools_are_installed_from_the_registry():
    for name in ("check-jsonschema", "zizmor", "hadolint"):
        assert shutil.which(name, path=str(BIN)), name


# -- the comment workflow: a write token, and only the default branch's code -----------


def test_comment_workflow_runs_after_the_gate_with_only_what_it_needs():
    wf = workflow_rules.load(COMMENT)
    assert wf["on"] == {"workflow_run": {"workflows": ["perf-gate"], "types": ["completed"]}}
    assert workflow_rules.load(GATE)["name"] == "perf-gate"  # the name it waits for
    [job] = wf["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert job["if"] == "github.event.workflow_run.event == 'pull_request'"
    steps = {step["name"]: step for step in job["steps"]}
    checkout = steps["Check out the default branch"]
    assert "ref" not in checkout["with"] and "repository" not in checkout["with"]  # never the pull request's code
    download = steps["Download the gate's results"]["with"]
    assert download["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["pattern"] == "perf-results-pull_request-*"  # the gate's upload on pull requests
    assert "perf-results-${{ github.event_name }}-" in GATE.read_text()
    post = steps["Post or update the comment"]
    assert "python3 -m perfgate.comment --results gate-results" in post["run"]  # stdlib only: nothing installed
    assert not any("pip install" in step.get("run", "") for step in job["steps"])


def test_rules_catch_a_privileged_workflow_checking_out_the_pull_request(tmp_path):
    old = "persist-credentials: false\n\n      - name: Download"
    ref = "ref: ${{ github.event.workflow_run.head_sha }}"
    path = broken_copy(tmp_path, old, old.replace("\n\n", f"\n          {ref}\n\n"), source=COMMENT)
    assert workflow_rules.problems(path) == ["a workflow_run workflow checks out other code than the default branch's"]


# -- the composite action, and a repository that calls it -------------------------------

ACTION = ROOT / "action.yml"
CALLER = ROOT / "tests" / "fixtures" / "caller" / ".github" / "workflows" / "perf.yml"
EXAMPLE = ROOT / "examples" / "github-workflow" / "perf.yml"  # the complete caller the docs give to copy
CALLERS = [CALLER, EXAMPLE]  # one call of the action each, also run through the action in tests/e2e
SHARDED_EXAMPLE = ROOT / "examples" / "github-workflow" / "perf-sharded.yml"  # shards on 3 runners, then a merge
WORKFLOW_CALLERS = [*CALLERS, SHARDED_EXAMPLE]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def test_action_validates_and_zizmor_finds_nothing():
    proc = schema_check("vendor.github-actions", ACTION)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = zizmor(ACTION)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("caller", WORKFLOW_CALLERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_caller_validates_and_passes_the_same_rules(caller):
    proc = schema_check("vendor.github-workflows", caller)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert workflow_rules.problems(caller) == []
    proc = zizmor(caller)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("caller", WORKFLOW_CALLERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_caller_gives_only_inputs_the_action_has_and_every_required_one(caller):
    spec = yaml.safe_load(ACTION.read_text())["inputs"]
    calls = [s for s in workflow_rules.steps(workflow_rules.load(caller)) if "/perf-gate@" in s.get("uses", "")]
    assert calls
    for step in calls:
        given = set(step["with"])
        assert given <= set(spec), given - set(spec)
        assert {name for name, it in spec.items() if it.get("required")} <= given
        assert ("backend-cmd" in given) != ("merge" in given), given  # a service to gate, or shards to merge


def through_action(given: dict, github: dict, tmp_path: Path) -> dict:
    """The action's steps for these inputs, as the runner would take them: the input
    check run on its env, then which steps run, their env and the artifact's name."""
    spec = yaml.safe_load(ACTION.read_text())
    ctx = {"inputs": {n: str(it.get("default", "")) for n, it in spec["inputs"].items()} | given, "github": github}
    steps = {s["name"]: s for s in spec["runs"]["steps"]}
    env = {k: expressions.to_string(expressions.value(v, ctx)) for k, v in steps["Validate inputs"]["env"].items()}
    output = tmp_path / f"output-{len(list(tmp_path.iterdir()))}"
    code = inputs.main({**env, "GITHUB_OUTPUT": str(output)})
    ctx["steps"] = {"inputs": {"outputs": dict(line.split("=", 1) for line in output.read_text().splitlines())}}
    running = [name for name, s in steps.items() if expressions.condition(s.get("if"), ctx, {"failure": code != 0})]
    return {
        "code": code,
        "running": running,
        "env": {
            name: {k: expressions.to_string(expressions.value(v, ctx)) for k, v in steps[name].get("env", {}).items()}
            for name in running
        },
        "run": {name: steps[name].get("run") for name in running},
        "upload": expressions.value(steps["Upload results"]["with"]["name"], ctx),
    }


PULL_REQUEST = {**RUN, "event_name": "pull_request", "event": {"pull_request": {"base": {"sha": BASE}}}}
SERVICE = {"backend-cmd": "uvicorn app.main:app --port {port}"}


def test_the_action_runs_the_whole_gate_by_default(tmp_path):
    got = through_action(SERVICE, {**PULL_REQUEST, "job": "perf"}, tmp_path)
    assert got["code"] == 0
    assert "Run the gate" in got["running"] and "Merge the shards and judge" not in got["running"]
    assert got["env"]["Run the gate"]["PERF_GATE_SHARD"] == ""
    assert got["upload"] == "perf-results-perf-4242-1"  # as before: one per job


def test_the_action_runs_one_shard_under_a_name_of_its_own(tmp_path):
    got = through_action({**SERVICE, "shard": "2/3"}, {**PULL_REQUEST, "job": "perf"}, tmp_path)
    assert got["code"] == 0 and "Run the gate" in got["running"]
    env = got["env"]["Run the gate"]
    assert env["PERF_GATE_SHARD"] == "2/3"
    args = gate_options.parse_args([], env)  # the CLI takes what the action gives
    assert args.shard == (2, 3) and args.compare_to == BASE and args.backend_cmd == SERVICE["backend-cmd"]
    assert got["upload"] == "perf-shard-2-perf-4242-1"  # matrix jobs share github.job: the shard tells them apart


def test_the_action_merges_instead_of_running_the_gate(tmp_path):
    got = through_action({"merge": "shards", "thresholds": "perf/thresholds.json"}, {**RUN, "job": "merge"}, tmp_path)
    assert got["code"] == 0
    assert "Merge the shards and judge" in got["running"] and "Run the gate" not in got["running"]
    assert got["env"]["Merge the shards and judge"] == {
        "MERGE": "shards",
        "PERF_GATE_THRESHOLDS": "perf/thresholds.json",
        "RESULTS": "perf-results",
    }
    assert got["run"]["Merge the shards and judge"] == (
        'perf-gate merge "$MERGE"/*/ --results "$RESULTS" --thresholds "$PERF_GATE_THRESHOLDS"'
    )
    assert got["upload"] == "perf-results-merge-4242-1"
    verdict = yaml.safe_load(ACTION.read_text())["outputs"]["verdict"]["value"]
    assert expressions.value(verdict, {"steps": {"merge": {"outputs": {"verdict": "fail"}}}}) == "fail"


@pytest.mark.parametrize(
    "given, message",
    [
        ({}, "backend-cmd: expected the command that starts your service"),  # and the gate would load nothing
        ({**SERVICE, "shard": "3/2"}, "shard: expected I/N with 1 <= I <= N <= 20, got 3/2"),
        ({**SERVICE, "shard": "1/3", "compare-to": "none"}, "shard: 1/3 is one part of a comparison"),
        ({**SERVICE, "shard": "1/3", "merge": "shards"}, "merge: judges the shards' results once all are done"),
    ],
)
def test_the_action_refuses_what_cannot_work_before_installing(given, message, tmp_path, capsys):
    got = through_action(given, {**PULL_REQUEST, "job": "perf"}, tmp_path)
    assert got["code"] == 2 and message in capsys.readouterr().out
    assert "Install perf-gate" not in got["running"] and "Upload results" in got["running"]
    verdict = yaml.safe_load(ACTION.read_text())["outputs"]["verdict"]["value"]
    assert expressions.value(verdict, {"steps": {"inputs": {"outputs": {"verdict": "error"}}}}) == "error"


def test_the_sharded_example_merges_exactly_what_its_shards_upload(tmp_path):
    wf = workflow_rules.load(SHARDED_EXAMPLE)
    [(shard_job, job)] = [(n, j) for n, j in wf["jobs"].items() if "strategy" in j]
    [(merge_job, merge)] = [(n, j) for n, j in wf["jobs"].items() if n != shard_job]
    [call] = [s for s in job["steps"] if "/perf-gate@" in s.get("uses", "")]
    matrix = job["strategy"]["matrix"]["shard"]
    assert job["strategy"]["fail-fast"] is False and matrix == list(range(1, len(matrix) + 1))
    uploads = []
    for i in matrix:
        given = {
            k: expressions.to_string(expressions.value(v, {"matrix": {"shard": i}})) for k, v in call["with"].items()
        }
        assert given["shard"] == f"{i}/{len(matrix)}"  # every shard of as many as the matrix runs
        got = through_action(given, {**PULL_REQUEST, "job": shard_job}, tmp_path)
        assert got["code"] == 0 and got["env"]["Run the gate"]["PERF_GATE_SHARD"] == given["shard"]
        uploads.append(got["upload"])
    assert len(set(uploads)) == len(matrix)
    steps = {s["name"]: s for s in merge["steps"]}
    download = steps["Download the shards' results"]["with"]
    assert "merge-multiple" not in download
    pattern = expressions.value(download["pattern"], {"github": {**PULL_REQUEST, "job": merge_job}})
    assert all(fnmatch.fnmatchcase(name, pattern) for name in uploads), (pattern, uploads)
    [judge] = [s for s in merge["steps"] if "/perf-gate@" in s.get("uses", "")]
    assert judge["with"]["merge"] == download["path"] and judge["with"]["thresholds"] == call["with"]["thresholds"]
    got = through_action(judge["with"], {**PULL_REQUEST, "job": merge_job}, tmp_path)
    assert got["code"] == 0 and "Merge the shards and judge" in got["running"]
    assert not fnmatch.fnmatchcase(got["upload"], pattern)  # the merged results are not taken for a shard's
    assert merge["needs"] == shard_job
    after = {"needs": {shard_job: {"result": "failure"}}}
    assert expressions.condition(merge["if"], after, {"failure": True})
    assert not expressions.condition(merge["if"], after, {"cancelled": True})


def action_env(step: dict, inputs: dict[str, str], event: dict) -> dict[str, str]:
    """A step's env as the runner would fill it in, for the two forms the action uses:
    `inputs.x` and `a || b`; anything else fails the test, so new expressions get covered."""

    def value(expr: str) -> str:
        for alternative in expr.split("||"):
            name = alternative.strip()
            if name.startswith("inputs."):
                got = inputs[name.removeprefix("inputs.")]
            elif name == "github.event.pull_request.base.sha":
                got = event.get("pull_request", {}).get("base", {}).get("sha", "")
            else:
                raise AssertionError(f"an expression the test does not evaluate: {expr}")
            if got:
                return got
        return ""

    return {k: EXPRESSION.sub(lambda m: value(m[1]), str(v)) for k, v in step.get("env", {}).items()}
