"""The Markdown summary: what a pull request's author reads first, in the job
summary and the pull request comment. The verdict and one line that says
why; the run's context; rules that did not pass before those that did; every
name from results escaped, every log verbatim in a folded code block."""

import re
from collections import Counter
from typing import TextIO

from perfgate import charts
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict, fmt, metric_label
from perfgate.context import RunContext

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
    return r.baseline is not None or r.interval is not None


def ratio(r: RuleResult) -> float | None:
    if r.ratio is not None:
        return r.ratio
    return None if r.measured is None or not r.baseline else r.measured / r.baseline


def over(r: RuleResult) -> float | None:
    """How far past its limit a measured value is, as a factor (a floor: limit over measured)."""
    if r.measured is None or r.metric == "stall" or not r.limit or not r.measured:
        return None
    return r.limit / r.measured if r.metric.startswith("min_") else r.measured / r.limit


def headline(verdict: Verdict) -> str:
    """One line under the verdict: the counts, and the worst regression with its ratio."""
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
    ratios = [(ratio(r), r) for r in verdict.results if compared(r) and ratio(r) is not None]
    beyond = [(over(r), r) for r in verdict.results if r.status == FAIL and not compared(r) and over(r)]
    if beyond and not any(r.status == FAIL for _, r in ratios):
        _, r = max(beyond, key=lambda pair: pair[0])
        parts.append(f"furthest over its limit: {md_escape(r.name)} {fmt(r.metric, r.measured)} ({_limit_cell(r)})")
    if ratios:
        worst, r = max(ratios, key=lambda pair: pair[0])
        low, high = r.interval or (worst, worst)
        label = "worst regression" if r.status == FAIL else "largest ratio"
        parts.append(
            f"{label}: {md_escape(r.name)} ×{worst:.3f} (interval {low:.3f}–{high:.3f}, tolerated ×{1 + r.limit:.2f})"
        )
    return " · ".join(parts)


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


def _limit_cell(r: RuleResult) -> str:
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
        cells = [md_escape(r.entry), metric_label(r.metric), _ms(r.baseline), _ms(r.measured)]
        cells.append("—" if value is None else f"{value:.3f}")
        cells.append("—" if r.interval is None else f"{r.interval[0]:.3f} – {r.interval[1]:.3f}")
        lines.append(_row(*cells, f"+{r.limit:.0%}", ICONS[r.status]))
    return lines


def thresholds_table(rules: list[RuleResult]) -> list[str]:
    lines = ["| entry | metric | measured | limit | result |", "| --- | --- | ---: | ---: | --- |"]
    for r in rules:
        measured = "—" if r.measured is None else fmt(r.metric, r.measured)
        lines.append(_row(md_escape(r.entry), metric_label(r.metric), measured, _limit_cell(r), ICONS[r.status]))
    return lines


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
        lines += [f"- {md_escape(r.message)}" for r in side_by_side if r.status != PASS]
        lines.append("")
    if absolute:
        lines += ["### Thresholds", "", *thresholds_table(absolute), ""]
        if any(r.default for r in absolute):
            lines += ["*(default)*: the failure guard, applied where the thresholds file sets no `failure_ratio`.", ""]
        lines += [f"- {md_escape(r.message)}" for r in absolute if r.metric == "stall" and r.status != PASS]
        lines.append("")
    if drawn := charts.charts(rules):
        lines += ["### Over time", "", *drawn]
    return lines


def markdown(verdict: Verdict, stream: TextIO) -> None:
    stream.write("\n".join(markdown_lines(verdict)).rstrip("\n") + "\n")
