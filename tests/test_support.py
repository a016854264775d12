"""The helper layer: names, tiers, eras, skips and the synchronisation wrapper (no framework switching here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pyhf_bench import UserError
from pyhf_bench.core import axes, benchmark, budgets, forkserver, pyhfversions, runtime, skip, tiers

from .conftest import ROOT, run_python


@pytest.mark.parametrize(
    "kind, value",
    [("backend", "nump"), ("device", "cuda"), ("precision", "16b"), ("optimizer", "adam"), ("tier", "medium")],
)
def test_unknown_names_are_one_clear_error(kind, value):
    with pytest.raises(UserError) as err:
        axes.check_choice(kind, value)
    message = str(err.value)
    assert "\n" not in message
    assert f"unknown {kind} {value!r}" in message and "choose one of" in message


def test_activate_rejects_unknown_names_before_anything_else():
    with pytest.raises(UserError, match="unknown device 'cuda'"):
        runtime.activate("numpy", "cuda")


def test_cli_reports_unknown_backend_in_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "env", "--backend", "nump"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "pyhf-bench: error: unknown backend 'nump'; choose one of: numpy, jax, pytorch, tensorflow"
    ]


@pytest.mark.parametrize(
    "backend, device, reason",
    [
        ("numpy", "gpu", "numpy backend runs on the CPU only"),
        ("numpy", "tpu", "numpy backend runs on the CPU only"),
        ("pytorch", "tpu", "no TPU path"),
    ],
)
def test_impossible_combinations_skip_with_reason(backend, device, reason):
    with pytest.raises(skip.Skip, match=reason):
        runtime.activate(backend, device)


@pytest.mark.skipif(axes.device_node_present("gpu"), reason="this machine has a GPU")
@pytest.mark.parametrize("backend", ["jax", "pytorch", "tensorflow"])
def test_absent_gpu_is_a_cheap_skip(backend):
    # Skipped before the framework is imported (asv pays this for every combination).
    result = run_python(
        "import sys, json\n"
        "from pyhf_bench.core import axes, benchmark, budgets, forkserver, pyhfversions, runtime, skip, tiers\n"
        f"try:\n    runtime.activate({backend!r}, 'gpu')\n    reason = None\n"
        "except skip.Skip as exc:\n    reason = str(exc)\n"
        "heavy = sorted(m for m in ('jax', 'torch', 'tensorflow', 'pyhf') if m in sys.modules)\n"
        "print('@@' + json.dumps({'reason': reason, 'heavy': heavy}))"
    )
    assert result == {"reason": "no gpu on this machine", "heavy": []}


@pytest.mark.parametrize("backend", ["numpy", "pytorch"])
def test_minuit_steps_predicted_to_outrun_the_timeout_skip_with_the_prediction(backend):
    # Minuit's cost is ~n_pars^2 objective calls: the prediction scales with the
    # timed call, so a timeout far below it skips (and says why) and a generous one runs.
    result = run_python(
        "import json\n"
        "from pyhf_bench.core import axes, benchmark, budgets, forkserver, pyhfversions, runtime, skip, tiers\n"
        "from pyhf_bench.likelihoods.inference import Problem\n"
        "from pyhf_bench.core.synthetic import make_spec\n"
        f"rt = runtime.activate({backend!r}, 'cpu', '64b', 'minuit')\n"
        "problem = Problem.from_spec(rt, make_spec(n_bins=10, seed=0), poi_name='mu')\n"
        "n = problem.model.config.npars\n"
        "predicted = budgets.minuit_budget(problem, 5, 1e6, 'hypotest of demo')\n"
        "try:\n    budgets.minuit_budget(problem, 5, 1e-3, 'hypotest of demo')\n    reason = None\n"
        "except skip.Skip as exc:\n    reason = str(exc)\n"
        "print('@@' + json.dumps({'n': n, 'predicted': predicted, 'reason': reason}))"
    )
    assert result["predicted"] > 0
    assert result["reason"].startswith(f"hypotest of demo with minuit on {backend} (64b) is predicted at ")
    assert f"5 fit(s) x {budgets.MINUIT_CALLS_PER_PARAMETER_SQUARED:g} x {result['n']}^2 objective calls" in result["reason"]
    assert "timeout" in result["reason"]


def test_toys_predicted_to_outrun_the_timeout_skip_with_the_prediction():
    # pytorch: pyhf 0.7.6's toys fail on numpy 2 and jax here (percentile(interpolation=...)).
    # The warm-up batch times the toys; 1000 of them against a tiny timeout skip and say why,
    # and against a generous one the prediction is returned and the toys are not re-timed.
    result = run_python(
        "import json\n"
        "from pyhf_bench.core import axes, benchmark, budgets, forkserver, pyhfversions, runtime, skip, tiers\n"
        "from pyhf_bench.likelihoods.inference import Problem\n"
        "from pyhf_bench.core.synthetic import make_spec\n"
        "rt = runtime.activate('pytorch', 'cpu', '64b')\n"
        "problem = Problem.from_spec(rt, make_spec(n_bins=2, seed=0), poi_name='mu')\n"
        "calls = []\n"
        "toys = problem.toy_hypotest\n"
        "problem.toy_hypotest = lambda ntoys: calls.append(ntoys) or toys(ntoys)\n"
        "predicted = budgets.toy_budget(problem, 1000, 1e6, 'demo')\n"
        "generous = list(calls)\n"
        "try:\n    budgets.toy_budget(problem, 1000, 1e-3, 'demo')\n    reason = None\n"
        "except skip.Skip as exc:\n    reason = str(exc)\n"
        "print('@@' + json.dumps({'predicted': predicted, 'generous': generous, 'calls': calls, 'reason': reason}))"
    )
    warm = budgets.WARM_UP_TOYS
    assert result["predicted"] > 0
    assert result["generous"] == [warm]
    assert result["calls"] == [warm, warm, warm], "a second, compiled batch is timed before skipping"
    assert result["reason"].startswith("1000 toys of demo on pytorch (64b) are predicted at ")
    assert f"s per toy, timed on {warm})" in result["reason"]
    assert "would outrun this benchmark's 0 s timeout" in result["reason"]


def test_scipy_steps_are_not_budgeted():
    class Scipy:
        class rt:
            optimizer = "scipy"

    assert budgets.minuit_budget(Scipy, 5, 1e-3, "fit") is None


def test_skip_is_what_asv_treats_as_skipped():
    assert issubclass(skip.Skip, NotImplementedError)


def test_tier_selection(monkeypatch):
    monkeypatch.delenv(tiers.TIER_ENV, raising=False)
    assert tiers.tier() == "quick"
    with pytest.raises(skip.Skip, match="full tier only; set PYHF_BENCH_TIER=full"):
        tiers.require_tier(False, "1000 bins")
    tiers.require_tier(True, "10 bins")
    monkeypatch.setenv(tiers.TIER_ENV, "full")
    tiers.require_tier(False, "1000 bins")  # runs
    monkeypatch.setenv(tiers.TIER_ENV, "fast")
    with pytest.raises(UserError, match="PYHF_BENCH_TIER='fast'"):
        tiers.tier()


def test_quick_tier_declaration_of_a_benchmark_class(monkeypatch):
    monkeypatch.delenv(tiers.TIER_ENV, raising=False)

    class Demo(benchmark.BackendBenchmark):
        quick = {"n_bins": (10,)}

    with pytest.raises(skip.Skip, match="Demo with n_bins=1000 is in the full tier only"):
        Demo().activate("numpy", "cpu", "64b", n_bins=1000)


def test_setup_runs_once_per_process_and_parameter_combination():
    # asv calls setup before every sample; what it built must survive to the next sample.
    calls = []

    class Counted(benchmark.BackendBenchmark):
        def setup(self, backend, device, precision):
            calls.append((backend, device, precision))
            self.built = len(calls)

    bench = Counted()
    for _ in range(3):
        bench.setup("numpy", "cpu", "64b")
    assert calls == [("numpy", "cpu", "64b")] and bench.built == 1
    bench.setup("numpy", "cpu", "32b")  # another combination: set up again
    assert len(calls) == 2 and bench.built == 2

    class Failing(benchmark.BackendBenchmark):
        def setup(self, backend, device, precision):
            calls.append("failing")
            raise skip.Skip("not here")

    for _ in range(2):  # a skip is not remembered as a finished setup
        with pytest.raises(NotImplementedError):
            Failing().setup("numpy", "cpu", "64b")
    assert calls.count("failing") == 2

    class WithTeardown(benchmark.BackendBenchmark):
        def setup(self, backend, device, precision):
            calls.append("torn")

        def teardown(self, backend, device, precision):
            pass

    bench = WithTeardown()
    bench.setup("numpy", "cpu", "64b")
    bench.setup("numpy", "cpu", "64b")  # teardown undoes state between samples: setup must run each time
    assert calls.count("torn") == 2


@pytest.mark.parametrize(
    "version, release",
    [("0.7.6", (0, 7, 6)), ("0.7.7.dev3+g1a2b3c", (0, 7, 7)), ("0.7.0rc1", (0, 7, 0)), ("0.6.3", (0, 6, 3))],
)
def test_version_tuple(version, release):
    assert pyhfversions.version_tuple(version) == release


@pytest.mark.parametrize(
    "version, era",
    [
        ("0.6.3", "classic"),
        ("0.7.0", "vintage"),
        ("0.7.4", "vintage"),
        ("0.7.5", "legacy"),
        ("0.7.6", "modern"),
        ("0.7.7.dev12", "modern"),
        ("0.5.4", None),
    ],
)
def test_era_for_version(version, era):
    assert pyhfversions.era_for_version(version) == era


def test_running_in_the_wrong_era_is_a_skip(monkeypatch):
    monkeypatch.setenv(pyhfversions.ERA_ENV, "modern")
    with pytest.raises(skip.Skip, match="pyhf 0.7.0 is benchmarked in the 'vintage' era, not in 'modern'"):
        pyhfversions.check_era("0.7.0")
    pyhfversions.check_era("0.7.6")
    # pyhf main's 2025 code describes as 0.7.1.devN: its era comes from the planner (date), not here.
    pyhfversions.check_era("0.7.1.dev412")
    monkeypatch.setenv(pyhfversions.ERA_ENV, "ancient")
    with pytest.raises(UserError, match="not an era in eras.json"):
        pyhfversions.check_era("0.7.6")


def test_eras_match_the_asv_matrix():
    """Every era in eras.json is exactly one asv include entry, and nothing else is benchmarked."""
    from asv import util

    conf = util.load_json(str(ROOT / "asv.conf.json"), api_version=1, js_comments=True)
    labelled = [entry["env_nobuild"]["PYHF_BENCH_ERA"] for entry in conf["include"]]
    assert sorted(labelled) == sorted(pyhfversions.eras())
    assert conf["exclude"] == [{"python": ".*"}]  # no unlabelled base environment
    for entry in conf["include"]:
        assert entry["req"]["torch"] == "2.13.0"  # an unpinned torch pulls several GB of CUDA wheels
    # Consecutive, non-overlapping pyhf ranges.
    ordered = sorted(pyhfversions.eras().values(), key=lambda e: pyhfversions.version_tuple(e["pyhf_min"]))
    for before, after in zip(ordered, ordered[1:]):
        assert before["pyhf_max"] == after["pyhf_min"]
    assert ordered[-1]["pyhf_max"] is None


class _Leaf:
    def __init__(self):
        self.blocked = 0
        self.read = 0

    def block_until_ready(self):
        self.blocked += 1
        return self

    def numpy(self):
        self.read += 1


def test_synchronize_blocks_every_jax_leaf(monkeypatch):
    # The fallback for jax versions without jax.block_until_ready.
    jax = pytest.importorskip("jax")
    monkeypatch.delattr(jax, "block_until_ready")
    leaves = [_Leaf(), _Leaf(), _Leaf()]
    rt = runtime.Runtime("jax", "cpu", "64b", "scipy", "0.7.6")
    result = (leaves[0], [leaves[1], {"x": leaves[2]}])
    assert rt.synchronize(result) is result
    assert [leaf.blocked for leaf in leaves] == [1, 1, 1]


def test_synchronize_waits_for_cuda_with_pytorch_on_gpu(monkeypatch):
    torch = pytest.importorskip("torch")
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: calls.append("sync"))
    runtime.Runtime("pytorch", "gpu", "32b", "scipy", "0.7.6").synchronize(1.0)
    assert calls == ["sync"]
    runtime.Runtime("pytorch", "cpu", "32b", "scipy", "0.7.6").synchronize(1.0)
    assert calls == ["sync"]  # CPU execution is synchronous: nothing to wait for


def test_synchronize_waits_for_tensorflow_devices(monkeypatch):
    tf = pytest.importorskip("tensorflow")
    calls = []
    monkeypatch.setattr(tf.test.experimental, "sync_devices", lambda: calls.append("sync"))
    runtime.Runtime("tensorflow", "gpu", "64b", "scipy", "0.7.6").synchronize(1.0)
    assert calls == ["sync"]
    # Without sync_devices (older TF), reading each value waits for it.
    monkeypatch.delattr(tf.test.experimental, "sync_devices")
    leaf = _Leaf()
    runtime.Runtime("tensorflow", "gpu", "64b", "scipy", "0.7.6").synchronize([leaf])
    assert leaf.read == 1


def test_benchmark_modules_import_nothing_heavy():
    """asv's forkserver imports the suite before forking: no framework (no CUDA) may be imported then."""
    result = run_python(
        "import sys, json\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import benchmarks.synthetic_models, benchmarks.interpolators\n"
        "heavy = sorted(m for m in ('numpy', 'scipy', 'jax', 'torch', 'tensorflow', 'pyhf') if m in sys.modules)\n"
        "print('@@' + json.dumps(heavy))"
    )
    assert result == []


def _forkserver_children(backends) -> str:
    """Code that imports the suite as asv's forkserver does, then forks one child per backend.

    Each child activates its backend (as a forked asv benchmark process does) and
    reports the backend pyhf then uses and one logpdf value; the server reports
    what it had imported before forking and its own pyhf backend and value.
    """
    return (
        "import sys, os, json\n"
        "from asv.runner import BENCHMARK_RUN_SCRIPT\n"
        "sys.argv = [BENCHMARK_RUN_SCRIPT, 'run_server', 'benchmarks', '/tmp/no-socket']\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import benchmarks.synthetic_models, benchmarks.published_likelihoods\n"
        "loaded = sorted(m for m in ('pyhf', 'jax', 'torch', 'tensorflow') if m in sys.modules)\n"
        "def value(pyhf):\n"
        "    m = pyhf.simplemodels.uncorrelated_background([5.0], [50.0], [7.0])\n"
        "    return float(pyhf.tensorlib.to_numpy(m.logpdf(pyhf.tensorlib.astensor(m.config.suggested_init()),"
        " pyhf.tensorlib.astensor([55.0] + m.config.auxdata)))[0])\n"
        "children = {}\n"
        f"for backend in {list(backends)!r}:\n"
        "    read, write = os.pipe()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        from pyhf_bench.core.runtime import activate\n"
        "        rt = activate(backend, 'cpu', '64b')\n"
        "        import pyhf\n"
        "        os.write(write, json.dumps([pyhf.get_backend()[0].name, value(pyhf)]).encode())\n"
        "        os._exit(0)\n"
        "    os.close(write)\n"
        "    os.waitpid(pid, 0)\n"
        "    children[backend] = json.loads(os.read(read, 1000))\n"
        "import pyhf\n"  # the server's own pyhf, still on numpy
        "print('@@' + json.dumps({'loaded': loaded, 'children': children,"
        " 'server': [pyhf.get_backend()[0].name, value(pyhf)]}))"
    )


def test_asv_forkserver_preloads_pyhf_only_by_default():
    """Plain asv forks every combination, skips included: the server stays small (cheap forks)."""
    result = run_python(_forkserver_children(["jax"]), env={"PYHF_BENCH_PRELOAD": ""})
    assert result["loaded"] == ["pyhf"]
    assert result["children"]["jax"][0] == "jax"
    assert result["children"]["jax"][1] == pytest.approx(result["server"][1], rel=1e-12)


@pytest.mark.skipif(axes.accelerator_present(), reason="this machine has an accelerator: no framework is preloaded")
def test_asv_forkserver_preloads_the_frameworks_and_its_children_switch_backend():
    """With PYHF_BENCH_PRELOAD=frameworks (pyhf-bench asv-run) and no accelerator, the server imports the frameworks.

    Children forked from it (as asv forks each benchmark) activate jax, pytorch
    and tensorflow and compute the logpdf each computes in a fresh interpreter
    (the backends differ from each other in the last digits: TensorFlow's lgamma).
    """
    result = run_python(_forkserver_children(["jax", "pytorch", "tensorflow"]), env={"PYHF_BENCH_PRELOAD": "frameworks"})
    assert result["loaded"] == ["jax", "pyhf", "tensorflow", "torch"]
    server_backend, numpy_value = result["server"]
    assert server_backend == "numpy"
    for backend, (child_backend, child_value) in result["children"].items():
        fresh = run_python(
            "import json\n"
            "from pyhf_bench.core.runtime import activate\n"
            f"activate({backend!r}, 'cpu', '64b')\n"
            "import pyhf\n"
            "m = pyhf.simplemodels.uncorrelated_background([5.0], [50.0], [7.0])\n"
            "t = pyhf.tensorlib\n"
            "v = float(t.to_numpy(m.logpdf(t.astensor(m.config.suggested_init()), t.astensor([55.0] + m.config.auxdata)))[0])\n"
            "print('@@' + json.dumps(v))"
        )
        assert child_backend == backend
        assert child_value == pytest.approx(fresh, rel=1e-15, abs=0), backend
        assert child_value == pytest.approx(numpy_value, rel=1e-8), backend


def test_asv_forkserver_preloads_no_framework_where_an_accelerator_is_present():
    """CUDA initialised before a fork breaks the children: with an accelerator, only pyhf is preloaded.

    TPU_NAME is one of the signs :func:`axes.device_node_present` reads; the
    child still activates jax itself.
    """
    result = run_python(_forkserver_children(["jax"]), env={"TPU_NAME": "local", "PYHF_BENCH_PRELOAD": "frameworks"})
    assert result["loaded"] == ["pyhf"]
    assert result["children"]["jax"][0] == "jax"


def test_asv_forkserver_preloads_only_the_selected_backends():
    result = run_python(_forkserver_children(["numpy"]),
                        env={"PYHF_BENCH_BACKENDS": "numpy,pytorch", "PYHF_BENCH_PRELOAD": "frameworks"})
    assert result["loaded"] == ["pyhf", "torch"]


def test_processes_spawned_by_a_benchmark_do_not_take_themselves_for_the_forkserver(tmp_path):
    """multiprocessing's spawn hands a child the parent's sys.argv: a Dask worker started from a
    benchmark process would otherwise preload too (measured: it made the quick grid scans slower)."""
    script = tmp_path / "spawner.py"  # spawn re-imports the main module: a file, not python -c
    script.write_text(
        "import sys, json, multiprocessing\n"
        "from pyhf_bench.core import axes, benchmark, budgets, forkserver, pyhfversions, runtime, skip, tiers\n"
        "def child(queue):\n"
        "    queue.put([sys.argv[1:2], forkserver.is_asv_forkserver(sys.argv), forkserver.preload_in_forkserver()])\n"
        "if __name__ == '__main__':\n"
        "    from asv.runner import BENCHMARK_RUN_SCRIPT\n"
        "    sys.argv = [BENCHMARK_RUN_SCRIPT, 'run_server', 'benchmarks', '/tmp/no-socket']\n"
        "    ctx = multiprocessing.get_context('spawn')\n"
        "    queue = ctx.Queue()\n"
        "    p = ctx.Process(target=child, args=(queue,))\n"
        "    p.start(); got = queue.get(timeout=120); p.join()\n"
        "    print('@@' + json.dumps({'server': forkserver.is_asv_forkserver(sys.argv), 'child': got}))\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    assert lines, proc.stdout + proc.stderr
    assert json.loads(lines[0][2:]) == {"server": True, "child": [["run_server"], False, []]}


def test_env_json_reports_this_environment():
    proc = subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "env", "--json", "--backend", "numpy"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    numpy = report["backends"]["numpy"]
    assert numpy["version"]
    usable = {(c["device"], c["precision"]) for c in numpy["combinations"] if c["usable"]}
    assert usable == {("cpu", "64b"), ("cpu", "32b")}
    assert "numpy/cpu/64b" in report["usable"]
    assert {c["reason"] for c in numpy["combinations"] if not c["usable"]} == {
        "pyhf's numpy backend runs on the CPU only"
    }


def test_every_backend_module_is_in_the_registry_and_the_axes():
    """Adding a backend is one ``core/backends/<name>_backend.py`` plus its registry line: a module left out fails here."""
    import importlib
    import pkgutil

    from pyhf_bench.core import backends
    from pyhf_bench.core.backends.base import Backend

    found = {}
    for info in pkgutil.iter_modules(backends.__path__):
        if info.name.endswith("_backend"):
            module = importlib.import_module(f"pyhf_bench.core.backends.{info.name}")
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, Backend) and value is not Backend:
                    found[value.name] = (info.name, value)
    assert sorted(found) == sorted(backends.REGISTRY) == sorted(axes.BACKENDS)
    for name, (module_name, cls) in found.items():
        assert module_name == f"{name}_backend"  # named as pyhf names its backends, never as the framework
        assert type(backends.REGISTRY[name]) is cls
    assert forkserver.FORKSERVER_FRAMEWORKS == {
        name: b.forkserver_modules for name, b in backends.REGISTRY.items() if b.forkserver_modules
    }


def test_jitted_logpdf_is_the_eager_value_compiled_and_skips_where_pyhf_runs_eagerly():
    # One process per backend switch (switching back and forth in one process is fragile).
    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "import numpy as np\n"
        "from benchmarks.synthetic_models import JittedLogpdf\n"
        "from pyhf_bench.core.skip import Skip\n"
        "b = JittedLogpdf(); backend = sys.argv[1]\n"
        "try:\n"
        "    b.setup(backend, 'cpu', '64b', 100)\n"
        "except Skip as exc:\n"
        "    print('SKIP', exc); raise SystemExit\n"
        "jitted, eager = b.problem.jitted_logpdf(b.function), b.problem.logpdf()\n"
        "print('SAME' if np.allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-12) else f'DIFF {jitted} {eager}',\n"
        "      type(b.function).__name__)\n"
    )
    jax_run = subprocess.run([sys.executable, "-c", code, "jax"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert jax_run.stdout.startswith("SAME"), jax_run.stdout + jax_run.stderr[-2000:]
    # numpy is outside JittedLogpdf's quick tier: in the full tier its skip is the eager one.
    numpy_run = subprocess.run([sys.executable, "-c", code, "numpy"], capture_output=True, text=True, cwd=ROOT,
                               timeout=300, env=dict(os.environ, PYHF_BENCH_TIER="full"))
    assert numpy_run.stdout.startswith("SKIP pyhf runs the numpy backend eagerly"), numpy_run.stdout + numpy_run.stderr
