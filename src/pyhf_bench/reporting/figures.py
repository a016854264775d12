"""The report's figure conventions: one writer (PNG + SVG), axis units, and one fixed colour per backend.

Every plot of the report (and of ``pyhf-bench accelerators``) is saved through
:func:`save_figure`. A backend has the same colour in every figure, so a reader
who learnt "orange is JAX" in one plot can read the next without its legend.
"""

from __future__ import annotations

from pathlib import Path

from pyhf_bench.core.files import atomic_file

FIGURE_FORMATS = ("png", "svg")

#: One colour per backend in every figure (matplotlib's tab10, in the order pyhf documents its backends).
BACKEND_COLOURS = {
    "numpy": "#1f77b4",
    "jax": "#ff7f0e",
    "pytorch": "#2ca02c",
    "tensorflow": "#d62728",
    "roofit": "#9467bd",
    "cabinetry": "#8c564b",
}
OTHER_COLOUR = "#7f7f7f"
#: The line style says the precision, so 32b and 64b of one backend share its colour.
PRECISION_STYLES = {"64b": "-", "32b": "--"}


def backend_colour(backend) -> str:
    return BACKEND_COLOURS.get(str(backend), OTHER_COLOUR)


def pyplot():
    """matplotlib's pyplot on the Agg backend with the report's style."""
    import matplotlib  # heavy: imported only when a figure is drawn

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "font.size": 9, "axes.grid": True,
                         "grid.alpha": 0.3, "svg.hashsalt": "pyhf-bench", "svg.fonttype": "none"})
    return plt


def axis_formatter(unit: str):
    """Tick labels that carry their unit (1 ms, 10 µs): the axis label then names no unit of its own."""
    from matplotlib.ticker import EngFormatter, ScalarFormatter  # heavy: only when plotting

    if unit == "seconds":
        return EngFormatter(unit="s")
    if unit == "bytes":
        return EngFormatter(unit="B")
    return ScalarFormatter()


def format_axis(axis, unit: str) -> None:
    """Major and minor ticks in the same unit-carrying format (a log axis spanning less than a decade labels its
    minor ticks, which would otherwise read 6×10⁻¹ beside "1 s")."""
    from matplotlib.ticker import NullFormatter  # heavy: only when plotting

    axis.set_major_formatter(axis_formatter(unit))
    low, high = sorted(axis.get_view_interval())
    # Call after the data (and limits) are set: over more than a decade the major ticks suffice.
    narrow = axis.get_scale() == "log" and low > 0 and high / low < 20
    axis.set_minor_formatter(axis_formatter(unit) if narrow else NullFormatter())


def axis_label(kind: str, unit: str) -> str:
    """The axis label matching :func:`axis_formatter`: no unit in it where the ticks carry one."""
    if kind in ("time", "timeraw"):
        return "time per call (unit on each tick)"
    if kind in ("peakmem", "mem"):
        return "peak memory (unit on each tick)"
    return unit if unit not in ("", "unit") else "value"


def save_figure(fig, out: Path, stem: str) -> list[Path]:
    """Write *fig* as PNG and SVG, each atomically; return the paths."""
    paths = []
    for fmt in FIGURE_FORMATS:
        path = out / f"{stem}.{fmt}"
        with atomic_file(path, "wb") as fh:
            fig.savefig(fh, format=fmt, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    import matplotlib.pyplot as plt  # heavy: already loaded by whoever drew *fig*

    plt.close(fig)
    return paths


def add_caption(fig, text: str) -> None:
    """The figure's caption under the axes: what was measured, where, at which commit, how many samples."""
    fig.text(0.01, -0.02, text, ha="left", va="top", fontsize=7, color="0.25", wrap=True)
