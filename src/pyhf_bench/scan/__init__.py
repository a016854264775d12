"""Whole signal grids: CLs at mu=1 for every signal patch of a likelihood, serially or on Dask.

One code path serves ``pyhf-bench scan`` and ``benchmarks/grid_scans.py``:
:func:`run_scan` sends every point through :func:`point_task`, either in this
process (``workers=0``) or as tasks on a ``dask.distributed`` cluster (a
``LocalCluster`` of single-threaded worker processes, or any scheduler address:
dask-jobqueue, dask-kubernetes ...).  A point is what a reinterpretation
computes: apply the signal patch to the background-only workspace, build the
``pyhf.Model``, and run the asymptotic qtilde hypotest at mu=1 with the
expected band (``inference.Problem.hypotest``).

Each process (this one, or each Dask worker) activates the backend and reads
the background-only workspace **once** (:class:`_ProcessState`, keyed by the
scan settings); every point then only reads its hash-checked patch and applies
it to a copy.  Per point the seconds are split into

* ``load``: reading and hash-checking the patch, applying it (``jsonpatch`` copies the workspace);
* ``build``: ``Problem.from_likelihood`` (``pyhf.Model`` with schema validation, data tensors);
* ``jit``: compilation -- for JAX the union of the time spans of JAX's own
  compilation events (``/jax/core/compile/*``: tracing, lowering to MLIR, XLA
  compile or persistent-cache read) during build and hypotest; pyhf's JAX
  optimizer jits its objective with the model as a static argument, so every
  new model compiles again.  numpy, PyTorch and TensorFlow run eagerly: 0;
* ``fit``: the rest of the hypotest (four fits: free and mu=1 on data and Asimov data).

``setup`` (activating the backend, reading the background-only workspace) is
counted once per process, on the point that paid it.

A point that raises (e.g. pyhf's ``FailedMinimization``) or whose worker dies is
retried once, then recorded as failed with its error; it never stops the rest
of the grid.

Only the standard library is imported at module level (asv imports benchmark
modules under every pyhf version); pyhf, dask and matplotlib inside functions.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import fnmatch
import io
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file

#: CLs threshold of a 95% CL exclusion.
EXCLUSION_CLS = 0.05
#: Seconds to wait for a user-given Dask scheduler before giving up.
CONNECT_TIMEOUT = 10.0
#: Attempts per point: the first, and one retry (a flaky worker, a lost worker).
ATTEMPTS = 2
#: Parts of a point's time, in the order they happen.
PHASES = ("setup", "load", "build", "jit", "fit")

#: Mass axes of the built-in grids whose patch names end in the masses (GeV).
#: Patchsets name their axes themselves (``metadata.labels``).
MASS_AXES = {
    "sbottom": ("m_sbottom", "m_chi02", "m_chi01"),  # sbottom_<m(b1)>_<m(chi2_0)>_<m(chi1_0)>
    "1Lbb": ("m_chi1pm_chi02", "m_chi01"),  # C1N2_Wh_hbb_<m(chi1+-/chi2_0)>_<m(chi1_0)>
}
#: How an axis is written on the plot (matplotlib mathtext), by axis name.
AXIS_TEX = {
    "m_sbottom": r"m(\tilde{b}_1)",
    "m_chi02": r"m(\tilde{\chi}^0_2)",
    "mn2": r"m(\tilde{\chi}^0_2)",
    "m_chi01": r"m(\tilde{\chi}^0_1)",
    "mn1": r"m(\tilde{\chi}^0_1)",
    "m_chi1pm_chi02": r"m(\tilde{\chi}^\pm_1/\tilde{\chi}^0_2)",
}


# --------------------------------------------------------------------------- what to scan


@dataclass(frozen=True)
class ScanSettings:
    """Everything a worker needs to compute a point; plain data, sent with every task."""

    name: str
    region: str
    backend: str = "numpy"
    device: str = "cpu"
    precision: str = "64b"
    optimizer: str = "scipy"
    #: The client's PYHF_BENCH_DATA / PYHF_BENCH_REGISTRY, so workers read the same files
    #: (a LocalCluster inherits them anyway; remote workers need a shared filesystem).
    data_dir: str | None = None
    registry: str | None = None
    #: Whether JAX may reuse compiled models from its persistent disk cache
    #: (``support``; ``PYHF_BENCH_JAX_CACHE``).  The benchmarks turn it off: every
    #: grid point is a new model whose compilation is part of the point, and with the
    #: cache on a scan of a grid scanned before (another worker count, the other commit
    #: of ``asv continuous``) would time cache reads instead.
    compile_cache: bool = True

    @classmethod
    def create(cls, name, region=None, backend="numpy", device="cpu", precision="64b", optimizer="scipy",
               compile_cache=True):
        from pyhf_bench import likelihoods
        from pyhf_bench.core.support import check_choice

        for kind, value in (("backend", backend), ("device", device), ("precision", precision), ("optimizer", optimizer)):
            check_choice(kind, value)
        region, _ = likelihoods.entry(name).region(region)
        return cls(
            name, region, backend, device, precision, optimizer,
            data_dir=os.environ.get("PYHF_BENCH_DATA"), registry=os.environ.get("PYHF_BENCH_REGISTRY"),
            compile_cache=compile_cache,
        )

    @property
    def key(self) -> str:
        return f"{self.name}/{self.region}"


def select_patches(names: list[str], subset: str | None) -> list[str]:
    """The patches *subset* names, in grid order: None (all), ``first:N``, or comma-separated names / glob patterns."""
    if not names:
        raise UserError("this region has no signal patches (it is background-only): there is no grid to scan")
    if subset is None or subset.strip() == "":
        return list(names)
    subset = subset.strip()
    if subset.startswith("first:"):
        count = subset[len("first:"):]
        if not count.isdigit() or int(count) < 1:
            raise UserError(f"--patches {subset!r}: 'first:N' needs a positive whole number N")
        return list(names[: int(count)])
    chosen: set[str] = set()
    for item in (part.strip() for part in subset.split(",")):
        if not item:
            continue
        matched = fnmatch.filter(names, item) if any(c in item for c in "*?[") else [n for n in names if n == item]
        if not matched:
            shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
            raise UserError(f"--patches: {item!r} matches no patch of this region; patches are: {shown}")
        chosen.update(matched)
    return [n for n in names if n in chosen]


def grid_patches(name: str, region: str | None, subset: str | None = None) -> list[str]:
    from pyhf_bench import likelihoods

    return select_patches(likelihoods.patch_names(name, region), subset)


def mass_points(name: str, region: str | None, patches: list[str]) -> tuple[list[str], dict[str, list[float]]]:
    """(axis names, {patch: masses}) from patchset metadata, else from the numbers that end each patch name.

    A patch whose name ends in no numbers gets no masses: it is kept in the
    tables under its name, and left out of the plot.
    """
    from pyhf_bench import likelihoods

    e = likelihoods.entry(name)
    region, spec = e.region(region)
    masses: dict[str, list[float]] = {}
    axes: list[str] = list(MASS_AXES.get(name, ()))
    if "patchset" in spec:
        raw = likelihoods.read_json(e, spec["patchset"])
        axes = list(raw.get("metadata", {}).get("labels") or axes)
        for patch in raw.get("patches", []):
            values = patch.get("metadata", {}).get("values")
            if isinstance(values, list) and values and all(isinstance(v, (int, float)) for v in values):
                masses[patch["metadata"]["name"]] = [float(v) for v in values]
    for patch in patches:
        if patch in masses:
            continue
        tail = []
        for token in reversed(patch.split("_")):
            if not re.fullmatch(r"\d+(p\d+)?", token):  # 3L eRJR style: 500p0 = 500.0
                break
            tail.insert(0, float(token.replace("p", ".")))
        if tail:
            masses[patch] = tail
    width = max((len(masses[p]) for p in patches if p in masses), default=0)
    axes = (axes + [f"m{i + 1}" for i in range(len(axes), width)])[:width]
    return axes, {p: masses[p] for p in patches if p in masses and len(masses[p]) == width}


# --------------------------------------------------------------------------- one point


class _CompileClock:
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


_COMPILE_CLOCK = _CompileClock()


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
        from pyhf_bench import likelihoods
        from pyhf_bench.likelihoods.inference import activate_for as _activate_for

        _single_threaded_blas()
        base = likelihoods.load(settings.name, settings.region, likelihoods.BKGONLY)
        if _STATES and any(s.backend != settings.backend or s.precision != settings.precision for s in _STATES):
            _STATES.clear()  # pyhf's backend is process-global: one active runtime per process
        rt = _activate_for(base, settings.backend, settings.device, settings.precision, settings.optimizer)
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
    from pyhf_bench import likelihoods

    spec = likelihoods._apply_patch(state.entry, state.settings.region, state.region_spec, state.base.spec, patch)
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
    from pyhf_bench.likelihoods.inference import Problem, as_float

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


# --------------------------------------------------------------------------- the scan


@dataclass
class Point:
    patch: str
    masses: list[float] | None
    status: str  # "ok", "failed", or "pending" (not finished yet, in a checkpoint)
    cls_obs: float | None = None
    cls_exp: list[float] | None = None  # -2, -1, 0, +1, +2 sigma
    seconds: dict = field(default_factory=dict)
    attempts: int = 0
    worker: str | None = None
    cpu_seconds: float | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class ScanResult:
    settings: ScanSettings
    analysis: str
    axes: list[str]
    points: list[Point]
    mode: str  # "serial", "LocalCluster(N)" or the scheduler address
    workers: int
    wall_seconds: float  # first task submitted to last result in (cluster start-up excluded)
    cluster_seconds: float  # starting the LocalCluster or connecting to the scheduler
    pyhf: str | None

    @property
    def failed(self) -> list[Point]:
        return [p for p in self.points if p.status == "failed"]

    @property
    def done(self) -> list[Point]:
        return [p for p in self.points if p.status == "ok"]

    @property
    def throughput(self) -> float:
        """Successful points per second of wall time."""
        return len(self.done) / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def totals(self) -> dict:
        """Seconds per phase summed over the points (across workers: CPU-side work, not wall time)."""
        totals = {phase: 0.0 for phase in (*PHASES, "total")}
        for point in self.points:
            for phase, value in point.seconds.items():
                totals[phase] += value
        return totals

    def to_json(self) -> dict:
        return {
            "likelihood": self.settings.key,
            "analysis": self.analysis,
            "backend": self.settings.backend,
            "device": self.settings.device,
            "precision": self.settings.precision,
            "optimizer": self.settings.optimizer,
            "pyhf": self.pyhf,
            "test_statistic": "qtilde",
            "poi": 1.0,
            "calculator": "asymptotic",
            "mode": self.mode,
            "workers": self.workers,
            "points_total": len(self.points),
            "points_failed": [p.patch for p in self.failed],
            "points_pending": [p.patch for p in self.points if p.status == "pending"],
            "wall_seconds": self.wall_seconds,
            "cluster_seconds": self.cluster_seconds,
            "throughput_points_per_second": self.throughput,
            "seconds_by_phase": self.totals(),
            "cpu_seconds": sum(p.cpu_seconds or 0.0 for p in self.points),
            "mass_axes": self.axes,
            "points": [asdict(p) for p in self.points],
        }


class _Progress:
    """A tqdm bar on stderr (or nothing), advanced once per finished point."""

    def __init__(self, total: int, enabled: bool, label: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, unit="point", desc=label, dynamic_ncols=True)

    def advance(self, failed: int) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if failed:
                self.bar.set_postfix(failed=failed)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _describe(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _record(point: Point, outcome: dict) -> None:
    point.status = "ok"
    point.cls_obs = outcome["cls_obs"]
    point.cls_exp = outcome["cls_exp"]
    point.seconds = outcome["seconds"]
    point.worker = outcome["worker"]
    point.cpu_seconds = outcome["cpu_seconds"]


def _scan_serial(settings: ScanSettings, points: dict[str, Point], progress: _Progress, on_point) -> None:
    failed = 0
    for patch, point in points.items():
        while point.attempts < ATTEMPTS:
            point.attempts += 1
            try:
                _record(point, point_task(settings, patch))
                break
            except UserError:
                raise  # bad input (unknown backend here, missing files) is not a failing point
            except Exception as exc:  # noqa: BLE001 - any failure of one point is recorded, never fatal
                point.errors.append(_describe(exc))
        if point.status != "ok":
            point.status = "failed"
            failed += 1
        progress.advance(failed)
        on_point()


def _scan_dask(client, settings: ScanSettings, points: dict[str, Point], progress: _Progress, on_point) -> None:
    from distributed import as_completed

    def submit(patch: str):
        points[patch].attempts += 1
        # pure=False: a retry must run again, not reuse the failed result.
        return client.submit(point_task, settings, patch, pure=False, key=f"pyhf-bench-scan-{patch}-{os.urandom(4).hex()}")

    futures = {}
    for patch in points:
        futures[submit(patch)] = patch
    failed = 0
    pending = as_completed(list(futures), loop=client.loop)
    for future in pending:
        patch = futures.pop(future)
        point = points[patch]
        if future.status == "finished":
            _record(point, future.result())
        else:
            # An exception in the task, or the worker died (KilledWorker): retry once elsewhere.
            try:
                exc = future.exception()
            except Exception as lost:  # noqa: BLE001 - e.g. CancelledError when the scheduler drops it
                exc = lost
            if isinstance(exc, UserError):
                raise exc
            point.errors.append(_describe(exc))
            if point.attempts < ATTEMPTS:
                retry = submit(patch)
                futures[retry] = patch
                pending.add(retry)
                continue
            point.status = "failed"
            failed += 1
        future.release()
        progress.advance(failed)
        on_point()


def require_distributed():
    """dask.distributed's ``Client`` and ``LocalCluster``, or the UserError that says how to install them."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise UserError(f"distributed scans need dask.distributed ({exc}); pip install 'pyhf-bench[scan]'") from None
    return Client, LocalCluster


@contextlib.contextmanager
def dask_client(workers: int = 0, scheduler: str | None = None, connect_timeout: float = CONNECT_TIMEOUT):
    """A ``distributed.Client``: on a new LocalCluster of *workers* single-threaded processes, or at *scheduler*.

    A scheduler that cannot be reached within *connect_timeout* seconds is one UserError.
    """
    if scheduler is not None and workers:
        raise UserError("give --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both")
    Client, LocalCluster = require_distributed()
    import logging

    if scheduler is not None:
        if not re.match(r"^[a-z][a-z0-9+]*://[^/\s]+$", scheduler) and not re.match(r"^[^\s/:]+:\d+$", scheduler):
            raise UserError(f"--scheduler {scheduler!r} is not a scheduler address like tcp://host:8786")
        try:
            client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserError(
                f"cannot connect to the Dask scheduler at {scheduler} within {connect_timeout:g} s "
                f"({_describe(exc)}); check the address and that the scheduler is running"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise UserError(f"--workers must be at least 1 for a Dask scan (0 is the serial scan), not {workers}")
    import dask

    # Workers get this process's allocator: Dask's nanny otherwise starts them with
    # MALLOC_TRIM_THRESHOLD_=65536 (to hand memory back to the OS sooner), and glibc then
    # trims after every large temporary numpy frees.  Measured on 1Lbb, numpy 64b, one
    # core, the same three points in one process: 19.4 s per point with it against 12.1 s
    # without; the one-worker scan took 2.2x the serial one and GridScaling timed the
    # allocator, not the distribution.  Without it, four points: 15.4 s per point on one
    # worker, 15.1 s serial.
    # None drops the variable from what the nanny sets (and writes into os.environ here).
    # Any free port for the dashboard: several scans (and other users) may share the machine.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        )
    try:
        with Client(cluster, set_as_default=False) as client:
            yield client
    finally:
        cluster.close()


def run_scan(
    settings: ScanSettings,
    patches: list[str],
    workers: int = 0,
    scheduler: str | None = None,
    client=None,
    progress: bool = False,
    connect_timeout: float = CONNECT_TIMEOUT,
    checkpoint=None,
    checkpoint_seconds: float = 60.0,
) -> ScanResult:
    """Scan *patches*: serially (``workers=0``, no *scheduler*), on a new LocalCluster, at *scheduler*, or on *client*.

    *checkpoint*, if given, is called with the result so far (unfinished points
    ``pending``) at most every *checkpoint_seconds*: a long grid that is
    interrupted keeps the points it finished.
    """
    from pyhf_bench import likelihoods

    if not patches:
        raise UserError("no patches to scan")
    axes, masses = mass_points(settings.name, settings.region, patches)
    points = {p: Point(patch=p, masses=masses.get(p), status="pending") for p in patches}
    common = dict(settings=settings, points=points, axes=axes, analysis=likelihoods.entry(settings.name).analysis,
                  workers=workers, scheduler=scheduler, progress=progress,
                  checkpoint=checkpoint, checkpoint_seconds=checkpoint_seconds)
    if client is None and (workers or scheduler):
        start = time.perf_counter()
        with dask_client(workers, scheduler, connect_timeout) as new_client:
            return _run(client=new_client, cluster_seconds=time.perf_counter() - start, **common)
    return _run(client=client, cluster_seconds=0.0, **common)


def _run(settings, points, axes, analysis, client, workers, scheduler, cluster_seconds, progress,
         checkpoint, checkpoint_seconds) -> ScanResult:
    if client is None:
        mode, n_workers = "serial", 0
    else:
        n_workers = len(client.scheduler_info()["workers"]) if scheduler else workers
        mode = scheduler or f"LocalCluster({n_workers})"
    pyhf_version = None
    with contextlib.suppress(ImportError):
        import pyhf

        pyhf_version = pyhf.__version__
    bar = _Progress(len(points), progress, f"{settings.key} {settings.backend} {mode}")
    start = time.perf_counter()
    last = [start]

    def snapshot() -> ScanResult:
        wall = time.perf_counter() - start
        return ScanResult(settings, analysis, axes, list(points.values()), mode, n_workers, wall, cluster_seconds, pyhf_version)

    def on_point() -> None:
        if checkpoint is not None and time.perf_counter() - last[0] >= checkpoint_seconds:
            checkpoint(snapshot())
            last[0] = time.perf_counter()

    try:
        if client is None:
            _scan_serial(settings, points, bar, on_point)
        else:
            _scan_dask(client, settings, points, bar, on_point)
    finally:
        bar.close()
    return snapshot()


def warm_up(settings: ScanSettings, patch: str, client=None) -> float:
    """Bring every process of a scan to steady state: backend active, workspace read, one point computed.

    On Dask, *patch* runs once on **every** worker (``Client.run``), so no
    worker pays its set-up inside a timed scan.  For the benchmarks; a real
    scan pays set-up once per worker and reports it as ``setup``.  Returns the
    slowest process's seconds for that point without its set-up: what a point
    of the scan costs (an upper bound: first calls fill caches).
    """
    if client is None:
        results = [point_task(settings, patch)]
    else:
        results = list(client.run(point_task, settings, patch).values())
    return max(r["seconds"]["total"] - r["seconds"]["setup"] for r in results)


# --------------------------------------------------------------------------- output


def result_from_json(data: dict) -> ScanResult:
    """A :class:`ScanResult` from the ``points.json`` that :func:`write_outputs` wrote (to re-plot or compare)."""
    name, _, region = data["likelihood"].partition("/")
    settings = ScanSettings(name, region, data["backend"], data["device"], data["precision"], data["optimizer"])
    points = [Point(**point) for point in data["points"]]
    return ScanResult(
        settings, data["analysis"], list(data["mass_axes"]), points, data["mode"], data["workers"],
        data["wall_seconds"], data["cluster_seconds"], data["pyhf"],
    )


def csv_text(result: ScanResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    band = ["cls_exp_minus2", "cls_exp_minus1", "cls_exp_median", "cls_exp_plus1", "cls_exp_plus2"]
    phases = [f"seconds_{p}" for p in PHASES]
    writer.writerow(["patch", *result.axes, "cls_obs", *band, *phases, "seconds_total", "cpu_seconds", "status", "attempts", "worker", "error"])
    for p in result.points:
        masses = p.masses if p.masses is not None else [""] * len(result.axes)
        values = [repr(x) for x in p.cls_exp] if p.cls_exp else [""] * 5
        seconds = [repr(p.seconds.get(phase, 0.0)) if p.seconds else "" for phase in PHASES]
        total = repr(p.seconds["total"]) if p.seconds else ""
        obs = repr(p.cls_obs) if p.cls_obs is not None else ""
        error = p.errors[-1] if p.errors else ""
        cpu = repr(p.cpu_seconds) if p.cpu_seconds is not None else ""
        writer.writerow([p.patch, *[f"{m:g}" if m != "" else "" for m in masses], obs, *values, *seconds, total, cpu,
                         p.status, p.attempts, p.worker or "", error])
    return out.getvalue()


def plot_slice(result: ScanResult) -> tuple[list[Point], str]:
    """The points drawn in the plane of the first two mass axes, and what the other masses are fixed to.

    Beyond two mass axes (sbottom: m(chi1_0)) a plane needs the others held
    fixed: the most common value of the rest is taken (sbottom RegionA:
    m(chi1_0) = 60 GeV, the benchmark grid of the paper's main figure).
    """
    usable = [p for p in result.points if p.masses is not None and p.status == "ok"]
    if len(result.axes) <= 2:
        return usable, ""
    rest = Counter(tuple(p.masses[2:]) for p in usable)
    if not rest:
        return [], ""
    fixed, _ = rest.most_common(1)[0]
    chosen = [p for p in usable if tuple(p.masses[2:]) == fixed]
    text = ", ".join(f"${AXIS_TEX.get(a, a)}$ = {v:g} GeV" for a, v in zip(result.axes[2:], fixed))
    return chosen, text


def plot_problem(result: ScanResult) -> str | None:
    """Why no contour can be drawn for *result* (None: it can)."""
    points, _ = plot_slice(result)
    if len(result.axes) < 2:
        return "the points have no two mass axes"
    if len({p.masses[0] for p in points}) < 2 or len({p.masses[1] for p in points}) < 2 or len(points) < 3:
        return f"the {len(points)} successful point(s) in the plane do not span it (they lie on a line)"
    return None


def plot_contour(result: ScanResult, path: Path) -> dict:
    """The mass plane with the observed and expected CLs = 0.05 contours and the expected +-1 sigma band, as PNG.

    Returns how many line segments each contour has (0: the grid never crosses CLs = 0.05 there).
    """
    import math

    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.tri as mtri
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    problem = plot_problem(result)
    if problem is not None:
        raise UserError(f"cannot draw a contour: {problem}")
    points, fixed_text = plot_slice(result)
    axes = result.axes
    x = [p.masses[0] for p in points]
    y = [p.masses[1] for p in points]
    level = math.log10(EXCLUSION_CLS)

    def log_cls(values):
        # CLs falls roughly exponentially across the plane: interpolate its logarithm.
        return [math.log10(max(v, 1e-12)) for v in values]

    obs = log_cls(p.cls_obs for p in points)
    median = log_cls(p.cls_exp[2] for p in points)
    minus1 = log_cls(p.cls_exp[1] for p in points)
    plus1 = log_cls(p.cls_exp[3] for p in points)
    tri = mtri.Triangulation(x, y)
    # Inside the +-1 sigma band the -1 sigma CLs is below 0.05 and the +1 sigma CLs above:
    # max(minus1 - level, level - plus1) < 0 exactly there.  Both are interpolated linearly
    # on the triangulation first, then combined on a fine regular grid, so the band's edges
    # are the +-1 sigma contours themselves.
    grid_x, grid_y = np.meshgrid(np.linspace(min(x), max(x), 300), np.linspace(min(y), max(y), 300))
    low = mtri.LinearTriInterpolator(tri, minus1)(grid_x, grid_y)
    high = mtri.LinearTriInterpolator(tri, plus1)(grid_x, grid_y)
    band = np.ma.maximum(low - level, level - high)

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    drawn = {"observed": 0, "expected": 0, "band": 0}
    if band.count() and band.min() < 0:
        filled = ax.contourf(grid_x, grid_y, band, levels=[band.min() - 1.0, 0.0], colors=["#f5d800"], alpha=0.6)
        drawn["band"] = len(filled.allsegs[0])
    expected = ax.tricontour(tri, median, levels=[level], colors="black", linestyles="dashed", linewidths=1.5)
    observed = ax.tricontour(tri, obs, levels=[level], colors="#c40000", linestyles="solid", linewidths=2.0)
    drawn["expected"], drawn["observed"] = len(expected.allsegs[0]), len(observed.allsegs[0])
    ax.scatter(x, y, s=6, c="0.55", zorder=3, linewidths=0)
    failed = [p for p in result.failed if p.masses is not None]
    if failed:
        ax.scatter([p.masses[0] for p in failed], [p.masses[1] for p in failed], marker="x", c="red", zorder=4)
    pad_x, pad_y = 0.03 * (max(x) - min(x)), 0.03 * (max(y) - min(y))  # keep edge points whole
    ax.set_xlim(min(x) - pad_x, max(x) + pad_x)
    ax.set_ylim(min(y) - pad_y, max(y) + pad_y)
    ax.set_xlabel(f"${AXIS_TEX.get(axes[0], axes[0])}$ [GeV]")
    ax.set_ylabel(f"${AXIS_TEX.get(axes[1], axes[1])}$ [GeV]")
    s = result.settings
    ax.set_title(f"{result.analysis}\n{s.region}" + (f", {fixed_text}" if fixed_text else ""), fontsize=9)
    handles = [
        Line2D([], [], color="#c40000", lw=2.0, label="Observed CL$_s$ = 0.05"),
        Line2D([], [], color="black", ls="dashed", lw=1.5, label="Expected CL$_s$ = 0.05"),
        Patch(facecolor="#f5d800", alpha=0.6, label=r"Expected $\pm 1\sigma$"),
        Line2D([], [], ls="", marker="o", ms=3, color="0.55", label=f"signal points ({len(points)})"),
    ]
    if failed:
        handles.append(Line2D([], [], ls="", marker="x", color="red", label=f"failed ({len(failed)})"))
    footnote = f"pyhf {result.pyhf}, {s.backend} {s.precision}, asymptotic $\\tilde{{q}}_\\mu$ at $\\mu$ = 1"
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False, title=footnote, title_fontsize=7,
              alignment="left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    with atomic_file(path, "wb") as out:
        out.write(buffer.getvalue())
    return drawn


def write_outputs(result: ScanResult, out_dir: Path, plot: bool = True) -> dict[str, Path]:
    """``points.json``, ``points.csv`` and ``contour.png`` in *out_dir*, each written atomically."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the output folder {out_dir} ({exc}); choose another --out") from None
    paths = {"json": out_dir / "points.json", "csv": out_dir / "points.csv"}
    with atomic_file(paths["json"]) as out:
        out.write(json.dumps(result.to_json(), indent=1) + "\n")
    with atomic_file(paths["csv"]) as out:
        out.write(csv_text(result))
    if plot:
        paths["png"] = out_dir / "contour.png"
        plot_contour(result, paths["png"])
    return paths


# --------------------------------------------------------------------------- CLI


def _check_out(out: str) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise UserError(f"--out {out}: {probe} is not writable")
    return path


def _cmd_scan(args) -> int:
    if args.workers < 0:
        raise UserError(f"--workers must be 0 (serial) or more, not {args.workers}")
    out = _check_out(args.out)
    settings = ScanSettings.create(args.name, args.region, args.backend, args.device, args.precision, args.optimizer)
    patches = grid_patches(settings.name, settings.region, args.patches)
    result = run_scan(
        settings, patches, workers=args.workers, scheduler=args.scheduler,
        progress=not args.no_progress, connect_timeout=args.connect_timeout,
        # The tables so far, rewritten whole every minute: an interrupted grid keeps its finished points.
        checkpoint=lambda partial: write_outputs(partial, out, plot=False),
    )
    problem = plot_problem(result)
    paths = write_outputs(result, out, plot=problem is None)
    if problem is not None:
        print(f"pyhf-bench: no contour plot: {problem}", file=sys.stderr)
    totals = result.totals()
    summary = {
        "likelihood": settings.key,
        "mode": result.mode,
        "points": len(result.points),
        "failed": [p.patch for p in result.failed],
        "wall_seconds": round(result.wall_seconds, 2),
        "cluster_seconds": round(result.cluster_seconds, 2),
        "throughput_points_per_second": round(result.throughput, 4),
        "seconds_by_phase": {k: round(v, 2) for k, v in totals.items()},
        "cpu_seconds": round(sum(p.cpu_seconds or 0.0 for p in result.points), 2),
        "files": {k: str(v) for k, v in paths.items()},
    }
    print(json.dumps(summary, indent=1))
    for point in result.failed:
        print(f"pyhf-bench: point {point.patch} failed after {point.attempts} attempts: {point.errors[-1]}", file=sys.stderr)
    return 1 if result.failed else 0


def add_parser(sub) -> None:
    from pyhf_bench.core.support import BACKENDS, DEVICES, OPTIMIZERS, PRECISIONS

    text = "CLs at mu=1 with the expected band for every signal patch of a grid, serially or on Dask, with the contour plot"
    p = sub.add_parser("scan", help=text, description=text + ".")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--region", help="region (default: the first one)")
    p.add_argument(
        "--patches", metavar="SUBSET",
        help="comma-separated patch names or glob patterns ('sbottom_1[0-2]*'), or first:N (default: all)",
    )
    p.add_argument("--backend", default="numpy", choices=BACKENDS)
    p.add_argument("--device", default="cpu", choices=DEVICES)
    p.add_argument("--precision", default="64b", choices=PRECISIONS)
    p.add_argument("--optimizer", default="scipy", choices=OPTIMIZERS)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=0, metavar="N",
                       help="Dask LocalCluster of N single-threaded worker processes (default 0: serial, in this process)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="an existing Dask scheduler, e.g. tcp://host:8786 (dask-jobqueue, dask-kubernetes ...)")
    p.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT, metavar="SECONDS",
                   help=f"how long to wait for --scheduler (default {CONNECT_TIMEOUT:g})")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for points.json, points.csv and contour.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_cmd_scan)
