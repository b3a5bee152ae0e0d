"""Where the start-order effect comes from: each side's CPU time and run-queue wait, per trial.

    python -m benchmarks.research.cpu_by_side --jsonl cpu.jsonl      # beside running gates, until Ctrl-C
    python -m benchmarks.research.cpu_by_side --report cpu.jsonl

Passive: once a second it reads /proc (Linux) for every running
`perf-gate` with embedded backends, finds each side's API, workers and
PostgreSQL from the backend logs in its results folder, and records their
cumulative CPU time, time spent waiting on a run queue and time slices
(`/proc/PID/schedstat`). The report compares, per trial, the side started
first with the side started second: more wait for the same CPU time means
the scheduler favoured one side; more CPU time for the same work means the
side ran less efficiently. Numbers, not a verdict.
"""

import argparse
import json
import math
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

UP = re.compile(r"^(\S+ \S+) backend\.embedded backend up: api pid (\d+), .* postgres (\S+)")
WORKER = re.compile(r"worker vm-(\d+)-")
LOG = re.compile(r"backend-(\w+)-trial(\d+)\.log$")
RESULTS = re.compile(r"perfgate\.run .*--results (\S+)")
SKIP_S = 4  # samples after a trial's backends are up: start-up, before the load settles
COMPONENTS = ("api", "worker", "pg")


def processes(proc: Path = Path("/proc")) -> dict[int, dict]:
    """pid -> command line, parent, and schedstat's run ns, wait ns, slices."""
    out = {}
    for d in proc.glob("[0-9]*"):
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            run, wait, slices = map(int, (d / "schedstat").read_text().split())
        except (OSError, ValueError, IndexError):  # gone, or not ours to read
            continue
        out[int(d.name)] = {"cmd": cmd, "ppid": ppid, "sched": (run, wait, slices)}
    return out


def sides_of(results: Path, procs: dict[int, dict]) -> dict[str, dict]:
    """Each side's newest running trial: when it came up and its processes' summed schedstat."""
    found: dict[str, dict] = {}
    for log in results.glob("backend-*-trial*.log"):
        m = LOG.search(log.name)
        text = log.read_text(errors="replace") if m else ""
        up = [u for line in text.splitlines() if (u := UP.match(line))]
        if not up or "backend stopped" in text or found.get(m.group(1), {}).get("trial", 0) > int(m.group(2)):
            continue
        started, api, pgdata = up[-1].group(1), int(up[-1].group(2)), up[-1].group(3)
        postmaster = [pid for pid, p in procs.items() if f"-D {pgdata}" in p["cmd"]]
        pg = postmaster + [pid for pid, p in procs.items() if p["ppid"] in postmaster]
        pids = {"api": [api], "worker": [int(w) for w in WORKER.findall(text)], "pg": pg}
        found[m.group(1)] = {
            "trial": int(m.group(2)),
            "started": started,
            "pids": sorted(sum(pids.values(), [])),
            **{c: [sum(procs[p]["sched"][i] for p in ps if p in procs) for i in range(3)] for c, ps in pids.items()},
        }
    return found


def watch(jsonl: Path, seconds: float | None) -> None:
    end = time.monotonic() + seconds if seconds else math.inf
    with jsonl.open("a") as out:
        while time.monotonic() < end:
            procs = processes()
            for p in procs.values():
                if m := RESULTS.search(p["cmd"]):
                    sides = sides_of(Path(m.group(1)), procs)
                    if len(sides) == 2 and len({s["trial"] for s in sides.values()}) == 1:
                        out.write(json.dumps({"t": time.time(), "results": m.group(1), "sides": sides}) + "\n")
                        out.flush()
            time.sleep(1)


def first_over_second(samples: list[dict]) -> dict[tuple[str, str], list[float]]:
    """Per component and measure ("run", "wait/run", "slices"): each trial's
    ln(first-started side / second-started side), over the trial's samples
    after SKIP_S whose processes did not change."""
    trials: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for s in samples:
        if len(s["sides"]) == 2 and len({side["trial"] for side in s["sides"].values()}) == 1:
            trials[(s["results"], next(iter(s["sides"].values()))["trial"])].append(s)
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for got in trials.values():
        last = got[-1]["sides"]
        steady = [s for s in got if all(s["sides"][side]["pids"] == last[side]["pids"] for side in last)]
        if len(steady) <= SKIP_S + 1:
            continue
        a, b = steady[SKIP_S]["sides"], steady[-1]["sides"]
        first, second = sorted(a, key=lambda side: a[side]["started"])
        for c in COMPONENTS:
            (r1, w1, n1), (r2, w2, n2) = ([b[s][c][i] - a[s][c][i] for i in range(3)] for s in (first, second))
            if min(r1, r2, w1, w2, n1, n2) <= 0:
                continue
            out[(c, "run")].append(math.log(r1 / r2))
            out[(c, "wait/run")].append(math.log((w1 / r1) / (w2 / r2)))
            out[(c, "slices")].append(math.log(n1 / n2))
    return out


def report(samples: list[dict]) -> list[str]:
    lines = ["component measure   first/second   se   trials  first higher"]
    for (c, measure), ys in sorted(first_over_second(samples).items()):
        se = statistics.stdev(ys) / math.sqrt(len(ys)) if len(ys) > 1 else math.nan
        higher = sum(y > 0 for y in ys)
        lines.append(f"{c:9} {measure:9} {math.exp(statistics.fmean(ys)):10.4f} {se:7.4f} {len(ys):6}  {higher:6}")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jsonl", type=Path, help="sample running gates into this file (appended)")
    p.add_argument("--seconds", type=float, help="stop sampling after this long (default: until Ctrl-C)")
    p.add_argument("--report", type=Path, help="print what a samples file says")
    args = p.parse_args()
    if args.report:
        try:
            samples = [json.loads(line) for line in args.report.read_text().splitlines() if line.strip()]
            print("\n".join(report(samples)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            sys.exit(f"{args.report}: not samples of this tool: {type(exc).__name__}: {exc}")
    elif args.jsonl:
        try:
            watch(args.jsonl, args.seconds)
        except KeyboardInterrupt:
            pass
    else:
        p.error("give --jsonl to sample or --report to read")


if __name__ == "__main__":
    main()
