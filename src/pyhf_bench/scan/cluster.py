"""Scans on dask.distributed: a LocalCluster of single-threaded workers, or any scheduler address.

dask and distributed are imported inside the functions: they are optional
(``pip install 'pyhf-bench[scan]'``) and heavy.
"""

from __future__ import annotations

import contextlib
import os
import re

from pyhf_bench import UserError
from pyhf_bench.scan.point import point_task
from pyhf_bench.scan.results import Point, describe_error, record_outcome
from pyhf_bench.scan.settings import ATTEMPTS, CONNECT_TIMEOUT, ScanSettings


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
                f"({describe_error(exc)}); check the address and that the scheduler is running"
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



def scan_on_dask(client, settings: ScanSettings, points: dict[str, Point], progress, on_point) -> None:
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
            record_outcome(point, future.result())
        else:
            # An exception in the task, or the worker died (KilledWorker): retry once elsewhere.
            try:
                exc = future.exception()
            except Exception as lost:  # noqa: BLE001 - e.g. CancelledError when the scheduler drops it
                exc = lost
            if isinstance(exc, UserError):
                raise exc
            point.errors.append(describe_error(exc))
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
