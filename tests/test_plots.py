"""The timeline picture: right numbers per window, a real PNG, nothing stale."""

import csv
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from perfgate import check_cli, plots, samples
from perfgate.samples import Samples
from tests.conftest import FIXTURES, ROOT

T0 = 1_800_000_000.0


def write_raw(path, rows):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "type", "name", "response_time_ms", "ok"])
        w.writerows(rows)
    return path


def side_by_side_rows(seconds: int = 30, slow: float = 2.0):
    """10 samples/s per side; the candidate is `slow` times the baseline from second 15 on."""
    rows = []
    for i in range(seconds * 10):
        t = T0 + i / 10
        value = 10 + (i % 10)  # 10..19 ms every second
        rows.append((t, "POST", "[baseline] /requests", value, 1))
        rows.append((t, "POST", "[candidate] /requests", value * (slow if i >= 150 else 1), 1))
    rows.append((T0 + 1, "POST", "[candidate] /requests", 99_999, 0))  # failures are not drawn
    return rows


def test_series_per_window_on_one_clock():
    base = Samples(T0 + np.arange(0, 10, 0.1), np.full(100, 10.0))
    late = Samples(T0 + 5 + np.arange(0, 5, 0.5), np.full(10, 40.0))  # starts 5 s after the first sample
    got = {(s.label, s.entry): s for s in plots.series({("baseline", "E"): base, ("candidate", "E"): late}, 5)}
    b, c = got[("baseline", "E")], got[("candidate", "E")]
    assert list(b.start) == list(c.start) == [0, 5]
    assert list(b.rps) == [10, 10]
    assert list(c.rps) == [0, 2]
    assert np.isnan(c.p95[0]) and c.p95[1] == 40
    assert b.p50[0] == 10


def test_series_show_a_slowdown_that_starts_half_way(tmp_path):
    raw = write_raw(tmp_path / "raw.csv", side_by_side_rows())
    got = {s.label: s for s in plots.series(samples.load(raw).ok, 5)}
    ratio = got["candidate"].p95 / got["baseline"].p95
    assert ratio[:3] == pytest.approx([1, 1, 1])
    assert ratio[3:] == pytest.approx([2, 2, 2])


@pytest.mark.parametrize("label", ["", "[baseline] ", "[candidate] "])
def test_writes_a_png(tmp_path, label):
    rows = [(T0 + i / 10, "POST", f"{label}/requests", 5 + i % 7, 1) for i in range(200)]
    rows += [(T0 + i / 5, "ASYNC", f"{label}submit-to-complete", 60 + i % 9, 1) for i in range(100)]
    path = plots.write_timeline(samples.load(write_raw(tmp_path / "raw.csv", rows)).ok, tmp_path)
    assert path == tmp_path / "timeline.png"
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (1200, 700)


def test_nothing_to_draw_leaves_no_picture_not_even_an_old_one(tmp_path):
    (tmp_path / "timeline.png").write_bytes(b"an earlier run's picture")
    only_failures = write_raw(tmp_path / "raw.csv", [(T0, "POST", "/requests", 5, 0)])
    assert plots.write_timeline(samples.load(only_failures).ok, tmp_path) is None
    assert not (tmp_path / "timeline.png").exists()


@pytest.mark.parametrize("garbage", [b"\x00\xff\xfe binary", b"time,type,name,response_time_ms,ok\ninf,POST,/x,1,1\n"])
def test_broken_samples_never_turn_a_verdict_into_a_crash(tmp_path, garbage):
    results = tmp_path / "results"
    shutil.copytree(FIXTURES / "healthy", results)
    (results / "timeline.png").write_bytes(b"an earlier run's picture")
    (results / "locust_raw.csv").write_bytes(garbage)
    args = check_cli.build_parser().parse_args(
        ["--results", str(results), "--thresholds", str(ROOT / "thresholds.json")]
    )
    err = io.StringIO()
    assert check_cli.run_check(args, {}, io.StringIO(), err) == 3
    assert "locust_raw.csv" in err.getvalue() and "Traceback" not in err.getvalue()
    assert not (results / "timeline.png").exists()


def test_the_checker_draws_it_beside_the_other_reports(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(FIXTURES / "compare", results)
    write_raw(results / "locust_raw.csv", side_by_side_rows())
    thresholds = str(ROOT / "thresholds.json")
    args = check_cli.build_parser().parse_args(["--results", str(results), "--thresholds", thresholds])
    check_cli.run_check(args, {}, io.StringIO(), io.StringIO())
    assert (results / "timeline.png").stat().st_size > 10_000
