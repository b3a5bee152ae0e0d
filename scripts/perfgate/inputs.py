"""Validate a workflow's inputs before anything is installed or started.

Reads INPUT_USERS, INPUT_SPAWN_RATE and INPUT_RUN_TIME; empty means "use
locust.conf". Valid values are handed to Locust as LOCUST_USERS,
LOCUST_SPAWN_RATE and LOCUST_RUN_TIME through GITHUB_ENV.

A comparison spread over runners: INPUT_RUNNERS (empty: 1) becomes the
outputs `runners` and `shards` (the JSON list 1..N a matrix runs over);
INPUT_SHARD ("I/N", empty: the whole comparison) becomes the output
`shard-index`. Either needs a comparison, INPUT_COMPARE_TO (empty or
"none": none). INPUT_MERGE names the shards' results a merge judges, and
INPUT_BACKEND_CMD, when given at all (the composite action gives it), must
not be empty unless merging. Outputs go to GITHUB_OUTPUT.

Standard library only, so it runs before the install step.
"""

import json
import os
import re
import sys
from collections.abc import Mapping

MAX_USERS = 2000  # what one shared GitHub runner can drive and serve at once
MIN_SPAWN_RATE = 0.01  # a user every 100 s: slower, a run of MAX_RUN_TIME_S starts fewer than 18 users
MAX_SPAWN_RATE = 500.0  # Locust itself warns above 100 a second: more than this is a typo, not a ramp-up
MIN_RUN_TIME_S = 1  # Locust takes 0 as "run forever"
MAX_RUN_TIME_S = 30 * 60  # a manual run holds a runner; longer ones belong to perf-gate on a machine of one's own
MAX_RUNNERS = 20  # runners of one comparison; each holds a runner for the whole run
RUN_TIME = re.compile(r"^(?:([0-9]{1,7})h)?(?:([0-9]{1,7})m)?(?:([0-9]{1,9})s?)?$")


class InputError(ValueError):
    pass


def run_time_seconds(text: str) -> int:
    """Locust's --run-time forms: 90, 90s, 2m, 1h30m."""
    match = RUN_TIME.match(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise InputError(f"run-time: expected a duration like 30s, 2m or 1h30m, got {text[:40]!r}")
    h, m, s = (int(g) if g else 0 for g in match.groups())
    return h * 3600 + m * 60 + s


def validate(raw: Mapping[str, str]) -> dict[str, str]:
    """Returns the LOCUST_* settings to export; raises InputError naming the input."""
    out: dict[str, str] = {}
    users = raw.get("INPUT_USERS", "").strip()
    if users:
        out["LOCUST_USERS"] = str(whole_number("users", users, MAX_USERS))
    rate = raw.get("INPUT_SPAWN_RATE", "").strip()
    if rate:
        try:
            value = float(rate)
        except ValueError:
            raise InputError(f"spawn-rate: expected a number of users per second, got {rate[:40]!r}") from None
        if not MIN_SPAWN_RATE <= value <= MAX_SPAWN_RATE:  # NaN fails this too
            raise InputError(
                f"spawn-rate: expected {MIN_SPAWN_RATE:g} to {MAX_SPAWN_RATE:g} users a second, got {rate[:40]}"
            )
        out["LOCUST_SPAWN_RATE"] = f"{value:g}"
    run_time = raw.get("INPUT_RUN_TIME", "").strip()
    if run_time:
        seconds = run_time_seconds(run_time)
        if not MIN_RUN_TIME_S <= seconds <= MAX_RUN_TIME_S:
            raise InputError(f"run-time: expected {MIN_RUN_TIME_S}s to {MAX_RUN_TIME_S // 60}m, got {run_time[:40]!r}")
        out["LOCUST_RUN_TIME"] = f"{seconds}s"
    return out


def whole_number(name: str, text: str, most: int) -> int:
    """1..most, or InputError naming the input."""
    if not re.fullmatch(r"[0-9]+", text):
        raise InputError(f"{name}: expected a whole number, got {text[:40]!r}")
    if len(text) > len(str(most)):
        raise InputError(f"{name}: expected 1 to {most}, got a number of {len(text)} digits")
    if not 1 <= int(text) <= most:
        raise InputError(f"{name}: expected 1 to {most}, got {text}")
    return int(text)


def outputs(raw: Mapping[str, str]) -> dict[str, str]:
    """The step's outputs: `runners`, `shards` and, for one shard, `shard-index`;
    raises InputError naming the input."""
    compares = raw.get("INPUT_COMPARE_TO", "").strip().lower() not in ("", "none")
    nothing = "and this run compares nothing (no compare-to)"
    text = raw.get("INPUT_RUNNERS", "").strip()
    runners = whole_number("runners", text, MAX_RUNNERS) if text else 1
    if runners > 1 and not compares:
        raise InputError(f"runners: {runners} runners spread the trials of a comparison, {nothing}")
    out = {"runners": str(runners), "shards": json.dumps(list(range(1, runners + 1)), separators=(",", ":"))}
    shard = raw.get("INPUT_SHARD", "").strip()
    merge = raw.get("INPUT_MERGE", "").strip()
    if shard:
        index, sep, count = shard.partition("/")
        if not sep or not re.fullmatch(r"[0-9]{1,9}", index) or not re.fullmatch(r"[0-9]{1,9}", count):
            raise InputError(f"shard: expected I/N, this runner's part of N (e.g. 2/3), got {shard[:40]!r}")
        if not 1 <= int(index) <= int(count) <= MAX_RUNNERS:
            raise InputError(f"shard: expected I/N with 1 <= I <= N <= {MAX_RUNNERS}, got {shard}")
        if merge:
            raise InputError("merge: judges the shards' results once all are done; give shard or merge, not both")
        if not compares:
            raise InputError(f"shard: {shard} is one part of a comparison, {nothing}")
        out["shard-index"] = str(int(index))
    if "INPUT_BACKEND_CMD" in raw and not raw["INPUT_BACKEND_CMD"].strip() and not merge:
        raise InputError("backend-cmd: expected the command that starts your service, with {port} (empty: merge only)")
    return out


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        settings = validate(env)
        results = outputs(env)
    except InputError as exc:
        print(f"::error title=invalid workflow input::{exc}")
        print(f"Error: {exc}", file=sys.stderr)
        _append(env.get("GITHUB_STEP_SUMMARY"), f"## Perf gate: ⚠️ error\n\n> **Configuration error:** {exc}\n")
        _append(env.get("GITHUB_OUTPUT"), "verdict=error\n")
        return 2
    for key, value in (settings | results).items():
        print(f"{key}={value}")
    _append(env.get("GITHUB_ENV"), "".join(f"{k}={v}\n" for k, v in settings.items()))
    _append(env.get("GITHUB_OUTPUT"), "".join(f"{k}={v}\n" for k, v in results.items()))
    return 0


def _append(target: str | None, text: str) -> None:
    """GitHub's environment files; absent outside Actions."""
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
