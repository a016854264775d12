"""Whole signal grids: CLs at mu=1 for every signal patch, serially and on a Dask LocalCluster.

What a reinterpretation or a limit-setting campaign runs: for every point of
a published grid, patch the background-only workspace, build the model and
run the asymptotic hypotest with the expected band (``pyhf_bench.scan``, the
code behind ``pyhf-bench scan``).  Model building is part of every point.

Axes: ``grid`` (a likelihood region, optionally a subset of its patches as
``name/region[SUBSET]``) x backend x device x precision x ``workers`` (0: in
the benchmark process; N: a LocalCluster of N single-threaded worker
processes).  ``setup`` starts the cluster and computes one point on every
worker, so backend activation, reading the background-only workspace and
first-call compilation are never timed; JAX still compiles pyhf's objective
for every new model, and that is part of each point, as in a real scan: the
persistent compilation cache is off here, or a grid scanned before would be
timed as cache reads.

Quick tier: four sbottom RegionA points, numpy and jax on the CPU at 64b,
serial and on two workers.  Full tier: every grid, device, precision and
worker count (worker counts above the machine's cores skip).
"""

import os

from pyhf_bench import UserError
from pyhf_bench.core.axes import BACKENDS, DEVICES, GRID_WORKERS, PRECISIONS, WHOLE_GRIDS, check_runnable
from pyhf_bench.core.benchmark import BackendBenchmark
from pyhf_bench.core.budgets import TIMEOUT_SHARE, duration, require_time_budget
from pyhf_bench.core.runtime import skip_32b_failure
from pyhf_bench.core.skip import Skip
from pyhf_bench.core.tiers import in_quick_tier, require_tier

#: A grid is ``name/region`` (every patch) or ``name/region[SUBSET]`` (the CLI's --patches syntax).
QUICK_GRID = "sbottom/RegionA[first:4]"
GRIDS = [QUICK_GRID, *WHOLE_GRIDS]
WORKERS = list(GRID_WORKERS)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _split_grid(grid: str) -> tuple[str, str, str | None]:
    key, _, subset = grid.partition("[")
    name, _, region = key.partition("/")
    return name, region, subset.rstrip("]") or None


class _GridBenchmark(BackendBenchmark):
    params = [GRIDS, list(BACKENDS), list(DEVICES), list(PRECISIONS), WORKERS]
    param_names = ["grid", "backend", "device", "precision", "workers"]
    # Beyond pyhf: not in the era environments, so `pyhf-bench run` leaves these out there.
    requires = ("dask", "distributed")
    quick = {
        "grid": (QUICK_GRID,),
        "backend": ("numpy", "jax"),
        "device": ("cpu",),
        "precision": ("64b",),
        "workers": (0, 2),
    }
    # One scan per sample: a whole numpy grid takes minutes to tens of minutes.  One round,
    # and one sample once a scan outlasts 300 s (asv's min_run_count defaults to 2): setup
    # has warmed up every process, so further whole-grid scans would only repeat minutes of
    # work (asv's defaults made it 4 scans per combination). The quick subset still takes 3.
    number = 1
    repeat = (1, 3, 300.0)
    rounds = 1
    min_run_count = 1
    timeout = 4 * 3600

    def prepare_grid(self, grid, backend, device, precision, workers):
        """The grid's settings and patches, or the Skip that names why it cannot run; starts no process."""
        from pyhf_bench import scan

        params = dict(grid=grid, backend=backend, device=device, precision=precision, workers=workers)
        require_tier(in_quick_tier(self.quick, params), f"{type(self).__name__} with " + ", ".join(f"{k}={v}" for k, v in params.items()))
        if workers > _cores():
            raise Skip(f"{workers} workers need {workers} cores; this machine has {_cores()}")
        # The cheap reasons first, before any framework or cluster starts.
        check_runnable(backend, device, precision)
        name, region, subset = _split_grid(grid)
        try:
            # No persistent JAX cache: each point's compile is part of the scan, whatever ran before.
            self.settings = scan.ScanSettings.create(name, region, backend, device, precision, compile_cache=False)
            self.patches = scan.grid_patches(name, region, subset)
        except UserError as exc:  # e.g. the likelihood's files are not fetched here
            raise Skip(f"cannot scan {grid}: {exc}") from None
        if workers:
            # Before any scan: GridScaling's serial reference would otherwise run in full
            # in an environment (asv's era ones) that then cannot start the cluster.
            try:
                scan.require_distributed()
            except UserError as exc:
                raise Skip(str(exc)) from None
        self.grid = grid
        self.workers = workers
        self.client = None
        self._cluster = None

    def start_workers(self):
        """Start the cluster (if any) and compute the first point on every process that will scan."""
        from pyhf_bench import scan

        try:
            if self.workers:
                self._cluster = scan.dask_client(workers=self.workers)
                self.client = self._cluster.__enter__()
            self.point_seconds = self.first_point(self.client)
        except UserError as exc:  # the cluster cannot start
            self.teardown()
            raise Skip(str(exc)) from None
        except Skip:
            self.teardown()
            raise

    def first_point(self, client=None) -> float:
        """The warm-up point (in this process, or on every worker of *client*): its seconds."""
        from pyhf_bench import scan

        s = self.settings
        try:
            # pytorch and TensorFlow at 32b fail pyhf's scipy fit (see skip_32b_failure): a skip, as in every other benchmark.
            with skip_32b_failure(s.backend, s.precision, s.optimizer, f"the first point of {self.grid}"):
                return scan.warm_up(s, self.patches[0], client)
        except UserError as exc:  # the combination cannot run here (on Dask: raised in a worker)
            raise Skip(str(exc)) from None

    def setup_grid(self, grid, backend, device, precision, workers):
        self.prepare_grid(grid, backend, device, precision, workers)
        self.start_workers()

    def require_budget(self, serial_point: float | None = None) -> None:
        """Skip a scan predicted to outrun the timeout: asv would kill it and record nothing.

        Predicted from the warm-up point: points x seconds per point / workers (plus
        a serial scan at *serial_point* seconds per point, for GridScaling's reference).
        A first point can be slower than the rest, so a second one is timed before skipping.
        """
        from pyhf_bench import scan

        def predict():
            return len(self.patches) * (self.point_seconds / max(self.workers, 1) + (serial_point or 0.0))

        if predict() > TIMEOUT_SHARE * self.timeout:
            self.point_seconds = min(self.point_seconds, scan.warm_up(self.settings, self.patches[0], self.client))
            if serial_point is not None:
                serial_point = min(serial_point, scan.warm_up(self.settings, self.patches[0]))
        per_point = f"{self.point_seconds:.1f} s per point" + (f" / {self.workers} workers" if self.workers else "")
        if serial_point is not None:
            per_point += f", plus the serial reference at {serial_point:.1f} s per point"
        predicted = predict()
        try:
            require_time_budget(
                predicted, self.timeout,
                f"scanning {len(self.patches)} points with {self.settings.backend} ({self.settings.precision}) "
                f"is predicted at {duration(predicted)} ({per_point})")
        except Skip:
            self.teardown()
            raise

    def teardown(self, *args):
        if getattr(self, "_cluster", None) is not None:
            self._cluster.__exit__(None, None, None)
            self._cluster = None

    def scan(self):
        import gc

        from pyhf_bench import scan

        # asv times time_ benchmarks with the garbage collector off, as timeit does. A real scan
        # runs with it on, and so does every Dask worker: on, a serial scan (workers=0) took 9-42 %
        # longer than off (five paired runs, 3L eRJR pytorch and jax), so with asv's default
        # GridScan's serial and Dask rows did not compare like for like. asv turns it on after, too.
        gc.enable()
        result = scan.run_scan(self.settings, self.patches, client=self.client, workers=self.workers)
        if result.failed:
            # A failed point is not a timing of the whole grid: report it rather than a number.
            raise RuntimeError(f"{len(result.failed)} point(s) failed: " + "; ".join(
                f"{p.patch}: {p.errors[-1]}" for p in result.failed))
        return result


class GridScan(_GridBenchmark):
    """The scan of a grid: its wall time.

    Throughput is the grid's points / this time (``pyhf-bench scan`` and the README
    report it in points/s).  It is not a second benchmark: asv runs every benchmark
    in a process of its own, so it would scan the whole grid again (up to an hour
    per combination here) for the same number, and asv reads every rise as a
    regression, which for points/s is the wrong way round.
    """

    def setup(self, grid, backend, device, precision, workers):
        self.setup_grid(grid, backend, device, precision, workers)
        self.require_budget()

    def time_scan(self, grid, backend, device, precision, workers):
        self.scan()


class GridScaling(_GridBenchmark):
    """Scaling efficiency on N workers: throughput(N) / (N x serial throughput), both measured here.

    The serial reference is a scan in this benchmark process, just before the
    cluster starts; 1.0 is perfect scaling.  Higher is better, which asv cannot
    be told (it marks every rise of a tracked number as a regression): read it on
    the dashboard; a real scaling regression also shows as a slower ``time_scan``.
    """

    params = [GRIDS, list(BACKENDS), list(DEVICES), list(PRECISIONS), [w for w in WORKERS if w]]
    # Quick: numpy only. On the 4-point quick grid a jax efficiency measures the cluster's
    # start and two processes compiling on two cores (0.42 here), not scaling; the full
    # tier's whole grids measure jax, and time_scan keeps jax's 0- and 2-worker scans.
    quick = {**_GridBenchmark.quick, "backend": ("numpy",), "workers": (2,)}
    repeat = 1

    def setup(self, grid, backend, device, precision, workers):
        from pyhf_bench import scan

        self.prepare_grid(grid, backend, device, precision, workers)
        # The serial reference first, in this process at steady state, before the cluster starts,
        # as GridScan's serial scan runs: with the scheduler and client in this process, a serial
        # scan took -2 to +17 % longer (four paired runs, 3L eRJR pytorch). Until the workers
        # have computed a point, the serial point predicts theirs.
        self.point_seconds = serial_point = self.first_point()
        self.require_budget(serial_point=serial_point)
        serial = scan.run_scan(self.settings, self.patches)
        if serial.failed:
            raise RuntimeError(f"the serial reference scan lost points: {[p.patch for p in serial.failed]}")
        self.serial_throughput = serial.throughput
        self.start_workers()

    def track_scaling_efficiency(self, grid, backend, device, precision, workers):
        return self.scan().throughput / (workers * self.serial_throughput)

    track_scaling_efficiency.unit = "throughput(N) / (N x serial)"
