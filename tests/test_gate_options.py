"""perf-gate's numeric options: each has a lower and an upper bound, both
allowed, and a value past either is a usage error naming the option."""

import re

import pytest

from perfgate import gate_options
from perfgate.errors import ConfigError


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--users", "0"], "argument --users/-u: expected a whole number from 1 to 100000, got '0'"),
        (["--users", "100001"], "expected a whole number from 1 to 100000, got '100001'"),
        (["--users", "1" * 5000], "expected a whole number from 1 to 100000"),
        (["--spawn-rate", "1e-300"], "argument --spawn-rate/-r: expected 0.01 to 10000 users a second, got '1e-300'"),
        (["--spawn-rate", "0.009"], "expected 0.01 to 10000 users a second"),
        (["--spawn-rate", "10001"], "expected 0.01 to 10000 users a second"),
        (["--spawn-rate", "0"], "expected a finite number above 0, got '0'"),
        (["--run-time", "24h1s"], "argument --run-time/-t: expected at most 24h (the checker refuses samples"),
        (["--max-run-time", "25h"], "argument --max-run-time: expected at most 24h"),
        (["--health-timeout", "0.01"], "argument --health-timeout: expected 0.1 to 3600 seconds, got '0.01'"),
        (["--health-timeout", "3601"], "expected 0.1 to 3600 seconds"),
        (["--workers", "0"], "argument --workers: expected a whole number from 1 to 64, got '0'"),
        (["--workers", "65"], "expected a whole number from 1 to 64"),
        (["--processes", "0"], "argument --processes: expected a whole number from 1 to 256, got '0'"),
        (["--processes", "257"], "expected a whole number from 1 to 256"),
        (["--processes", "-2"], "expected a whole number from 1 to 256, got '-2'"),
        (["--trials", "0"], "argument --trials: expected a whole number from 1 to 1000, got '0'"),
        (["--trials", "1001"], "expected a whole number from 1 to 1000"),
    ],
)
def test_a_number_past_its_bound_is_a_usage_error(argv, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as exc:
        gate_options.build_parser().parse_args(argv)
    assert exc.value.exit_code == 2


def test_every_bound_itself_is_allowed():
    low = ["--users", "1", "--spawn-rate", "0.01", "--run-time", "1s", "--health-timeout", "0.1"]
    low += ["--workers", "1", "--processes", "1", "--trials", "1", "--max-run-time", "1"]
    args = gate_options.build_parser().parse_args(low)
    assert (args.users, args.spawn_rate, args.run_time, args.health_timeout) == (1, 0.01, "1s", 0.1)
    assert (args.workers, args.processes, args.trials, args.max_run_time) == (1, 1, 1, "1s")
    high = ["--users", "100000", "--spawn-rate", "10000", "--run-time", "24h", "--health-timeout", "3600"]
    high += ["--workers", "64", "--processes", "256", "--trials", "1000", "--max-run-time", "1440m"]
    args = gate_options.build_parser().parse_args(high)
    assert (args.users, args.spawn_rate, args.run_time, args.health_timeout) == (100000, 10000, "86400s", 3600)
    assert (args.workers, args.processes, args.trials, args.max_run_time) == (64, 256, 1000, "86400s")
    assert gate_options.build_parser().parse_args(["--processes", "-1"]).processes == -1


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("PERF_GATE_TRIALS", "5000", "argument --trials: expected a whole number from 1 to 1000"),
        ("PERF_GATE_PROCESSES", "0", "argument --processes: expected a whole number from 1 to 256"),
        ("PERF_GATE_MAX_RUN_TIME", "48h", "argument --max-run-time: expected at most 24h"),
    ],
)
def test_bounds_hold_for_values_from_the_environment(variable, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        gate_options.build_parser({variable: value}).parse_args([])
