"""The Markdown summary: what a pull request's author reads first, in the job
summary and the pull request comment. The verdict and one line that says
why; the run's context; rules that did not pass before those that did; every
name from results escaped, every log verbatim in a folded code block."""

import math
import re
from collections import Counter
from typing import TextIO

from perfgate import charts
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict, fmt, metric_label
from perfgate.context import RunContext
from perfgate.thresholds import RESOURCE_MEASURES

ICONS = {PASS: "✅ pass", FAIL: "❌ fail", ERROR: "⛔ error", INCONCLUSIVE: "⚠️ inconclusive"}
ORDER = {FAIL: 0, ERROR: 1, INCONCLUSIVE: 2, PASS: 3}  # what needs reading first
MAX_ROWS = 500  # rules in the summary: GitHub refuses a step summary over 1 MiB


def md_escape(text: str) -> str:
    for ch in "\\|`*_[]<>":
        text = text.replace(ch, "\\" + ch)
    return text


def notice(label: str, text: str) -> list[str]:
    """The first line quoted; the rest (compose output, a backend's log) verbatim
    in a folded code block, where no log line can become a heading or a list."""
    first, _, rest = text.partition("\n")
    lines = [f"> **{label}:** {md_escape(first)}"]
    if rest.strip():
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", rest)), default=0))
        lines += ["", "<details><summary>details</summary>", "", fence, rest.rstrip("\n"), fence, "", "</details>", ""]
    return lines


def compared(r: RuleResult) -> bool:
    """A rule against the baseline, judged or not (one that could not be judged has no numbers)."""
    return r.metric.endswith("_regression") or r.baseline is not None or r.interval is not None


def ratio(r: RuleResult) -> float | None:
    if r.ratio is not None:
        return r.ratio
    return None if r.measured is None or not r.baseline else r.measured / r.baseline


def over(r: RuleResult) -> float | None:
    """How far past its limit a measured value is, as a factor (a floor: limit over measured;
    anything over a limit of 0: infinitely far). None for a stall and a comparison."""
    if r.measured is None or r.metric == "stall" or compared(r):
        return None
    if r.metric.startswith("min_"):
        return r.limit / r.measured if r.measured else (math.inf if r.limit else None)
    if not r.limit:
        return math.inf if r.measured > 0 else None
    return r.measured / r.limit


def excess(r: RuleResult) -> float:
    """A compared rule's ratio over the ratio it tolerates: above 1 is past the tolerance."""
    value = ratio(r)
    return -math.inf if value is None else value / (1 + r.limit)


def ratio_text(r: RuleResult) -> str:
    """'×1.230 (interval 1.200–1.300, tolerated ≤ ×1.05)'."""
    value = ratio(r) or math.nan
    low, high = r.interval or (value, value)
    return f"×{value:.3f} (interval {low:.3f}–{high:.3f}, tolerated {_limit_cell(r)})"


def ratio_part(label: str, r: RuleResult) -> str:
    return f"{label}: {md_escape(r.name)} {ratio_text(r)}"


def headline(verdict: Verdict) -> str:
    """One line under the verdict: the counts, and the one rule to look at first (see `named`)."""
    counts = Counter(r.status for r in verdict.results)
    total = len(verdict.results)
    parts = []
    if verdict.config_errors:
        parts.append("**configuration error**: nothing was judged")
    elif counts[FAIL]:
        parts.append(f"**{counts[FAIL]} of {total} rules failed**")
    elif verdict.problems or not total:
        parts.append(f"**no verdict**: {md_escape((verdict.problems or ['nothing was judged'])[0].splitlines()[0])}")
    elif counts[INCONCLUSIVE]:
        parts.append(
            f"**{counts[INCONCLUSIVE]} of {total} rules inconclusive**, none failed: not a regression, not a pass"
        )
    elif counts[ERROR]:
        parts.append(f"**{counts[ERROR]} of {total} rules could not be judged**")
    else:
        parts.append(f"**all {total} rules passed**")
    if counts[FAIL] and counts[INCONCLUSIVE]:
        parts.append(f"{counts[INCONCLUSIVE]} inconclusive")
    if counts[FAIL] and counts[ERROR]:
        parts.append(f"{counts[ERROR]} could not be judged")
    parts += named(verdict.results)
    return " · ".join(parts)


def named(results: list[RuleResult]) -> list[str]:
    """The rule the headline names: on a fail, one that failed (the worst
    regression, else the limit furthest exceeded); else the undecided
    comparison nearest its tolerance; else the largest ratio."""
    failed = [r for r in results if r.status == FAIL]
    regressions = [r for r in failed if compared(r) and ratio(r) is not None]
    if regressions:
        return [ratio_part("worst regression", max(regressions, key=excess))]
    if failed:
        r = max(failed, key=lambda r: over(r) or 0.0)
        label = "furthest over its limit" if len(failed) > 1 else "over its limit"
        measured = "" if r.measured is None else f" {fmt(r.metric, r.measured)}"
        return [f"{label}: {md_escape(r.name)}{measured} ({_limit_cell(r)})"]
    judged = [r for r in results if compared(r) and ratio(r) is not None]
    undecided = [r for r in judged if r.status == INCONCLUSIVE]
    if undecided:
        return [ratio_part("undecided", max(undecided, key=excess))]
    if judged:
        return [ratio_part("largest ratio", max(judged, key=lambda r: ratio(r) or 0.0))]
    return []


def context_line(ctx: RunContext) -> str:
    """ "20 users, 10/s, 60 s · embedded backend · candidate `abc1234` vs baseline `def5678` · 2 CPUs · ..."."""
    load = []
    if ctx.users is not None:
        load.append(f"{ctx.users} users")
    if ctx.spawn_rate is not None:
        load.append(f"{ctx.spawn_rate:g}/s")
    seconds = ctx.duration_s if ctx.duration_s is not None else ctx.run_time_s
    if seconds is not None:
        load.append(f"{seconds:.0f} s")
    if ctx.trials and ctx.trials > 1:
        load.append(
            f"{ctx.trials} trials" + (f" of up to {ctx.max_trials}" if (ctx.max_trials or 0) > ctx.trials else "")
        )
    parts = [", ".join(load)] if load else []
    if ctx.backend:
        parts.append(f"{md_escape(ctx.backend)} backend")
    if ctx.candidate:
        versus = f" vs baseline `{ctx.baseline[:12]}`" if ctx.baseline else ""
        parts.append(f"candidate `{ctx.candidate[:12]}`{versus}")
    if ctx.cpus:
        parts.append(f"{ctx.cpus} CPUs")
    if ctx.placement:
        parts.append(ctx.placement)
    if ctx.max_cpu_percent:
        parts.append(f"Locust CPU peak {ctx.max_cpu_percent:.0f}%")
    return " · ".join(parts)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _ms(value: float | None) -> str:
    """Compared percentiles come from raw samples: a tenth of a millisecond is signal there."""
    return "—" if value is None else f"{value:.1f} ms"


def _value(r: RuleResult, value: float | None) -> str:
    """A compared value: a percentile in ms, or what the service spent."""
    measure = RESOURCE_MEASURES.get(r.metric.removesuffix("_regression"))
    if value is not None and measure:
        return fmt(measure, value)
    return _ms(value)


METHODS = {"proc": "process tree", "cgroup": "containers' cgroups"}


def resources_table(verdict: Verdict) -> list[str]:
    """What each side spent over its judged spans, in every run whose service could be read."""
    if not verdict.resources:
        return []
    lines = [
        "| side | CPU per request | peak memory | requests | trials | read from |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for u in verdict.resources:
        cells = [u.side, fmt("cpu_ms_per_request", u.cpu_ms_per_request), fmt("peak_memory_mb", u.peak_memory_mb)]
        lines.append(_row(*cells, str(u.requests), str(u.trials), METHODS.get(u.method, u.method)))
    return [
        "### What the service spent",
        "",
        *lines,
        "",
        "CPU of everything the service runs (API, workers, database) per request Locust recorded (failures and "
        "the locustfile's own events too), and its highest memory, over the spans that are judged (each trial's "
        "first window left out).",
        "",
    ]


def _limit_cell(r: RuleResult) -> str:
    """The limit as every report shows it: `≤ 100 ms`, `≥ 20.0 req/s`, a tolerance `≤ ×1.07`."""
    if r.metric == "stall":
        return f"none ≥ {r.limit:g} s"
    limit = ("≥ " if r.metric.startswith("min_") else "≤ ") + fmt(r.metric, r.limit)
    return limit + (" *(default)*" if r.default else "")


def shown(results: list[RuleResult]) -> list[RuleResult]:
    """Those that did not pass first (stable within a status), at most MAX_ROWS."""
    return sorted(results, key=lambda r: ORDER[r.status])[:MAX_ROWS]


def compared_table(rules: list[RuleResult]) -> list[str]:
    lines = [
        "| entry | metric | baseline | candidate | ratio | interval | tolerated | result |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for r in rules:
        value = ratio(r)
        cells = [md_escape(r.entry), metric_label(r.metric), _value(r, r.baseline), _value(r, r.measured)]
        cells.append("—" if value is None else f"{value:.3f}")
        cells.append("—" if r.interval is None else f"{r.interval[0]:.3f} – {r.interval[1]:.3f}")
        lines.append(_row(*cells, _limit_cell(r), ICONS[r.status]))
    return lines


def runners_table(rules: list[RuleResult], ctx: RunContext | None) -> list[str]:
    """A comparison pooled from runners: which runner made which trials, and each one's own ratio per rule."""
    pooled = [r for r in rules if r.runner_ratios]
    if not pooled:
        return []
    count = max(len(r.runner_ratios or []) for r in pooled)
    lines = [f"Trials from {count} runners: " + " · ".join(md_escape(s) for s in (ctx and ctx.shards) or []), ""]
    lines += [
        "| rule | " + " | ".join(f"runner {i}" for i in range(1, count + 1)) + " |",
        "| --- |" + " ---: |" * count,
    ]
    for r in pooled:
        ratios = [f"{v:.3f}" for v in r.runner_ratios or []] + ["—"] * (count - len(r.runner_ratios or []))
        lines.append(_row(md_escape(r.name), *ratios))
    return [*lines, ""]


def thresholds_table(rules: list[RuleResult]) -> list[str]:
    lines = ["| entry | metric | measured | limit | result |", "| --- | --- | ---: | ---: | --- |"]
    for r in rules:
        measured = "—" if r.measured is None else fmt(r.metric, r.measured)
        lines.append(_row(md_escape(r.entry), metric_label(r.metric), measured, _limit_cell(r), ICONS[r.status]))
    return lines


def why(r: RuleResult) -> str | None:
    """Why a rule was not judged or not decided (and what a stall was), for a
    line under its table; None where the row says it all."""
    if r.status == INCONCLUSIVE and compared(r) and r.advice and ratio(r) is not None:
        return f"{md_escape(r.name)}: not decided, {ratio_text(r)}; {md_escape(r.advice)}"
    if r.status in (ERROR, INCONCLUSIVE) or r.metric == "stall" and r.status != PASS:
        return md_escape(r.message)
    return None


def reasons(rules: list[RuleResult]) -> list[str]:
    return [f"- {text}" for r in rules if (text := why(r))]


def budget_spent(verdict: Verdict) -> list[str]:
    """A comparison over trials that made every trial it could and left a rule undecided."""
    ctx = verdict.context
    undecided = [r for r in verdict.results if compared(r) and r.status == INCONCLUSIVE]
    if not undecided or ctx is None or not ctx.trials or not ctx.max_trials or ctx.trials < ctx.max_trials:
        return []
    rules = "1 rule is" if len(undecided) == 1 else f"{len(undecided)} rules are"
    return [
        f"**Trial budget spent:** the comparison made all {ctx.trials} trials its budget allowed, and {rules} "
        "still undecided. Give it more load time with `--max-run-time` (`PERF_GATE_MAX_RUN_TIME`), and it adds "
        "trials while a rule is undecided; the lines above say about how many would decide.",
        "",
    ]


def markdown_lines(verdict: Verdict) -> list[str]:
    lines = [f"## Perf gate: {ICONS[verdict.status]}", "", headline(verdict), ""]
    if verdict.context is not None and (line := context_line(verdict.context)):
        lines += [line, ""]
    for label, texts in (
        ("Configuration error", verdict.config_errors),
        ("No verdict", verdict.problems),
        ("Warning", verdict.warnings),
    ):
        for text in texts:
            lines += notice(label, text)
    if verdict.config_errors or verdict.problems or verdict.warnings:
        lines.append("")
    rules = shown(verdict.results)
    if len(rules) < len(verdict.results):
        lines += [
            f"{len(rules)} of {len(verdict.results)} rules shown, every one that did not pass among them; "
            "all are in `verdict.json` and `junit.xml`.",
            "",
        ]
    side_by_side = [r for r in rules if compared(r)]
    absolute = [r for r in rules if not compared(r)]
    if side_by_side:
        lines += ["### Against the baseline", "", *compared_table(side_by_side), ""]
        lines += runners_table(side_by_side, verdict.context)
        if below := reasons(side_by_side):
            lines += [*below, ""]
        lines += budget_spent(verdict)
    if absolute:
        lines += ["### Thresholds", "", *thresholds_table(absolute), ""]
        if any(r.default for r in absolute):
            lines += ["*(default)*: the failure guard, applied where the thresholds file sets no `failure_ratio`.", ""]
        if below := reasons(absolute):
            lines += [*below, ""]
    lines += resources_table(verdict)
    if drawn := charts.charts(rules):
        lines += ["### Over time", "", *drawn]
    return lines


def markdown(verdict: Verdict, stream: TextIO) -> None:
    stream.write("\n".join(markdown_lines(verdict)).rstrip("\n") + "\n")
