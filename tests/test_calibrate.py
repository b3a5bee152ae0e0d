import csv
import io
from pathlib import Path

import numpy as np
import pytest

from perfgate import calibrate, samples
from perfgate.results import RunInfo
from perfgate.thresholds import RegressionRule, Thresholds


def test_smallest_detectable_shrinks_with_run_length_and_never_below_tolerance():
    short = calibrate.smallest_detectable(0.02, windows=10, measured_windows=10, tolerance=0.05, confidence=0.95)
    long = calibrate.smallest_detectable(0.02, windows=40, measured_windows=10, tolerance=0.05, confidence=0.95)
    assert 0.05 < long < short
    # ln(1+s) = ln(1.05) + (1.96 + 1.645) * 0.02
    assert short == pytest.approx(np.exp(np.log(1.05) + 3.605 * 0.02) - 1, rel=1e-3)


def test_calibration_from_an_aa_run(tmp_path):
    rng = np.random.default_rng(3)
    raw = tmp_path / "raw.csv"
    with raw.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "type", "name", "response_time_ms", "ok"])
        for label in ("baseline", "candidate"):
            for t in np.sort(rng.uniform(0, 60, 6000)) + 1.8e9:
                w.writerow([t, "POST", f"[{label}] /requests", rng.lognormal(3, 0.4), 1])
    t = Thresholds(Path("t.json"), [], regressions=[RegressionRule("POST /requests", 95, 0.05)])
    [noise] = calibrate.calibrate(samples.load(raw), t)
    assert noise.windows == 11 and 0.95 < noise.aa_ratio < 1.05
    assert list(noise.detectable) == ["60s (this run)", "120s", "300s"]
    assert noise.detectable["300s"] < noise.detectable["120s"]
    assert noise.between_log == 0 and noise.within_log == noise.se_log  # one run: no trials to compare
    out = io.StringIO()
    calibrate.markdown([noise], out)
    assert "| POST /requests | p95 | +5% |" in out.getvalue()
    calibrate.write([noise], tmp_path)
    assert (tmp_path / "calibration.json").exists()


def test_calibration_separates_the_noise_between_trials_from_the_noise_within():
    from tests.test_compare import trials_data

    data, spans = trials_data(7, k=4, tau=0.05)
    raw = samples.RawSamples(Path("raw.csv"), {(label, "POST /requests"): s for (label, _), s in data.items()})
    t = Thresholds(Path("t.json"), [], regressions=[RegressionRule("POST /requests", 50, 0.05)])
    [noise] = calibrate.calibrate(raw, t, info=RunInfo(Path("i.json"), trials=spans))
    assert noise.between_log > 0.01  # the trials disagree by about 5%
    assert noise.within_log < noise.se_log
    assert noise.se_log**2 == pytest.approx(noise.within_log**2 + noise.between_log**2 / 4)
    out = io.StringIO()
    calibrate.markdown([noise], out)
    assert "within trials | between trials" in out.getvalue()


def test_calibration_says_how_much_starting_first_costs():
    from tests.test_compare import alternating, trials_data

    data, spans = trials_data(5, k=8, tau=0.0, trial_s=20, rate=200, order_effect=0.08)
    raw = samples.RawSamples(Path("raw.csv"), {(label, "POST /requests"): s for (label, _), s in data.items()})
    t = Thresholds(Path("t.json"), [], regressions=[RegressionRule("POST /requests", 50, 0.05)])
    [told] = calibrate.calibrate(raw, t, info=RunInfo(Path("i.json"), trials=spans, candidate_first=alternating(8)))
    [plain] = calibrate.calibrate(raw, t, info=RunInfo(Path("i.json"), trials=spans))
    assert told.start_order_log == pytest.approx(0.08, abs=0.03) and plain.start_order_log is None
    assert told.se_log < plain.se_log  # the order's swing is no longer noise
    out = io.StringIO()
    calibrate.markdown([told, plain], out)
    rows = out.getvalue().splitlines()
    assert "| started first |" in rows[2]
    started_first = rows[-2].split(" | ")[8]
    assert float(started_first.rstrip("%")) == pytest.approx(4, abs=1.5), rows[-2]  # +4%: the side started first
    assert rows[-1].split(" | ")[8] == "—"


def test_calibration_gives_each_resource_rule_its_noise_over_the_trials(tmp_path):
    """The candidate's CPU per request wobbling by about 1% from trial to trial, memory flat."""
    from tests.test_resource_use import RULES, raw_of, readings, spans, thresholds, write_readings

    factors = np.random.default_rng(5).lognormal(0, 0.01, 8)
    rows = readings(8, {"baseline": (1.0, 1e8)})
    for (start, _, stop), factor in zip(spans(8), factors, strict=True):
        trial = readings(8, {"candidate": (factor, 1e8)})
        rows += [r for r in trial if start - 2 <= r[0] <= stop + 2]
    path = write_readings(tmp_path / "locust_resources.csv", rows)
    info = RunInfo(tmp_path / "i.json", trials=spans(8), candidate_first=[n % 2 == 0 for n in range(8)])
    limits = thresholds(RULES, tmp_path)
    noise = calibrate.calibrate(raw_of(["baseline", "candidate"], 8), limits, info=info, readings=path)
    cpu, memory = (n for n in noise if n.entry == "the service")
    assert (cpu.rule, memory.rule) == ("CPU per request", "peak memory") and cpu.windows == 8
    assert 0.002 < cpu.se_log < 0.01 and cpu.within_log == 0 and memory.se_log <= 0.001
    assert cpu.aa_ratio == pytest.approx(float(np.exp(np.log(factors).mean())), rel=0.01)
    assert cpu.detectable["300s"] < cpu.detectable["120s"] and memory.detectable["120s"] < 0.06
    out = io.StringIO()
    calibrate.markdown(noise, out)
    assert "| the service | CPU per request | +3% |" in out.getvalue()
