"""Judge results against thresholds. Only compares and records: reporting is
the reporters' job, exit codes the CLI's."""

import difflib
import functools
from dataclasses import dataclass, field

from perfgate.context import RunContext
from perfgate.errors import EXIT_FAIL, EXIT_NO_VERDICT, EXIT_PASS, EXIT_USAGE, ConfigError
from perfgate.results import RunResults
from perfgate.thresholds import AGGREGATE, Limit, Thresholds

PASS, FAIL, ERROR, INCONCLUSIVE = "pass", "fail", "error", "inconclusive"
TYPO_SEARCHES = 10  # past this many entries that never ran, it is not a typo


def fmt(metric: str, value: float) -> str:
    """A rule's value as the reports show it. A regression rule's value is its
    tolerance, shown as the largest candidate/baseline ratio it allows, with two
    decimals or three when it has them (0.07: ×1.07, 0.1: ×1.10, 0.025: ×1.025)."""
    if metric.endswith("_regression"):
        text = f"{1 + value:.3f}"
        return "×" + (text[:-1] if text.endswith("0") else text)
    if metric == "cpu_ms_per_request":
        return f"{value:.3g} ms" if value < 1 else f"{value:.2f} ms"
    if metric == "peak_memory_mb":
        return f"{value:.1f} MB"
    if metric.endswith("_ms"):  # Locust's whole milliseconds, or a tenth for merged trials' exact ones
        return f"{round(value, 1):g} ms"
    if metric == "failure_ratio":
        return f"{value:.2%}"
    if metric == "min_rps":
        return f"{value:.1f} req/s"
    if metric == "stall":
        return f"{value:.1f} s"
    return f"{value:g}"


LABELS = {
    "min_rps": "requests/s",
    "min_requests": "requests",
    "failure_ratio": "failure ratio",
    "cpu_ms_per_request": "CPU per request",
    "cpu_per_request": "CPU per request",
    "peak_memory_mb": "peak memory",
    "peak_memory": "peak memory",
}


@functools.cache
def metric_label(metric: str) -> str:
    if metric.endswith("_regression"):
        return f"{metric_label(metric.removesuffix('_regression'))} regression"
    return LABELS.get(metric, metric.removesuffix("_ms"))


@dataclass
class RuleResult:
    entry: str
    metric: str
    limit: float
    measured: float | None
    status: str  # pass | fail | error | inconclusive
    message: str
    # regression rules only
    baseline: float | None = None
    interval: tuple[float, float] | None = None
    ratio: float | None = None  # the judged candidate/baseline ratio (over trials: their geometric mean)
    default: bool = False  # the limit is the documented default, not the file's
    # over time, for the charts: (seconds since the run's first sample, the value in that window)
    per_window: list[tuple[float, float]] | None = None
    window_s: float | None = None
    # a comparison judged over fresh-start trials: each trial's own candidate/baseline ratio, in trial order
    trial_ratios: list[float] | None = None
    final: bool = False  # not judged, and more trials cannot change that (the service cannot be read)
    advice: str | None = None  # a rule not decided: what would decide it
    runner_ratios: list[float] | None = None  # a merge of runners: each runner's own ratio, by runner number

    @property
    def name(self) -> str:
        return f"{metric_label(self.metric)} of {self.entry}"


@dataclass
class SideUse:
    """What one side spent over the judged spans of its trials, for the reports."""

    side: str  # "candidate", "baseline"
    method: str  # how it was read: "proc", "cgroup"
    cpu_ms_per_request: float
    peak_memory_mb: float
    requests: int
    trials: int


@dataclass
class Verdict:
    results: list[RuleResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why no verdict was possible
    warnings: list[str] = field(default_factory=list)
    overloaded: bool = False
    fail_on_overload: bool = False
    config_errors: list[str] = field(default_factory=list)  # bad usage or configuration: nothing was judged
    context: RunContext | None = None  # how the load was made, for the reports
    resources: list[SideUse] = field(default_factory=list)  # what each side spent, where it could be read

    @property
    def status(self) -> str:
        """Bad configuration first (nothing was judged); then a run whose load
        generator is untrusted; then a definite failure (the change is red
        either way); then anything that blocked a verdict."""
        if self.config_errors or self.overloaded and self.fail_on_overload:
            return ERROR
        statuses = {r.status for r in self.results}
        if FAIL in statuses:
            return FAIL
        if self.problems or not self.results or ERROR in statuses:
            return ERROR
        if INCONCLUSIVE in statuses:
            return INCONCLUSIVE
        return PASS

    @property
    def exit_code(self) -> int:
        if self.config_errors:
            return EXIT_USAGE
        return {PASS: EXIT_PASS, FAIL: EXIT_FAIL}.get(self.status, EXIT_NO_VERDICT)


def judge(limit: Limit, measured: float | None) -> RuleResult:
    label = f"{metric_label(limit.metric)} of {limit.entry}"
    if measured is None:
        return RuleResult(limit.entry, limit.metric, limit.value, None, ERROR, f"{label}: not measured (N/A)")
    ok = measured >= limit.value if limit.is_minimum else measured <= limit.value
    op = (">=" if ok else "<") if limit.is_minimum else ("<=" if ok else ">")
    text = f"{label}: {fmt(limit.metric, measured)} {op} limit {fmt(limit.metric, limit.value)}"
    if limit.default:
        text += f" (the default limit; set {limit.metric} in the thresholds file to change it)"
    status = PASS if ok else FAIL
    return RuleResult(limit.entry, limit.metric, limit.value, measured, status, text, default=limit.default)


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit]) or "none"
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def missing_entry(entry: str, ran: list[str], thresholds: Thresholds, look_for_typo: bool = True) -> str:
    """An entry that never ran: a typo (exit 2) when a ran entry of the same type
    has a close name, else a measurement gap (exit 3)."""
    kind, _, name = entry.partition(" ")
    if look_for_typo:
        kind = _kind_meant(kind, {r.partition(" ")[0] for r in ran})
        same_kind = [r.partition(" ")[2] for r in ran if r.startswith(kind + " ") and r != entry]
        close = [f"{kind} {n}" for n in difflib.get_close_matches(name, same_kind, n=1, cutoff=0.8)]
        if close:
            raise ConfigError(
                f"{thresholds.path}: $.entries[{entry!r}]: no such Locust entry; did you mean {close[0]!r}? "
                f"(entries that ran: {_listing(ran)})"
            )
    return f"entry {entry!r} named in {thresholds.path} never ran (entries that ran: {_listing(ran)})"


def _kind_meant(kind: str, kinds_ran: set[str]) -> str:
    """The request type a misspelt one most likely meant ('get', 'POTS' -> 'GET',
    'POST'), when no entry of `kind` ran; else `kind` itself."""
    if kind in kinds_ran:
        return kind
    same_letters = [k for k in sorted(kinds_ran) if k.casefold() == kind.casefold()]
    return (same_letters or difflib.get_close_matches(kind, sorted(kinds_ran), n=1, cutoff=0.75) or [kind])[0]


def check(results: RunResults, thresholds: Thresholds, fail_on_overload: bool = False) -> Verdict:
    verdict = Verdict(fail_on_overload=fail_on_overload)
    if results.aggregate.count == 0:
        verdict.problems.append(f"{results.stats_csv}: zero requests recorded; nothing was measured")
        return verdict
    info = results.run_info
    if info.cpu_warning:
        verdict.overloaded = True
        verdict.warnings.append(
            f"the load generator's CPU went above 90% (peak {info.max_cpu_percent:.0f}%): "
            "response times may include Locust's own delay"
        )
    if info.unfinished_at_stop:
        verdict.warnings.append(
            f"{info.unfinished_at_stop} submission(s) were still unfinished when Locust stopped the users; "
            "each is counted as a failure"
        )
    for name, why in sorted(info.unpaired_users.items()):
        verdict.warnings.append(f"not compared: user class {name} ran against the candidate only: {why}")
    for host, n in sorted(info.not_compared_hosts.items()):
        verdict.warnings.append(
            f"not compared: {n} request(s) went to {host}, another host than the service under test; "
            "they were sent as written from both sides and their entries are not labelled"
        )
    ran = sorted(key for key, stats in results.entries.items() if stats.count > 0)
    missing: set[str] = set()
    for limit in thresholds.limits:
        stats = results.aggregate if limit.entry == AGGREGATE else results.entries.get(limit.entry)
        if stats is None or stats.count == 0:
            if limit.entry not in missing:
                missing.add(limit.entry)
                verdict.problems.append(missing_entry(limit.entry, ran, thresholds, len(missing) <= TYPO_SEARCHES))
            continue
        verdict.results.append(judge(limit, stats.metric(limit.metric)))
    return verdict
