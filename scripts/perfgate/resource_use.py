"""Resource rules: what the service spent while the load ran, from the
readings perf-gate took (`<prefix>_resources.csv`, see perfgate.resources).

Per trial and per side, over the trial's judged span (from its first
sample plus one window, the warm-up left out as for latency, to its stop):

- CPU per request: the growth of the side's CPU counter over the span
  (interpolated between readings) over the requests Locust recorded for the
  side in it (every sample, failed or not: each cost CPU);
- peak memory: the highest reading in the span.

Against the baseline, a rule is the candidate/baseline ratio of each
trial, judged as latency is over fresh-start trials
(`perfgate.compare.look_interval`: the geometric mean ± Student's t or a
sequential look's bound, the start order taken out from ORDER_FROM trials
on). It needs MIN_TRIALS_FOR_SPREAD trials: one trial's ratio has no spread
to say how sure it is. Limits (`resources`) apply to the candidate, over
all its spans. A side that has no readings leaves its rules unjudged,
saying why; latency rules are not touched.
"""

import csv
import io
import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfgate import bounded
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, RuleResult, SideUse, Verdict, fmt, judge, metric_label
from perfgate.compare import (
    MIN_TRIALS_FOR_SPREAD,
    crossing_factor,
    decide,
    look_interval,
    runners_text,
    trials_advice,
)
from perfgate.errors import NoVerdict
from perfgate.resources import COLUMNS, UNAVAILABLE
from perfgate.results import RunInfo
from perfgate.samples import BASELINE, CANDIDATE, MAX_TIME, MIN_TIME, RawSamples
from perfgate.thresholds import CONTROL_CHARACTERS, RESOURCE_MEASURES, SERVICE, Limit, ResourceRule, Thresholds

METHODS = {"proc", "cgroup"}
# Two rows a second per side, about 40 bytes each: a day of load writes about 14 MB.
MAX_BYTES = 256 * 10**6
GAP_S = 30.0  # readings further than this outside a trial's span belong to no trial
MAX_GAP_S = 3.0  # readings every 0.5 s: a span with a longer gap between two was not watched
MIN_CPU_S = 0.05  # five clock ticks: a side that spent less in a judged span was not what was read
MB = 1e6
# The interval's floor when every trial's ratio is the same (a memory that never moves): the readings' own grain.
FLOOR_LOG = 1e-3


@dataclass
class Readings:
    """One side's readings, in time order."""

    method: str
    times: np.ndarray
    cpu_s: np.ndarray
    memory: np.ndarray
    sessions: np.ndarray  # the sampler each reading came from, numbered: one per trial


@dataclass(frozen=True)
class Use:
    """One side in one trial's judged span."""

    cpu_s: float
    requests: int
    peak_bytes: float
    # per window of the span: (start s since the run's first sample, CPU seconds, requests, peak bytes)
    windows: tuple[tuple[float, float, int, float], ...] = ()

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests

    @property
    def peak_memory_mb(self) -> float:
        return self.peak_bytes / MB


@dataclass(frozen=True)
class Unread:
    """Why one trial has no use of a side."""

    # its readings covered the span and it answered requests, yet it spent next to no CPU: what was read
    # is not the service, and more trials would not make it so
    idle: bool = False


def _number(path: Path, line: int, column: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise NoVerdict(f"{path}:{line}: {column} must be a number, got {cell[:40]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise NoVerdict(f"{path}:{line}: {column} must be a finite number of at least 0, got {cell[:40]!r}")
    return value


def load(path: Path) -> dict[str, Readings]:
    """Each side's readings; {} when there is no file (nothing was read).
    A file that cannot be what perf-gate wrote is NoVerdict naming the line."""
    try:
        data = bounded.read_bytes(path, MAX_BYTES)
    except FileNotFoundError:
        return {}
    except bounded.TooLarge:
        raise NoVerdict(f"{path}: larger than {bounded.size(MAX_BYTES)}, the bound for resource readings") from None
    except OSError as exc:
        raise NoVerdict(f"{path}: unreadable: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoVerdict(f"{path}: not UTF-8 text; expected perf-gate's resource readings (CSV)") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _sides(path, reader)
    except csv.Error as exc:
        raise NoVerdict(f"{path}:{reader.line_num}: unreadable CSV: {exc}") from None


def _sides(path: Path, rows: Iterator[list[str]]) -> dict[str, Readings]:
    if next(rows, None) != COLUMNS:
        raise NoVerdict(f"{path}:1: expected the header {','.join(COLUMNS)}")
    found: dict[str, tuple[str, list[tuple[float, float, float, int]]]] = {}
    sessions: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) != len(COLUMNS):
            raise NoVerdict(f"{path}:{line}: expected {len(COLUMNS)} columns, got {len(row)}")
        time, session, side, method = _number(path, line, "time", row[0]), row[1], row[2], row[3]
        if not MIN_TIME <= time <= MAX_TIME:
            raise NoVerdict(f"{path}:{line}: time must be a Unix time, got {row[0][:40]!r}")
        for column, text in (("session", session), ("side", side)):
            if not text or CONTROL_CHARACTERS.search(text) or len(text) > 100:
                raise NoVerdict(f"{path}:{line}: {column} must be a name such as 'candidate', got {text[:40]!r}")
        if method not in METHODS:
            raise NoVerdict(f"{path}:{line}: method must be one of {', '.join(sorted(METHODS))}, got {method[:40]!r}")
        cpu, memory = _number(path, line, "cpu_s", row[4]), _number(path, line, "memory_bytes", row[5])
        code = sessions.setdefault(session, len(sessions))
        found.setdefault(side, (method, []))[1].append((time, cpu, memory, code))
    out = {}
    for side, (method, values) in found.items():
        values.sort(key=lambda v: v[0])
        times, cpu, memory, codes = (np.array(column) for column in zip(*values, strict=True))
        out[side] = Readings(method, times, cpu, memory, codes)
    return out


def _times(raw: RawSamples, label: str | None) -> np.ndarray:
    """Every sample's time (failed ones too) of one label, or of all labels (None), sorted."""
    groups = [raw.ok, raw.failed]
    found = [s.times for group in groups for (lab, _), s in group.items() if label is None or lab == label]
    return np.sort(np.concatenate(found)) if found else np.zeros(0)


def judged_spans(raw: RawSamples, info: RunInfo, window_s: float) -> list[tuple[float, float] | None]:
    """Per trial: from its first sample plus one window (warm-up) to its stop; None when that is empty."""
    every = _times(raw, None)
    out: list[tuple[float, float] | None] = []
    for start, _, stop in info.spans():
        inside = every[(every >= start) & (every <= stop)]
        begin = float(inside[0]) + window_s if len(inside) else math.inf
        out.append((begin, stop) if begin < stop else None)
    return out


def _count(times: np.ndarray, low: float, high: float) -> int:
    return int(np.searchsorted(times, high, side="right") - np.searchsorted(times, low, side="left"))


def use_in(
    readings: Readings,
    times: np.ndarray,
    *,
    span: tuple[float, float],
    bounds: tuple[float, float],
    window_s: float,
    t0: float,
) -> Use | Unread:
    """The side's use over `span`, from its readings inside `bounds` (its
    trial's) taken by the one sampler whose readings cover the whole span
    (each trial's backends are new processes, their counters started
    again). Unread unless there is one, with no two readings in the span
    more than MAX_GAP_S apart (a reader that stopped), the side answered a
    request in the span and spent at least MIN_CPU_S in it (else what was
    read holds next to nothing of the service: `idle`)."""
    keep = (readings.times >= bounds[0]) & (readings.times <= bounds[1])
    start, end = span
    requests = _count(times, start, end)
    covering = [
        mine
        for code in np.unique(readings.sessions[keep])
        if (mine := keep & (readings.sessions == code)).sum() >= 2
        and readings.times[mine][0] <= start
        and readings.times[mine][-1] >= end
    ]
    if not covering or not requests:
        return Unread()
    t, mem = readings.times[covering[0]], readings.memory[covering[0]]
    # a process can vanish between the listing and its read: the counter never goes back
    cpu = np.maximum.accumulate(readings.cpu_s[covering[0]])
    first, last = int(np.searchsorted(t, start, side="right")) - 1, int(np.searchsorted(t, end, side="left"))
    if float(np.diff(t[first : last + 1]).max()) > MAX_GAP_S:
        return Unread()

    def peak(low: float, high: float) -> float:
        inside = mem[(t >= low) & (t <= high)]
        edges = np.interp([low, high], t, mem)
        return float(max(inside.max(), *edges) if len(inside) else edges.max())

    edges = np.append(np.arange(start, end, window_s), end)
    at = np.interp(edges, t, cpu)
    spent, top = float(at[-1] - at[0]), peak(start, end)
    if spent < MIN_CPU_S or top <= 0:
        return Unread(idle=spent < MIN_CPU_S)
    windows = tuple(
        (lo - t0, float(at[i + 1] - at[i]), _count(times, lo, hi), peak(lo, hi))
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
        if hi - lo >= window_s / 2
    )
    return Use(spent, requests, top, windows)


def trial_bounds(spans: list[tuple[float, float, float]]) -> list[tuple[float, float]]:
    """Where each trial's readings lie: up to GAP_S around its span, and never past half-way to the next."""
    out = []
    for i, (start, _, stop) in enumerate(spans):
        low = start - GAP_S if i == 0 else max(start - GAP_S, (spans[i - 1][2] + start) / 2)
        high = stop + GAP_S if i == len(spans) - 1 else min(stop + GAP_S, (stop + spans[i + 1][0]) / 2)
        out.append((low, high))
    return out


def uses(
    raw: RawSamples,
    info: RunInfo,
    readings: dict[str, Readings],
    sides: dict[str, str],
    *,
    judged: list[tuple[float, float] | None],
    window_s: float,
) -> dict[str, list[Use | Unread]]:
    """Per side (name -> the label its samples carry), each trial's use over its judged span (`judged_spans`)."""
    spans = info.spans()
    bounds = trial_bounds(spans)
    t0 = spans[0][0] if spans else 0.0
    out: dict[str, list[Use | Unread]] = {}
    for side, label in sides.items():
        if side not in readings:
            continue
        times = _times(raw, label)
        out[side] = [
            use_in(readings[side], times, span=span, bounds=bound, window_s=window_s, t0=t0) if span else Unread()
            for span, bound in zip(judged, bounds, strict=True)
        ]
    return out


def totals(side: str, method: str, found: list[Use | None]) -> SideUse | None:
    usable = [u for u in found if u is not None]
    if not usable:
        return None
    return SideUse(
        side=side,
        method=method,
        cpu_ms_per_request=pooled("cpu_ms_per_request", usable),
        peak_memory_mb=pooled("peak_memory_mb", usable),
        requests=sum(u.requests for u in usable),
        trials=len(usable),
    )


def value(metric: str, use: Use) -> float:
    """A rule's measure of one trial: CPU ms per request, or peak memory in MB."""
    return float(getattr(use, metric))


def pooled(metric: str, found: list[Use]) -> float:
    """Over several trials: CPU ms per request of them all, or the highest peak in MB."""
    if metric == "cpu_ms_per_request":
        return 1000 * sum(u.cpu_s for u in found) / sum(u.requests for u in found)
    return max(u.peak_bytes for u in found) / MB


def _window_values(metric: str, use: Use) -> list[tuple[float, float]]:
    if metric == "cpu_ms_per_request":
        return [(t, 1000 * cpu / n) for t, cpu, n, _ in use.windows if n]
    return [(t, peak / MB) for t, _, _, peak in use.windows]


def _window_ratios(metric: str, base: list[Use | None], cand: list[Use | None]) -> list[tuple[float, float]]:
    out = []
    for b, c in zip(base, cand, strict=True):
        if b is None or c is None:
            continue
        bw = dict(_window_values(metric, b))
        out += [(t, v / bw[t]) for t, v in _window_values(metric, c) if bw.get(t)]
    return out


def limit_result(limit: Limit, use: SideUse | None, per_window: list[tuple[float, float]], why: str) -> RuleResult:
    if use is None:
        label = f"{metric_label(limit.metric)} of {SERVICE}"
        return RuleResult(SERVICE, limit.metric, limit.value, None, ERROR, f"{label}: not judged: {why}")
    result = judge(limit, getattr(use, limit.metric))
    result.per_window = per_window or None
    return result


def unjudged(rule: ResourceRule, reason: str, final: bool = False) -> RuleResult:
    metric = f"{rule.metric}_regression"
    text = f"{metric_label(rule.metric)} of {SERVICE}: not judged: {reason}"
    return RuleResult(SERVICE, metric, rule.tolerance, None, ERROR, text, final=final)


def log_ratios(metric: str, base: Sequence[object], cand: Sequence[object]) -> tuple[np.ndarray, list[int]]:
    """ln(candidate / baseline) of each trial with a use of both sides, and which trials those are."""
    both = enumerate(zip(base, cand, strict=True))
    used = [(i, b, c) for i, (b, c) in both if isinstance(b, Use) and isinstance(c, Use)]
    return np.array([math.log(value(metric, c) / value(metric, b)) for _, b, c in used]), [i for i, _, _ in used]


def rule_result(
    rule: ResourceRule,
    base: list[Use | None],
    cand: list[Use | None],
    *,
    confidence: float,
    looks: tuple[int, ...],
    candidate_first: list[bool] | None,
    runners: list[int] | None = None,
    trial_s: float,
    window_s: float,
) -> RuleResult:
    metric = RESOURCE_MEASURES[rule.metric]
    ys, picked = log_ratios(metric, base, cand)
    if len(ys) < MIN_TRIALS_FOR_SPREAD:
        return unjudged(
            rule,
            f"judged over fresh-start trials, and needs {MIN_TRIALS_FOR_SPREAD} or more with readings of both sides; "
            f"this run had {len(ys)} (--trials {MIN_TRIALS_FOR_SPREAD}, or a comparison's run time of "
            f"{MIN_TRIALS_FOR_SPREAD * 30} s or more)",
        )
    order = orders_of(candidate_first, picked, len(base))
    by_runner = None if runners is None or len(runners) != len(base) else [runners[i] for i in picked]
    found = look_interval(ys, FLOOR_LOG, confidence, looks, order, by_runner)
    ratio, low, high, taken_out = found.ratio, found.low, found.high, found.order
    status = decide(low, high, rule.tolerance)
    b, c = (pooled(metric, [side[i] for i in picked]) for side in (base, cand))
    over = f"over {len(ys)} trials" + runners_text(found.runners, len(found.runner_ratios))
    over += " in both start orders" if taken_out is not None else ""
    label = f"{metric_label(rule.metric)} of {SERVICE}"
    text = (
        f"{label}: candidate/baseline {ratio:.3f} ({confidence:.0%} interval {low:.3f}–{high:.3f}, {over}); "
        f"tolerated ≤ {fmt(metric + '_regression', rule.tolerance)}"
    )
    advice = None
    if status == FAIL:
        per = " per request" if metric == "cpu_ms_per_request" else ""
        text += f": regression ({fmt(metric, b)} -> {fmt(metric, c)}{per})"
    elif status == INCONCLUSIVE:
        advice = trials_advice(crossing_factor(ratio, low, high, rule.tolerance), len(ys), trial_s)
        text += ": inconclusive; " + advice
    return RuleResult(
        SERVICE,
        f"{rule.metric}_regression",
        rule.tolerance,
        c,
        status,
        text,
        baseline=b,
        interval=(low, high),
        ratio=ratio,
        per_window=_window_ratios(metric, base, cand) or None,
        window_s=window_s,
        trial_ratios=np.exp(ys).tolist(),
        advice=advice,
        runner_ratios=found.runner_ratios or None,
    )


def readable(readings: dict[str, Readings], reasons: dict[str, str] | None) -> dict[str, Readings]:
    """The readings of the sides the run could read: a side it could not read has no readings of the
    service, whatever its meter wrote."""
    return {side: found for side, found in readings.items() if not unavailable(side, reasons)}


def orders_of(candidate_first: list[bool] | None, picked: list[int], trials: int) -> list[bool] | None:
    """The start order of each picked trial, when every trial's is known."""
    if candidate_first is None or len(candidate_first) != trials:
        return None
    return [candidate_first[i] for i in picked]


def unavailable(side: str, reasons: dict[str, str] | None) -> bool:
    """The side had no meter: the run could not read it at all."""
    return (reasons or {}).get(side, "").startswith(UNAVAILABLE)


def _idle_trials(trials: list[Use | Unread]) -> int:
    """Trials enough to say what was read is not the service (MIN_TRIALS_FOR_SPREAD), else 0."""
    n = sum(1 for u in trials if isinstance(u, Unread) and u.idle)
    return n if n >= MIN_TRIALS_FOR_SPREAD else 0


def idle_reason(side: str, trials: int) -> str:
    return (
        f"what was read of the {side} spent next to no CPU (under {MIN_CPU_S:g} s a span, a few of the "
        f"counters' 10 ms ticks) in {trials} trials while its requests were answered: the service runs outside "
        "what the gate reads (a command that hands it to a container, a VM or another machine: start the "
        "service itself, or use --backend compose), or spends too little per trial to be measured"
    )


def missing_reason(side: str, path: Path, reasons: dict[str, str] | None) -> str:
    said = (reasons or {}).get(side, "")
    if unavailable(side, reasons):
        return f"the {side}'s CPU and memory could not be read: {said.removeprefix(UNAVAILABLE)}"
    return (
        f"no usable readings of the {side} in {path} over the judged spans: none (perf-gate reads them "
        "while Locust runs; a run of Locust alone has none), gaps in them, no request recorded in a span, or "
        "next to no CPU spent (the service may run outside the processes the gate started)"
    )


def not_judged(verdict: Verdict, limits: Thresholds, reason: str, *, compare: bool) -> None:
    """Every resource rule and limit, when what they are judged from cannot be read."""
    verdict.results += [unjudged(rule, reason) for rule in (limits.resource_rules if compare else [])]
    verdict.results += [limit_result(lim, None, [], reason) for lim in limits.resource_limits]


def judge_resources(
    verdict: Verdict,
    raw: RawSamples,
    info: RunInfo,
    limits: Thresholds,
    path: Path,
    *,
    compare: bool,
    looks: tuple[int, ...] = (1,),
    reasons: dict[str, str] | None = None,
) -> None:
    """Adds the resource rules' results, and each side's use, to `verdict`."""
    rules = limits.resource_rules if compare else []
    if not rules and not limits.resource_limits and not path.exists():
        return
    try:
        readings = load(path)
    except NoVerdict as exc:
        if not rules and not limits.resource_limits:
            verdict.warnings.append(f"resource readings not shown: {exc}")
        not_judged(verdict, limits, str(exc), compare=compare)
        return
    sides = {BASELINE: BASELINE, CANDIDATE: CANDIDATE} if compare else {CANDIDATE: ""}
    readings = readable(readings, reasons)
    judged = judged_spans(raw, info, limits.window_s)
    read = uses(raw, info, readings, sides, judged=judged, window_s=limits.window_s)
    found = {side: [u if isinstance(u, Use) else None for u in trials] for side, trials in read.items()}
    for side in sides:
        if side in found and (total := totals(side, readings[side].method, found[side])):
            verdict.resources.append(total)
    why = {side: missing_reason(side, path, reasons) for side in sides}
    idle = {side: n for side in sides if side in read and not any(found[side]) and (n := _idle_trials(read[side]))}
    for side, n in idle.items():
        why[side] = idle_reason(side, n)
    cand = next((u for u in verdict.resources if u.side == CANDIDATE), None)
    count = sum(1 for span in judged if span)
    if cand is not None and cand.trials < count:  # a limit holds over every trial, not the ones that were read
        why[CANDIDATE] = f"readings cover {cand.trials} of the {count} trials; " + why[CANDIDATE]
        cand = None
    for lim in limits.resource_limits:
        windows = [w for u in found.get(CANDIDATE, []) if u for w in _window_values(lim.metric, u)]
        verdict.results.append(limit_result(lim, cand, windows, why[CANDIDATE]))
    spans = info.spans()
    trial_s = statistics.median(stop - start for start, _, stop in spans) if spans else 0.0
    for rule in rules:
        lacking = [side for side in sides if not any(found.get(side, []))]
        if lacking:
            unreadable = [side for side in lacking if unavailable(side, reasons) or side in idle]
            verdict.results.append(unjudged(rule, why[(unreadable or lacking)[0]], final=bool(unreadable)))
            continue
        verdict.results.append(
            rule_result(
                rule,
                found[BASELINE],
                found[CANDIDATE],
                confidence=limits.confidence,
                looks=looks,
                candidate_first=info.candidate_first,
                runners=info.runners,
                trial_s=trial_s,
                window_s=limits.window_s,
            )
        )
