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

The modules: :mod:`.settings` (what to scan), :mod:`.point` (one point, the process
state), :mod:`.results`, :mod:`.cluster` (Dask), :mod:`.run`; the outputs (tables, plot) are here.
Every name below is importable as ``pyhf_bench.scan.<name>`` (the benchmarks use it so).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file
from pyhf_bench.scan.cluster import dask_client, require_distributed
from pyhf_bench.scan.point import CompileClock, point_task
from pyhf_bench.scan.results import Point, ScanResult
from pyhf_bench.scan.run import run_scan, warm_up
from pyhf_bench.scan.settings import (
    ATTEMPTS,
    AXIS_TEX,
    CONNECT_TIMEOUT,
    EXCLUSION_CLS,
    MASS_AXES,
    PHASES,
    ScanSettings,
    grid_patches,
    mass_points,
    select_patches,
)

__all__ = [
    "ATTEMPTS", "AXIS_TEX", "CONNECT_TIMEOUT", "EXCLUSION_CLS", "MASS_AXES", "PHASES", "CompileClock", "Point",
    "ScanResult", "ScanSettings", "csv_text", "dask_client", "grid_patches", "mass_points", "plot_contour",
    "plot_problem", "plot_slice", "point_task", "require_distributed", "result_from_json", "run_scan",
    "select_patches", "warm_up", "write_outputs",
]

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
    """The mass plane with the observed and expected CLs = 0.05 contours, the expected +-1 sigma band and the
    observed excluded side hatched, as PNG; the caption names the command that regenerates it.

    The Delaunay triangulation of the points spans their convex hull; where the
    grid's edge is concave (sbottom: no point above the diagonal) its border
    triangles are long and flat and interpolate across empty plane, which drew
    a +-1 sigma sliver along the edge. Those triangles are masked
    (``TriAnalyzer.get_flat_tri_mask``), so nothing is drawn outside the grid.

    Returns how many line segments each contour has (0: the grid never crosses CLs = 0.05 there),
    how many triangles were masked and the band's polygons (mass coordinates).
    """
    import math

    import matplotlib  # heavy: only when a plot is made

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.tri as mtri

    problem = plot_problem(result)
    if problem is not None:
        raise UserError(f"cannot draw a contour: {problem}")
    points, fixed_text = plot_slice(result)
    x = [p.masses[0] for p in points]
    y = [p.masses[1] for p in points]
    level = math.log10(EXCLUSION_CLS)

    def log_cls(values):
        # CLs falls roughly exponentially across the plane: interpolate its logarithm.
        return [math.log10(max(v, 1e-12)) for v in values]

    obs = log_cls(p.cls_obs for p in points)
    tri = mtri.Triangulation(x, y)
    flat = _outside_grid(tri)
    tri.set_mask(flat)
    fig, ax = plt.subplots(figsize=(6.4, 5.1), dpi=100)
    drawn = _draw_band(ax, tri, points, level, x, y)
    drawn["masked_triangles"] = int(flat.sum())
    if min(obs) < level < max(obs):
        # The excluded side: observed CLs below 0.05 (hatched, so the band stays readable through it).
        excluded = ax.tricontourf(tri, obs, levels=[min(obs) - 1.0, level], colors="none", hatches=["////"])
        excluded.set_edgecolor("#c40000")
        excluded.set_linewidth(0)
        drawn["excluded"] = len(excluded.allsegs[0])
    expected = ax.tricontour(tri, log_cls(p.cls_exp[2] for p in points), levels=[level], colors="black",
                             linestyles="dashed", linewidths=1.5)
    observed = ax.tricontour(tri, obs, levels=[level], colors="#c40000", linestyles="solid", linewidths=2.0)
    drawn["expected"], drawn["observed"] = len(expected.allsegs[0]), len(observed.allsegs[0])
    _decorate_contour(ax, fig, result, points, x, y, fixed_text)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    with atomic_file(path, "wb") as out:
        out.write(buffer.getvalue())
    return drawn


def _outside_grid(tri):
    """Mask of the triangles that span empty plane: flat border triangles, and any triangle with an edge over
    2.5x the median longest edge (a notch in the grid, bridged by the Delaunay triangulation of its hull)."""
    import matplotlib.tri as mtri  # heavy: only when a plot is made
    import numpy as np

    # Masses are in GeV on both axes, but one axis may span far more: judge shapes on unit-scaled axes.
    flat = mtri.TriAnalyzer(tri).get_flat_tri_mask(min_circle_ratio=0.05, rescale=True)
    xs = (tri.x - tri.x.min()) / (np.ptp(tri.x) or 1.0)
    ys = (tri.y - tri.y.min()) / (np.ptp(tri.y) or 1.0)
    corners = tri.triangles
    edges = [np.hypot(xs[corners[:, i]] - xs[corners[:, j]], ys[corners[:, i]] - ys[corners[:, j]])
             for i, j in ((0, 1), (1, 2), (2, 0))]
    longest = np.max(edges, axis=0)
    mask = flat | (longest > 2.5 * np.median(longest))
    if mask.all():
        mask[:] = False  # a grid of one row of triangles: keep them rather than draw nothing
    return mask


def _draw_band(ax, tri, points, level, x, y) -> dict:
    """The expected +-1 sigma band, filled where the -1 sigma CLs is below 0.05 and the +1 sigma CLs above."""
    import math

    import matplotlib.tri as mtri  # heavy: only when a plot is made
    import numpy as np

    def log_cls(values):
        return [math.log10(max(v, 1e-12)) for v in values]

    # max(minus1 - level, level - plus1) < 0 exactly inside the band.  Both are interpolated
    # linearly on the (masked) triangulation first, then combined on a fine regular grid, so the
    # band's edges are the +-1 sigma contours themselves; outside the kept triangles it is masked.
    grid_x, grid_y = np.meshgrid(np.linspace(min(x), max(x), 300), np.linspace(min(y), max(y), 300))
    low = mtri.LinearTriInterpolator(tri, log_cls(p.cls_exp[1] for p in points))(grid_x, grid_y)
    high = mtri.LinearTriInterpolator(tri, log_cls(p.cls_exp[3] for p in points))(grid_x, grid_y)
    band = np.ma.maximum(low - level, level - high)
    drawn = {"observed": 0, "expected": 0, "band": 0, "excluded": 0, "band_polygons": []}
    if band.count() and band.min() < 0:
        filled = ax.contourf(grid_x, grid_y, band, levels=[band.min() - 1.0, 0.0], colors=["#f5d800"], alpha=0.6)
        drawn["band"] = len(filled.allsegs[0])
        drawn["band_polygons"] = list(filled.allsegs[0])
    return drawn


def _decorate_contour(ax, fig, result: ScanResult, points, x, y, fixed_text) -> None:
    """Points, axes, legend and the caption with the regenerating command."""
    from matplotlib.lines import Line2D  # heavy: only when a plot is made
    from matplotlib.patches import Patch

    axes = result.axes
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
        Patch(facecolor="none", edgecolor="#c40000", hatch="////", lw=0, label="Excluded (observed CL$_s$ < 0.05)"),
        Line2D([], [], color="black", ls="dashed", lw=1.5, label="Expected CL$_s$ = 0.05"),
        Patch(facecolor="#f5d800", alpha=0.6, label=r"Expected $\pm 1\sigma$"),
        Line2D([], [], ls="", marker="o", ms=3, color="0.55", label=f"signal points ({len(points)})"),
    ]
    if failed:
        handles.append(Line2D([], [], ls="", marker="x", color="red", label=f"failed ({len(failed)})"))
    footnote = f"pyhf {result.pyhf}, {s.backend} {s.precision}, asymptotic $\\tilde{{q}}_\\mu$ at $\\mu$ = 1"
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False, title=footnote, title_fontsize=7,
              alignment="left")
    command = f"pyhf-bench scan {s.name} --region {s.region} --backend {s.backend} --out DIR"
    fig.text(0.01, -0.01, f"Regenerate: {command} (points.csv and points.json beside this plot hold every "
             "point drawn); nothing is drawn outside the grid's triangles.", fontsize=6.5, color="0.3",
             ha="left", va="top", wrap=True)


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
