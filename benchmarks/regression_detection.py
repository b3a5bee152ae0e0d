"""How often the side-by-side comparison calls a regression, with and without one.

    python -m benchmarks.regression_detection --trials 10 --run-time 2m \\
        --conditions "A/A,processing +8 ms,API +1 ms"

Each trial is one real `perf-gate --compare-to HEAD` run: baseline and
candidate are both this commit, started at once on embedded PostgreSQL and
loaded in the same Locust run. A/A trials change nothing; A/B trials slow the
candidate through the backend's knobs. For each condition and compared entry
the table gives the share of trials that declared a regression (fail), passed,
or were inconclusive, the median measured candidate/baseline ratio (the
slowdown the knob really caused) and the median half-width of its interval
(the noise of one run). Numbers, not a verdict.
"""

import argparse
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> candidate knobs (the baseline always runs with the defaults below)
BASE_ENV = {"BACKEND_PROCESSING_MS": "50", "BACKEND_API_LATENCY_MS": "0"}
# Sized against the measured entries, not the knobs: at 20 users submit-to-complete
# p95 is about 80 ms, so +8 ms of processing is about +10% of it and +4 ms about +5%;
# POST p95 is a few ms, so +1 ms of API latency is a slowdown of tens of percent.
CONDITIONS = {
    "A/A": {},
    "processing +4 ms": {"BACKEND_PROCESSING_MS": "54"},
    "processing +8 ms": {"BACKEND_PROCESSING_MS": "58"},
    "processing +25 ms": {"BACKEND_PROCESSING_MS": "75"},
    "API +1 ms": {"BACKEND_API_LATENCY_MS": "1"},
    "API +2 ms": {"BACKEND_API_LATENCY_MS": "2"},
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
    try:
        verdict = json.loads((out / "verdict.json").read_text())
    except (OSError, ValueError):  # the gate stopped before a verdict: keep the trial, with why
        verdict = {"verdict": "error", "results": [], "problems": [proc.stderr[-2000:]]}
    verdict["exit"] = proc.returncode
    return verdict


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--run-time", default="2m")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--thresholds", type=Path, default=ROOT / "thresholds.json")
    p.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated names from the table")
    p.add_argument("--json", type=Path, help="also write every trial's results here")
    args = p.parse_args()
    names = [n.strip() for n in args.conditions.split(",")]
    if unknown := [n for n in names if n not in CONDITIONS]:
        p.error(f"--conditions: unknown {', '.join(map(repr, unknown))}; expected names from {', '.join(CONDITIONS)}")
    if importlib.util.find_spec("perfgate") is None:  # else every trial would fail the same way, silently
        sys.exit(f"perfgate is not installed for {sys.executable}: run `pip install --no-deps -e .` first")

    outcomes: dict[tuple[str, str], list[tuple[str, float, float]]] = defaultdict(list)
    raw = []
    for i in range(args.trials):
        for name in names:  # interleaved, so slow drift of the machine spreads over all conditions
            with tempfile.TemporaryDirectory() as tmp:
                verdict = trial(CONDITIONS[name], args, Path(tmp) / "results")
            raw.append({"condition": name, "trial": i, **verdict})
            for r in verdict["results"]:
                if r["metric"].endswith("_regression") and r["baseline"]:
                    low, high = r["interval"]
                    half_width = math.log(high / low) / 2  # of ln ratio: about the ± in percent
                    outcomes[(name, r["name"])].append((r["status"], r["measured"] / r["baseline"], half_width))
            print(f"trial {i + 1}/{args.trials} {name}: exit {verdict['exit']}", file=sys.stderr, flush=True)
            if args.json:  # after every trial: an interrupted benchmark keeps what it measured
                args.json.write_text(json.dumps(raw, indent=2))

    print(
        f"{args.trials} trials per condition, run time {args.run_time}, {args.users} users, "
        f"thresholds {args.thresholds.name}"
    )
    print(
        f"{'condition':18} {'rule':44} {'fail':>6} {'pass':>6} {'inconcl.':>9} {'median ratio':>13} {'± (median)':>11}"
    )
    for (name, rule), got in outcomes.items():
        n = len(got)
        share = {s: sum(1 for st, _, _ in got if st == s) / n for s in ("fail", "pass", "inconclusive")}
        ratio = statistics.median(r for _, r, _ in got)
        half = statistics.median(h for _, _, h in got)
        print(
            f"{name:18} {rule:44} {share['fail']:6.0%} {share['pass']:6.0%} {share['inconclusive']:9.0%} "
            f"{ratio:13.3f} {half:11.1%}"
        )
    print()
    print(
        f"{'condition':18} exit codes of the gate (0 pass, 1 fail, 2 bad input, 3 no verdict); "
        "overloaded runs; runs that stopped before a verdict"
    )
    for name in names:
        runs = [r for r in raw if r["condition"] == name]
        codes = sorted(r["exit"] for r in runs)
        overloaded = sum(1 for r in runs if r.get("load_generator_overloaded"))
        stopped = [r for r in runs if r["verdict"] == "error"]
        print(f"{name:18} {' '.join(map(str, codes))}; {overloaded} of {len(runs)}; {len(stopped)} of {len(runs)}")
        if stopped:
            why = "\n".join(stopped[0].get("problems", [])).strip() or "no reason given"
            print(f"{'':18} first stop: {why.splitlines()[0]}")


if __name__ == "__main__":
    main()
