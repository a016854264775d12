"""The suite under asv itself: `asv check`, a smoke run of every benchmark, and real virtualenvs.

The last test is the end-to-end one: an offline pyhf history, `pyhf-bench run`
building two of its commits into a real asv virtualenv, and `asv publish`.
"""

from __future__ import annotations

import glob
import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyhf_bench.asvtools import history
from pyhf_bench.core.axes import device_node_present
from pyhf_bench.core.synthetic import make_workspace

from .asv_runs import modern_numpy_scipy
from .conftest import ROOT, run_python

# The "pull request" used below: pyhf 0.7.6 without its tensorflow backend, as on
# pyhf main after September 2025.
NO_TF_BRANCH = "pr/no-tensorflow"


@pytest.fixture(scope="session")
def offline_history(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("history") / "pyhf"
    # No try/skip: a history that fails to build is a failure of these tests, not a reason to skip them.
    history.build_history(path, versions=["0.7.5", "0.7.6"], log=None)
    history.add_branch_commit(
        path,
        NO_TF_BRANCH,
        delete=["src/pyhf/tensor/tensorflow_backend.py"],
        message="Remove the tensorflow backend (as pyhf main did in Sep 2025)",
        log=None,
    )
    return path


@pytest.fixture(scope="session", autouse=True)
def ci_machine():
    """Register the machine name the runs below use (asv run would otherwise ask for it)."""
    subprocess.run([sys.executable, "-m", "asv", "machine", "--machine", "ci", "--yes"], check=True, capture_output=True)


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _test_config(tmp_path: Path, history_path: Path, include: list | None = None) -> Path:
    """asv.conf.json with every output under *tmp_path* and the repo = the offline history."""
    from asv import util

    conf = util.load_json(str(ROOT / "asv.conf.json"), api_version=1, js_comments=True)
    conf["version"] = 1  # load_json strips it
    conf["repo"] = str(history_path)
    conf["benchmark_dir"] = str(ROOT / "benchmarks")
    for key in ("env_dir", "results_dir", "html_dir"):
        conf[key] = str(tmp_path / key.replace("_dir", ""))
    conf["install_command"] = [c.replace("{conf_dir}", str(ROOT)) for c in conf["install_command"]]
    if include is not None:
        conf["include"] = include
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=2))
    return path


def _asv(config: Path, *args, timeout=2400, env=None):
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "asv", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=config.parent,
        env=full_env,
    )
    return proc


def _pyhf_bench_asv_run(config: Path, *asv_args, timeout=2400, env=None):
    """`pyhf-bench asv-run --config CONFIG -- ASV_ARGS`: asv run over the tier's own -b selection."""
    return subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "asv-run", "--config", str(config), "--", *asv_args],
        capture_output=True, text=True, timeout=timeout, cwd=config.parent, env=dict(os.environ, **(env or {})),
    )


def _results(results_dir: Path) -> dict[str, dict]:
    """{commit_hash: {benchmark: [values...]}} from asv's result files."""
    out = {}
    for path in glob.glob(str(results_dir / "*" / "*.json")):
        if path.endswith("machine.json"):
            continue
        data = json.loads(Path(path).read_text())
        names = data["result_columns"]
        column = names.index("result")
        out.setdefault(data["commit_hash"], {}).update(
            {name: row[column] for name, row in data["results"].items()}
        )
    return out


def _tiny_registry(tmp_path: Path) -> Path:
    """A user registry with one tiny likelihood ("tiny/all", one bin) and its reference CLs."""
    mine = tmp_path / "mine"
    mine.mkdir()
    workspace = make_workspace(1)
    (mine / "workspace.json").write_text(json.dumps(workspace))
    # A reference, so the Accuracy tracks run too (numpy, in a subprocess like every backend switch).
    cls_obs = run_python(
        "import json, pyhf; ws = pyhf.Workspace(json.loads(" + repr(json.dumps(workspace)) + ")); m = ws.model(); "
        "print('@@' + json.dumps(float(pyhf.infer.hypotest(1.0, ws.data(m), m, test_stat='qtilde'))))"
    )
    entry = {"directory": str(mine), "workspace": "workspace.json", "reference": {"patch": None, "cls_obs": cls_obs}}
    registry = tmp_path / "likelihoods.json"
    registry.write_text(json.dumps({"likelihoods": {"tiny": entry}}))
    return registry


def test_asv_check(tmp_path, offline_history):
    proc = _asv(_test_config(tmp_path, offline_history), "check", "--python=same", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout


def test_every_benchmark_runs_or_skips_once(tmp_path, offline_history):
    """`pyhf-bench asv-run -- --python=same --quick` over the whole suite: nothing may fail (skips are n/a).

    Through asv-run, as the README times the quick tier: asv gets the quick tier's
    -b selection (no process for a combination outside it) and the forkserver holds
    the frameworks (PYHF_BENCH_PRELOAD=frameworks), so this also shows that the
    selection loses no benchmark method and that forked children run every backend.

    numpy and jax only (`PYHF_BENCH_BACKENDS`): together they reach every
    benchmark method (jax has the autodiff numpy lacks); pytorch and tensorflow
    are checked against numpy in test_backends.py, and the README's quick-tier
    run covers all four.  A tiny user-registered likelihood stands in for the
    published ones (PYHF_BENCH_QUICK empty) and puts the upper-limit scan and
    toys, full-tier-only for the published ones, into the quick tier.
    """
    config = _test_config(tmp_path, offline_history)
    sha = _git(offline_history, "rev-list", "-n", "1", "v0.7.6")  # the pyhf installed here is 0.7.6
    registry = _tiny_registry(tmp_path)
    proc = _pyhf_bench_asv_run(
        config,
        "--python=same",
        "--quick",
        "--show-stderr",
        f"--set-commit-hash={sha}",
        "--machine",
        "ci",
        env={
            "PYHF_BENCH_TIER": "quick",
            "OMP_NUM_THREADS": "1",
            "PYHF_BENCH_BACKENDS": "numpy,jax",
            "PYHF_BENCH_REGISTRY": str(registry),
            # Published-likelihood classes run on the tiny one: every method once, quickly.
            # sbottom and staus on every backend are checked in test_likelihoods.py.
            "PYHF_BENCH_QUICK": "",
        },
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    results = _results(tmp_path / "results")[sha]
    failed = {name for name, values in results.items() if values is None or None in values}
    assert not failed, f"benchmarks failed: {sorted(failed)}\n{proc.stdout[-5000:]}"
    ran = {name for name, values in results.items() if any(v is not None and not math.isnan(v) for v in values)}
    # Every benchmark method ran for at least one combination on this CPU machine,
    # except those that measure an accelerator.
    accelerator_only = (
        set() if device_node_present("gpu") else {"published_likelihoods.DeviceMemory.track_peak_device_memory"}
    )
    # pyhf 0.7.6's toy calculator calls percentile(interpolation=...), which numpy 2
    # removed: the benchmark skips with that reason here (and runs in older eras).
    cannot_run_here = {"published_likelihoods.ToyHypotest.time_toy_hypotest"}
    # Its quick combination is PyTorch's 100-bin gradient (numpy has no autodiff; JAX's counts do not
    # repeat), outside this run's numpy,jax: tests/test_instructions.py counts instructions for real.
    cannot_run_here.add("instruction_counts.SyntheticNLLGradient.track_instructions")
    # Its quick combination scans on 2 workers, which skip on fewer cores ("2 workers need 2 cores"):
    # a process pinned to one core (taskset) cannot measure scaling.
    if len(os.sched_getaffinity(0)) < 2:
        cannot_run_here.add("grid_scans.GridScaling.track_scaling_efficiency")
    never_ran = set(results) - accelerator_only - cannot_run_here - ran
    assert not never_ran, _skip_reasons(sorted(never_ran), env={
        "PYHF_BENCH_TIER": "quick", "OMP_NUM_THREADS": "1", "PYHF_BENCH_REGISTRY": str(registry),
        "PYHF_BENCH_QUICK": ""})
    assert ran == set(results) - accelerator_only - cannot_run_here


#: Re-runs the setup of a benchmark's quick combinations and prints why each skips (asv records a skip
#: as NaN without its reason, so a benchmark that never ran on CI's machine would otherwise say nothing).
_SKIP_REASONS = """
import importlib, itertools, sys
sys.path.insert(0, "benchmarks")
from pyhf_bench.core.skip import Skip
from pyhf_bench.core.tiers import in_quick_tier
module, cls_name, _ = sys.argv[1].split(".")
cls = getattr(importlib.import_module(module), cls_name)
for combo in itertools.product(*cls.params):
    params = dict(zip(cls.param_names, combo))
    if not in_quick_tier(cls.quick, params) or params.get("backend") not in ("numpy", "jax"):
        continue
    bench = cls()
    try:
        bench.setup(*combo)
        print(combo, "sets up here (so what skipped it in asv's process?)")
    except Skip as exc:
        print(combo, "skips:", exc)
    finally:
        getattr(bench, "teardown", lambda *a: None)(*combo)
"""


def _skip_reasons(names: list[str], env: dict) -> str:
    """Why each benchmark of *names* never ran: its quick combinations' Skip messages, set up again here."""
    lines = [f"benchmarks that never ran: {names}"]
    for name in names:
        proc = subprocess.run([sys.executable, "-c", _SKIP_REASONS, name], capture_output=True, text=True,
                              cwd=ROOT, timeout=900, env=dict(os.environ, **env))
        lines.append(f"{name}: {proc.stdout.strip() or proc.stderr.strip()[-1500:]}")
    return "\n".join(lines)


@pytest.mark.integration
def test_history_in_real_virtualenvs_then_publish(tmp_path, offline_history):
    """`pyhf-bench run` builds two history commits into a real virtualenv; `asv publish` writes the dashboard."""
    config = _test_config(tmp_path, offline_history, include=[modern_numpy_scipy()])
    v076 = _git(offline_history, "rev-list", "-n", "1", "v0.7.6")
    branch = _git(offline_history, "rev-parse", NO_TF_BRANCH)
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / ".gitkeep").touch()  # the repository tracks html/ as an empty folder
    proc = subprocess.run(
        [
            sys.executable, "-m", "pyhf_bench.cli", "run", f"v0.7.5..{NO_TF_BRANCH}",
            "--offline", str(offline_history), "--config", str(config), "--era", "modern", "--publish",
            "--", "--quick", "--show-stderr", "--machine", "ci", "-b", r"\.Logpdf\.|\.Hypotest\.",
        ],
        capture_output=True, text=True, timeout=2400, cwd=tmp_path,
        env=dict(os.environ, PYHF_BENCH_TIER="quick", OMP_NUM_THREADS="1"),
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert f"era modern: {v076[:8]} (pyhf 0.7.6), {branch[:8]} (pyhf 0.7.7.dev1)" in proc.stdout
    # The terminal gets progress lines, not asv's tables (those go to the log) ...
    table_rows = [line for line in proc.stdout.splitlines() if line.rstrip().endswith(("n/a", "====="))]
    assert not table_rows and max(map(len, proc.stdout.splitlines())) < 400, proc.stdout[-3000:]
    assert "% |" in proc.stdout and "synthetic_models.Logpdf.time_logpdf ok" in proc.stdout, proc.stdout[-3000:]
    assert f"{v076[:8]} (pyhf 0.7.6): " in proc.stdout and " measured, 0 failed, " in proc.stdout
    assert "not run in era environments: grid_scans.*" in proc.stdout
    logs = list((tmp_path / ".asv" / "logs").glob("run-*.log"))
    assert len(logs) == 1 and "n/a" in logs[0].read_text()

    results = _results(tmp_path / "results")
    assert set(results) == {v076, branch}
    for sha in (v076, branch):
        logpdf = results[sha]["synthetic_models.Logpdf.time_logpdf"]
        assert None not in logpdf, "a benchmark failed"
        # params are backend x device x precision x n_bins: numpy/cpu/64b/100 bins ran ...
        numeric = [v for v in logpdf if not math.isnan(v)]
        assert len(numeric) == 2  # numpy cpu 64b and 32b at 100 bins: the others skip
        assert all(v > 0 and math.isfinite(v) for v in numeric)  # measured: how fast is asv's business
    # ... and the environment has no tensorflow: skipped (n/a), never failed.
    hypotest = results[branch]["synthetic_models.Hypotest.time_hypotest"]
    assert None not in hypotest and sum(not math.isnan(v) for v in hypotest) == 1  # numpy/cpu/64b/1 bin

    html = tmp_path / "html"
    assert (html / "index.html").is_file() and (html / ".gitkeep").is_file()
    # The dashboard works offline: its libraries are vendored, no CDN is named.
    assert "https://" not in "".join(l for l in (html / "index.html").read_text().splitlines() if "<script" in l)
    graphs = glob.glob(str(html / "graphs" / "**" / "synthetic_models.Logpdf.time_logpdf.json"), recursive=True)
    assert graphs, "asv publish wrote no graph data"
    points = json.loads(Path(graphs[0]).read_text())
    # asv graphs the commits of the configured branch (main): v0.7.6; the PR branch commit is
    # in the results (above) for `asv compare`, not on the main-line graph.
    assert len(points) == 1 and points[0][1] > 0


def test_tier_time_measures_a_shard_and_resumes(tmp_path, offline_history):
    """`pyhf-bench tier-time` runs one likelihood's full-tier shard under asv, records it, and skips it next time."""
    config = _test_config(tmp_path, offline_history)
    sha = _git(offline_history, "rev-list", "-n", "1", "v0.7.6")  # results filed under it, to check what ran
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        PYHF_BENCH_BACKENDS="numpy",
        PYHF_BENCH_REGISTRY=str(_tiny_registry(tmp_path)),
    )
    ledger = tmp_path / "ledger.json"

    def tier_time():
        return subprocess.run(
            [sys.executable, "-m", "pyhf_bench.cli", "tier-time", "--config", str(config), "--ledger", str(ledger),
             "--only", "tiny/all", "--log-dir", str(tmp_path / "logs"),
             "--", "--machine", "ci", f"--set-commit-hash={sha}"],
            capture_output=True, text=True, timeout=1800, cwd=tmp_path, env=env,
        )

    first = tier_time()
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    data = json.loads(ledger.read_text())
    (row,) = data["shards"]
    assert data["tier"] == "full" and row["shard"] == "tiny/all"
    assert row["returncode"] == 0 and row["timeouts"] == 0 and row["seconds"] > 0, row
    assert row["machine"] == data["machine"] and "cores" in row["machine"]  # each row names its machine
    assert "published_likelihoods.Logpdf.time_logpdf" in Path(row["log"]).read_text()
    # The full tier ran (32b is outside the quick tier), and only this shard's combinations did.
    results = json.loads(next((tmp_path / "results" / "ci").glob(f"{sha[:8]}-*.json")).read_text())
    row_of = dict(zip(results["result_columns"], results["results"]["published_likelihoods.Logpdf.time_logpdf"]))
    names = [", ".join(combo) for combo in itertools.product(*row_of["params"])]
    logpdf = dict(zip(names, row_of["result"]))
    assert logpdf["'tiny/all', 'numpy', 'cpu', '32b'"] > 0
    assert all(v is None or math.isnan(v) for k, v in logpdf.items() if not k.startswith("'tiny/all'"))
    assert "synthetic_models.Logpdf.time_logpdf" not in results["results"]
    second = tier_time()
    assert second.returncode == 0 and "tiny/all: in the ledger, skipped" in second.stdout, second.stdout
    assert json.loads(ledger.read_text())["shards"] == [row]


@pytest.mark.integration
def test_asv_find_locates_an_injected_slowdown(tmp_path, offline_history):
    """`asv find` (bisection) over three commits past v0.7.6, the middle one a real 3x slower logpdf."""
    from pyhf_bench.asvtools import review_proof as review

    config = _test_config(tmp_path, offline_history, include=[modern_numpy_scipy()])
    pdf = "src/pyhf/pdf.py"
    original = _git(offline_history, "show", f"v0.7.6:{pdf}")
    steps = [("comment", review.noop_pdf_source(original)), ("slow", review.slow_pdf_source(original)),
             ("comment again", "# another comment\n" + review.slow_pdf_source(original))]
    commits = []
    for i, (message, text) in enumerate(steps):
        local = tmp_path / f"pdf{i}.py"
        local.write_text(text)
        commits.append(history.add_branch_commit(offline_history, "pr/bisect", replace={pdf: local}, base="v0.7.6",
                                                 message=message, log=None))
    proc = _asv(config, "find", "--machine", "ci", "v0.7.6..pr/bisect",
                r"synthetic_models\.Logpdf\.time_logpdf\('numpy', 'cpu', '64b', 100\)", timeout=2400,
                env={"PYHF_BENCH_TIER": "quick", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"Greatest regression found: {commits[1][:8]}" in proc.stdout, proc.stdout[-3000:]
