"""Regressions judged side by side: baseline and candidate loaded at once by
the same Locust users, so the machine's noise hits both alike.

Per rule, the statistic is the ratio of the candidate's percentile to the
baseline's, from raw response times of successful requests (the first window
of each trial is warm-up). A comparison is made of fresh-start trials (both
backends started anew for each, the side started first alternating):

- from MIN_TRIALS_FOR_SPREAD trials on, the interval is Student's t over the
  trials' own log ratios, so whatever differs from one fresh start to the
  next is in it; from ORDER_FROM trials on, the start order's effect is taken
  out of their spread;
- with fewer trials, the interval is a paired block bootstrap over windows of
  `window_s` (the same span of time for both sides, resampled together),
  widened by what the trials disagree beyond their own noise.

Percentiles of resamples come from fine log-spaced histograms (0.6% wide
bins). A run that looks at its trials several times (a budget) uses wider
intervals at each look (perfgate.sequential), so looking often raises no more
false alarms. A rule fails only when the whole interval lies above
1 + tolerance, passes when it lies at or below it, and is otherwise
inconclusive, saying how much longer would decide. When the two sides' failure
ratios differ beyond chance, latency is not judged at all.
"""

import math
import statistics
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from perfgate import sequential
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict, fmt
from perfgate.samples import BASELINE, CANDIDATE, RawSamples, Samples
from perfgate.thresholds import RegressionRule, Thresholds

MIN_SAMPLES_PER_WINDOW = 20
MIN_WINDOWS = 5
MIN_WINDOWS_PER_TRIAL = 3  # fewer, and a trial's own ratio and its noise mean little
MIN_WINDOWS_FOR_RATIO = 2  # a trial with fewer has no ratio of its own to count
MIN_TRIALS_FOR_SPREAD = 3  # from this many trials on, their own ratios make the interval
# From this many trials on, the two start orders are told apart (k - 2 degrees of freedom): with fewer,
# the degree of freedom costs more than the order's swing (docs/research.md: The interval over trials)
ORDER_FROM = 6
RESAMPLES = 2000
SEED = 20261124  # fixed: the same samples always give the same verdict
# Side by side, failure ratios this unlikely to differ by chance (Fisher's exact test) leave latency unjudged.
FAILURES_ALPHA = 1e-3
# Runners' trials are pooled unless their ratios differ at this level (perfgate.compare.runners_disagree).
RUNNER_POOLING_ALPHA = 0.25
MAX_USEFUL_FACTOR = 100.0  # past this, "run longer" means hours: the ratio is on the tolerance
EDGES = np.geomspace(0.01, 600_000, 3101)  # ms; neighbouring edges differ by 0.58%


@dataclass(frozen=True)
class Unjudged:
    """A regression rule the samples cannot judge, and why."""

    entry: str
    percentile: int
    reason: str


@dataclass
class Comparison:
    entry: str
    percentile: int
    baseline: float  # whole-run percentile, ms
    candidate: float
    ratio: float  # candidate / baseline
    low: float
    high: float
    windows: int
    se_log: float  # standard error of ln(ratio): this run's noise, within trials and between them
    between_log: float = 0.0  # standard deviation of ln(ratio) between trials beyond their own noise
    trials: int = 1  # trials with windows to judge
    within_log: float = 0.0  # standard error of ln(ratio) from the windows alone (what one trial's noise gives)
    method: str = "windows"  # "trials": the interval is over the trials' own ratios
    # ln ratio with the candidate started first minus with the baseline first, when the interval takes it out
    start_order_log: float | None = None
    trial_s: float = 0.0  # a trial's length (median), for a run of fresh-start trials
    per_window: list[tuple[float, float]] = field(default_factory=list)  # (start s, ratio) of each window judged
    trial_ratios: list[float] = field(default_factory=list)  # each trial's own ratio, when method is "trials"
    runners: int = 0  # the interval is over this many runners' means (they disagreed)
    runner_ratios: list[float] = field(default_factory=list)  # each runner's own ratio, for a merge of runners

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def window_histograms(s: Samples, start: float, window_s: float, n: int) -> np.ndarray:
    """counts[window, bin] of the samples in each window."""
    idx = np.floor((s.times - start) / window_s).astype(int)
    keep = (idx >= 0) & (idx < n)
    bins = np.clip(np.searchsorted(EDGES, s.values[keep], side="right") - 1, 0, len(EDGES) - 2)
    counts = np.zeros((n, len(EDGES) - 1))
    np.add.at(counts, (idx[keep], bins), 1)
    return counts


def hist_percentiles(counts: np.ndarray, q: float) -> np.ndarray:
    """Percentile q of each row of histogram counts, log-interpolated within the bin."""
    cum = np.cumsum(counts, axis=1)
    target = cum[:, -1] * q / 100
    i = np.argmax(cum >= target[:, None], axis=1)
    before = np.where(i > 0, cum[np.arange(len(i)), i - 1], 0.0)
    inside = counts[np.arange(len(i)), i]
    frac = np.where(inside > 0, (target - before) / np.maximum(inside, 1), 0.5)
    lo, hi = np.log(EDGES[i]), np.log(EDGES[i + 1])
    return np.exp(lo + frac * (hi - lo))


def _within(s: Samples, low: float, high: float) -> Samples:
    keep = (s.times >= low) & (s.times <= high)
    return Samples(s.times[keep], s.values[keep])


def paired_windows(
    base: Samples,
    cand: Samples,
    window_s: float,
    warmup_s: float | None = None,
    span: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histograms of the windows where both sides have enough samples, and
    where each of those windows starts (seconds since the first sample); the
    first `warmup_s` seconds (ramp-up, cold caches; default: one window) are
    left out. With `span`, only the samples inside it (one trial). Cutting
    less than a window narrowed the trials' spread but decided no more runs
    (docs/research.md: The warm-up cut)."""
    if span is not None:
        base, cand = _within(base, *span), _within(cand, *span)
    if not len(base.times) or not len(cand.times):
        return np.zeros((0, len(EDGES) - 1)), np.zeros((0, len(EDGES) - 1)), np.zeros(0)
    first = min(base.times.min(), cand.times.min())
    start = first + (window_s if warmup_s is None else warmup_s)
    n = max(0, int(math.ceil((max(base.times.max(), cand.times.max()) - start) / window_s)))
    hb, hc = window_histograms(base, start, window_s, n), window_histograms(cand, start, window_s, n)
    both = (hb.sum(axis=1) >= MIN_SAMPLES_PER_WINDOW) & (hc.sum(axis=1) >= MIN_SAMPLES_PER_WINDOW)
    return hb[both], hc[both], start - first + np.flatnonzero(both) * window_s


def bootstrap_ratio(hb: np.ndarray, hc: np.ndarray, q: float, confidence: float) -> tuple[float, float, float, float]:
    """(ratio, low, high, se of ln ratio) by resampling windows, paired."""
    w = len(hb)
    weights = np.random.default_rng(SEED).multinomial(w, np.full(w, 1 / w), size=RESAMPLES)
    ratios = hist_percentiles(weights @ hc, q) / hist_percentiles(weights @ hb, q)
    point = float(
        hist_percentiles(hc.sum(axis=0, keepdims=True), q)[0] / hist_percentiles(hb.sum(axis=0, keepdims=True), q)[0]
    )
    low, high = np.quantile(ratios, [(1 - confidence) / 2, (1 + confidence) / 2])
    return point, float(low), float(high), float(np.log(ratios).std(ddof=1))


def decide(low: float, high: float, tolerance: float) -> str:
    limit = 1 + tolerance
    if low > limit:
        return FAIL
    if high <= limit:
        return PASS
    return INCONCLUSIVE


def run_length_factor(c: Comparison, tolerance: float) -> float:
    """How many times longer a run must be for the interval to clear 1 + tolerance:
    the side of the interval that crosses it (a bootstrap interval need not be
    symmetric) shrinks with the square root of the number of windows. Always
    above 1 for an interval that crosses; inf when the ratio sits on it."""
    return crossing_factor(c.ratio, c.low, c.high, tolerance)


def crossing_factor(ratio: float, low: float, high: float, tolerance: float) -> float:
    """`run_length_factor` of any interval around `ratio`."""
    limit = math.log(1 + tolerance)
    point = math.log(ratio)
    crossing = math.log(high) - point if point < limit else point - math.log(low)
    distance = abs(point - limit)
    return math.inf if distance == 0 else (crossing / distance) ** 2


def run_length_advice(factor: float, windows: int, window_s: float) -> str:
    if not math.isfinite(factor) or factor > MAX_USEFUL_FACTOR:
        return "the ratio sits on the tolerance: no run of useful length would decide"
    factor = math.ceil(factor * 10) / 10  # never "1.0x as long" after a run of that length
    minutes = factor * windows * window_s / 60
    return f"a run about {factor:.1f}x as long (~{minutes:.1f} min of measurement) would decide"


def trials_advice(factor: float, trials: int, trial_s: float) -> str:
    """The same in fresh-start trials: what --trials or --max-run-time has to allow."""
    if not math.isfinite(factor) or factor > MAX_USEFUL_FACTOR:
        return "the ratio sits on the tolerance: no run of useful length would decide"
    needed = max(trials + 1, math.ceil(trials * factor))
    return (
        f"about {needed} trials of {trial_s:.0f} s (~{needed * trial_s / 60:.1f} min of load) would decide "
        "(--max-run-time adds trials while a rule is undecided)"
    )


def between_trials(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], q: float, confidence: float) -> float:
    """The standard deviation of ln(ratio) between fresh-start trials beyond what
    each trial's own noise explains (DerSimonian and Laird's moment estimate,
    0 when they agree): per trial the ratio and its bootstrap standard error,
    then the spread of the ratios against those errors."""
    usable = [(b, c) for b, c, _ in parts if len(b) >= MIN_WINDOWS_PER_TRIAL]
    if len(usable) < 2:
        return 0.0
    fits = [bootstrap_ratio(b, c, q, confidence) for b, c in usable]
    y = np.array([math.log(ratio) for ratio, _, _, _ in fits])
    w = 1 / np.maximum(np.array([se for _, _, _, se in fits]), 1e-6) ** 2
    mean = (w * y).sum() / w.sum()
    q_stat = (w * (y - mean) ** 2).sum()
    scale = w.sum() - (w**2).sum() / w.sum()
    return math.sqrt(max(0.0, (q_stat - (len(y) - 1)) / scale))


def _whole(h: np.ndarray, q: float) -> float:
    return float(hist_percentiles(h.sum(axis=0, keepdims=True), q)[0])


def pooled(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Every trial's window histograms end to end: (baseline, candidate)."""
    return np.concatenate([b for b, _, _ in parts]), np.concatenate([c for _, c, _ in parts])


def window_ratios(hb: np.ndarray, hc: np.ndarray, q: float) -> np.ndarray:
    """candidate / baseline of percentile q in each window."""
    return hist_percentiles(hc, q) / hist_percentiles(hb, q)


def _has_ratio(part: tuple[np.ndarray, np.ndarray, np.ndarray]) -> bool:
    return len(part[0]) >= MIN_WINDOWS_FOR_RATIO


def trial_log_ratios(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], q: float) -> np.ndarray:
    """ln(candidate / baseline) of each trial's percentile over its own windows."""
    return np.array([math.log(_whole(part[1], q) / _whole(part[0], q)) for part in parts if _has_ratio(part)])


def _planned(looks: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(n for n in looks if n >= MIN_TRIALS_FOR_SPREAD)


def order_from(candidate_first: list[bool] | None) -> int | None:
    """From how many trials on the interval takes the start order out: ORDER_FROM
    when each judged trial's order is known and both orders were seen, else never."""
    return ORDER_FROM if candidate_first and len(set(candidate_first)) == 2 else None


def critical_value(confidence: float, looks: tuple[int, ...], k: int, by_order_from: int | None = None) -> float:
    """c for mean ± c·se over k trials: Student's t, or at a sequential run's
    look, that look's boundary (a trial count that is no planned look gets
    the strictest). `by_order_from`: looks at that many trials or more are
    over the two start orders' mean."""
    planned = _planned(looks)
    if len(planned) < 2:
        return float(stats.t.ppf((1 + confidence) / 2, k - (2 if sequential.by_order(k, by_order_from) else 1)))
    bounds = sequential.t_boundaries(confidence, planned, by_order_from)
    return bounds[planned.index(k)] if k in planned else max(bounds)


def trials_interval(
    ys: np.ndarray, within: float, critical: float, candidate_first: list[bool] | None = None
) -> tuple[float, float, float, float, float]:
    """(ratio, low, high, se, between) from the trials' own ln ratios `ys`:
    their geometric mean ± critical · se, se from their spread alone. Each
    trial's ratio carries its own windows' noise, so the spread holds it;
    Student's t (or the sequential boundary, simulated the same way) allows
    for trials that agree by chance. A floor at the windows' bootstrap se
    (`within`) made the intervals wider than their level without making them
    any safer (docs/research.md: The interval over trials); it is kept only for trials whose ratios
    are all the same (the same histogram bins every time), where the spread
    says nothing. With `candidate_first` (per trial), the mean of the two
    start orders' geometric means and their pooled spread: whatever starting
    first does to a side, it does to each side equally often, and leaves the
    spread."""
    k = len(ys)
    if candidate_first is not None:
        first = np.asarray(candidate_first, dtype=bool)
        a, b = ys[first], ys[~first]
        mean = float(a.mean() + b.mean()) / 2
        spread = math.sqrt((((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / (k - 2))
        se = spread * sequential.order_se_factor(len(a), len(b))
    else:
        mean, spread = float(np.mean(ys)), float(np.std(ys, ddof=1))
        se = spread / math.sqrt(k)
    se = se if se > 0 else within
    # one trial's own noise is about within * sqrt(k); the spread beyond it is between trials
    between = math.sqrt(max(0.0, spread**2 - within**2 * k))
    return math.exp(mean), math.exp(mean - critical * se), math.exp(mean + critical * se), se, between


@dataclass(frozen=True)
class TrialsInterval:
    ratio: float
    low: float
    high: float
    se: float  # of ln(ratio)
    between: float  # spread of ln(ratio) between trials beyond their own noise
    order: list[bool] | None  # the start orders taken out; None: left in
    runners: int = 0  # the runners whose means the interval is over, when they disagreed; 0: over the trials
    runner_ratios: list[float] = field(default_factory=list)  # each runner's own ratio, by runner number


def runners_disagree(ys: np.ndarray, runners: np.ndarray) -> bool:
    """Whether the runners' mean ln ratios differ beyond what the trials'
    spread within each runner explains: one-way analysis of variance,
    F test at RUNNER_POOLING_ALPHA (a lenient level, as a pooling rule wants:
    pooling runners that do differ would make the interval too narrow)."""
    groups = [ys[runners == r] for r in np.unique(runners)]
    k, n = len(groups), len(ys)
    if k < 2 or n - k < 1:
        return False
    grand = ys.mean()
    between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups) / (k - 1)
    within = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n - k)
    if within <= 0:
        return between > 0
    return float(stats.f.sf(between / within, k - 1, n - k)) < RUNNER_POOLING_ALPHA


def look_interval(
    ys: np.ndarray,
    within: float,
    confidence: float,
    looks: tuple[int, ...],
    candidate_first: list[bool] | None,
    runners: list[int] | None = None,
) -> TrialsInterval:
    """The trials' interval at a look after len(ys) trials, as the gate draws it:
    `trials_interval` at that look's critical value, with the start order taken
    out from ORDER_FROM trials on when each trial's order is known and both
    were seen. Trials from several runners (`runners`, per trial) that agree
    are judged as one run's; runners that disagree make the interval over
    their own means (the start order taken out first), with Student's t on
    runners - 1 degrees of freedom: a runner is then the unit, and a
    runner that sees another ratio widens the interval. The replay of
    stored series (benchmarks/rejudge.py) judges with this too."""
    by_order_from = order_from(candidate_first)
    order = candidate_first if sequential.by_order(len(ys), by_order_from) else None
    ratios: list[float] = []
    if runners is not None and len(runners) == len(ys) and len(set(runners)) > 1:
        ids = np.asarray(runners)
        adjusted = ys
        if order is not None:
            signs = np.where(np.asarray(order, dtype=bool), 0.5, -0.5)
            adjusted = ys - start_order_effect(ys, order) * signs
        # each runner's own ratio as the interval sees it: with the start order taken out
        ratios = [math.exp(float(adjusted[ids == r].mean())) for r in np.unique(ids)]
        if runners_disagree(adjusted, ids):
            means = np.array([adjusted[ids == r].mean() for r in np.unique(ids)])
            k = len(means)
            spread = float(means.std(ddof=1))
            se = spread / math.sqrt(k) if spread > 0 else within
            critical = float(stats.t.ppf((1 + confidence) / 2, k - 1))
            mean = float(means.mean())
            low, high = math.exp(mean - critical * se), math.exp(mean + critical * se)
            return TrialsInterval(math.exp(mean), low, high, se, spread, order, k, ratios)
    critical = critical_value(confidence, looks, len(ys), by_order_from)
    ratio, low, high, se, between = trials_interval(ys, within, critical, order)
    return TrialsInterval(ratio, low, high, se, between, order, 0, ratios)


def start_order_effect(ys: np.ndarray, candidate_first: list[bool]) -> float:
    """ln ratio with the candidate started first minus with the baseline first."""
    first = np.asarray(candidate_first, dtype=bool)
    return float(ys[first].mean() - ys[~first].mean())


def compare_entry(
    samples: dict,
    rule: RegressionRule,
    window_s: float,
    confidence: float,
    trials: list[tuple[float, float, float]] | None = None,
    looks: tuple[int, ...] = (1,),
    candidate_first: list[bool] | None = None,
    runners: list[int] | None = None,
) -> Comparison | Unjudged:
    """`trials`: the (start, spawning complete, stop) of each fresh-start trial;
    windows never straddle two, and each trial's first window is warm-up.
    From MIN_TRIALS_FOR_SPREAD trials on, the interval is Student's t over
    the trials' own ln ratios: whatever differs from one fresh start to the
    next is in it. With fewer, it is the windows' bootstrap, widened by what
    two trials disagree.
    `looks`: the trial counts a sequential run looks at. `candidate_first`:
    per trial, whether the candidate was started first; from ORDER_FROM
    trials on, the interval takes the start order out."""
    base, cand = samples.get((BASELINE, rule.entry)), samples.get((CANDIDATE, rule.entry))
    if base is None or cand is None:
        side = "the baseline" if base is None else "the candidate"
        reason = f"no successful samples of {rule.entry} for {side}"
        if ("", rule.entry) in samples:
            reason += (
                ": it ran unlabelled, against --host only (its user could not be paired, or it went to "
                "another host; the summary says which)"
            )
        return Unjudged(rule.entry, rule.percentile, reason)
    spans = [(start, stop) for start, _, stop in trials] if trials and len(trials) > 1 else [None]
    run_start = trials[0][0] if trials and len(trials) > 1 else 0.0
    parts = [paired_windows(base, cand, window_s, span=span) for span in spans]
    judged_trials = sum(1 for b, _, _ in parts if len(b))
    hb, hc = pooled(parts)
    # window starts in seconds since the run's first sample (a trial's own clock shifted to the run's)
    starts = np.concatenate(
        [w + (span[0] - run_start if span else 0.0) for (_, _, w), span in zip(parts, spans, strict=True)]
    )
    if len(hb) < MIN_WINDOWS:
        return Unjudged(
            rule.entry,
            rule.percentile,
            f"only {len(hb)} window(s) of {window_s:g}s with {MIN_SAMPLES_PER_WINDOW}+ samples on both sides; "
            f"need {MIN_WINDOWS}: run longer",
        )
    ys = trial_log_ratios(parts, rule.percentile)
    order = None
    if candidate_first is not None and len(candidate_first) == len(parts):
        order = [first for first, part in zip(candidate_first, parts, strict=True) if _has_ratio(part)]
    by_runner = None
    if runners is not None and len(runners) == len(parts):
        by_runner = [runner for runner, part in zip(runners, parts, strict=True) if _has_ratio(part)]
    effect, pooled_runners, runner_ratios = None, 0, []
    if len(ys) >= MIN_TRIALS_FOR_SPREAD:
        _, _, _, within = bootstrap_ratio(hb, hc, rule.percentile, confidence)
        found = look_interval(ys, within, confidence, looks, order, by_runner)
        ratio, low, high, se, tau, order = found.ratio, found.low, found.high, found.se, found.between, found.order
        pooled_runners, runner_ratios = found.runners, found.runner_ratios
        effect = None if order is None else start_order_effect(ys, order)
        method = "trials"
    else:
        tau = between_trials(parts, rule.percentile, confidence)
        ratio, low, high, se = bootstrap_ratio(hb, hc, rule.percentile, sequential.confidence_for(confidence, looks))
        within, method = se, "windows"
        if tau > 0:  # widen by what the trials disagree beyond their own noise, keeping the interval's shape
            factor = math.sqrt(1 + tau**2 / (judged_trials * se**2))
            low, high = ratio * (low / ratio) ** factor, ratio * (high / ratio) ** factor
            se *= factor
    return Comparison(
        entry=rule.entry,
        percentile=rule.percentile,
        baseline=float(hist_percentiles(hb.sum(axis=0, keepdims=True), rule.percentile)[0]),
        candidate=float(hist_percentiles(hc.sum(axis=0, keepdims=True), rule.percentile)[0]),
        ratio=ratio,
        low=low,
        high=high,
        windows=len(hb),
        se_log=se,
        between_log=tau,
        trials=len(ys) if method == "trials" else judged_trials,
        within_log=within,
        method=method,
        start_order_log=effect,
        trial_s=statistics.median(stop - start for start, _, stop in trials) if method == "trials" and trials else 0.0,
        per_window=list(zip(starts.tolist(), window_ratios(hb, hc, rule.percentile).tolist(), strict=True)),
        trial_ratios=np.exp(ys).tolist() if method == "trials" else [],
        runners=pooled_runners,
        runner_ratios=runner_ratios,
    )


def failures_differ(raw: RawSamples, rule: RegressionRule) -> Unjudged | None:
    """Latency is compared over successful requests only, so it means little
    when one side failed far more often than the other (a side refused
    quickly looks fast): then the rule is not judged, with both ratios."""
    counts = []
    for side in (BASELINE, CANDIDATE):
        ok, failed = raw.ok.get((side, rule.entry)), raw.failed.get((side, rule.entry))
        counts.append((len(failed.times) if failed else 0, len(ok.times) if ok else 0))
    (fb, ob), (fc, oc) = counts
    if not (fb or fc) or not (fb + ob) or not (fc + oc):
        return None
    p = stats.fisher_exact([[fb, ob], [fc, oc]]).pvalue
    if p >= FAILURES_ALPHA:
        return None
    return Unjudged(
        rule.entry,
        rule.percentile,
        f"the sides failed at different rates (baseline {fb / (fb + ob):.2%}, {fb} of {fb + ob}; candidate "
        f"{fc / (fc + oc):.2%}, {fc} of {fc + oc}; p = {p:.2g}): latency is not compared when one side's "
        "requests fail more often; see the failure ratios",
    )


def runners_text(disagreeing: int, runners: int) -> str:
    """How a merge of runners was judged, for a rule's message."""
    if disagreeing:
        return f" on {disagreeing} runners, which disagree: the interval is over the runners' own ratios"
    return f" on {runners} runners" if runners > 1 else ""


def judge_comparison(c: Comparison, rule: RegressionRule, window_s: float, confidence: float) -> RuleResult:
    status = decide(c.low, c.high, rule.tolerance)
    label = f"p{rule.percentile} of {rule.entry}"
    over = f"over {c.trials} trials" if c.method == "trials" else f"{c.windows} windows of {window_s:g}s"
    over += runners_text(c.runners, len(c.runner_ratios))
    if c.start_order_log is not None:
        over += " in both start orders"
    text = (
        f"{label}: candidate/baseline {c.ratio:.3f} ({confidence:.0%} interval {c.low:.3f}–{c.high:.3f}, "
        f"{over}); tolerated ≤ {fmt(f'p{rule.percentile}_regression', rule.tolerance)}"
    )
    advice = None
    if status == FAIL:
        text += f": regression ({c.baseline:.1f} ms -> {c.candidate:.1f} ms)"
    elif status == INCONCLUSIVE:
        factor = run_length_factor(c, rule.tolerance)
        advice = (
            trials_advice(factor, c.trials, c.trial_s) if c.trial_s else run_length_advice(factor, c.windows, window_s)
        )
        text += ": inconclusive; " + advice
    return RuleResult(
        rule.entry,
        f"p{rule.percentile}_regression",
        rule.tolerance,
        c.candidate,
        status,
        text,
        baseline=c.baseline,
        interval=(c.low, c.high),
        ratio=c.ratio,
        per_window=c.per_window,
        window_s=window_s,
        trial_ratios=list(c.trial_ratios) if c.method == "trials" and c.trial_ratios else None,
        advice=advice,
        runner_ratios=list(c.runner_ratios) or None,
    )


def compare_run(
    verdict: Verdict,
    raw: RawSamples,
    thresholds: Thresholds,
    trials: list[tuple[float, float, float]] | None = None,
    looks: tuple[int, ...] = (1,),
    candidate_first: list[bool] | None = None,
    runners: list[int] | None = None,
) -> list[Comparison]:
    """Adds one RuleResult per regression rule to `verdict`; returns the
    comparisons. `looks`: the trial counts a sequential run looks at (its
    intervals are wider, so that looking often raises no more false alarms).
    `candidate_first`: each trial's start order (see compare_entry)."""
    confidence = thresholds.confidence
    if not thresholds.regressions:
        if not thresholds.resource_rules:  # those are judged by perfgate.resource_use
            verdict.problems.append(
                f"{thresholds.path}: $.regression: no regression rules (entries or resources); nothing to compare"
            )
        return []
    done = []
    for rule in thresholds.regressions:
        c = failures_differ(raw, rule) or compare_entry(
            raw.ok, rule, thresholds.window_s, confidence, trials, looks, candidate_first, runners
        )
        if isinstance(c, Unjudged):
            verdict.results.append(
                RuleResult(
                    rule.entry,
                    f"p{rule.percentile}_regression",
                    rule.tolerance,
                    None,
                    ERROR,
                    f"p{rule.percentile} of {rule.entry}: {c.reason}",
                )
            )
            continue
        verdict.results.append(judge_comparison(c, rule, thresholds.window_s, confidence))
        done.append(c)
    return done
