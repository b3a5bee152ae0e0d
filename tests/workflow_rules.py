"""What matters in a workflow file, as functions that return the problems found,
so tests can run them on the real workflow and on broken copies."""

import re
from pathlib import Path

import yaml

SHA_PIN = re.compile(r"^\s*(?:-\s*)?uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s*v\d+(?:\.\d+)*\s*$")


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:  # PyYAML reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict):
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def problems(path: Path) -> list[str]:
    found = []
    text = path.read_text()
    wf = load(path)
    for line in text.splitlines():
        if re.match(r"^\s*(?:-\s*)?uses:", line) and not line.strip().removeprefix("- ").startswith("uses: ./"):
            if not SHA_PIN.match(line):
                found.append(f"not pinned to a full SHA with a version comment: {line.strip()}")
    privileged = bool({"workflow_run", "pull_request_target"} & set(wf.get("on") or {}))
    for step in steps(wf):
        if privileged and step.get("uses", "").startswith("actions/checkout@"):
            if {"ref", "repository"} & set(step.get("with") or {}):
                found.append(f"a {'/'.join(wf['on'])} workflow checks out other code than the default branch's")
        if "name" not in step:
            found.append(f"step without a name: {step}")
        if "${{" in step.get("run", ""):
            found.append(f"expression inside run (use env:): {step.get('name')}")
        if step.get("uses", "").startswith("actions/checkout@"):
            if step.get("with", {}).get("persist-credentials") is not False:
                found.append("checkout without persist-credentials: false")
    if wf.get("permissions") not in ({}, {"contents": "read"}):
        found.append(f"workflow permissions not least privilege: {wf.get('permissions')}")
    for name, job in wf["jobs"].items():
        if "timeout-minutes" not in job:
            found.append(f"job {name} has no timeout-minutes")
    if "concurrency" not in wf:
        found.append("no concurrency group")
    return found
