"""How long a fresh-start trial should be, from a stored series' own trials.

A trial's ratio carries two kinds of noise: its windows' (which shrinks as the
trial gets longer) and whatever differs from one fresh start to the next
(which does not). Splitting a fixed load budget into shorter trials buys more
fresh starts at the price of more warm-up windows left out and, with few
trials, of Student's t. This splits each rule's trial spread (start order
taken out, pooled over the runs) into its part within trials (the windows'
bootstrap) and between them, and predicts the interval's half-width of one
look after the budget for several trial lengths:

    python -m benchmarks.research.trial_length --json benchmarks/results/aa-embedded-alternating.json \\
        --conditions "A/A,A/A busy"
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

from benchmarks.research import warmup_cut
from perfgate import compare
from perfgate.gate_options import DEFAULT_TRIAL_S

WARMUP_S = 5.0  # the comparison's first window, left out of every trial


def split_noise(runs: list[dict], rule: str) -> tuple[float, float, float] | None:
    """(trials' spread, within a trial, between trials) of ln ratios, for trials of the series' length."""
    used = []
    for run in runs:
        got = run.get("trials", {}).get(rule)
        if (
            got
            and len(got["ln_ratios"]) >= 6
            and None not in got["candidate_first"]
            and not math.isnan(got["within_log"])
        ):
            used.append({"trials": {rule: got}})
    if not used:
        return None
    spread = warmup_cut.pooled_spread(used, rule)
    # the pooled windows' se, for one trial of k
    within = [run["trials"][rule]["within_log"] ** 2 * len(run["trials"][rule]["ln_ratios"]) for run in used]
    one_trial = math.sqrt(float(np.mean(within)))
    return spread, one_trial, math.sqrt(max(0.0, spread**2 - one_trial**2))


def half_width(within: float, between: float, trial_s: float, budget_s: float, confidence: float) -> float:
    """ln half-width of one look after `budget_s` of load in trials of `trial_s`,
    `within` measured on trials of DEFAULT_TRIAL_S."""
    k = int(budget_s // trial_s)
    if k < 3 or trial_s <= WARMUP_S:
        return math.inf
    usable = (DEFAULT_TRIAL_S - WARMUP_S) / (trial_s - WARMUP_S)
    per_trial = within**2 * usable + between**2
    dof = k - 2 if k >= compare.ORDER_FROM else k - 1
    return float(stats.t.ppf((1 + confidence) / 2, dof)) * math.sqrt(per_trial / k)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, required=True, help="a series' results (regression_detection --json)")
    p.add_argument("--budget", type=float, default=300, help="seconds of load (default: 300, --max-run-time 5m)")
    p.add_argument("--lengths", default="15,20,30,45,60", help="trial lengths to predict, in seconds")
    p.add_argument("--confidence", type=float, default=0.9)
    p.add_argument("--conditions", help="only these conditions, e.g. 'A/A,A/A busy' (default: all)")
    args = p.parse_args(argv)
    lengths = [float(x) for x in args.lengths.split(",")]
    runs = json.loads(args.json.read_text())
    if args.conditions:
        names = {n.strip() for n in args.conditions.split(",")}
        runs = [run for run in runs if run.get("condition") in names]
    rules = sorted({rule for run in runs for rule in run.get("trials", {})})
    print(f"{len(runs)} runs; trials' spread split, and the {args.confidence:.0%} interval's half-width after")
    print(f"{args.budget:g} s of load in trials of each length (one look)")
    head = f"{'rule':34} {'spread':>7} {'within':>7} {'between':>7} " + " ".join(f"{f'{x:g} s':>7}" for x in lengths)
    print(head)
    for rule in rules:
        noise = split_noise(runs, rule)
        if noise is None:
            continue
        spread, within, between = noise
        widths = [half_width(within, between, x, args.budget, args.confidence) for x in lengths]
        cells = " ".join(f"{math.expm1(w) * 100:6.2f}%" if math.isfinite(w) else f"{'-':>7}" for w in widths)
        print(f"{rule:34} {spread * 100:6.2f}% {within * 100:6.2f}% {between * 100:6.2f}% {cells}")


if __name__ == "__main__":
    main()
