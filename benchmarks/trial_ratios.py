"""What is each fresh-start trial's own candidate/baseline ratio, per rule?
Read from a kept run's raw samples: what the comparison's interval is made
of, small enough to keep beside a series' results (a run's raw samples are
megabytes), so that a series can be judged again at other tolerances
without its raw samples. regression_detection stores them in its `--json`
after each run (seconds per run); rejudge and the research analyses read
them back. No command of its own."""

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfgate import compare, results, samples
from perfgate import thresholds as limits_file
from perfgate.thresholds import RegressionRule

STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+)"
# embedded: the launcher's "backend up"; compose: the first service `up --wait` brings up,
# PostgreSQL ("db_1  | 2026-11-30 05:42:32.807 UTC [1] LOG:  starting PostgreSQL ...")
UP = (re.compile(rf"^{STAMP} .*backend up"), re.compile(rf"^\S+\s+\|\s+{STAMP} \S+ .*starting PostgreSQL"))


def started_at(log: Path) -> str | None:
    """When the backend whose log this is came up; comparable between the two
    sides of one run (both logs come from the same kind of backend)."""
    if not log.exists():
        return None
    lines = log.read_text(errors="replace").splitlines()
    for pattern in UP:
        for line in lines:
            if m := pattern.match(line):
                return m.group(1).replace(",", ".")
    return None


def kept_folder(keep: Path, condition: str, index: int | None = None) -> Path:
    """Where regression_detection --keep puts a condition's runs, or with `index` one run's results."""
    folder = keep / condition.replace("/", "").replace(" ", "-")
    return folder if index is None else folder / str(index)


def candidate_first(run: Path, trial: int) -> bool | None:
    base, cand = (started_at(run / f"backend-{side}-trial{trial}.log") for side in ("baseline", "candidate"))
    return None if not base or not cand else cand < base


@dataclass
class KeptRun:
    """What a kept run holds for its regression rules, read once."""

    spans: list[tuple[float, float]]  # (start, stop) of each trial
    candidate_first: list[bool | None]  # per trial; None where a backend log does not say
    rules: list[tuple[str, RegressionRule, samples.Samples, samples.Samples]]  # name, rule, baseline, candidate
    window_s: float
    confidence: float


def load(run: Path, thresholds: Path) -> KeptRun:
    """The regression rules of `thresholds` with samples on both sides of `run`."""
    limits = limits_file.load(thresholds)
    raw = samples.load(run / "locust_raw.csv").ok
    info = results.load_run_info(run / "locust_run_info.json")
    spans = [(start, stop) for start, _, stop in info.trials]
    rules = []
    for rule in limits.regressions:
        base, cand = raw.get((samples.BASELINE, rule.entry)), raw.get((samples.CANDIDATE, rule.entry))
        if base is not None and cand is not None:
            rules.append((f"p{rule.percentile} of {rule.entry}", rule, base, cand))
    # the order the gate started them in (and judged by); runs made before it was recorded: the backend logs
    first = info.candidate_first or [candidate_first(run, n) for n in range(1, len(spans) + 1)]
    return KeptRun(spans, first, rules, limits.window_s, limits.confidence)


def of_run(run: Path, thresholds: Path, warmup_s: float | None = None, bootstrap: bool = True) -> dict[str, dict]:
    """{rule name: {"ln_ratios": [per trial], "within_log": windows' se, "candidate_first": [per trial]}};
    `warmup_s`: what each trial leaves out at its start (default: the gate's first window). Without
    `bootstrap`, within_log is nan: the windows' se takes most of the time and is used only for
    trials whose ratios are all the same."""
    kept = load(run, thresholds)
    out = {}
    for name, rule, base, cand in kept.rules:
        parts = [compare.paired_windows(base, cand, kept.window_s, warmup_s, span=span) for span in kept.spans]
        ratios, first = [], []
        for part, started in zip(parts, kept.candidate_first, strict=True):
            ys = compare.trial_log_ratios([part], rule.percentile)
            if len(ys):
                ratios.append(round(float(ys[0]), 6))
                first.append(started)
        hb, hc = compare.pooled(parts)
        enough = bootstrap and len(hb) >= compare.MIN_WINDOWS
        within = compare.bootstrap_ratio(hb, hc, rule.percentile, kept.confidence)[3] if enough else math.nan
        out[name] = {"ln_ratios": ratios, "within_log": round(within, 6), "candidate_first": first}
    return out


def judge(
    ln_ratios: list[float],
    within_log: float,
    tolerance: float,
    confidence: float,
    looks: tuple[int, ...],
    candidate_first: list[bool] | None = None,
) -> tuple[str, float, float]:
    """(status, low, high) as the comparison judges trials at a look after len(ln_ratios)."""
    found = compare.look_interval(np.array(ln_ratios), within_log, confidence, looks, candidate_first)
    low, high = found.low, found.high
    return compare.decide(low, high, tolerance), low, high
