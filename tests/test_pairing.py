"""Side by side, each side has a user of its own (perfgate.pairing), on a real
Locust Environment. Each case runs in a process of its own
(tests/fixtures/plugin/pairing.py): importing Locust monkey-patches the
interpreter. HTTP users, every task structure and the plugin's run info are
run for real in tests/e2e/test_locustfile_corpus.py."""

import json
import subprocess
import sys

import pytest

from tests.conftest import FIXTURES

HOSTS = "baseline=rpc://b:1,candidate=rpc://c:2"


def run(case: str) -> dict:
    script = FIXTURES / "plugin" / "pairing.py"
    proc = subprocess.run([sys.executable, str(script), case, HOSTS], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_each_side_has_its_own_user_client_and_on_start():
    out = run("RpcUser")
    assert out["paired"] is True
    assert sorted(out["fired"]) == [
        ["[baseline] Greeter/SayHello", "rpc://b:1"],
        ["[candidate] Greeter/SayHello", "rpc://c:2"],
    ]
    # on_start ran once per side, on that side's client; each task saw its own side's token
    assert out["tokens"] == ["token from rpc://b:1", "token from rpc://c:2"]
    assert out["client after the task"] == "rpc://default"  # the spawned user's own is untouched


def test_an_error_on_one_side_does_not_keep_the_other_from_running():
    out = run("Failing")
    assert sorted(name for name, _ in out["fired"]) == ["[baseline] Greeter/SayHello", "[candidate] Greeter/SayHello"]
    assert out["say_hello"] == "ValueError('baseline only')"  # raised once, to Locust's loop
    assert out["leave"] == "InterruptTaskSet()"  # steering, passed on once both sides have run
    assert out["user_errors"] == []  # nothing else to report: the one error is Locust's to log


def test_a_markov_taskset_follows_one_chain_on_both_sides():
    fired = [name for name, _ in run("Markov")["fired"]]
    steps = [sorted(fired[i : i + 2]) for i in range(0, len(fired), 2)]
    assert steps == [["[baseline] first", "[candidate] first"], ["[baseline] second", "[candidate] second"],
                     ["[baseline] first", "[candidate] first"]]  # fmt: skip


@pytest.mark.parametrize("case", ["FixedUser"])
def test_a_user_the_plugin_cannot_point_at_a_host_runs_unlabelled_against_its_own(case):
    out = run(case)
    assert out["paired"] is False
    assert out["fired"] == [["Greeter/SayHello", "rpc://default"]]
