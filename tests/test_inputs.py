import json

import pytest

from perfgate import inputs


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({}, {}),
        ({"INPUT_USERS": "", "INPUT_SPAWN_RATE": "", "INPUT_RUN_TIME": ""}, {}),
        (
            {"INPUT_USERS": "50", "INPUT_SPAWN_RATE": "2.5", "INPUT_RUN_TIME": "20m30s"},
            {"LOCUST_USERS": "50", "LOCUST_SPAWN_RATE": "2.5", "LOCUST_RUN_TIME": "1230s"},
        ),
        ({"INPUT_RUN_TIME": "90"}, {"LOCUST_RUN_TIME": "90s"}),
        ({"INPUT_RUN_TIME": "2m"}, {"LOCUST_RUN_TIME": "120s"}),
        # each bound itself is allowed
        (
            {"INPUT_USERS": "2000", "INPUT_SPAWN_RATE": "0.01", "INPUT_RUN_TIME": "30m"},
            {"LOCUST_USERS": "2000", "LOCUST_SPAWN_RATE": "0.01", "LOCUST_RUN_TIME": "1800s"},
        ),
        (
            {"INPUT_USERS": "1", "INPUT_SPAWN_RATE": "500", "INPUT_RUN_TIME": "1s"},
            {"LOCUST_USERS": "1", "LOCUST_SPAWN_RATE": "500", "LOCUST_RUN_TIME": "1s"},
        ),
    ],
)
def test_valid_inputs_become_locust_settings(raw, expected):
    assert inputs.validate(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"INPUT_USERS": "ten"}, "users: expected a whole number, got 'ten'"),
        ({"INPUT_USERS": "0"}, "users: expected 1 to 2000, got 0"),
        ({"INPUT_USERS": "-5"}, "users: expected a whole number, got '-5'"),
        ({"INPUT_USERS": "1e9"}, "users: expected a whole number"),
        ({"INPUT_USERS": "100000"}, "users: expected 1 to 2000"),
        ({"INPUT_SPAWN_RATE": "0"}, "spawn-rate: expected 0.01 to 500 users a second, got 0"),
        ({"INPUT_SPAWN_RATE": "fast"}, "spawn-rate: expected a number"),
        ({"INPUT_SPAWN_RATE": "nan"}, "spawn-rate: expected 0.01 to 500"),
        ({"INPUT_SPAWN_RATE": "1e-300"}, "spawn-rate: expected 0.01 to 500 users a second, got 1e-300"),
        ({"INPUT_SPAWN_RATE": "0.009"}, "spawn-rate: expected 0.01 to 500"),
        ({"INPUT_SPAWN_RATE": "500.1"}, "spawn-rate: expected 0.01 to 500"),
        ({"INPUT_SPAWN_RATE": "inf"}, "spawn-rate: expected 0.01 to 500"),
        ({"INPUT_RUN_TIME": "soon"}, "run-time: expected a duration"),
        ({"INPUT_RUN_TIME": "0s"}, "run-time: expected 1s to 30m"),
        ({"INPUT_RUN_TIME": "48h"}, "run-time: expected 1s to 30m"),
        ({"INPUT_RUN_TIME": "30m1s"}, "run-time: expected 1s to 30m"),
        ({"INPUT_USERS": "2001"}, "users: expected 1 to 2000"),
        ({"INPUT_USERS": "7" * 5000}, "users: expected 1 to 2000, got a number of 5000 digits"),
        ({"INPUT_RUN_TIME": "9" * 5000}, "run-time: expected a duration"),
        ({"INPUT_SPAWN_RATE": "9" * 5000}, "spawn-rate: expected 0.01 to 500"),
    ],
)
def test_bad_inputs_name_the_input(raw, message):
    with pytest.raises(inputs.InputError, match=message):
        inputs.validate(raw)


def test_main_writes_github_env_and_fails_fast(tmp_path, capsys):
    env_file = tmp_path / "env"
    assert inputs.main({"INPUT_USERS": "7", "GITHUB_ENV": str(env_file)}) == 0
    assert env_file.read_text() == "LOCUST_USERS=7\n"
    assert inputs.main({"INPUT_USERS": "0"}) == 2
    assert "::error title=invalid workflow input::users: expected 1 to 2000, got 0" in capsys.readouterr().out


def test_a_bad_input_is_visible_in_the_summary_and_the_verdict_output(tmp_path, capsys):
    summary, output = tmp_path / "summary", tmp_path / "output"
    env = {"INPUT_USERS": "1" * 5000, "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    assert inputs.main(env) == 2
    assert "Configuration error:** users: expected 1 to 2000" in summary.read_text()
    assert output.read_text() == "verdict=error\n"
    assert "Traceback" not in capsys.readouterr().err


# -- a comparison spread over runners ----------------------------------------------------

COMPARE = {"INPUT_COMPARE_TO": "0" * 40}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({}, {"runners": "1", "shards": "[1]"}),
        ({"INPUT_RUNNERS": "", "INPUT_COMPARE_TO": ""}, {"runners": "1", "shards": "[1]"}),
        ({"INPUT_RUNNERS": "1"}, {"runners": "1", "shards": "[1]"}),  # one runner needs no comparison
        ({"INPUT_RUNNERS": " 3 ", **COMPARE}, {"runners": "3", "shards": "[1,2,3]"}),
        (
            {"INPUT_RUNNERS": "20", "INPUT_COMPARE_TO": "origin/main"},
            {"runners": "20", "shards": str(list(range(1, 21))).replace(" ", "")},
        ),
        ({"INPUT_SHARD": "2/3", **COMPARE}, {"runners": "1", "shards": "[1]", "shard-index": "2"}),
        ({"INPUT_SHARD": "20/20", **COMPARE}, {"runners": "1", "shards": "[1]", "shard-index": "20"}),
        ({"INPUT_SHARD": "", "INPUT_MERGE": "shards", "INPUT_BACKEND_CMD": ""}, {"runners": "1", "shards": "[1]"}),
        ({"INPUT_BACKEND_CMD": "uvicorn app:app --port {port}"}, {"runners": "1", "shards": "[1]"}),
    ],
)
def test_runners_and_shard_become_outputs(raw, expected):
    assert inputs.outputs(raw) == expected
    assert json.loads(expected["shards"]) == list(range(1, int(expected["runners"]) + 1))


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"INPUT_RUNNERS": "three", **COMPARE}, "runners: expected a whole number, got 'three'"),
        ({"INPUT_RUNNERS": "0", **COMPARE}, "runners: expected 1 to 20, got 0"),
        ({"INPUT_RUNNERS": "-2", **COMPARE}, "runners: expected a whole number, got '-2'"),
        ({"INPUT_RUNNERS": "2.5", **COMPARE}, "runners: expected a whole number, got '2.5'"),
        ({"INPUT_RUNNERS": "21", **COMPARE}, "runners: expected 1 to 20, got 21"),
        ({"INPUT_RUNNERS": "9" * 5000, **COMPARE}, "runners: expected 1 to 20, got a number of 5000 digits"),
        (
            {"INPUT_RUNNERS": "3"},
            r"runners: 3 runners spread the trials of a comparison, and this run compares nothing",
        ),
        ({"INPUT_RUNNERS": "3", "INPUT_COMPARE_TO": "None"}, "runners: 3 runners spread the trials of a comparison"),
        ({"INPUT_SHARD": "3", **COMPARE}, "shard: expected I/N, this runner's part of N"),
        ({"INPUT_SHARD": "a/b", **COMPARE}, "shard: expected I/N, this runner's part of N"),
        ({"INPUT_SHARD": "1/" + "3" * 5000, **COMPARE}, "shard: expected I/N, this runner's part of N"),
        ({"INPUT_SHARD": "0/3", **COMPARE}, "shard: expected I/N with 1 <= I <= N <= 20, got 0/3"),
        ({"INPUT_SHARD": "4/3", **COMPARE}, "shard: expected I/N with 1 <= I <= N <= 20, got 4/3"),
        ({"INPUT_SHARD": "1/21", **COMPARE}, "shard: expected I/N with 1 <= I <= N <= 20, got 1/21"),
        ({"INPUT_SHARD": "2/3", "INPUT_MERGE": "shards", **COMPARE}, "merge: .* give shard or merge, not both"),
        ({"INPUT_SHARD": "2/3", "INPUT_COMPARE_TO": "none"}, "shard: 2/3 is one part of a comparison, and this"),
        ({"INPUT_BACKEND_CMD": " "}, r"backend-cmd: expected the command that starts your service"),
    ],
)
def test_bad_runners_and_shard_name_the_input(raw, message):
    with pytest.raises(inputs.InputError, match=message):
        inputs.outputs(raw)


def test_main_writes_the_matrix_to_github_output_and_locust_settings_to_github_env(tmp_path, capsys):
    env_file, output = tmp_path / "env", tmp_path / "output"
    env = {
        "INPUT_USERS": "7",
        "INPUT_RUNNERS": "3",
        **COMPARE,
        "GITHUB_ENV": str(env_file),
        "GITHUB_OUTPUT": str(output),
    }
    assert inputs.main(env) == 0
    assert env_file.read_text() == "LOCUST_USERS=7\n"  # the outputs are not Locust's
    assert output.read_text() == "runners=3\nshards=[1,2,3]\n"
    assert inputs.main({**env, "INPUT_RUNNERS": "0"}) == 2
    assert "::error title=invalid workflow input::runners: expected 1 to 20, got 0" in capsys.readouterr().out
    assert output.read_text() == "runners=3\nshards=[1,2,3]\nverdict=error\n"
