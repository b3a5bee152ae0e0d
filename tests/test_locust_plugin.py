"""The plugin's side-by-side pairing on a real Locust Environment: which users
it points at each host, and how their entries are labelled. Each case runs in
a process of its own (tests/fixtures/plugin/pairing.py): importing Locust
monkey-patches the interpreter."""

import json
import subprocess
import sys

from tests.conftest import FIXTURES

HOSTS = "baseline=rpc://b:1,candidate=rpc://c:2"


def fired(user_class: str) -> list[list[str]]:
    script = FIXTURES / "plugin" / "pairing.py"
    proc = subprocess.run([sys.executable, str(script), user_class, HOSTS], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_user_with_a_client_of_its_own_is_paired_through_perfgate_client():
    seen = fired("RpcUser")
    assert sorted(seen[:2]) == [
        ["[baseline] Greeter/SayHello", "rpc://b:1"],
        ["[candidate] Greeter/SayHello", "rpc://c:2"],
    ]
    assert seen[2:] == [
        ["client after the task", "rpc://default"],  # its own client back, for on_start and the rest
        ["[baseline] Greeter/SayHello", "-"],  # outside a task: labelled once, never twice
        ["Greeter/SayHello", "-"],  # and not labelled at all
    ]


def test_a_user_the_plugin_cannot_point_at_a_host_runs_unlabelled_against_its_own():
    assert fired("FixedUser")[:2] == [["Greeter/SayHello", "rpc://default"], ["client after the task", "rpc://default"]]
