"""How often the side-by-side comparison calls a regression, with and without one.

    python -m benchmarks.regression_detection --trials 10 --run-time 60s

Each trial is one real `perf-gate --compare-to HEAD` run: baseline and
candidate are both this commit, started at once on embedded PostgreSQL and
loaded in the same Locust run. A/A trials change nothing; A/B trials slow the
candidate through the backend's knobs. For each condition and compared entry
the table gives the share of trials that declared a regression (fail), passed,
or were inconclusive, and the median measured candidate/baseline ratio (the
slowdown the knob really caused). Numbers, not a verdict.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> candidate knobs (the baseline always runs with the defaults below)
BASE_ENV = {"BACKEND_PROCESSING_MS": "50", "BACKEND_API_LATENCY_MS": "0"}
CONDITIONS = {
    "A/A": {},
    "processing +10%": {"BACKEND_PROCESSING_MS": "55"},
    "processing +25%": {"BACKEND_PROCESSING_MS": "62.5"},
    "processing +50%": {"BACKEND_PROCESSING_MS": "75"},
    "API +1 ms": {"BACKEND_API_LATENCY_MS": "1"},
    "API +2 ms": {"BACKEND_API_LATENCY_MS": "2"},
    "API +5 ms": {"BACKEND_API_LATENCY_MS": "5"},
}


def trial(condition: dict[str, str], args: argparse.Namespace, out: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "perfgate.run",
        "--compare-to",
        "HEAD",
        "--results",
        str(out),
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.users),
        "--run-time",
        args.run_time,
        "--thresholds",
        str(args.thresholds),
    ]
    for key, value in BASE_ENV.items():
        cmd += ["--baseline-env", f"{key}={value}", "--backend-env", f"{key}={condition.get(key, value)}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    verdict = json.loads((out / "verdict.json").read_text())
    verdict["exit"] = proc.returncode
    return verdict


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--run-time", default="60s")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--thresholds", type=Path, default=ROOT / "thresholds.json")
    p.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated names from the table")
    p.add_argument("--json", type=Path, help="also write every trial's results here")
    args = p.parse_args()
    names = [n.strip() for n in args.conditions.split(",")]

    outcomes: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    raw = []
    for i in range(args.trials):
        for name in names:  # interleaved, so slow drift of the machine spreads over all conditions
            with tempfile.TemporaryDirectory() as tmp:
                verdict = trial(CONDITIONS[name], args, Path(tmp) / "results")
            raw.append({"condition": name, "trial": i, **verdict})
            for r in verdict["results"]:
                if r["metric"].endswith("_regression") and r["baseline"]:
                    outcomes[(name, r["name"])].append((r["status"], r["measured"] / r["baseline"]))
            print(f"trial {i + 1}/{args.trials} {name}: exit {verdict['exit']}", file=sys.stderr, flush=True)

    print(
        f"{args.trials} trials per condition, run time {args.run_time}, {args.users} users, "
        f"thresholds {args.thresholds.name}"
    )
    print(f"{'condition':18} {'rule':44} {'fail':>6} {'pass':>6} {'inconcl.':>9} {'median ratio':>13}")
    for (name, rule), got in outcomes.items():
        n = len(got)
        share = {s: sum(1 for st, _ in got if st == s) / n for s in ("fail", "pass", "inconclusive")}
        ratio = statistics.median(r for _, r in got)
        print(
            f"{name:18} {rule:44} {share['fail']:6.0%} {share['pass']:6.0%} {share['inconclusive']:9.0%} {ratio:13.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
