"""Signal-grid scans: serial and Dask agree, a failing point is retried once and reported, bad schedulers, outputs.

The Dask tests run a real ``LocalCluster`` of two single-threaded worker
processes (shared by the module: starting one costs seconds).  The grid that
fails on purpose is a user-registered likelihood built here from a synthetic
model; the agreement test also runs two points of the published sbottom grid.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyhf_bench import UserError
from pyhf_bench import scan
from pyhf_bench.core.synthetic import make_workspace

from .conftest import ROOT, run_python

MIRROR = Path(os.environ.get("PYHF_BENCH_DATA") or ROOT.parent / "shared" / "likelihoods")
needs_mirror = pytest.mark.skipif(
    not (MIRROR / "SHA256SUMS").is_file(), reason=f"the offline likelihood mirror is not at {MIRROR}"
)
#: A signal so large that SLSQP's constraints become incompatible: pyhf raises FailedMinimization.
DIVERGENT_SIGNAL = 1e9
BAD_PATCH = "grid_450_50"


def _grid_files(folder: Path) -> None:
    """A background-only workspace and a patchset of signals over a (mn2, mn1) mass plane.

    The signal falls with mn2 and the mass splitting, so CLs crosses 0.05
    inside the grid; one patch (BAD_PATCH) carries a divergent signal.
    """
    import pyhf

    workspace = make_workspace(4)
    signals = {c["name"]: next(s for s in c["samples"] if s["name"] == "signal") for c in workspace["channels"]}
    bkgonly = json.loads(json.dumps(workspace))
    for channel in bkgonly["channels"]:
        channel["samples"] = [s for s in channel["samples"] if s["name"] != "signal"]
    patches = []
    for mn2 in (200, 350, 500, 650, 800):
        for mn1 in (0, 100, 200):
            scale = 4.0 * math.exp(-(mn2 - 200) / 180.0) * (1.0 - mn1 / (mn2 + 200.0))
            patches.append(((mn2, mn1), scale))
    patches.append(((450, 50), None))
    ops_list = []
    for (mn2, mn1), scale in patches:
        ops = []
        for index, channel in enumerate(bkgonly["channels"]):
            sample = json.loads(json.dumps(signals[channel["name"]]))
            if scale is None:
                sample["data"] = [DIVERGENT_SIGNAL] * len(sample["data"])
            else:
                sample["data"] = [x * scale for x in sample["data"]]
            ops.append({"op": "add", "path": f"/channels/{index}/samples/0", "value": sample})
        ops_list.append({"metadata": {"name": f"grid_{mn2}_{mn1}", "values": [mn2, mn1]}, "patch": ops})
    patchset = {
        "metadata": {
            "description": "synthetic signal grid",
            "digests": {"sha256": pyhf.utils.digest(bkgonly)},
            "labels": ["mn2", "mn1"],
            "references": {"hepdata": "ins0000000"},
        },
        "patches": ops_list,
        "version": "1.0.0",
    }
    (folder / "BkgOnly.json").write_text(json.dumps(bkgonly))
    (folder / "patchset.json").write_text(json.dumps(patchset))


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The user-registered grid ``my-grid`` (region SR), for the whole module; returns the registry file."""
    folder = tmp_path_factory.mktemp("grid")
    _grid_files(folder)
    registry = folder / "likelihoods.json"
    registry.write_text(json.dumps({"likelihoods": {"my-grid": {
        "analysis": "Synthetic grid search",
        "directory": str(folder),
        "regions": {"SR": {"workspace": "BkgOnly.json", "patchset": "patchset.json", "default_patch": "grid_200_0"}},
    }}}))
    with pytest.MonkeyPatch.context() as patcher:
        patcher.setenv("PYHF_BENCH_REGISTRY", str(registry))
        yield registry


@pytest.fixture(scope="module")
def serial_grid(grid):
    """The serial scan of the grid's good points (shared: the agreement and plot tests both need it)."""
    return scan.run_scan(scan.ScanSettings.create("my-grid"), _good_patches())


@pytest.fixture(scope="module")
def client():
    """A real LocalCluster: two worker processes, one thread each."""
    with scan.dask_client(workers=2) as dask_client:
        yield dask_client


def _good_patches() -> list[str]:
    return [p for p in scan.grid_patches("my-grid", "SR") if p != BAD_PATCH]


def _assert_same_cls(serial: scan.ScanResult, distributed: scan.ScanResult) -> None:
    assert [p.patch for p in serial.points] == [p.patch for p in distributed.points]
    for a, b in zip(serial.points, distributed.points):
        assert a.status == b.status == "ok", (a, b)
        assert abs(a.cls_obs - b.cls_obs) <= 1e-8, (a.patch, a.cls_obs, b.cls_obs)
        assert all(abs(x - y) <= 1e-8 for x, y in zip(a.cls_exp, b.cls_exp)), (a.patch, a.cls_exp, b.cls_exp)
        assert len(b.cls_exp) == 5 and b.cls_exp == sorted(b.cls_exp)


# --------------------------------------------------------------------------- serial and Dask agree


def test_serial_and_two_workers_agree_and_workers_load_once(grid, serial_grid, client):
    settings = scan.ScanSettings.create("my-grid")
    patches = _good_patches()
    serial = serial_grid
    distributed = scan.run_scan(settings, patches, client=client, workers=2)
    _assert_same_cls(serial, distributed)
    assert serial.mode == "serial" and distributed.mode == "LocalCluster(2)"
    # Both workers took points; each read the workspace and activated the backend once.
    workers = {p.worker for p in distributed.points}
    assert len(workers) == 2, workers
    for worker in workers:
        paid = [p.patch for p in distributed.points if p.worker == worker and p.seconds["setup"] > 0]
        assert len(paid) == 1, (worker, paid)
    # Masses come from the patchset metadata, in its label order.
    assert distributed.axes == ["mn2", "mn1"]
    assert next(p for p in distributed.points if p.patch == "grid_350_100").masses == [350.0, 100.0]
    totals = distributed.totals()
    assert totals["fit"] > 0 and totals["build"] > 0 and totals["load"] > 0 and totals["jit"] == 0.0  # numpy: no JIT
    assert distributed.throughput > 0


@needs_mirror
def test_sbottom_points_agree_serial_and_on_dask(client, monkeypatch):
    monkeypatch.setenv("PYHF_BENCH_DATA", str(MIRROR))
    settings = scan.ScanSettings.create("sbottom", "RegionA")
    patches = scan.grid_patches("sbottom", "RegionA", "sbottom_1300_205_60,sbottom_1000_205_60")
    serial = scan.run_scan(settings, patches)
    distributed = scan.run_scan(settings, patches, client=client, workers=2)
    _assert_same_cls(serial, distributed)
    from pyhf_bench import likelihoods

    reference = likelihoods.entry("sbottom").regions["RegionA"]["reference"]
    default = next(p for p in distributed.points if p.patch == "sbottom_1300_205_60")
    assert abs(default.cls_obs - reference["cls_obs"]) / reference["cls_obs"] <= 1e-6
    assert default.masses == [1300.0, 205.0, 60.0]


# --------------------------------------------------------------------------- a failing point


def test_jax_scan_releases_each_models_executable(grid):
    """pyhf's jitted objective caches one executable per model: a long jax scan must not keep them all.

    Kept, they exhausted vm.max_map_count on the 217-point sbottom grid (the
    process died near point 190).  After a scan the cache is empty again.
    """
    result = run_python(
        "import json\n"
        "from pyhf_bench import scan\n"
        f"patches = {_good_patches()[:3]!r}\n"
        "res = scan.run_scan(scan.ScanSettings.create('my-grid', backend='jax'), patches)\n"
        "from pyhf.optimize import opt_jax\n"
        "sizes = [opt_jax._jitted_objective_and_grad._cache_size(), opt_jax._jitted_objective._cache_size()]\n"
        "print('@@' + json.dumps({'status': [p.status for p in res.points], 'sizes': sizes,"
        " 'jit': [p.seconds['jit'] for p in res.points]}))",
        env={"PYHF_BENCH_REGISTRY": str(grid), "PYHF_BENCH_JAX_CACHE": "off"},
    )
    assert result["status"] == ["ok"] * 3
    assert all(j > 0 for j in result["jit"])  # each point compiled its model ...
    assert result["sizes"] == [0, 0]  # ... and let it go


def test_the_benchmarks_scans_compile_every_model_without_the_disk_cache(grid, tmp_path):
    """With JAX's persistent cache on, a grid scanned before is timed as cache reads (a Dask
    scan after the serial one ran in 3.4 instead of 5.7 min): the benchmarks' settings turn it off."""
    written = {}
    for compile_cache in (True, False):
        cache = tmp_path / f"cache-{compile_cache}"
        run_python(
            "from pyhf_bench import scan\n"
            f"patches = {_good_patches()[:2]!r}\n"
            f"settings = scan.ScanSettings.create('my-grid', backend='jax', compile_cache={compile_cache})\n"
            "res = scan.run_scan(settings, patches)\n"
            "assert [p.status for p in res.points] == ['ok', 'ok'], res.points\n"
            "print('@@{}')",
            env={"PYHF_BENCH_REGISTRY": str(grid), "PYHF_BENCH_JAX_CACHE": str(cache)},
        )
        written[compile_cache] = len(list(cache.rglob("*"))) if cache.exists() else 0
    assert written[True] > 0, "the cache is on by default (the CLI's scans), so this test can tell"
    assert written[False] == 0


def test_a_failing_point_is_retried_once_and_reported_by_name(grid, client):
    settings = scan.ScanSettings.create("my-grid")
    patches = scan.grid_patches("my-grid", "SR", "grid_[2-4]*")
    assert BAD_PATCH in patches and len(patches) == 7
    for result in (scan.run_scan(settings, patches, client=client, workers=2), scan.run_scan(settings, patches)):
        bad = next(p for p in result.points if p.patch == BAD_PATCH)
        assert bad.status == "failed" and bad.attempts == 2 and bad.cls_obs is None
        assert len(bad.errors) == 2 and all("FailedMinimization" in e for e in bad.errors), bad.errors
        others = [p for p in result.points if p.patch != BAD_PATCH]
        assert all(p.status == "ok" and p.attempts == 1 and 0 < p.cls_obs <= 1 for p in others)
        assert [p.patch for p in result.failed] == [BAD_PATCH]
        assert result.to_json()["points_failed"] == [BAD_PATCH]


# --------------------------------------------------------------------------- bad input


def _cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "scan", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def test_unreachable_scheduler_is_one_clear_error_and_writes_nothing(grid, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "points.json").write_text('{"earlier": "results"}')
    proc = _cli("my-grid", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "2", "--out", str(out), "--no-progress",
                env={"PYHF_BENCH_REGISTRY": str(grid)})
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert line.count("\n") == 0, line
    assert "cannot connect to the Dask scheduler at tcp://127.0.0.1:9 within 2 s" in line
    assert sorted(p.name for p in out.iterdir()) == ["points.json"]
    assert json.loads((out / "points.json").read_text()) == {"earlier": "results"}
    with pytest.raises(UserError, match="is not a scheduler address"):
        with scan.dask_client(scheduler="not an address"):
            pass


def test_local_workers_keep_this_process_allocator_settings(monkeypatch):
    # Dask's nanny would start workers (and rewrite os.environ here) with
    # MALLOC_TRIM_THRESHOLD_=65536, which made numpy fits ~1.6x slower on a worker
    # than in the serial scan; dask_client's workers must inherit what this process has.
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    omp_threads = os.environ.get("OMP_NUM_THREADS", "1")  # Dask's 1 unless this process sets it
    with scan.dask_client(workers=1) as one_worker:
        seen = one_worker.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        threads = one_worker.run(lambda: os.environ.get("OMP_NUM_THREADS"))
    assert list(seen.values()) == [None], seen
    assert list(threads.values()) == [omp_threads], threads  # the rest of Dask's worker environment stays
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ


def test_patch_subsets():
    names = ["sbottom_1000_131_1", "sbottom_1100_205_60", "sbottom_1200_205_60", "sbottom_900_205_60"]
    assert scan.select_patches(names, "first:2") == names[:2]
    assert scan.select_patches(names, "sbottom_1[0-1]*") == names[:2]
    assert scan.select_patches(names, "sbottom_900_205_60, sbottom_1000_131_1") == [names[0], names[3]]
    assert scan.select_patches(names, None) == names
    with pytest.raises(UserError, match="'first:N' needs a positive whole number"):
        scan.select_patches(names, "first:0")
    with pytest.raises(UserError, match="'sbottom_1_2_3' matches no patch"):
        scan.select_patches(names, "sbottom_1_2_3")
    with pytest.raises(UserError, match="background-only"):
        scan.select_patches([], None)


def test_masses_from_patch_names():
    axes, masses = scan.mass_points("sbottom", "RegionA", ["sbottom_1300_205_60", "odd_name"])
    assert axes == ["m_sbottom", "m_chi02", "m_chi01"] and masses == {"sbottom_1300_205_60": [1300.0, 205.0, 60.0]}
    axes, masses = scan.mass_points("1Lbb", "all", ["C1N2_Wh_hbb_550_200"])
    assert axes == ["m_chi1pm_chi02", "m_chi01"] and masses == {"C1N2_Wh_hbb_550_200": [550.0, 200.0]}


def test_compile_clock_counts_nested_spans_once():
    clock = scan.CompileClock()
    clock.spans = [(1.0, 3.0), (1.5, 2.0), (2.5, 4.0), (10.0, 11.0), (0.0, 0.5)]
    assert clock.seconds(1.0, 5.0) == pytest.approx(3.0)  # [1, 4]: the nested and overlapping spans once
    assert clock.seconds(9.0, 10.5) == pytest.approx(0.5)  # a span cut by the window's end


# --------------------------------------------------------------------------- the files


def test_cli_writes_the_tables_and_the_contour_plot(grid, tmp_path):
    out = tmp_path / "out"
    proc = _cli("my-grid", "--patches", "grid_[2-5]*", "--out", str(out), env={"PYHF_BENCH_REGISTRY": str(grid)})
    assert proc.returncode == 1, proc.stderr  # one point failed: reported, the rest written
    assert f"point {BAD_PATCH} failed after 2 attempts: FailedMinimization" in proc.stderr
    assert "my-grid/SR numpy serial" in proc.stderr and "10/10" in proc.stderr  # the progress bar
    summary = json.loads(proc.stdout)
    assert summary["points"] == 10 and summary["failed"] == [BAD_PATCH]
    assert sorted(p.name for p in out.iterdir()) == ["contour.png", "points.csv", "points.json"]

    table = json.loads((out / "points.json").read_text())
    assert table["likelihood"] == "my-grid/SR" and table["mass_axes"] == ["mn2", "mn1"]
    assert len(table["points"]) == 10 and table["points_failed"] == [BAD_PATCH]
    assert set(table["seconds_by_phase"]) == {"setup", "load", "build", "jit", "fit", "total"}
    rows = list(csv.DictReader((out / "points.csv").open()))
    assert len(rows) == 10
    by_patch = {r["patch"]: r for r in rows}
    assert by_patch[BAD_PATCH]["status"] == "failed" and by_patch[BAD_PATCH]["cls_obs"] == ""
    good = by_patch["grid_200_0"]
    assert (good["mn2"], good["mn1"], good["status"]) == ("200", "0", "ok")
    point = next(p for p in table["points"] if p["patch"] == "grid_200_0")
    assert float(good["cls_obs"]) == point["cls_obs"]  # the CSV keeps every digit
    assert (out / "contour.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_contour_crosses_the_grid(serial_grid, tmp_path):
    result = serial_grid
    cls = {tuple(p.masses): p.cls_obs for p in result.points}
    assert cls[(200.0, 0.0)] < scan.EXCLUSION_CLS < cls[(800.0, 200.0)], cls  # the grid spans the exclusion
    drawn = scan.plot_contour(result, tmp_path / "contour.png")
    assert drawn["observed"] >= 1 and drawn["expected"] >= 1 and drawn["band"] >= 1, drawn


def test_grid_benchmarks_import_nothing_heavy_and_declare_their_tiers():
    """asv's forkserver imports benchmark modules before forking: no framework, Dask or matplotlib then."""
    result = run_python(
        "import sys, json\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import benchmarks.grid_scans as g\n"
        "heavy = sorted(m for m in ('numpy', 'jax', 'pyhf', 'dask', 'distributed', 'matplotlib') if m in sys.modules)\n"
        "print('@@' + json.dumps({'heavy': heavy, 'quick': {k: list(v) for k, v in g.GridScan.quick.items()},"
        " 'names': g.GridScan.param_names, 'workers': g.GridScaling.params[-1]}))"
    )
    assert result["heavy"] == []
    assert result["names"] == ["grid", "backend", "device", "precision", "workers"]
    assert result["quick"]["workers"] == [0, 2] and result["quick"]["backend"] == ["numpy", "jax"]
    assert result["workers"] == [1, 2, 4, 8]


def test_a_grid_scan_predicted_to_outrun_the_timeout_skips_with_the_prediction():
    # asv kills a benchmark at its timeout and records nothing: a whole grid that cannot finish
    # (e.g. TensorFlow on a big grid) must skip, predicted from the warm-up point, not burn hours.
    result = run_python(
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from benchmarks.grid_scans import GridScan, QUICK_GRID\n"
        "from pyhf_bench.core.skip import Skip\n"
        "short = GridScan()\n"
        # A timeout no real scan fits in (a nanosecond), so the skip does not rest on how fast
        # this machine scans four points.
        "short.timeout = 1e-9\n"
        "try:\n    short.setup(QUICK_GRID, 'numpy', 'cpu', '64b', 0)\n    reason = None\n"
        "except Skip as exc:\n    reason = str(exc)\n"
        "runs = GridScan()\n"
        "runs.setup(QUICK_GRID, 'numpy', 'cpu', '64b', 0)\n"
        "print('@@' + json.dumps({'reason': reason, 'point': runs.point_seconds, 'n': len(runs.patches)}))",
        env={"PYHF_BENCH_TIER": "quick"},
    )
    assert result["n"] == 4 and result["point"] > 0
    assert result["reason"].startswith("scanning 4 points with numpy (64b) is predicted at "), result
    assert "s per point" in result["reason"] and "would outrun this benchmark's 0 s timeout" in result["reason"]


def test_a_grid_scan_whose_first_point_fails_at_32b_skips_and_stops_its_cluster():
    # pyhf 0.7.6 hands scipy's SLSQP float32 from torch, which scipy >= 1.16 refuses: a property
    # of pyhf at 32b, a skip (as in every other benchmark), not a failed benchmark. On Dask the
    # worker's exception comes back re-raised; the cluster must not outlive the skip.
    result = run_python(
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from benchmarks.grid_scans import GridScan, QUICK_GRID\n"
        "from pyhf_bench.core.skip import Skip\n"
        "out = {}\n"
        "for workers in (0, 1):\n"
        "    bench = GridScan()\n"
        "    try:\n        bench.setup(QUICK_GRID, 'pytorch', 'cpu', '32b', workers)\n        out[workers] = None\n"
        "    except Skip as exc:\n        out[workers] = [str(exc), bench._cluster is None]\n"
        "print('@@' + json.dumps(out))",
        env={"PYHF_BENCH_TIER": "full"},
    )
    for workers in ("0", "1"):
        reason, cluster_stopped = result[workers]
        assert reason.startswith("the first point of sbottom/RegionA[first:4] fails at 32b with pytorch/scipy (pyhf "), reason
        assert "float64" in reason and cluster_stopped, result


def test_a_timed_grid_scan_collects_garbage_as_a_real_scan_does():
    # asv's timer turns the garbage collector off (as timeit does); a real scan and every Dask
    # worker run with it on, and on a serial scan took 9-42 % longer here. time_scan turns it on.
    result = run_python(
        "import gc, json, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from benchmarks.grid_scans import GridScan, QUICK_GRID\n"
        "bench = GridScan()\n"
        "bench.setup(QUICK_GRID, 'numpy', 'cpu', '64b', 0)\n"
        "collections = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and collections.append(info['generation']))\n"
        "gc.disable()\n"
        "bench.time_scan(QUICK_GRID, 'numpy', 'cpu', '64b', 0)\n"
        "print('@@' + json.dumps({'collections': len(collections), 'enabled_after': gc.isenabled()}))",
        env={"PYHF_BENCH_TIER": "quick"},
    )
    assert result["collections"] > 0 and result["enabled_after"], result


def test_the_scaling_reference_scans_before_the_cluster_starts():
    # The serial reference runs as GridScan's serial scan does: in this process, with no scheduler
    # or client living in it yet. Then the cluster starts and the tracked scan runs on it.
    result = run_python(
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from pyhf_bench import scan\n"
        "events = []\n"
        "real_run_scan, real_dask_client = scan.run_scan, scan.dask_client\n"
        "def run_scan(settings, patches, **kw):\n"
        "    events.append('scan on the cluster' if kw.get('client') else 'serial scan')\n"
        "    return real_run_scan(settings, patches, **kw)\n"
        "def dask_client(**kw):\n"
        "    events.append('cluster starts')\n"
        "    return real_dask_client(**kw)\n"
        "scan.run_scan, scan.dask_client = run_scan, dask_client\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from benchmarks.grid_scans import GridScaling, QUICK_GRID\n"
        "bench = GridScaling()\n"
        "bench.setup(QUICK_GRID, 'numpy', 'cpu', '64b', 1)\n"
        "efficiency = bench.track_scaling_efficiency(QUICK_GRID, 'numpy', 'cpu', '64b', 1)\n"
        "bench.teardown()\n"
        "print('@@' + json.dumps({'events': events, 'efficiency': efficiency, 'stopped': bench._cluster is None}))",
        env={"PYHF_BENCH_TIER": "full"},
    )
    assert result["events"] == ["serial scan", "cluster starts", "scan on the cluster"], result
    assert result["efficiency"] > 0 and result["stopped"], result


def test_the_committed_contour_points_are_the_whole_grid_and_agree_with_root():
    """docs/sbottom-RegionA-points.csv, the contour plot's points: every patch of the grid scanned (none
    failed), a sane expected band, and the reference patch's CLs where ROOT puts them."""
    from pyhf_bench import likelihoods
    from pyhf_bench.core import verdict

    rows = list(csv.DictReader((ROOT / "docs" / "sbottom-RegionA-points.csv").open()))
    assert len(rows) == 217 and {r["status"] for r in rows} == {"ok"}
    for r in rows:
        band = [float(r[f"cls_exp_{k}"]) for k in ("minus2", "minus1", "median", "plus1", "plus2")]
        assert band == sorted(band) and 0 <= float(r["cls_obs"]) <= 1, r["patch"]
    (root,) = likelihoods.entry("sbottom").region("RegionA")[1]["independent_references"]
    row = next(r for r in rows if r["patch"] == root["patch"])
    rel, floor = verdict.cls_tolerance("64b")
    assert verdict.within(float(row["cls_obs"]), root["cls_obs"], rel, floor)
    assert all(verdict.within(float(row[f"cls_exp_{k}"]), ref, rel, floor)
               for k, ref in zip(("minus2", "minus1", "median", "plus1", "plus2"), root["cls_exp"]))
