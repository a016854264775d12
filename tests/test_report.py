"""`pyhf-bench report`, `profile` and `noise` on the results of a small real asv run (tests/asv_runs.py)."""

from __future__ import annotations

import json
import re
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyhf_bench.reporting import noise
from pyhf_bench.reporting import report

from .asv_runs import small_real_run


@pytest.fixture(scope="module")
def asv_run():
    return small_real_run()


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pyhf_bench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def _raw_value(results: Path, params: tuple) -> float:
    """The stored median of Logpdf.time_logpdf at *params*, read from asv's JSON directly (not via report)."""
    import itertools

    (file,) = [p for p in results.glob("ci/*.json") if p.name != "machine.json"]
    data = json.loads(file.read_text())
    row = data["results"]["synthetic_models.Logpdf.time_logpdf"]
    columns = data["result_columns"]
    combos = list(itertools.product(*row[columns.index("params")]))
    return row[columns.index("result")][combos.index(tuple(repr(p) for p in params))]


def test_report_from_a_real_asv_run(asv_run, tmp_path):
    out = tmp_path / "report"
    proc = _cli("report", str(asv_run.results), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    stem = "ci-synthetic_models.Logpdf.time_logpdf"
    for kind in ("compare", "scaling"):
        for fmt in ("png", "svg"):
            assert (out / f"{kind}-{stem}.{fmt}").stat().st_size > 5000, f"{kind} {fmt} missing or empty"
    # One commit has no history: no plot of lone points, and the case study says so.
    assert not (out / f"history-{stem}.png").exists()
    import matplotlib.image

    image = matplotlib.image.imread(out / f"compare-{stem}.png")
    assert image.shape[0] > 200 and image.shape[1] > 400
    svg = (out / f"scaling-{stem}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "numpy/cpu/64b" in svg

    md = (out / "case-study.md").read_text()
    # The numbers are the stored ones: the reference median and a speed-up computed from two stored medians.
    numpy64 = _raw_value(asv_run.results, ("numpy", "cpu", "64b", 100))
    jax64 = _raw_value(asv_run.results, ("jax", "cpu", "64b", 100))
    assert f"| n_bins=100 | numpy/cpu/64b | {report.format_value(numpy64, 'seconds')} |" in md
    assert f"{numpy64 / jax64:.2f}×" in md
    # 12 combinations ran; numpy on a gpu (and everything unselected) is n/a, nothing failed.
    assert "12 measured" in md and "0 failed" in md
    assert f"`{asv_run.commit[:8]}`" in md
    assert "1 commit(s) measured: " in md and ": no history to plot." in md
    # Scaling: a slope per configuration, and it agrees with a fit done here from the stored values.
    sizes = [1, 10, 100]
    values = [_raw_value(asv_run.results, ("numpy", "cpu", "64b", n)) for n in sizes]
    slope = report.fit_slope(sizes, values)
    expected = (math.log(values[2]) - math.log(values[0])) / math.log(100)  # endpoints: rough check of the fit
    assert abs(slope - expected) < 0.5
    assert f"| numpy/cpu/64b | 1–100 | {slope:.2f} |" in md
    for section in ("## Machines and environments", "## What was measured and how", "## Backends compared",
                    "## Scaling with model size", "## History over releases", "## Speed-up matrix", "## Findings"):
        assert section in md
    assert "No `track_` results" in md
    assert "No TPU run was made" in md
    # measurements.csv: the 12 measured rows only (the n/a GPU row is counted in the case study, not listed).
    csv_lines = (out / "measurements.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 12 and not any("'gpu'" in line or ",gpu," in line for line in csv_lines)
    # Ten samples per point here (-a repeat=10): the table and captions say so, and the spread is shown.
    assert "| 10 |" in md and "10 samples per point" in svg


def test_failed_results_and_a_second_machine_do_not_break_the_report(asv_run, tmp_path):
    """asv writes null for a failed combination; a second machine's files sit beside the first's."""
    results = tmp_path / "results"
    shutil.copytree(asv_run.results, results)
    second = results / "other-box"
    shutil.copytree(results / "ci", second)
    machine = json.loads((second / "machine.json").read_text())
    machine["machine"] = "other-box"
    (second / "machine.json").write_text(json.dumps(machine))
    (file,) = [p for p in second.glob("*.json") if p.name != "machine.json"]
    data = json.loads(file.read_text())
    data["params"]["machine"] = "other-box"
    row = data["results"]["synthetic_models.Logpdf.time_logpdf"]
    result = row[data["result_columns"].index("result")]
    failed_at = next(i for i, v in enumerate(result) if v is not None and not (isinstance(v, float) and math.isnan(v)))
    result[failed_at] = None
    file.write_text(json.dumps(data))

    out = tmp_path / "report"
    target = report.build_report(results, out)
    md = target.read_text()
    assert "1 failed" in md and "### Failed combinations" in md
    assert "| other-box |" in md and "| ci |" in md
    assert (out / "compare-other-box-synthetic_models.Logpdf.time_logpdf.png").is_file()


def test_report_rejects_bad_input_with_one_line(tmp_path):
    proc = _cli("report", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = _cli("report", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "run asv first" in proc.stderr


def test_profile_of_a_logpdf_and_the_report_shows_it(asv_run, tmp_path):
    out = tmp_path / "report"
    proc = _cli("profile", "synthetic:10", "--backend", "numpy", "--step", "logpdf", "--out",
                str(out / "profiles" / "numpy-logpdf"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    where = out / "profiles" / "numpy-logpdf"
    summary = json.loads((where / "profile.json").read_text())
    names = [row["function"] for row in summary["top_cumulative"]]
    # pyhf's own logpdf is on the profiled path, once per step call.
    (logpdf,) = [row for row in summary["top_cumulative"] if row["function"].startswith("pyhf/pdf.py") and
                 row["function"].endswith("(logpdf)")]
    assert logpdf["ncalls_per_call"] == 1.0
    assert any("expected_data" in n for n in names)
    assert summary["profiled_calls"] >= 1
    assert "Ordered by: cumulative time" in (where / "profile.txt").read_text()
    assert "<svg" in (where / "flamegraph.svg").read_text()[:500]
    md = report.build_report(asv_run.results, out).read_text()
    assert "## Profiles" in md and "pyhf/pdf.py" in md and "flamegraph.svg" in md

    bad = _cli("profile", "synthetic:10", "--backend", "numpy", "--step", "nope", "--out", str(tmp_path / "p"))
    assert bad.returncode == 2 and "unknown step 'nope'" in bad.stderr
    bad = _cli("profile", "synthetic:x", "--backend", "numpy", "--out", str(tmp_path / "p"))
    assert bad.returncode == 2 and "synthetic:N" in bad.stderr


def test_noise_finds_the_changed_combination(asv_run, tmp_path):
    """Two copies of a real result file, one combination 1.5x slower in B: the study must name it."""
    (file,) = [p for p in asv_run.results.glob("ci/*.json") if p.name != "machine.json"]
    data = json.loads(file.read_text())
    row = data["results"]["synthetic_models.Logpdf.time_logpdf"]
    result = row[data["result_columns"].index("result")]
    changed = next(i for i, v in enumerate(result) if v is not None and not math.isnan(v))
    result[changed] *= 1.5
    b = tmp_path / "b.json"
    b.write_text(json.dumps(data))

    study = noise.study(noise.load_side(file), noise.load_side(b))
    assert study["pairs"] == 12 and study["matched"] == "same commit and environment"
    assert study["worst_deviation"] == pytest.approx(0.5)
    assert study["largest_slowdown_ratio"] == pytest.approx(1.5)
    assert study["median_deviation"] == 0
    proc = _cli("noise", str(file), str(b), "--json", str(tmp_path / "noise.json"))
    assert proc.returncode == 0, proc.stderr
    assert "worst 0.500" in proc.stdout
    assert json.loads((tmp_path / "noise.json").read_text())["pairs"] == 12
    bad = _cli("noise", str(file), str(tmp_path / "missing.json"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr


# --------------------------------------------------------------------------- the committed report

REPO = Path(__file__).resolve().parents[1]
COMMITTED_RESULTS = REPO / "results"
COMMITTED_REPORT = REPO / "docs" / "report"


def _svg_text(path: Path) -> str:
    """The words of an SVG written with svg.fonttype none (wrapped captions joined again)."""
    import re

    return " ".join(re.sub(r"<[^>]+>", " ", path.read_text()).split())


@pytest.fixture(scope="module")
def committed_report(tmp_path_factory):
    """The report regenerated from the committed results into a copy of docs/report with an orphan planted in it."""
    out = tmp_path_factory.mktemp("committed") / "report"
    shutil.copytree(COMMITTED_REPORT, out)
    (out / "history-epyc-2core-synthetic_models.ModelBuild.time_build.png").write_bytes(b"stale")
    history_data: dict = {}
    target = report.build_report(COMMITTED_RESULTS, out, history_data=history_data,
                                 command="pyhf-bench report results --out docs/report")
    return out, target.read_text(), history_data, report.load_results(COMMITTED_RESULTS)


def test_every_history_plot_holds_the_newest_committed_commit(committed_report):
    out, md, history_data, rs = committed_report
    machines = {m.machine for m in rs.measurements if m.ok and m.kind != "track"}
    commits: dict[tuple, set] = {}
    for m in rs.measurements:
        if m.ok and m.kind != "track":
            commits.setdefault((m.machine, m.benchmark), set()).add(m.commit)
    # A history plot for every benchmark measured at two commits or more (one commit has no history).
    assert len(history_data) == sum(len(c) >= 2 for c in commits.values()) >= 4
    assert any(len(c) == 1 for c in commits.values()) and "v0.7.6: no history to plot." in md
    for machine in machines:
        newest = report.latest_commit([m for m in rs.measurements if m.machine == machine])
        for path, lines in history_data.items():
            if f"-{machine}-" not in path.name:
                continue
            assert lines, path
            # Every configuration's line reaches the newest commit (v0.7.5 and v0.7.6 are one-commit eras).
            for name, line in lines.items():
                assert newest in line["commits"], (path.name, name)
            text = _svg_text(path.with_suffix(".svg"))
            # The x axis is labelled by release, the newest included; eras are named; one sample is said.
            assert rs.release(newest) == "v0.7.6" and "v0.7.6" in text and "v0.7.5" in text, path.name
            assert "era modern" in text and "era legacy" in text
            # The canonical runs (repeat >= 3, rounds 2) stored how many samples each median is of.
            assert re.search(r"\d+(–\d+)? samples per point", text), path.name


def test_one_colour_per_backend_in_every_history_plot(committed_report):
    from pyhf_bench.reporting.figures import BACKEND_COLOURS

    _, _, history_data, _ = committed_report
    seen: dict[str, set] = {}
    for path, lines in history_data.items():
        for line in lines.values():
            seen.setdefault(line["backend"], set()).add(line["colour"])
        svg = path.with_suffix(".svg").read_text()
        assert all(f"stroke: {BACKEND_COLOURS[line['backend']]}" in svg for line in lines.values()), path.name
    assert set(seen) == {"numpy", "jax", "pytorch", "tensorflow"}
    # The colour matplotlib drew each backend in, the same in every plot, and different backends differ.
    assert {b: c for b, c in seen.items()} == {b: {BACKEND_COLOURS[b]} for b in seen}


def test_no_orphan_and_no_unmeasured_row_after_regeneration(committed_report):
    out, md, _, rs = committed_report
    made = sorted(p.name for p in out.iterdir() if report.REPORT_FILES.match(p.name))
    assert made, "the report made no figure"
    # Every figure in the folder is shown in the case study (as PNG, its SVG twin beside it): nothing orphaned.
    for name in made:
        assert f"({Path(name).with_suffix('.png').name})" in md, name
    assert not (out / "history-epyc-2core-synthetic_models.ModelBuild.time_build.png").exists()
    rows = (out / "measurements.csv").read_text().splitlines()
    assert len(rows) - 1 == sum(m.ok for m in rs.measurements) and not any(",n/a," in r for r in rows)
    assert "Placeholder" not in md and "largest change" not in md


def test_speedup_matrix_is_the_ratio_of_stored_medians(committed_report):
    """A cell of the heatmap, recomputed from asv's JSON without the report's reader."""
    import itertools

    out, md, _, rs = committed_report
    newest = report.latest_commit(rs.measurements)
    (file,) = [p for p in (COMMITTED_RESULTS / "epyc-2core").glob(f"{newest[:8]}-*.json")]
    data = json.loads(file.read_text())
    row = data["results"]["synthetic_models.Logpdf.time_logpdf"]
    columns = data["result_columns"]
    combos = list(itertools.product(*row[columns.index("params")]))
    value = {c: v for c, v in zip(combos, row[columns.index("result")])}
    numpy64 = value[("'numpy'", "'cpu'", "'64b'", "100")]
    jax64 = value[("'jax'", "'cpu'", "'64b'", "100")]
    svg = (out / "speedup-epyc-2core.svg").read_text()
    assert f"{numpy64 / jax64:.2g}×" in svg and "JAX eager" in svg
    assert "![speed-up matrix, epyc-2core](speedup-epyc-2core.png)" in md


def test_jitted_and_eager_logpdf_side_by_side_are_the_stored_medians(committed_report):
    """The JIT table's speed-up, recomputed from asv's JSON: eager JAX Logpdf over JittedLogpdf at 100 bins."""
    import itertools

    out, md, _, rs = committed_report
    newest = report.latest_commit([m for m in rs.measurements if m.benchmark.endswith("JittedLogpdf.time_jitted_logpdf")])
    (file,) = [p for p in (COMMITTED_RESULTS / "epyc-2core").glob(f"{newest[:8]}-*.json")]
    data = json.loads(file.read_text())
    columns = data["result_columns"]

    def value(bench, combo):
        row = data["results"][bench]
        combos = list(itertools.product(*row[columns.index("params")]))
        return dict(zip(combos, row[columns.index("result")]))[combo]

    combo = ("'jax'", "'cpu'", "'64b'", "100")
    eager = value("synthetic_models.Logpdf.time_logpdf", combo)
    jitted = value("synthetic_models.JittedLogpdf.time_jitted_logpdf", combo)
    assert jitted < eager
    row = next(line for line in md.splitlines() if line.startswith("| jax/cpu/64b | 100 |"))
    assert f"| {eager / jitted:.1f}× |" in row
    assert "(jit-epyc-2core-synthetic_models.JittedLogpdf.time_jitted_logpdf.png)" in md
    assert "No jitted logpdf benchmark has" not in md.split("## Jitted and eager logpdf")[0].split(
        "### `synthetic_models.Logpdf.time_logpdf`")[1]


def test_committed_report_is_what_the_committed_results_give(committed_report):
    """docs/report/case-study.md is regenerated, not edited: `pyhf-bench report results --out docs/report`."""
    out, md, _, _ = committed_report
    assert (COMMITTED_REPORT / "case-study.md").read_text() == md, \
        "docs/report is stale; regenerate it with `pyhf-bench report results --out docs/report`"
    committed = sorted(p.name for p in COMMITTED_REPORT.iterdir() if report.REPORT_FILES.match(p.name))
    assert committed == sorted(p.name for p in out.iterdir() if report.REPORT_FILES.match(p.name))


def _second_machine(results: Path, name: str) -> None:
    """A copy of the committed machine under another name and hardware (as a GPU box's files would sit beside it)."""
    (source,) = [p.parent for p in results.glob("*/machine.json")]
    target = results / name
    shutil.copytree(source, target)
    machine = json.loads((target / "machine.json").read_text())
    machine.update(machine=name, cpu="Other CPU 9000", num_cpu="16")
    (target / "machine.json").write_text(json.dumps(machine))
    for file in target.glob("*.json"):
        if file.name != "machine.json":
            data = json.loads(file.read_text())
            data["params"]["machine"] = name
            file.write_text(json.dumps(data))


def test_two_machines_side_by_side_labelled_with_their_hardware(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(COMMITTED_RESULTS, results)
    _second_machine(results, "other-box")
    out = tmp_path / "report"
    md = report.build_report(results, out).read_text()
    assert "## Machines side by side" in md
    assert "other-box (Other CPU 9000, 16 cores" in md and "epyc-2core (AMD EPYC, 2 cores" in md
    figure = out / "machines-synthetic_models.Logpdf.time_logpdf.svg"
    text = _svg_text(figure)
    assert "other-box (Other CPU 9000, 16 cores" in text and "epyc-2core (AMD EPYC, 2 cores" in text
    # Each machine keeps its own plots too.
    for machine in ("epyc-2core", "other-box"):
        assert (out / f"history-{machine}-synthetic_models.Logpdf.time_logpdf.png").is_file()
        assert (out / f"speedup-{machine}.png").is_file()


def _triangle_grid():
    """A sbottom-like grid (m2 < m1) with a notch in it, CLs falling with m1 (excluded at low m1)."""
    from pyhf_bench import scan

    points = []
    for m1 in range(400, 1401, 100):
        # Up to the diagonal until m1 = 800, then only up to 300 GeV: a notch the hull's triangles would bridge.
        for m2 in range(100, m1 if m1 <= 800 else 301, 100):
            cls = math.exp(-(1400 - m1) / 200.0) * (1 + m2 / 4000)  # excluded (small CLs) at low m1
            band = [cls * f for f in (0.3, 0.6, 1.0, 1.6, 2.5)]
            points.append(scan.Point(f"sb_{m1}_{m2}", [float(m1), float(m2)], "ok", cls, band))
    settings = scan.ScanSettings("sbottom", "RegionA")
    return scan.ScanResult(settings, "test analysis", ["m_sbottom", "m_chi02"], points, "serial", 0, 1.0, 0.0, "0.7.6")


def test_contour_marks_the_excluded_side_and_draws_nothing_outside_the_grid(tmp_path):
    import matplotlib.image

    from pyhf_bench import scan

    result = _triangle_grid()
    drawn = scan.plot_contour(result, tmp_path / "contour.png")
    assert drawn["observed"] >= 1 and drawn["expected"] >= 1 and drawn["band"] >= 1
    # The staircase along the diagonal leaves flat border triangles in the Delaunay triangulation: masked.
    assert drawn["masked_triangles"] >= 1
    assert drawn["excluded"] >= 1, "the excluded side is not marked"
    # The band crosses m1 = 860 GeV; inside the notch (m2 = 600 GeV, no point there) it must not be drawn.
    from matplotlib.path import Path as MplPath

    assert not any(MplPath(poly).contains_point((860.0, 600.0)) for poly in drawn["band_polygons"])
    assert any(MplPath(poly).contains_point((860.0, 200.0)) for poly in drawn["band_polygons"])
    image = matplotlib.image.imread(tmp_path / "contour.png")
    assert image.shape[0] > 300


def test_a_change_claimed_across_an_era_boundary_says_the_environment_changed_too(committed_report):
    _, md, _, _ = committed_report
    steps = [line for line in md.splitlines() if "v0.7.5 → v0.7.6" in line and "the time" in line]
    assert steps, "the committed data claim no v0.7.5 -> v0.7.6 step any more: pick another boundary"
    assert all("era legacy → era modern at this step" in line for line in steps)
