"""Each fresh-start trial's own candidate/baseline ratio, per rule, from a kept
run's raw samples: what the comparison's interval is made of, small enough to
keep beside a series' results (a run's raw samples are megabytes), so that a
series can be judged again at other tolerances without its raw samples."""

import math
import re
from pathlib import Path

import numpy as np

from perfgate import compare, results, samples
from perfgate import thresholds as limits_file

UP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) .*backend up")


def started_at(log: Path) -> str | None:
    """When the backend whose log this is came up (its "backend up" line)."""
    if not log.exists():
        return None
    for line in log.read_text(errors="replace").splitlines():
        if m := UP.match(line):
            return m.group(1)
    return None


def candidate_first(run: Path, trial: int) -> bool | None:
    base, cand = (started_at(run / f"backend-{side}-trial{trial}.log") for side in ("baseline", "candidate"))
    return None if not base or not cand else cand < base


def of_run(run: Path, thresholds: Path) -> dict[str, dict]:
    """{rule name: {"ln_ratios": [per trial], "within_log": windows' se, "candidate_first": [per trial]}}."""
    limits = limits_file.load(thresholds)
    raw = samples.load(run / "locust_raw.csv").ok
    spans = results.load_run_info(run / "locust_run_info.json").trials
    out = {}
    for rule in limits.regressions:
        base, cand = raw.get((samples.BASELINE, rule.entry)), raw.get((samples.CANDIDATE, rule.entry))
        if base is None or cand is None:
            continue
        parts = [compare.paired_windows(base, cand, limits.window_s, span=(a, b)) for a, _, b in spans]
        ratios, first = [], []
        for n, part in enumerate(parts, 1):
            ys = compare.trial_log_ratios([part], rule.percentile)
            if len(ys):
                ratios.append(round(float(ys[0]), 6))
                first.append(candidate_first(run, n))
        hb, hc = compare.pooled(parts)
        enough = len(hb) >= compare.MIN_WINDOWS
        within = compare.bootstrap_ratio(hb, hc, rule.percentile, limits.confidence)[3] if enough else math.nan
        out[f"p{rule.percentile} of {rule.entry}"] = {
            "ln_ratios": ratios,
            "within_log": round(within, 6),
            "candidate_first": first,
        }
    return out


def judge(ln_ratios: list[float], within_log: float, tolerance: float, critical: float) -> tuple[str, float, float]:
    """(status, low, high) as the comparison judges trials."""
    _, low, high, _, _ = compare.trials_interval(np.array(ln_ratios), within_log, critical)
    return compare.decide(low, high, tolerance), low, high
