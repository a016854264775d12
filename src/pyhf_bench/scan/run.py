"""Run a scan: every point through :func:`point_task`, serially or on Dask, with progress and checkpoints."""

from __future__ import annotations

import contextlib
import sys
import time

from pyhf_bench import UserError
from pyhf_bench import likelihoods
from pyhf_bench.scan.cluster import dask_client, scan_on_dask
from pyhf_bench.scan.point import point_task
from pyhf_bench.scan.results import Point, ScanResult, describe_error, record_outcome
from pyhf_bench.scan.settings import ATTEMPTS, CONNECT_TIMEOUT, ScanSettings, mass_points


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


def _scan_serial(settings: ScanSettings, points: dict[str, Point], progress: _Progress, on_point) -> None:
    failed = 0
    for patch, point in points.items():
        while point.attempts < ATTEMPTS:
            point.attempts += 1
            try:
                record_outcome(point, point_task(settings, patch))
                break
            except UserError:
                raise  # bad input (unknown backend here, missing files) is not a failing point
            except Exception as exc:  # noqa: BLE001 - any failure of one point is recorded, never fatal
                point.errors.append(describe_error(exc))
        if point.status != "ok":
            point.status = "failed"
            failed += 1
        progress.advance(failed)
        on_point()



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
            scan_on_dask(client, settings, points, bar, on_point)
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
