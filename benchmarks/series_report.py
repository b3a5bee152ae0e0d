"""What did a series decide? Its tables: per condition and rule, the counts
of each status (x of N), the median ratio and half-width, how often the
interval held 1.0, and the gate's exit codes; the rule table also in
Markdown, as docs/research-series.md has it. Printed at the end of every
regression_detection command, and alone, in a second, from a stored series:

    python -m benchmarks.regression_detection --report --markdown --conditions "A/A,A/A busy" \\
        --json benchmarks/results/aa-embedded-alternating.json
"""

import math
import re
import statistics
from collections import defaultdict


def trials_used(run: dict) -> int | None:
    """How many trials a run's decision took, from its rules' messages ("over 9 trials")."""
    found = [int(m.group(1)) for r in run["results"] if (m := re.search(r"over (\d+) trials", r["message"]))]
    return max(found) if found else None


def rule_rows(runs: list[dict], names: list[str]) -> list[dict]:
    """Per condition and regression rule: counts of each status, the median
    ratio and half-width (of ln ratio, about the ± in percent), and how often
    the interval held 1.0."""
    outcomes: dict[tuple[str, str], list[tuple[str, float, float, bool]]] = defaultdict(list)
    for run in runs:
        for r in run["results"]:
            if r["metric"].endswith("_regression") and r["baseline"] and r["interval"]:
                low, high = r["interval"]
                outcomes[(run["condition"], r["name"])].append(
                    (
                        r["status"],
                        r.get("ratio") or r["measured"] / r["baseline"],
                        math.log(high / low) / 2,
                        low <= 1.0 <= high,
                    )
                )
    rows = []
    for (name, rule), got in sorted(outcomes.items(), key=lambda kv: (names.index(kv[0][0]), kv[0][1])):
        rows.append(
            {
                "condition": name,
                "rule": rule,
                "n": len(got),
                **{s: sum(1 for st, *_ in got if st == s) for s in ("fail", "pass", "inconclusive")},
                "ratio": statistics.median(g[1] for g in got),
                "half": statistics.median(g[2] for g in got),
                "holds": sum(1 for g in got if g[3]),
            }
        )
    return rows


def markdown_table(rows: list[dict], tolerance: dict[str, float]) -> list[str]:
    """The rule table as docs/research-series.md shows it."""
    lines = [
        "| condition | rule (tolerance) | fail | pass | inconclusive | ratio | ± | holds 1.0 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    order, conditions = list(tolerance), list(dict.fromkeys(r["condition"] for r in rows))

    def label(r: dict) -> str:  # a live verdict says "p50 regression of X", a judged-again one "p50 of X"
        return r["rule"].replace(" regression of ", " of ")

    for r in sorted(
        rows,
        key=lambda r: (conditions.index(r["condition"]), order.index(label(r)) if label(r) in order else len(order)),
    ):
        n, tol = r["n"], tolerance.get(label(r))
        rule = label(r).replace("ASYNC ", "") + (f" ({round(tol * 100, 1):g}%)" if tol is not None else "")
        lines.append(
            f"| {r['condition']} | {rule} | {r['fail']}/{n} | {r['pass']}/{n} | {r['inconclusive']}/{n} "
            f"| {r['ratio']:.3f} | {r['half']:.1%} | {r['holds']}/{n} |"
        )
    return lines


def tables(runs: list[dict], names: list[str]) -> None:
    print(f"{'condition':20} {'rule':44} {'fail':>7} {'pass':>7} {'inconcl.':>8} {'ratio':>7} {'±':>6} {'holds 1':>8}")
    for r in rule_rows(runs, names):
        n = r["n"]
        counts = f"{r['fail']:>3}/{n:<3} {r['pass']:>3}/{n:<3} {r['inconclusive']:>4}/{n:<3}"
        print(f"{r['condition']:20} {r['rule']:44} {counts} {r['ratio']:7.3f} {r['half']:6.1%} {r['holds']:>4}/{n:<3}")
    print()
    print(f"{'condition':20} exit codes (0 pass, 1 fail, 3 no verdict): counts; green; overloaded; stopped early")
    for name in names:
        mine = [r for r in runs if r["condition"] == name]
        codes = defaultdict(int)
        for r in mine:
            codes[r["exit"]] += 1
        overloaded = sum(1 for r in mine if r.get("load_generator_overloaded"))
        stopped = [r for r in mine if r["verdict"] == "error" and not r["results"]]
        listing = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
        print(
            f"{name:20} {listing}; {codes[0]}/{len(mine)} green; {overloaded}/{len(mine)}; {len(stopped)}/{len(mine)}"
        )
        if used := [n for r in mine if (n := trials_used(r))]:
            print(f"{'':20} trials made: median {statistics.median(used):g}, {min(used)}-{max(used)}")
        if stopped:
            why = "\n".join(stopped[0].get("problems", [])).strip() or "no reason given"
            print(f"{'':20} first stop: {why.splitlines()[0]}")
