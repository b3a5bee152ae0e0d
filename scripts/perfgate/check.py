"""Judge results against thresholds. Only compares and records: reporting is
the reporters' job, exit codes the CLI's."""

import difflib
from dataclasses import dataclass, field

from perfgate.errors import EXIT_FAIL, EXIT_NO_VERDICT, EXIT_PASS, ConfigError
from perfgate.results import RunResults
from perfgate.thresholds import AGGREGATE, Limit, Thresholds

PASS, FAIL, ERROR, INCONCLUSIVE = "pass", "fail", "error", "inconclusive"


def fmt(metric: str, value: float) -> str:
    if metric.endswith("_ms"):
        return f"{value:g} ms"
    if metric == "failure_ratio":
        return f"{value:.2%}"
    if metric == "min_rps":
        return f"{value:.1f} req/s"
    return f"{value:g}"


def metric_label(metric: str) -> str:
    if metric.endswith("_regression"):
        return f"{metric.removesuffix('_regression')} regression"
    return {"min_rps": "requests/s", "min_requests": "requests", "failure_ratio": "failure ratio"}.get(
        metric, metric.removesuffix("_ms")
    )


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

    @property
    def name(self) -> str:
        return f"{metric_label(self.metric)} of {self.entry}"


@dataclass
class Verdict:
    results: list[RuleResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why no verdict was possible
    warnings: list[str] = field(default_factory=list)
    overloaded: bool = False
    fail_on_overload: bool = False

    @property
    def status(self) -> str:
        """A definite failure wins (the change is red either way); then anything
        that blocked a verdict; a run whose load generator is untrusted wins over both."""
        if self.overloaded and self.fail_on_overload:
            return ERROR
        if any(r.status == FAIL for r in self.results):
            return FAIL
        if self.problems or not self.results or any(r.status == ERROR for r in self.results):
            return ERROR
        if any(r.status == INCONCLUSIVE for r in self.results):
            return INCONCLUSIVE
        return PASS

    @property
    def exit_code(self) -> int:
        return {PASS: EXIT_PASS, FAIL: EXIT_FAIL}.get(self.status, EXIT_NO_VERDICT)


def judge(limit: Limit, measured: float | None) -> RuleResult:
    label = f"{metric_label(limit.metric)} of {limit.entry}"
    if measured is None:
        return RuleResult(limit.entry, limit.metric, limit.value, None, ERROR, f"{label}: not measured (N/A)")
    ok = measured >= limit.value if limit.is_minimum else measured <= limit.value
    op = (">=" if ok else "<") if limit.is_minimum else ("<=" if ok else ">")
    text = f"{label}: {fmt(limit.metric, measured)} {op} limit {fmt(limit.metric, limit.value)}"
    return RuleResult(limit.entry, limit.metric, limit.value, measured, PASS if ok else FAIL, text)


def missing_entry(entry: str, ran: list[str], thresholds: Thresholds) -> str:
    """An entry that never ran: a typo (exit 2) when a ran entry of the same type
    has a close name, else a measurement gap (exit 3)."""
    kind, _, name = entry.partition(" ")
    same_kind = [r.partition(" ")[2] for r in ran if r.startswith(kind + " ") and r != entry]
    close = [f"{kind} {n}" for n in difflib.get_close_matches(name, same_kind, n=1, cutoff=0.8)]
    if close:
        raise ConfigError(
            f"{thresholds.path}: $.entries[{entry!r}]: no such Locust entry; did you mean {close[0]!r}? "
            f"(entries that ran: {', '.join(ran)})"
        )
    return f"entry {entry!r} named in {thresholds.path} never ran (entries that ran: {', '.join(ran) or 'none'})"


def check(results: RunResults, thresholds: Thresholds, fail_on_overload: bool = False) -> Verdict:
    verdict = Verdict(fail_on_overload=fail_on_overload)
    if results.aggregate.count == 0:
        verdict.problems.append(f"{results.stats_csv}: zero requests recorded; nothing was measured")
        return verdict
    info = results.run_info
    if info.get("cpu_warning"):
        verdict.overloaded = True
        verdict.warnings.append(
            f"the load generator's CPU went above 90% (peak {info.get('max_cpu_percent', 0):.0f}%): "
            "response times may include Locust's own delay"
        )
    ran = sorted(key for key, stats in results.entries.items() if stats.count > 0)
    for limit in thresholds.limits:
        stats = results.aggregate if limit.entry == AGGREGATE else results.entries.get(limit.entry)
        if stats is None or stats.count == 0:
            problem = missing_entry(limit.entry, ran, thresholds)
            if problem not in verdict.problems:
                verdict.problems.append(problem)
            continue
        verdict.results.append(judge(limit, stats.metric(limit.metric)))
    return verdict
