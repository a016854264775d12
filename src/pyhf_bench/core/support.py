"""Backend x device x precision x optimizer, skips, synchronisation and pyhf-version compatibility.

This is the one place that knows how to put pyhf on a device and how each pyhf
version differs.  The asv benchmarks and the ``pyhf-bench`` CLI both go
through :func:`activate`, which returns a :class:`Runtime`.

Rules the rest of the suite relies on:

* Only the standard library is imported at module level: the module is
  imported by every benchmark process (asv spawns one per parameter
  combination) and under every pyhf version from 0.6.3 to main.  The one
  exception is asv's forkserver, which imports pyhf (and, when asked and
  the machine has no accelerator, the frameworks) before it forks:
  :func:`preload_in_forkserver`.
* A combination that cannot run here raises :class:`Skip` (a
  ``NotImplementedError``, which asv records as "n/a") with the reason, and
  the cheap reasons (tier, numpy on a GPU, no such device node) are checked
  before anything heavy is imported, so skipping costs milliseconds.
* An unknown name is bad input, not a skip: :class:`pyhf_bench.UserError`.
* Every timed call returns through :meth:`Runtime.synchronize`, which blocks
  until asynchronous device work is finished.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable

from pyhf_bench import UserError

BACKENDS = ("numpy", "jax", "pytorch", "tensorflow")
DEVICES = ("cpu", "gpu", "tpu")
PRECISIONS = ("64b", "32b")
OPTIMIZERS = ("scipy", "minuit")
TIERS = ("quick", "full")
#: The whole signal grids the full tier scans (benchmarks/grid_scans.py), and its Dask worker
#: counts (0: in the benchmark process).  Here, not in the benchmark module, because
#: ``pyhf-bench tier-time`` splits these scans into shards of their own.
WHOLE_GRIDS = ("sbottom/RegionA", "1Lbb/all", "3L-eRJR/all")
GRID_WORKERS = (0, 1, 2, 4, 8)

#: Environment variables read by the suite.
TIER_ENV = "PYHF_BENCH_TIER"  # quick (default) | full
ERA_ENV = "PYHF_BENCH_ERA"  # set by asv.conf.json's matrix for each pinned environment era

_CHOICES = {
    "backend": BACKENDS,
    "device": DEVICES,
    "precision": PRECISIONS,
    "optimizer": OPTIMIZERS,
    "tier": TIERS,
}


class Skip(NotImplementedError):
    """This combination cannot run here; asv records it as skipped (n/a) with this reason."""


def check_choice(kind: str, value: str) -> str:
    """Return *value* if it is a known *kind* name, else raise one clear UserError."""
    allowed = _CHOICES[kind]
    if value not in allowed:
        raise UserError(f"unknown {kind} {value!r}; choose one of: {', '.join(allowed)}")
    return value


# --------------------------------------------------------------------------- tiers


def tier() -> str:
    """The benchmark tier selected by ``PYHF_BENCH_TIER`` (default ``quick``)."""
    value = os.environ.get(TIER_ENV, "quick").strip().lower() or "quick"
    try:
        return check_choice("tier", value)
    except UserError as exc:
        raise UserError(f"{TIER_ENV}={value!r}: {exc}") from None


def in_quick_tier(quick: dict, params: dict) -> bool:
    """Whether a combination (*params*: name -> value) is in the quick tier a class declares.

    *quick* maps parameter names to the values that belong to the quick tier; a
    combination is quick when every listed parameter has a listed value (an empty
    declaration: every combination).  The one rule: each benchmark's ``setup``
    skips by it and ``pyhf-bench asv-run`` selects by it (:mod:`pyhf_bench.asvtools.selection`).
    """
    return all(params[name] in values for name, values in quick.items())


def require_tier(in_quick_tier: bool, what: str) -> None:
    """Skip *what* unless it belongs to the selected tier (the full tier runs everything)."""
    if not in_quick_tier and tier() == "quick":
        raise Skip(f"{what} is in the full tier only; set {TIER_ENV}=full to run it")


BACKENDS_ENV = "PYHF_BENCH_BACKENDS"


def selected_backends() -> tuple[str, ...]:
    """The backends ``PYHF_BENCH_BACKENDS`` (comma-separated) selects; all of them when unset.

    For machines or CI jobs that benchmark a subset: the others skip cheaply,
    before any framework is imported, and the parameter lists stay fixed.
    """
    value = os.environ.get(BACKENDS_ENV, "").strip()
    if not value:
        return BACKENDS
    chosen = tuple(b.strip().lower() for b in value.split(",") if b.strip())
    for backend in chosen:
        try:
            check_choice("backend", backend)
        except UserError as exc:
            raise UserError(f"{BACKENDS_ENV}={value!r}: {exc}") from None
    return chosen


# --------------------------------------------------------------------------- pyhf versions and eras


def version_tuple(version: str) -> tuple[int, ...]:
    """The release part of a version string: '0.7.6' -> (0, 7, 6); '0.7.7.dev3+g1a2b' -> (0, 7, 7)."""
    release = []
    for part in version.split("+")[0].split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        release.append(int(digits))
        if digits != part:  # '6rc1', '7dev3': pre-release marker ends the release part
            break
    return tuple(release)


@functools.lru_cache(maxsize=None)
def eras() -> dict[str, dict]:
    """The pinned environment eras (``eras.json``), keyed by name."""
    text = resources.files("pyhf_bench.core").joinpath("eras.json").read_text()
    return {era["name"]: era for era in json.loads(text)["eras"]}


def era_for_version(version: str) -> str | None:
    """The era whose pyhf range holds *version*, or None."""
    release = version_tuple(version)
    for name, era in eras().items():
        low = version_tuple(era["pyhf_min"])
        high = version_tuple(era["pyhf_max"]) if era.get("pyhf_max") else None
        if release >= low and (high is None or release < high):
            return name
    return None


def check_era(pyhf_version: str) -> None:
    """Skip when asv runs this pyhf *release* in an era environment not meant for it.

    Outside asv's era environments (``--python=same``, the CLI) nothing is checked.
    A development version (``0.7.1.dev412``) is not checked: on pyhf's main its
    version names a release long before its code, so its era comes from its date
    and declared requirements, which only the planner sees (``eraplan``).
    """
    era = os.environ.get(ERA_ENV)
    if not era:
        return
    if era not in eras():
        raise UserError(f"{ERA_ENV}={era!r} is not an era in eras.json; choose one of: {', '.join(eras())}")
    if not re.fullmatch(r"\d+(\.\d+)*", pyhf_version.split("+")[0]):
        return
    wanted = era_for_version(pyhf_version)
    if wanted != era:
        raise Skip(
            f"pyhf {pyhf_version} is benchmarked in the {wanted!r} era, not in {era!r} "
            f"(see eras.json; `pyhf-bench run` picks the era per commit)"
        )


def pyhf_version() -> str:
    import pyhf

    return getattr(pyhf, "__version__", "0")


def upper_limit(data, model, scan, level=0.05):
    """Observed and expected upper limits on the POI from a fixed scan, for every pyhf version.

    pyhf 0.7 moved ``pyhf.infer.intervals.upperlimit`` to
    ``pyhf.infer.intervals.upper_limits.upper_limit`` (and deprecated the old name).
    """
    import pyhf

    intervals = pyhf.infer.intervals
    function = getattr(getattr(intervals, "upper_limits", None), "upper_limit", None) or intervals.upperlimit
    try:
        return function(data, model, scan, level=level)
    except (ValueError, AttributeError, TypeError) as exc:
        backend = pyhf.tensorlib.name
        if backend not in ("pytorch", "tensorflow"):
            raise
        # pyhf (0.7.6 at least) post-processes the scan with numpy idioms that torch
        # and TF tensors reject (e.g. reversed slicing `[::-1]`): a pyhf limitation on
        # these backends, not an error of the benchmark.
        raise Skip(
            f"pyhf {getattr(pyhf, '__version__', '?')}'s upper-limit scan fails on the {backend} backend: "
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        ) from None


def interpolator(code, histogramssets):
    """pyhf's tensorised interpolator for *code* (0, 1, 2, 4 or '4p') built on *histogramssets*."""
    import pyhf

    return pyhf.interpolators.get(code)(histogramssets)


# --------------------------------------------------------------------------- devices


def device_node_present(device: str) -> bool:
    """Cheap first look for an accelerator, before any framework is imported.

    A GPU shows up as NVIDIA (/dev/nvidia0...) or ROCm (/dev/kfd) device nodes,
    a Cloud TPU VM as /dev/accel* or /dev/vfio/* nodes or TPU_NAME/COLAB_TPU_ADDR.
    The framework is still asked afterwards; this only makes "no GPU here" cheap.
    """
    if device == "cpu":
        return True
    if device == "gpu":
        return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")
    if device == "tpu":
        return (
            bool(glob.glob("/dev/accel[0-9]*"))
            or bool(glob.glob("/dev/vfio/[0-9]*"))
            or bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"))
        )
    raise UserError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")


def _import_backend_module(backend: str):
    """The backend's framework, imported; a Skip only when it is not installed at all.

    A framework that is installed but fails to import is broken, and that is a
    failure of the combination, never a skip.
    """
    import importlib.util

    module = {"numpy": "numpy", "jax": "jax", "pytorch": "torch", "tensorflow": "tensorflow"}[backend]
    if importlib.util.find_spec(module) is None:
        raise Skip(f"{backend} backend: {module} is not installed in this environment")
    return importlib.import_module(module)


def _pyhf_has_backend(backend: str) -> bool:
    """Whether the installed pyhf ships the module of *backend* (pyhf main removed tensorflow and pytorch)."""
    import importlib.util

    return importlib.util.find_spec(f"pyhf.tensor.{backend}_backend") is not None


def _jax_platform_devices(jax, device: str):
    platforms = {"cpu": ("cpu",), "gpu": ("cuda", "rocm", "gpu"), "tpu": ("tpu",)}[device]
    for platform in platforms:
        try:
            found = jax.devices(platform)
        except RuntimeError:
            continue
        if found:
            return found
    raise Skip(f"jax sees no {device} device (jax.devices() = {jax.devices()})")


def _enable_jax_compilation_cache(jax) -> None:
    """Share compiled XLA executables between benchmark processes through a disk cache.

    asv runs every parameter combination in a new process, and pyhf's eager JAX
    code compiles each primitive for each new shape: ~10 s of setup per process
    without the cache, ~3 s with it.  Timed calls always follow a warm-up call
    in setup, so the cache changes setup time only, never a measurement.
    Set PYHF_BENCH_JAX_CACHE=off to disable; any other value is the directory.
    """
    where = os.environ.get("PYHF_BENCH_JAX_CACHE", "")
    if where.lower() == "off":
        return
    cache_dir = where or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pyhf-bench", f"jax-{jax.__version__}"
    )
    for option, value in (
        ("jax_compilation_cache_dir", cache_dir),
        ("jax_persistent_cache_min_compile_time_secs", 0),
        ("jax_persistent_cache_min_entry_size_bytes", -1),
    ):
        with contextlib.suppress(AttributeError, KeyError, ValueError):  # older jax lacks some options
            jax.config.update(option, value)


def _prepare_device(backend: str, device: str, module) -> Callable[[], Any]:
    """Point *backend* at *device* before pyhf creates tensors; return the device-scope factory."""
    if backend == "jax":
        _enable_jax_compilation_cache(module)
        target = _jax_platform_devices(module, device)[0]
        # Every jnp array pyhf creates lands on the default device.
        module.config.update("jax_default_device", target)
        return contextlib.nullcontext
    if backend == "pytorch":
        torch = module
        if device == "gpu":
            if not torch.cuda.is_available():
                raise Skip("torch.cuda.is_available() is False: no usable CUDA GPU for pytorch")
            # pyhf's pytorch backend builds tensors with torch.as_tensor & co., which
            # follow the default device.
            torch.set_default_device("cuda")
        return contextlib.nullcontext
    if backend == "tensorflow":
        tf = module
        if device == "cpu":
            # TensorFlow places ops on a visible GPU by default: hide GPUs for a CPU run.
            with contextlib.suppress(RuntimeError):  # already initialised: nothing visible anyway
                tf.config.set_visible_devices([], "GPU")
            return functools.partial(tf.device, "/CPU:0")
        if device == "gpu":
            if not tf.config.list_physical_devices("GPU"):
                raise Skip("tensorflow lists no physical GPU")
            return functools.partial(tf.device, "/GPU:0")
        if device == "tpu":
            try:
                resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
                tf.config.experimental_connect_to_cluster(resolver)
                tf.tpu.experimental.initialize_tpu_system(resolver)
            except (ValueError, RuntimeError, tf.errors.OpError) as exc:
                raise Skip(f"tensorflow cannot initialise a TPU: {exc}") from None
            return functools.partial(tf.device, "/TPU:0")
    return contextlib.nullcontext


def _leaves(obj):
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _leaves(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _leaves(item)
    else:
        yield obj


def placement(backend: str, tensor) -> str:
    """Which device ('cpu', 'gpu', 'tpu') *tensor* lives on."""
    if backend == "numpy":
        return "cpu"
    if backend == "jax":
        devices = tensor.devices() if hasattr(tensor, "devices") else {tensor.device()}
        platform = next(iter(devices)).platform
    elif backend == "pytorch":
        platform = tensor.device.type
    elif backend == "tensorflow":
        platform = tensor.device.rsplit("device:", 1)[-1].split(":")[0]
    else:
        raise UserError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    platform = platform.lower()
    return {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)


# --------------------------------------------------------------------------- the runtime


@dataclass
class Runtime:
    """pyhf switched to one backend on one device with one precision and optimizer."""

    backend: str
    device: str
    precision: str
    optimizer: str
    pyhf_version: str
    _scope: Callable[[], Any] = field(default=contextlib.nullcontext, repr=False)

    @property
    def tensorlib(self):
        import pyhf

        return pyhf.tensorlib

    def scope(self):
        """Context in which pyhf must run so TensorFlow ops land on the device (no-op elsewhere)."""
        return self._scope()

    def synchronize(self, result):
        """Block until all device work behind *result* is finished; return *result*.

        JAX dispatches asynchronously on every device; PyTorch and TensorFlow on
        accelerators.  Without this a timing measures only the kernel launch.
        """
        if self.backend == "jax":
            import jax

            if hasattr(jax, "block_until_ready"):
                return jax.block_until_ready(result)
            for leaf in _leaves(result):
                if hasattr(leaf, "block_until_ready"):
                    leaf.block_until_ready()
        elif self.backend == "pytorch" and self.device == "gpu":
            import torch

            torch.cuda.synchronize()
        elif self.backend == "tensorflow" and self.device != "cpu":
            import tensorflow as tf

            sync = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
            if sync is not None:
                sync()
            else:  # older TF: reading a value waits for the kernels that produce it
                for leaf in _leaves(result):
                    if hasattr(leaf, "numpy"):
                        leaf.numpy()
        return result

    def placement(self, tensor) -> str:
        return placement(self.backend, tensor)

    def value_and_grad(self, model, data) -> Callable:
        """NLL and its gradient w.r.t. the parameters, by the backend's own autodiff.

        JAX is jitted as pyhf's own optimizer does; call the result once
        before timing so the compilation is not measured.
        """
        tensorlib = self.tensorlib
        data = tensorlib.astensor(data)

        def nll(pars):
            return -model.logpdf(pars, data)[0]

        if self.backend == "numpy":
            raise Skip("the numpy backend has no automatic differentiation")
        if self.backend == "jax":
            import jax

            return jax.jit(jax.value_and_grad(nll))
        if self.backend == "pytorch":
            import torch

            def torch_value_and_grad(pars):
                pars = pars.detach().requires_grad_(True)
                value = nll(pars)
                (grad,) = torch.autograd.grad(value, pars)
                return value.detach(), grad

            return torch_value_and_grad
        if self.backend == "tensorflow":
            import tensorflow as tf

            def tf_value_and_grad(pars):
                with tf.GradientTape() as tape:
                    tape.watch(pars)
                    value = nll(pars)
                return value, tape.gradient(value, pars)

            return tf_value_and_grad
        raise UserError(f"unknown backend {self.backend!r}")


def device_peak_memory(rt: Runtime) -> int | None:
    """Peak bytes allocated on the accelerator so far in this process, where the backend tells; None on the CPU."""
    if rt.device == "cpu":
        return None
    if rt.backend == "pytorch":
        import torch

        return int(torch.cuda.max_memory_allocated())
    if rt.backend == "jax":
        import jax

        stats = jax.devices(rt.device)[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else int(peak)
    if rt.backend == "tensorflow":
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info(f"{rt.device.upper()}:0")["peak"])
    return None


def seed_everything(rt: Runtime, seed: int = 0) -> None:
    """Seed the random generators pyhf's toys draw from (numpy's and the framework's global ones)."""
    import numpy as np

    np.random.seed(seed)
    if rt.backend == "pytorch":
        import torch

        torch.manual_seed(seed)
    elif rt.backend == "tensorflow":
        import tensorflow as tf

        tf.random.set_seed(seed)


#: A minuit fit costs about (free parameters)^2 objective calls: Migrad's
#: updates and Hesse's numerical second derivatives, which pyhf always runs
#: after a valid Migrad; where the backend has autodiff each call also
#: computes the gradient.  Measured on this suite's full tier (2-core machine,
#: 47-118 parameters, README "Minuit's cost"): fit seconds / (n^2 x seconds per
#: call) was 0.37-1.17 across numpy, jax, pytorch and tensorflow, and above 1.37
#: for tensorflow on 3L-EWK onshell (114 parameters), whose fit, predicted at
#: 652 s with 1.0, ran into the 30-minute timeout.  The skip decision uses the
#: upper end, because a wrong "run" costs the whole timeout and a wrong "skip"
#: only loses a sample that takes most of it.
MINUIT_CALLS_PER_PARAMETER_SQUARED = 1.5
#: The share of a benchmark's asv timeout that its warm-up plus one timed call may use.
TIMEOUT_SHARE = 0.8


def minuit_budget(problem, fits: int, timeout: float, what: str) -> float | None:
    """Skip a minuit step predicted to outrun the benchmark's timeout; return the prediction (s).

    A timed-out combination costs the whole ``timeout`` and records nothing
    (minuit on eager TensorFlow took 9 min per fit for staus' 118 parameters;
    3L resonance's 623 would take hours), so the cost is predicted first from
    one objective call, timed here: ``fits x n^2 x seconds per call``.  The
    warm-up and the timed call must both fit in ``TIMEOUT_SHARE`` of it.
    Returns None for other optimizers.
    """
    rt = problem.rt
    if rt.optimizer != "minuit":
        return None
    if rt.backend == "numpy":  # no autodiff: minuit differentiates numerically, calling the NLL alone
        call = problem.logpdf
    else:
        function = problem.value_and_grad_function()

        def call():
            return problem.value_and_grad(function)

    n = problem.model.config.npars
    per_call = seconds_per_call(call)
    predicted = fits * MINUIT_CALLS_PER_PARAMETER_SQUARED * n * n * per_call
    # The warm-up and one timed call (heavy benchmarks take one sample per process: min_run_count = 1).
    require_time_budget(
        2 * predicted, timeout,
        f"{what} with minuit on {rt.backend} ({rt.precision}) is predicted at {duration(predicted)} "
        f"({fits} fit(s) x {MINUIT_CALLS_PER_PARAMETER_SQUARED:g} x {n}^2 objective calls x {1e3 * per_call:.1f} ms): "
        "the warm-up and the timed call")
    return predicted


#: ROOT's fits (``roobridge.FitOptions``: Minuit2's Migrad, strategy 1, tolerance
#: 1e-6) differentiate numerically, so they too cost ``C x n^2`` NLL calls, per
#: RooFit evaluation backend.  The call is timed with every parameter changed;
#: Minuit2 changes one at a time and RooFit recomputes only what depends on it,
#: so C is below 1.  Measured here (README "Minuit's cost"): ``cpu`` 0.02-0.14 on
#: six models of 49-165 parameters (0.25 allows for about twice that); ``legacy``
#: 0.13-0.37, and above 0.78 on 1Ljets (165 parameters, 76 ms per call), whose
#: fit was still running after 27 of its 30 minutes.  Other backends: 1.0.
ROOT_CALLS_PER_PARAMETER_SQUARED = {"cpu": 0.25, "legacy": 1.0}


def root_fit_budget(peer, fits: int, timeout: float, what: str) -> float:
    """Skip a ROOT peer step predicted to outrun its timeout; return the prediction (s).

    As :func:`minuit_budget`, from the NLL of *peer* (``roobridge.RootPeer``)
    timed here: ``fits x C x n^2 x seconds per call`` for its n free parameters,
    with the evaluation backend's C (``ROOT_CALLS_PER_PARAMETER_SQUARED``).
    """
    n = peer.free_parameters
    per_call = seconds_per_call(peer.nll_value)
    c = ROOT_CALLS_PER_PARAMETER_SQUARED.get(peer.eval_backend, 1.0)
    predicted = fits * c * n * n * per_call
    require_time_budget(
        2 * predicted, timeout,
        f"{what} in ROOT ({peer.eval_backend} backend) is predicted at {duration(predicted)} "
        f"({fits} fit(s) x {c:g} x {n}^2 NLL calls x {1e3 * per_call:.1f} ms): the warm-up and the timed call")
    return predicted


def seconds_per_call(call: Callable, calls: int = 3) -> float:
    """Median seconds of *calls* timed calls, after one untimed call (compilation, first-call caches)."""
    import statistics
    import time

    call()
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


#: Pseudo-experiments in a toy benchmark's warm-up, which also times them for ``toy_budget``.
WARM_UP_TOYS = 5


def toy_budget(problem, ntoys: int, timeout: float, what: str) -> float:
    """Warm up a toy-based hypotest on a few toys; skip if *ntoys* are predicted to outrun the timeout.

    Toys cost about ``ntoys x seconds per toy``: four fits per toy (two
    hypotheses, two fits for the test statistic each) plus a few fits to set
    up the calculator, so timing a small batch over-predicts slightly.  A slow
    backend (TensorFlow fits sbottom in seconds) would burn the whole timeout
    on 1000 toys and record nothing.  The warm-up batch also compiles; if it
    predicts too much, a second, compiled batch is timed before skipping.
    Returns the prediction for the warm-up plus one timed call (s).
    """
    import time

    def batch() -> float:
        start = time.perf_counter()
        problem.toy_hypotest(ntoys=WARM_UP_TOYS)
        return time.perf_counter() - start

    rt = problem.rt
    spent = batch()
    per_toy = spent / WARM_UP_TOYS

    def predict() -> float:
        return spent + ntoys * per_toy

    if predict() > TIMEOUT_SHARE * timeout:
        second = batch()
        spent += second
        per_toy = min(per_toy, second / WARM_UP_TOYS)
    predicted = predict()
    require_time_budget(
        predicted, timeout,
        f"{ntoys} toys of {what} on {rt.backend} ({rt.precision}) are predicted at {duration(ntoys * per_toy)} "
        f"({per_toy:.2f} s per toy, timed on {WARM_UP_TOYS})")
    return predicted


def require_time_budget(predicted: float, timeout: float, prediction: str) -> None:
    """Skip when *predicted* seconds exceed ``TIMEOUT_SHARE`` of the benchmark's asv timeout.

    asv kills a benchmark process at its timeout and records nothing for it,
    so a combination that cannot finish would only burn the whole timeout.
    *prediction* says what was predicted and from what; the skip reason is
    ``"<prediction> would outrun this benchmark's N min timeout"``.
    """
    if predicted > TIMEOUT_SHARE * timeout:
        raise Skip(f"{prediction} would outrun this benchmark's {duration(timeout)} timeout")


def duration(seconds: float) -> str:
    """``"45 s"`` under two minutes, else ``"12 min"``: how skip reasons state times."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def warm_up(rt: Runtime, step: Callable, what: str):
    """Run *step* once before timing it; a fit that cannot work at 32b is a skip, not an error."""
    with skip_32b_failure(rt.backend, rt.precision, rt.optimizer, what):
        return step()


@contextlib.contextmanager
def skip_32b_failure(backend: str, precision: str, optimizer: str, what: str):
    """Turn an exception at 32b into a skip that names it; at 64b a failure is real and propagates.

    At 32b pyhf's fits fail in ways that are properties of pyhf and its
    optimizers, not of the benchmark: scipy >= 1.16's SLSQP accepts only float64
    (pyhf 0.7.6 hands it float32 from torch and TensorFlow), and Minuit's EDM
    criterion is not reached at float32 resolution.  A Dask worker's exception
    arrives here re-raised as it was, so a grid scan's warm-up point skips alike.
    """
    try:
        yield
    except Skip:
        raise
    except Exception as exc:  # noqa: BLE001
        if precision != "32b":
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise Skip(
            f"{what} fails at 32b with {backend}/{optimizer} (pyhf {pyhf_version()}): "
            f"{type(exc).__name__}: {first_line}"
        ) from None


def _smoke_test(rt: Runtime) -> None:
    """Build and evaluate a tiny model with every modifier type.

    Environment mismatches (pyhf 0.7.0 calling numpy.product, gone in numpy 2;
    pyhf <= 0.7.4 using jax.numpy.DeviceArray, gone in jax 0.4.14+) surface here
    first.  The eras keep each commit in an environment that runs it, so what
    fails here is a broken backend, and it fails the combination with its error:
    a regression tracker must show it as failed, never as n/a.
    """
    import pyhf

    from pyhf_bench.core.synthetic import make_data, make_spec

    with rt.scope():
        model = pyhf.Model(make_spec(n_bins=2, seed=0), poi_name="mu")
        data = rt.tensorlib.astensor(make_data(model))
        rt.synchronize(model.logpdf(rt.tensorlib.astensor(model.config.suggested_init()), data))


def _import_backend_error(pyhf):
    """pyhf's ImportBackendError (raised when a backend module is missing), where this pyhf has it."""
    return getattr(pyhf.exceptions, "ImportBackendError", ImportError)


def check_runnable(backend: str, device: str = "cpu", precision: str = "64b", optimizer: str = "scipy") -> None:
    """The cheap reasons a combination cannot run here, checked before anything heavy is imported or loaded.

    Most of the full tier's combinations skip on a CPU-only machine; each is a
    process of its own, so its skip must cost next to nothing.
    """
    for kind, value in (("backend", backend), ("device", device), ("precision", precision), ("optimizer", optimizer)):
        check_choice(kind, value)
    if backend not in selected_backends():
        raise Skip(f"the {backend} backend is not selected ({BACKENDS_ENV}={os.environ.get(BACKENDS_ENV)})")
    if backend == "numpy" and device != "cpu":
        raise Skip("pyhf's numpy backend runs on the CPU only")
    if backend == "pytorch" and device == "tpu":
        raise Skip("pyhf's pytorch backend has no TPU path (it would need torch_xla)")
    if not device_node_present(device):
        raise Skip(f"no {device} on this machine")


def activate(
    backend: str,
    device: str = "cpu",
    precision: str = "64b",
    optimizer: str = "scipy",
    optimizer_options: dict | None = None,
) -> Runtime:
    """Switch pyhf to *backend* on *device* with *precision* and *optimizer*, or raise :class:`Skip`.

    *optimizer_options* go to the optimizer's constructor (e.g. ``tolerance``,
    ``maxiter``): a likelihood's fit settings live in the registry, not in code.

    Call it once per process (asv runs every parameter combination in a fresh
    one): switching frameworks back and forth in one interpreter is fragile.
    """
    check_runnable(backend, device, precision, optimizer)

    import pyhf

    version = getattr(pyhf, "__version__", "0")
    check_era(version)
    module = _import_backend_module(backend)
    scope = _prepare_device(backend, device, module)

    if optimizer == "minuit":
        try:
            import iminuit  # noqa: F401 - only to know it is there
        except ImportError as exc:
            raise Skip(f"the minuit optimizer needs iminuit, not installed here ({exc})") from None
    try:
        opt = getattr(pyhf.optimize, f"{optimizer}_optimizer")(**(optimizer_options or {}))
        with scope():
            pyhf.set_backend(backend, opt, precision=precision)
    except (pyhf.exceptions.InvalidBackend, _import_backend_error(pyhf), ImportError) as exc:
        # Skip only what cannot exist: pyhf main removed tensorflow (Sep 2025) and pytorch
        # (Oct 2025), so this pyhf has no module for it. A backend whose module is there
        # but does not import or set up is broken: that propagates as a failure.
        if isinstance(exc, pyhf.exceptions.InvalidBackend) or not _pyhf_has_backend(backend):
            raise Skip(f"pyhf {version} cannot use the {backend} backend here: this pyhf has no "
                       f"{backend} backend ({type(exc).__name__}: {exc})") from None
        raise

    rt = Runtime(backend, device, precision, optimizer, version, scope)
    # A tiny model with every modifier type: a backend that is there but broken fails here,
    # once, with the error, before any benchmark builds a large model (a failure, not a skip).
    _smoke_test(rt)
    return rt


# --------------------------------------------------------------------------- asv base class


def setup_once_per_process(setup: Callable) -> Callable:
    """Run a benchmark's ``setup`` once per process and parameter combination.

    asv re-runs ``setup`` before every sample, not once per process (asv #579), and
    asv_runner 0.3 then times one call per sample (asv #966).  Re-running our setup
    (activation, model build, warm-up) before each call made every sample the
    second call on a freshly built model: for the 0.5 ms ``Logpdf`` the samples
    of one run spread 0.3-0.8 ms and an unchanged commit measured 1.31x its base
    under ``asv continuous``.  The timed calls do not change what setup built (the
    model, compiled functions), so keeping the first setup's state times the same
    work on warm state, as a fit's many evaluations of one model do.  (Random
    state is the exception: ``ToyHypotest`` seeds once, so later samples throw
    other toys of the same model: the same work, other numbers.)  Classes with a ``teardown`` (which
    would undo the state between samples) are left alone.
    """

    @functools.wraps(setup)
    def wrapper(self, *params):
        if self.__dict__.get("_set_up_for") == params:
            return
        setup(self, *params)
        self._set_up_for = params

    return wrapper


class BackendBenchmark:
    """Base for asv benchmark classes parameterised over backend x device x precision.

    Subclasses append their own axes to ``params``/``param_names`` and call
    :meth:`activate` first thing in ``setup``.  The parameter lists are fixed
    (never derived from what is installed) so results stay comparable across
    pyhf commits and machines; what cannot run is skipped in ``setup``.
    """

    params = [list(BACKENDS), list(DEVICES), list(PRECISIONS)]
    param_names = ["backend", "device", "precision"]
    # We warm up explicitly in setup (JIT compilation, first-call caches), so asv's
    # own warm-up loop would only burn time.
    warmup_time = 0.0

    #: The quick tier: for each listed parameter, the values that belong to it
    #: (a combination is quick when every listed parameter has a listed value).
    #: The full tier runs every combination.
    quick: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "setup" in cls.__dict__ and not hasattr(cls, "teardown"):
            cls.setup = setup_once_per_process(cls.__dict__["setup"])

    def precheck(self, backend, device, precision, optimizer="scipy", **axes) -> None:
        """Skip combinations outside the selected tier or impossible here, cheaply (see :func:`check_runnable`)."""
        params = dict(backend=backend, device=device, precision=precision, optimizer=optimizer, **axes)
        in_quick = in_quick_tier(self.quick, params)
        described = ", ".join(f"{name}={params[name]}" for name in self.quick)
        require_tier(in_quick, f"{type(self).__name__} with {described}")
        check_runnable(backend, device, precision, optimizer)

    def activate(self, backend, device, precision, optimizer="scipy", optimizer_options=None, **axes) -> Runtime:
        """Skip combinations outside the selected tier, then :func:`activate` the backend."""
        self.precheck(backend, device, precision, optimizer, **axes)
        self.rt = activate(backend, device, precision, optimizer, optimizer_options)
        return self.rt


# --------------------------------------------------------------------------- forkserver


def _is_asv_forkserver(argv: list[str]) -> bool:
    """True in the process asv starts as ``<asv>/benchmark.py run_server DIR SOCKET`` (launch method forkserver).

    Not in the processes multiprocessing spawns from a benchmark (a Dask
    LocalCluster's nanny and workers): spawn hands them the parent's
    ``sys.argv``, so they would otherwise take themselves for the server.
    """
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        return False
    return len(argv) >= 2 and os.path.basename(argv[0]) == "benchmark.py" and argv[1] == "run_server"


PRELOAD_ENV = "PYHF_BENCH_PRELOAD"  # what asv's forkserver imports: pyhf (default) | frameworks

#: What ``PYHF_BENCH_PRELOAD=frameworks`` adds for each backend: the framework modules pyhf's
#: backend module imports (not pyhf's backend modules themselves, whose lazy registration in
#: ``pyhf.tensor`` belongs to the process that selects the backend).
FORKSERVER_FRAMEWORKS = {
    "jax": ("jax", "jax.numpy", "jax.scipy.special", "jax.scipy.stats"),
    "pytorch": ("torch", "torch.distributions"),
    "tensorflow": ("tensorflow", "tensorflow_probability"),
}


def accelerator_present() -> bool:
    """Whether this machine shows a GPU or TPU device node (cheap; no framework is asked)."""
    return device_node_present("gpu") or device_node_present("tpu")


def preload_in_forkserver(argv: list[str] | None = None) -> list[str]:
    """In asv's forkserver only, import pyhf (and with ``PYHF_BENCH_PRELOAD=frameworks`` the frameworks) before it forks.

    asv forks every parameter combination from one server process that has
    imported the suite, so what the server imported is shared: a combination
    that runs then skips those imports, and every fork, skips included, copies
    the server's page tables.  Measured here (2-core EPYC):

    * pyhf (default): its 1.2 s import is saved in each running combination,
      and a fork stays cheap (server RSS 111 MB: 9 ms per fork and exit).
      pyhf's import activates its numpy backend and touches no device.
    * ``frameworks`` (set by ``pyhf-bench asv-run``): also jax, torch and
      tensorflow, whose activation in a forked child then takes 2.1, 0.04 and
      0.2 s instead of 6.0, 1.3 and 5.9 s; but the server holds ~1 GB and each
      fork costs 36 ms.  Under plain ``asv run --quick``, which forks ~12,000
      combinations only to skip them, that made the quick tier slower (962 s
      against 797 s); with ``asv-run``'s selection only what runs is forked.
      Never where :func:`accelerator_present`: importing a framework here
      initialises no device and starts no thread (the server stays
      single-threaded, so forking it is safe), but CUDA initialised before a
      fork breaks every child, and whether a framework's import does so is not
      something to find out in the middle of a run on a GPU machine.  Only the
      selected backends (``PYHF_BENCH_BACKENDS``), each only if it imports: a
      framework that cannot import is the benchmark's skip to report.

    The child still selects its backend, device and precision itself
    (:func:`activate`): switching backends there works as in a fresh process.
    Nowhere else: under ``--launch-method spawn`` every combination, skips
    included, is a fresh interpreter, and a skip must cost milliseconds.
    ``ImportPyhf`` times the import in a fresh interpreter (``timeraw_``), so no
    timing changes; ``peakmem_`` values do (shared pages a child does not touch
    are not its own).  Never raises.  Returns the top-level modules it imported.
    """
    if not _is_asv_forkserver(sys.argv if argv is None else argv):
        return []
    import importlib

    loaded = []
    try:
        import pyhf  # noqa: F401
    except Exception:
        return loaded
    loaded.append("pyhf")
    if os.environ.get(PRELOAD_ENV, "pyhf").strip().lower() != "frameworks" or accelerator_present():
        return loaded
    try:
        backends = selected_backends()
    except UserError:
        return loaded  # each benchmark reports the bad PYHF_BENCH_BACKENDS itself
    for backend in backends:
        modules = FORKSERVER_FRAMEWORKS.get(backend)
        if not modules:  # numpy: pyhf imported it
            continue
        try:
            for module in modules:
                importlib.import_module(module)
        except Exception:  # noqa: BLE001 - any import failure is the child's skip to report
            continue
        loaded.append(modules[0])
    return loaded


preload_in_forkserver()
