"""`pyhf-bench tier-time`: its shards partition the suite, and its ledger resumes and refuses bad input.

The real run of a shard under asv is in test_asv.py (it needs the offline history).
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
import subprocess
import sys

import pytest

from pyhf_bench import UserError
from pyhf_bench.asvtools import tiertime
from pyhf_bench.likelihoods import all_keys

from .conftest import ROOT


def _asv_benchmarks() -> list[dict]:
    """Every benchmark of the suite as asv names it, with its params as asv stores them (reprs)."""
    sys.path.insert(0, str(ROOT))
    try:
        modules = [
            __import__(f"benchmarks.{path.stem}", fromlist=["_"])
            for path in sorted((ROOT / "benchmarks").glob("*.py"))
            if path.stem != "__init__"
        ]
    finally:
        sys.path.remove(str(ROOT))
    found = []
    for module in modules:
        short = module.__name__.split(".", 1)[1]
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or cls_name.startswith("_"):
                continue
            params = [[repr(v) for v in axis] for axis in getattr(cls, "params", [])]
            for method in dir(cls):
                if method.startswith(("time_", "timeraw_", "track_", "peakmem_", "mem_")):
                    found.append({"name": f"{short}.{cls_name}.{method}", "params": params})
    return found


def test_shards_partition_every_benchmark_combination():
    """Each combination asv could run is selected by exactly one shard (asv's own selection code)."""
    from asv.benchmarks import Benchmarks

    class _Conf:
        benchmark_dir = str(ROOT / "benchmarks")

    benchmarks = _asv_benchmarks()
    assert len(benchmarks) > 30
    shards = tiertime.shards(all_keys())
    grid_shards = {s for s in shards if ":" in s}
    assert set(shards) - grid_shards == {*all_keys(), tiertime.REST}
    # Each whole grid: GridScan at 0, 1, 2 workers and GridScaling at 1, 2, per backend and precision.
    assert len(grid_shards) == 3 * 5 * 4 * 2
    count = {}
    for shard, regex in shards.items():
        selected = Benchmarks(_Conf(), benchmarks, regex=regex)
        for name, idx in selected.benchmark_selection.items():
            if name not in selected:
                continue
            for i in idx if idx is not None else [None]:
                count.setdefault((name, i), []).append(shard)
    total = sum(
        len(list(itertools.product(*b["params"]))) if b["params"] else 1 for b in benchmarks
    )
    assert len(count) == total, "some combinations are in no shard"
    doubles = {k: v for k, v in count.items() if len(v) != 1}
    assert not doubles, list(doubles.items())[:5]
    # The likelihood shards hold the published-likelihood steps; the quick grid subset
    # ('sbottom/RegionA[first:4]') is not sbottom/RegionA's whole grid, so it is in `rest`.
    by_shard = {}
    for (name, _), (shard,) in count.items():
        by_shard.setdefault(shard, set()).add(name.split(".")[0])
    # sbottom/RegionA keeps its grid's worker counts above 2 (they skip on 2 cores); a grid
    # shard holds one class's combinations for one backend, precision and worker count, on
    # every device.
    assert by_shard["sbottom/RegionA"] == {"published_likelihoods", "root_peer", "grid_scans", "compiler_costs",
                                           "instruction_counts"}
    assert {"synthetic_models", "interpolators", "grid_scans", "root_peer"} <= by_shard[tiertime.REST]
    in_grid_shard = sorted(
        (name, i) for (name, i), (shard,) in count.items() if shard == "1Lbb/all:GridScaling:tensorflow:64b:w1")
    combos = combos_of(benchmarks, "grid_scans.GridScaling.track_scaling_efficiency")
    assert [combos[i] for _, i in in_grid_shard] == [
        ("'1Lbb/all'", "'tensorflow'", repr(device), "'64b'", "1") for device in ("cpu", "gpu", "tpu")]
    left_in_region = [
        combos_of(benchmarks, name)[i] for (name, i), (shard,) in count.items()
        if shard == "sbottom/RegionA" and name.startswith("grid_scans.")]
    assert left_in_region and {c[-1] for c in left_in_region} == {"4", "8"}


def _selected(regex, benchmarks):
    from asv.benchmarks import Benchmarks

    class _Conf:
        benchmark_dir = str(ROOT / "benchmarks")

    selected = Benchmarks(_Conf(), benchmarks, regex=regex)
    return {(name, i) for name, idx in selected.benchmark_selection.items() if name in selected
            for i in (idx if idx is not None else [None])}


@pytest.mark.parametrize("key", ["1Ljets/all", "sbottom/RegionA"])
def test_a_likelihoods_backend_parts_partition_its_shard(key):
    """KEY:numpy ... KEY:tensorflow and KEY:other select exactly what KEY does, each combination once."""
    benchmarks = _asv_benchmarks()
    whole = _selected(tiertime.shards(all_keys())[key], benchmarks)
    parts = {name: _selected(regex, benchmarks) for name, regex in tiertime.backend_parts(key).items()}
    assert sum(len(p) for p in parts.values()) == len(whole) and set().union(*parts.values()) == whole
    # KEY:other: the benchmarks of the likelihood without a backend axis (ROOT peers, JAX's compiler costs).
    assert {name.split(".")[0] for name, _ in parts[f"{key}:{tiertime.OTHER}"]} == {"root_peer", "compiler_costs"}
    assert all(combos_of(benchmarks, name)[i][1] == "'jax'" for name, i in parts[f"{key}:jax"])


def test_rests_module_parts_partition_it():
    """rest:grid_scans ... rest:synthetic_models select exactly what rest does, each combination once:
    a new benchmark module with combinations outside every likelihood must join REST_MODULES."""
    benchmarks = _asv_benchmarks()
    keys = all_keys()
    whole = _selected(tiertime.shards(keys)[tiertime.REST], benchmarks)
    parts = {name: _selected(regex, benchmarks) for name, regex in tiertime.rest_parts(keys).items()}
    assert all(parts.values()), [name for name, p in parts.items() if not p]
    assert sum(len(p) for p in parts.values()) == len(whole) and set().union(*parts.values()) == whole
    assert {name.split(".")[0] for name, _ in parts["rest:interpolators"]} == {"interpolators"}


def test_the_ledger_counts_a_likelihood_whole_or_by_all_its_parts():
    keys = all_keys()
    parts = list(tiertime.backend_parts("1Ljets/all"))
    assert tiertime.covered("1Ljets/all:numpy", {"1Ljets/all"}, keys)
    assert not tiertime.covered("1Ljets/all", set(parts[:-1]), keys)
    assert tiertime.covered("1Ljets/all", set(parts), keys)
    assert not tiertime.covered("1Ljets/all:GridScan:numpy:64b:w0", {"1Ljets/all"}, keys)  # grid shards are apart
    assert tiertime.overlapping("1Ljets/all:jax", keys) == {"1Ljets/all"}  # the parts partition the whole
    assert tiertime.overlapping("1Ljets/all", keys) == set(parts)
    assert tiertime.overlapping("rest", keys) == set(tiertime.rest_parts(keys))
    assert tiertime.overlapping("rest:synthetic_models", keys) == {"rest"}
    assert tiertime.covered("rest:interpolators", {"rest"}, keys)
    assert not tiertime.covered("rest", set(list(tiertime.rest_parts(keys))[:-1]), keys)
    assert tiertime.covered("rest", set(tiertime.rest_parts(keys)), keys)
    assert tiertime.shard_key("rest:grid_scans") is None


def test_each_part_keeps_its_row_and_the_whole_replaces_them():
    # A sitting that measures a region part by part keeps every part's row (an earlier version let
    # each part replace its siblings, leaving only the last); a whole shard replaces its parts.
    keys = all_keys()
    ledger = {"format": 1, "shards": []}
    parts = list(tiertime.backend_parts("staus/combined"))
    for i, part in enumerate(parts):
        tiertime.record_row(ledger, {"shard": part, "seconds": 10.0 + i, "returncode": 0}, keys)
    assert [r["shard"] for r in ledger["shards"]] == parts and ledger["summary"]["seconds"] == 60.0
    assert tiertime.covered("staus/combined", {r["shard"] for r in ledger["shards"]}, keys)
    tiertime.record_row(ledger, {"shard": "staus/combined:jax", "seconds": 20.0, "returncode": 0}, keys)  # remeasured
    assert len(ledger["shards"]) == len(parts) and ledger["summary"]["seconds"] == 69.0
    tiertime.record_row(ledger, {"shard": "staus/combined", "seconds": 50.0, "returncode": 0}, keys)
    assert [r["shard"] for r in ledger["shards"]] == ["staus/combined"] and ledger["summary"]["seconds"] == 50.0


def test_a_likelihood_begun_by_parts_goes_on_by_parts(tmp_path):
    # Two parts recorded: the next sitting runs the other three parts, not the whole shard again.
    # The data directory is empty, so the first part to run is refused before asv starts.
    ledger = tmp_path / "ledger.json"
    rows = [{"shard": p, "regex": "x", "seconds": 1.0, "returncode": 0} for p in ("staus/combined:numpy", "staus/combined:jax")]
    ledger.write_text(json.dumps({"format": 1, "tier": "full", "shards": rows}))
    (tmp_path / "empty").mkdir()
    env = dict(os.environ, PYHF_BENCH_DATA=str(tmp_path / "empty"))
    proc = subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "tier-time", "--ledger", str(ledger), "--only", "staus/combined",
         "--config", str(ROOT / "asv.conf.json")], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "shard staus/combined:pytorch" in proc.stderr, proc.stderr
    assert json.loads(ledger.read_text())["shards"] == rows


def combos_of(benchmarks, name):
    return list(itertools.product(*next(b for b in benchmarks if b["name"] == name)["params"]))


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "tier-time", *args], capture_output=True, text=True, cwd=cwd
    )


def test_recorded_shards_are_not_run_again(tmp_path):
    ledger = tmp_path / "ledger.json"
    recorded = [{"shard": s, "regex": r, "seconds": 10.0, "returncode": 0} for s, r in tiertime.shards(all_keys()).items()]
    ledger.write_text(json.dumps({"format": 1, "tier": "full", "shards": recorded}))
    proc = _cli("--ledger", str(ledger), "--config", str(ROOT / "asv.conf.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "sbottom/RegionA: in the ledger, skipped" in proc.stdout
    assert "running" not in proc.stdout
    total = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert total["seconds"] == 10.0 * len(recorded) and total["shards_left"] == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": 1}', "has no 'shards' list"),
        ('{"format": 1, "tier": "quick", "shards": []}', "records the quick tier, not full"),
    ],
)
def test_bad_ledger_is_one_clear_error(tmp_path, content, message):
    ledger = tmp_path / "ledger.json"
    ledger.write_text(content)
    proc = _cli("--ledger", str(ledger), "--config", str(ROOT / "asv.conf.json"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("pyhf-bench: error: ") and message in proc.stderr, proc.stderr
    assert ledger.read_text() == content  # left as it was


def test_unknown_shard_names_the_choices(tmp_path):
    proc = _cli("--ledger", str(tmp_path / "l.json"), "--only", "sbottom/RegionZ", "--config", str(ROOT / "asv.conf.json"), cwd=tmp_path)
    assert proc.returncode == 2 and "unknown shard(s) sbottom/RegionZ" in proc.stderr and "sbottom/RegionA" in proc.stderr
    assert not (tmp_path / "l.json").exists()


def test_wildcards_select_grid_shards_and_unknown_patterns_are_refused():
    available = tiertime.shards(all_keys())
    numpy_scans = tiertime.expand(["sbottom/RegionA:GridScan:numpy:*"], available)
    assert numpy_scans == [f"sbottom/RegionA:GridScan:numpy:{p}:w{w}" for p in ("64b", "32b") for w in (0, 1, 2)]
    assert tiertime.expand(["staus/combined", "staus/*"], available)[:1] == ["staus/combined"]
    assert len(set(tiertime.expand(["staus/combined", "staus/*"], available))) == 3
    with pytest.raises(UserError, match=r"unknown shard\(s\) sbottom/RegionA:GridScan:jaxx:\*"):
        tiertime.expand(["sbottom/RegionA:GridScan:jaxx:*"], available)
    assert tiertime.shard_key("1Lbb/all:GridScan:jax:64b:w2") == "1Lbb/all"
    assert tiertime.shard_key(tiertime.REST) is None


def test_summary_counts_failures_and_timeouts():
    ledger = {"shards": [
        {"shard": "a", "seconds": 5.0, "returncode": 0, "timeouts": 0},
        {"shard": "b", "seconds": 7.5, "returncode": 1, "timeouts": 2},
    ]}
    assert tiertime.summary(ledger) == {"shards": 2, "seconds": 12.5, "failed_shards": ["b"], "timeouts": 2}


def test_ledger_reader_rejects_a_list(tmp_path):
    path = tmp_path / "l.json"
    path.write_text("[]")
    with pytest.raises(UserError, match="has no 'shards' list"):
        tiertime.read_ledger(path)


def test_a_shard_whose_likelihood_is_missing_is_refused_not_recorded(tmp_path):
    """Its benchmarks would all skip in seconds and pass for a measured shard."""
    empty = tmp_path / "data"
    empty.mkdir()
    ledger = tmp_path / "l.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "tier-time", "--ledger", str(ledger), "--only", "staus/combined",
         "--config", str(ROOT / "asv.conf.json")],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYHF_BENCH_DATA": str(empty)},
    )
    assert proc.returncode == 2 and "shard staus/combined:" in proc.stderr and "pyhf-bench fetch staus" in proc.stderr
    assert "running" not in proc.stdout and not ledger.exists()


def test_a_shard_asv_did_not_run_is_refused_not_recorded(tmp_path):
    """asv exits 1 at once for a machine it has no record of; that shard measured nothing.

    Real asv, with a HOME that has no ~/.asv-machine.json: before the fix its 0 s and status 1
    went into the ledger as a measured shard, and the next shards followed it.
    """
    ledger = tmp_path / "l.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "tier-time", "--ledger", str(ledger), "--only",
         "rest:interpolators", "rest:root_peer", "--config", str(ROOT / "asv.conf.json"),
         "--log-dir", str(tmp_path / "logs"), "--", "--machine", "no-such-machine"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    assert "shard rest:interpolators: asv ran nothing (status 1" in proc.stderr, proc.stderr
    assert "no-such-machine" in proc.stderr and "asv machine --yes --machine NAME" in proc.stderr
    assert "rest:root_peer" not in proc.stdout and not ledger.exists()


def test_remeasured_shards_run_again_and_the_others_stay_skipped(tmp_path):
    # With no data the remeasured shard is refused before asv starts: enough to show it was not skipped.
    empty = tmp_path / "no-data"
    empty.mkdir()
    ledger = tmp_path / "ledger.json"
    recorded = [{"shard": s, "regex": r, "seconds": 10.0, "returncode": 0} for s, r in tiertime.shards(all_keys()).items()]
    ledger.write_text(json.dumps({"format": 1, "tier": "full", "shards": recorded}))
    proc = subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "tier-time", "--ledger", str(ledger), "--only", "sbottom/RegionA",
         "staus/combined", "--remeasure", "staus/combined", "--config", str(ROOT / "asv.conf.json")],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYHF_BENCH_DATA": str(empty)},
    )
    assert "sbottom/RegionA: in the ledger, skipped" in proc.stdout
    assert proc.returncode == 2 and "shard staus/combined:" in proc.stderr
    assert json.loads(ledger.read_text())["shards"] == recorded  # nothing replaced by a shard that did not run
    bad = _cli("--ledger", str(ledger), "--remeasure", "nope/none", "--config", str(ROOT / "asv.conf.json"), cwd=tmp_path)
    assert bad.returncode == 2 and "unknown shard(s) nope/none" in bad.stderr


def test_each_row_names_the_suite_revision_it_measured(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    assert tiertime.suite_revision(tmp_path) is None  # not a checkout
    git("init", "-q")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "b.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "suite")
    clean = tiertime.suite_revision(tmp_path)
    assert clean and "+" not in clean
    (tmp_path / "README.md").write_text("docs do not change what is measured\n")
    assert tiertime.suite_revision(tmp_path) == clean
    (tmp_path / "benchmarks" / "b.py").write_text("x = 2\n")
    assert tiertime.suite_revision(tmp_path) == clean + "+changes"


def test_the_markdown_table_sums_grids_and_names_what_is_left(tmp_path):
    # The README's table comes from `tier-time --markdown`: a row per region shard or part,
    # one per grid (its shards summed), and the count of partition shards covered.
    keys = all_keys()

    def row(shard, seconds, returncode=0, timeouts=0):
        return {"shard": shard, "seconds": seconds, "returncode": returncode, "timeouts": timeouts,
                "suite": "abc123", "started": "2026-11-25T01:02:03+00:00", "load_before": 0.5, "load_after": 1.0}

    rows = [row("staus/combined", 600.0), row("1Ljets/all:numpy", 300.0), row("1Ljets/all:jax", 200.0, 2, 1),
            row("sbottom/RegionA:GridScan:numpy:64b:w0", 900.0), row("sbottom/RegionA:GridScan:jax:64b:w0", 800.0)]
    ledger = tmp_path / "ledger.json"
    ledger.write_text(json.dumps({"format": 1, "tier": "full", "machine": "test box", "shards": rows}))
    proc = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "tier-time", "--ledger", str(ledger), "--markdown"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| `staus/combined` | 600 s (10.0 min) | 0 | 0 | `abc123` | 2026-11-25 01:02 | 0.50 → 1.00 |" in out
    assert "| `1Ljets/all:jax` | 200 s (3.3 min) | 2 | 1 |" in out
    assert "| `sbottom/RegionA:*` (2 of 40 grid shards) | 1700 s (28.3 min) | 0 | 0 |" in out
    total = len(tiertime.shards(keys))
    # staus/combined and the two grid shards; 1Ljets/all is only in parts.
    assert f"**3 of {total} shards, 2800 s (0.78 h) so far** (test box)." in out
    assert "`1Ljets/all` (parts numpy, jax measured)" in out
    assert "`sbottom/RegionA:*` (38)" in out and "`staus/combined`" not in out.split("Not measured yet")[1]
    assert ledger.read_text() == json.dumps({"format": 1, "tier": "full", "machine": "test box", "shards": rows})

    # With every region shard measured, only the grid shards are named (no empty list before them).
    def markdown_of(shards):
        ledger.write_text(json.dumps({"format": 1, "tier": "full", "machine": "test box", "shards": shards}))
        return subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "tier-time", "--ledger", str(ledger), "--markdown"],
                              capture_output=True, text=True, cwd=tmp_path, check=True).stdout

    grid_names = {name for name in tiertime.shards(keys) if ":Grid" in name}
    out = markdown_of([row(name, 1.0) for name in tiertime.shards(keys) if name not in grid_names])
    assert "Not measured yet: the whole-grid shards `sbottom/RegionA:*` (40)" in out, out.splitlines()[-1]

    # With every shard measured the total is final: no "so far", nothing named as left.
    every_shard = [row(name, 1.0) for name in tiertime.shards(keys)]
    out = markdown_of(every_shard)
    last = out.splitlines()[-1]
    assert last.startswith(f"**{len(every_shard)} of {len(every_shard)} shards, ") and "so far" not in last, last
    assert "Not measured yet" not in out


def test_the_markdown_caption_names_each_machine_and_its_rows(tmp_path):
    # Sittings land on different 2-core VMs: the caption says which rows each CPU measured.
    rows = [{"shard": s, "seconds": 10.0, "returncode": 0, "started": "2026-12-01T00:00:00+00:00", "machine": m}
            for s, m in [("staus/combined", "AMD EPYC, 2 cores"), ("staus/lowMass", "AMD EPYC, 2 cores"),
                         ("staus/highMass", "AMD EPYC, 2 cores"), ("4L/all", "Intel Xeon, 2 cores")]]
    out = tiertime.ledger_markdown({"format": 1, "machine": "Intel Xeon, 2 cores", "shards": rows}, all_keys())
    assert "(AMD EPYC, 2 cores, 3 rows; Intel Xeon, 2 cores, 1 row: `4L/all`)." in out
    one_machine = [dict(r, machine="AMD EPYC, 2 cores") for r in rows]
    assert "so far** (AMD EPYC, 2 cores)." in tiertime.ledger_markdown({"format": 1, "shards": one_machine}, all_keys())
    # Rows without a machine of their own take the ledger's (its last sitting's).
    old = [{k: v for k, v in r.items() if k != "machine"} for r in rows[:2]] + rows[3:]
    assert "so far** (Intel Xeon, 2 cores)." in tiertime.ledger_markdown(
        {"format": 1, "machine": "Intel Xeon, 2 cores", "shards": old}, all_keys())
