"""One grid point, in whichever process computes it: the process state set up once, and :func:`point_task`.

Each process (the scanning one, or each Dask worker) activates the backend and
reads the background-only workspace once (:class:`_ProcessState`, keyed by the
scan settings); every point then only reads its hash-checked patch and applies it.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
from dataclasses import dataclass, replace

from pyhf_bench import UserError, likelihoods
from pyhf_bench.scan.settings import ScanSettings
from pyhf_bench.likelihoods.inference import Problem, activate_for, as_float


class CompileClock:
    """Seconds JAX spends compiling (tracing, lowering, XLA compile or cache read) inside a window.

    JAX reports each compilation step as a time span (``jax.monitoring``);
    steps nest (an inner jit traced inside an outer one), so a window's
    compile time is the length of the union of the spans that fall in it.
    """

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self):
        self.spans: list[tuple[float, float]] = []
        self.lock = threading.Lock()
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        from jax import monitoring

        def listener(event, start, end, **_):
            if event in self.EVENTS:
                with self.lock:
                    self.spans.append((start, end))

        monitoring.register_event_time_span_listener(listener)
        self.installed = True

    def seconds(self, start: float, end: float) -> float:
        with self.lock:
            spans = sorted((max(a, start), min(b, end)) for a, b in self.spans if b > start and a < end)
            self.spans = [s for s in self.spans if s[1] > end]  # keep only what a later window can still use
        total, reach = 0.0, start
        for a, b in spans:
            a = max(a, reach)
            if b > a:
                total += b - a
                reach = b
        return total


_COMPILE_CLOCK = CompileClock()


@dataclass
class _ProcessState:
    """What a process computes once per scan settings: the runtime and the background-only workspace."""

    settings: ScanSettings
    rt: object
    base: object  # likelihoods.Likelihood of the background-only workspace
    entry: object
    region_spec: dict
    reference: dict | None


_STATES: dict[ScanSettings, _ProcessState] = {}
_STATE_LOCK = threading.Lock()


def _process_state(settings: ScanSettings) -> tuple[_ProcessState, float]:
    """This process's state for *settings* and the seconds it took (0 when it was already there)."""
    with _STATE_LOCK:
        state = _STATES.get(settings)
        if state is not None:
            return state, 0.0
        start = time.perf_counter()
        # Workers read the files the client names (same data directory, same user registry).
        for variable, value in (("PYHF_BENCH_DATA", settings.data_dir), ("PYHF_BENCH_REGISTRY", settings.registry)):
            if value is not None:
                os.environ[variable] = value
        if not settings.compile_cache:
            os.environ["PYHF_BENCH_JAX_CACHE"] = "off"  # read when the backend is activated, just below

        _single_threaded_blas()
        base = likelihoods.load(settings.name, settings.region, likelihoods.BKGONLY)
        if _STATES and any(s.backend != settings.backend or s.precision != settings.precision for s in _STATES):
            _STATES.clear()  # pyhf's backend is process-global: one active runtime per process
        rt = activate_for(base, settings.backend, settings.device, settings.precision, settings.optimizer)
        if settings.backend == "jax":
            _COMPILE_CLOCK.install()
        e = likelihoods.entry(settings.name)
        _, spec = e.region(settings.region)
        state = _ProcessState(settings, rt, base, e, spec, spec.get("reference"))
        _STATES[settings] = state
        return state, time.perf_counter() - start


def _single_threaded_blas() -> None:
    """One BLAS/OpenMP thread in every process that computes points, serial or Dask worker.

    Dask's nanny starts workers with OMP_NUM_THREADS=1; a serial scan in a
    process whose numpy already started more BLAS threads would add the
    same numbers in another order, and the fits (stopping at a tolerance)
    then end ~1e-7 apart.  One thread everywhere makes the serial and the
    distributed scan compute bit-identical CLs, and gives each worker one core.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as exc:
        raise UserError(f"scans need threadpoolctl ({exc}); pip install 'pyhf-bench[scan]'") from None
    threadpool_limits(limits=1)


def _patched(state: _ProcessState, patch: str):
    """The likelihood of *patch*: the background-only one with the hash-checked patch applied to a copy."""

    spec = likelihoods.apply_patch(state.entry, state.settings.region, state.region_spec, state.base.spec, patch)
    modifiers = {m["name"] for c in spec["channels"] for s in c["samples"] for m in s["modifiers"]}
    measurement = next(m for m in spec["measurements"] if m["name"] == state.base.measurement)
    poi = measurement["config"].get("poi")
    if poi not in modifiers:
        raise UserError(f"patch {patch!r} of {state.settings.key} adds no sample with the POI {poi!r}: not a signal patch")
    reference = state.reference if state.reference and state.reference.get("patch") == patch else None
    return replace(state.base, patch=patch, spec=spec, poi=poi, reference=copy.deepcopy(reference))


def _worker_name() -> str:
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        return get_worker().name if get_worker().name is not None else get_worker().address
    return f"pid {os.getpid()}"


def point_task(settings: ScanSettings, patch: str) -> dict:
    """CLs at mu=1 with the expected band for one signal patch, with the seconds of each phase.

    The task every point is: run in this process for a serial scan, or on a
    Dask worker.  Raises what pyhf raises (a failed fit raises
    ``FailedMinimization``); the caller retries and records it.
    """

    state, setup = _process_state(settings)
    rt = state.rt
    clock = time.perf_counter
    wall = time.time  # JAX stamps its compilation spans with time.time()

    cpu0 = time.process_time()
    t0 = clock()
    lk = _patched(state, patch)
    t1, w1 = clock(), wall()
    problem = Problem.from_likelihood(rt, lk)
    t2, w2 = clock(), wall()
    cls_obs, cls_exp = problem.hypotest()
    t3, w3 = clock(), wall()
    jit_build = jit_fit = 0.0
    if settings.backend == "jax":
        jit_build = _COMPILE_CLOCK.seconds(w1, w2)
        jit_fit = _COMPILE_CLOCK.seconds(w2, w3)
    seconds = {
        "setup": setup,
        "load": t1 - t0,
        "build": max(t2 - t1 - jit_build, 0.0),
        "jit": jit_build + jit_fit,
        "fit": max(t3 - t2 - jit_fit, 0.0),
    }
    seconds["total"] = setup + (t3 - t0)
    result = {
        # CPU seconds of this process (all its threads) for load to fit: beside the wall
        # seconds, it shows how much of a point's time other processes on the machine took.
        "cpu_seconds": time.process_time() - cpu0,
        "patch": patch,
        "cls_obs": as_float(cls_obs),
        "cls_exp": [as_float(x) for x in cls_exp],
        "seconds": seconds,
        "worker": _worker_name(),
        "pyhf": rt.pyhf_version,
    }
    if settings.backend == "jax":
        _release_compiled_models()
    return result


def _release_compiled_models() -> None:
    """Drop the executables JAX compiled for this point's model once the point is done.

    pyhf's JAX optimizer jits its objective with the model as a static
    argument, so every point compiles anew and the jitted function's cache
    keeps that model's executable, and the memory maps behind it, for the
    life of the process: about 370 maps per sbottom point.  A serial scan of
    the 217-point sbottom RegionA grid reached the kernel's
    ``vm.max_map_count`` (65530) near its 190th point and died ("LLVM
    compilation error: Cannot allocate memory", then SIGSEGV).  Only those
    two functions' caches are cleared: no later point has the same model.
    ``jax.clear_caches()`` would also drop the shape-keyed helpers every
    point reuses, and made a point's compile time 4x longer (2.3 -> 10 s).
    """
    try:
        from pyhf.optimize import opt_jax
    except ImportError:  # a pyhf without the JAX optimizer shim compiles nothing per model here
        return
    for name in ("_jitted_objective_and_grad", "_jitted_objective"):
        clear = getattr(getattr(opt_jax, name, None), "clear_cache", None)
        if clear is not None:
            clear()

