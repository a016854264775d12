"""``pyhf-bench scan``: argparse and printing for the grid scans of :mod:`pyhf_bench.scan`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.axes import BACKENDS, DEVICES, OPTIMIZERS, PRECISIONS
from pyhf_bench.scan import CONNECT_TIMEOUT, ScanSettings, grid_patches, plot_problem, run_scan, write_outputs


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


def add_parsers(sub) -> None:
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
