"""Validate the manual run's inputs before anything is installed or started.

Reads INPUT_USERS, INPUT_SPAWN_RATE and INPUT_RUN_TIME; empty means "use
locust.conf". Valid values are handed to Locust as LOCUST_USERS,
LOCUST_SPAWN_RATE and LOCUST_RUN_TIME through GITHUB_ENV. Standard library
only, so it runs before the install step.
"""

import os
import re
import sys
from collections.abc import Mapping

MAX_USERS = 2000  # what one shared GitHub runner can drive and serve at once
MIN_SPAWN_RATE = 0.01  # a user every 100 s: slower, a run of MAX_RUN_TIME_S starts fewer than 18 users
MAX_SPAWN_RATE = 500.0  # Locust itself warns above 100 a second: more than this is a typo, not a ramp-up
MIN_RUN_TIME_S = 1  # Locust takes 0 as "run forever"
MAX_RUN_TIME_S = 30 * 60  # a manual run holds a runner; longer ones belong to perf-gate on a machine of one's own
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
        if not re.fullmatch(r"[0-9]+", users):
            raise InputError(f"users: expected a whole number, got {users[:40]!r}")
        if len(users) > len(str(MAX_USERS)):
            raise InputError(f"users: expected 1 to {MAX_USERS}, got a number of {len(users)} digits")
        if not 1 <= int(users) <= MAX_USERS:
            raise InputError(f"users: expected 1 to {MAX_USERS}, got {users}")
        out["LOCUST_USERS"] = str(int(users))
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


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        settings = validate(env)
    except InputError as exc:
        print(f"::error title=invalid workflow input::{exc}")
        print(f"Error: {exc}", file=sys.stderr)
        _append(env.get("GITHUB_STEP_SUMMARY"), f"## Perf gate: ⚠️ error\n\n> **Configuration error:** {exc}\n")
        _append(env.get("GITHUB_OUTPUT"), "verdict=error\n")
        return 2
    for key, value in settings.items():
        print(f"{key}={value}")
    _append(env.get("GITHUB_ENV"), "".join(f"{k}={v}\n" for k, v in settings.items()))
    return 0


def _append(target: str | None, text: str) -> None:
    """GitHub's environment files; absent outside Actions."""
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
