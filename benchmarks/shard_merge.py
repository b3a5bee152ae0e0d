"""For the same number of trials, how wide is the interval of a comparison
merged from three runners against one runner's?

    python -m benchmarks.shard_merge --json benchmarks/results/aa-embedded-order-taken-out.json \\
        --merges 20 --trials-per-runner 3

No load: arithmetic on a stored A/A series' per-trial ratios (each run's own
log ratio per rule and trial, with its start order). A merge stands three
runs of the series (idle and busy runs mixed, as on shared runners) for
three runners: the first `--trials-per-runner` trials of each, judged as
`perf-gate merge` judges them (perfgate.compare.look_interval with the
runner of each trial). The single run it is set against is a fourth run's
first 3 × `--trials-per-runner` trials. Per rule: the median half-width of
each (in ln ratio, as a percentage), how often the runners disagreed (the
merge's F test) and how often each interval held 1.0 (A/A: the truth).
Numbers, not a verdict.
"""

import argparse
import json
import math
import statistics
from pathlib import Path

import numpy as np

RUNNERS = 3
CONFIDENCE = 0.9


def usable(runs: list[dict], rule: str, trials: int) -> list[dict]:
    return [r for r in runs if len((r.get("trials") or {}).get(rule, {}).get("ln_ratios") or []) >= trials]


def interval(parts: list[dict], trials: int, runners: bool) -> tuple[float, bool, bool]:
    """Of the first `trials` of each part: the half-width of the ln ratio's
    interval, whether it holds 0, whether the runners disagreed."""
    from perfgate.compare import look_interval

    ys = np.concatenate([p["ln_ratios"][:trials] for p in parts])
    order = [bool(f) for p in parts for f in (p.get("candidate_first") or [])[:trials]]
    within = statistics.fmean(p["within_log"] for p in parts)
    ids = [i for i, p in enumerate(parts, start=1) for _ in range(trials)] if runners else None
    found = look_interval(ys, within, CONFIDENCE, (1,), order if len(order) == len(ys) else None, ids)
    low, high = math.log(found.low), math.log(found.high)
    return (high - low) / 2, low <= 0 <= high, bool(found.runners)


def merges(runs: list[dict], rule: str, count: int, per_runner: int, seed: int) -> list[dict]:
    merged_runs, single_runs = usable(runs, rule, per_runner), usable(runs, rule, RUNNERS * per_runner)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        if len(merged_runs) < RUNNERS or not single_runs:
            break
        parts = [merged_runs[i]["trials"][rule] for i in rng.choice(len(merged_runs), RUNNERS, replace=False)]
        single = single_runs[int(rng.integers(len(single_runs)))]["trials"][rule]
        half, holds, disagree = interval(parts, per_runner, runners=True)
        single_half, single_holds, _ = interval([single], RUNNERS * per_runner, runners=False)
        out.append(
            {"half": half, "holds": holds, "disagree": disagree, "single": single_half, "single_holds": single_holds}
        )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, required=True, help="a stored A/A series (regression_detection --json)")
    p.add_argument("--merges", type=int, default=20)
    p.add_argument("--trials-per-runner", type=int, default=3)
    p.add_argument("--seed", type=int, default=20261203)
    args = p.parse_args(argv)
    runs = json.loads(args.json.read_text())
    rules = sorted({rule for r in runs for rule in (r.get("trials") or {})})
    print(
        f"{RUNNERS} runners x {args.trials_per_runner} trials against one runner's {RUNNERS * args.trials_per_runner}"
    )
    head = f"{'rule':38} {'merges':>6} {'merged ±':>9} {'single ±':>9} {'ratio':>6}"
    print(f"{head} {'disagree':>9} {'holds':>7} {'single':>7}")
    for rule in rules:
        found = merges(runs, rule, args.merges, args.trials_per_runner, args.seed)
        if not found:
            continue
        n = len(found)
        merged = statistics.median(f["half"] for f in found)
        single = statistics.median(f["single"] for f in found)
        disagree = sum(f["disagree"] for f in found)
        holds, single_holds = sum(f["holds"] for f in found), sum(f["single_holds"] for f in found)
        print(
            f"{rule:38} {n:6d} {merged:9.2%} {single:9.2%} {merged / single:6.2f} {disagree:5d}/{n:<3d} "
            f"{holds:3d}/{n:<3d} {single_holds:3d}/{n:<3d}"
        )


if __name__ == "__main__":
    main()
