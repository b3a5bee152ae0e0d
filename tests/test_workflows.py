"""The workflows, dependabot, compose file and Dockerfile: validated offline, and
each validation shown to catch what it should on a deliberately broken copy."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from perfgate import gate_options, reporters
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


def test_triggers_and_inputs():
    wf = workflow_rules.load(GATE)
    assert set(wf["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert wf["on"]["push"]["branches"] == ["main"]
    inputs = wf["on"]["workflow_dispatch"]["inputs"]
    assert {k: v["type"] for k, v in inputs.items()} == {
        "users": "number",
        "spawn-rate": "number",
        "run-time": "string",
    }


def test_inputs_reach_shell_only_through_env_and_are_validated_first():
    steps = list(workflow_rules.steps(workflow_rules.load(GATE)))
    names = [s["name"] for s in steps]
    assert names.index("Validate inputs") < names.index("Install") < names.index("Run the gate")
    validate = steps[names.index("Validate inputs")]
    assert validate["env"] == {
        "INPUT_USERS": "${{ inputs.users }}",
        "INPUT_SPAWN_RATE": "${{ inputs.spawn-rate }}",
        "INPUT_RUN_TIME": "${{ inputs.run-time }}",
    }
    assert all("inputs." not in s.get("run", "") for s in steps)


def test_steps_run_the_commands_the_readme_documents():
    steps = {s["name"]: s for s in workflow_rules.steps(workflow_rules.load(GATE))}
    assert "pip install -r requirements.txt" in steps["Install"]["run"] and "pip install -r requirements.txt" in README
    assert steps["Run the gate"]["run"].startswith("perf-gate ") and "perf-gate" in README
    env = steps["Run the gate"]["env"]
    parser = gate_options.build_parser({k: "x" for k in env})
    assert parser.get_default("backend") == "x" and parser.get_default("compare_to") == "x"  # the names the code reads
    assert "github.event.pull_request.base.sha" in env["PERF_GATE_COMPARE_TO"]


def test_artifact_and_junit_paths_match_what_the_checker_writes():
    wf = workflow_rules.load(GATE)
    results = wf["jobs"]["gate"]["env"]["RESULTS"]
    assert Path(results) == gate_options.build_parser().get_default("results")
    steps = {s["name"]: s for s in workflow_rules.steps(wf)}
    assert steps["Upload results"]["with"]["path"] == "${{ env.RESULTS }}/"
    junit = steps["Publish JUnit report"]["with"]["report_paths"]
    assert junit == "${{ env.RESULTS }}/junit.xml" and "junit.xml" in reporters.FILE_REPORTERS
    assert steps["Publish JUnit report"]["with"]["annotate_only"] is True  # read-only token on forks
    assert steps["Publish JUnit report"]["with"]["skip_annotations"] is True  # the gate's own are the only ones
    assert steps["Dump docker compose logs"]["if"] == "failure()"
    assert steps["Upload results"]["if"].startswith("always()")


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
CALLERS = [CALLER, EXAMPLE]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def test_action_validates_and_zizmor_finds_nothing():
    proc = schema_check("vendor.github-actions", ACTION)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = zizmor(ACTION)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("caller", CALLERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_caller_validates_and_passes_the_same_rules(caller):
    proc = schema_check("vendor.github-workflows", caller)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert workflow_rules.problems(caller) == []
    proc = zizmor(caller)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("caller", CALLERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_caller_gives_only_inputs_the_action_has_and_every_required_one(caller):
    inputs = yaml.safe_load(ACTION.read_text())["inputs"]
    [step] = [s for s in workflow_rules.steps(workflow_rules.load(caller)) if "/perf-gate@" in s.get("uses", "")]
    given = set(step["with"])
    assert given <= set(inputs), given - set(inputs)
    assert {name for name, spec in inputs.items() if spec.get("required")} <= given


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
