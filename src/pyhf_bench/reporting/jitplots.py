"""Jitted beside eager: the same ``model.logpdf`` call, as pyhf makes it (eagerly) and compiled by the backend's JIT.

pyhf calls its backends op by op; ``synthetic_models.JittedLogpdf`` times
``jax.jit(model.logpdf)`` on the models ``synthetic_models.Logpdf`` times
eagerly. This module pairs the two at the newest commit both were measured at,
per machine: one plot of time against model size (eager lines of every backend,
the jitted line dashed) and one table with the JIT's speed-up and the jitted
call against numpy's (pyhf's numpy path is eager: nothing to compile).
"""

from __future__ import annotations

import math
from pathlib import Path

from pyhf_bench.reporting.figures import add_caption, axis_label, backend_colour, format_axis, save_figure
from pyhf_bench.reporting.measurements import (SIZE_PARAM, Measurement, date_text, format_value, group,
                                               latest_commit, sample_text, slug)

#: jitted benchmark -> the eager benchmark that times the same call.
JIT_PAIRS = {"synthetic_models.JittedLogpdf.time_jitted_logpdf": "synthetic_models.Logpdf.time_logpdf"}
#: The eager reference every backend is compared with.
REFERENCE_BACKEND = "numpy"


def jit_pairs(by_bench: dict[str, list[Measurement]]) -> list[tuple[str, str, str, list[Measurement], list[Measurement]]]:
    """(jitted, eager, commit, jitted rows, eager rows) for each pair measured at a common commit (the newest)."""
    pairs = []
    for jitted, eager in JIT_PAIRS.items():
        if jitted not in by_bench or eager not in by_bench:
            continue
        common = {m.commit for m in by_bench[jitted] if m.ok} & {m.commit for m in by_bench[eager] if m.ok}
        commit = latest_commit([m for m in by_bench[jitted] if m.commit in common])
        if commit is None:
            continue
        pairs.append((jitted, eager, commit, [m for m in by_bench[jitted] if m.commit == commit and m.ok],
                      [m for m in by_bench[eager] if m.commit == commit and m.ok]))
    return pairs


def _key(m: Measurement) -> tuple:
    """The cell a measurement belongs to: (device, precision, n_bins)."""
    return str(m.params.get("device")), str(m.params.get("precision")), float(m.params.get(SIZE_PARAM, math.nan))


def plot_jit(plt, machine: str, jitted: str, jitted_rows, eager_rows, out: Path, hardware: str) -> Path:
    """Time against model size, one panel per (device, precision): every backend's eager call and the jitted one."""
    panels = sorted({_key(m)[:2] for m in jitted_rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.4), squeeze=False)
    unit, kind = jitted_rows[0].unit, jitted_rows[0].kind
    for ax, (device, precision) in zip(axes.flat, panels):
        lines = [(m.params["backend"], "eager", m) for m in eager_rows] + [
            (m.params["backend"], "jitted", m) for m in jitted_rows]
        for (backend, mode), cells in sorted(group(lines, lambda x: x[:2]).items()):
            cells = sorted((m for _, _, m in cells if _key(m)[:2] == (device, precision)), key=_key)
            if not cells:
                continue
            ax.plot([_key(m)[2] for m in cells], [m.value for m in cells], marker="o",
                    color=backend_colour(backend), linestyle="--" if mode == "jitted" else "-",
                    label=f"{backend} {mode}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        format_axis(ax.yaxis, unit)
        ax.set_xlabel(f"model size ({SIZE_PARAM})")
        ax.set_ylabel(axis_label(kind, unit))
        ax.set_title(f"{device}, {precision}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.suptitle(f"model.logpdf jitted (dashed) and eager (solid)\n{machine}", fontsize=10)
    fig.tight_layout()
    first = jitted_rows[0]
    add_caption(fig, f"Measured on {hardware}, commit {first.commit[:8]} ({date_text(first.date_ms)}); median of "
                     f"asv's samples, {sample_text(jitted_rows + eager_rows)}.")
    return save_figure(fig, out, f"jit-{slug(machine)}-{slug(jitted)}")[0]


def jit_table(jitted_rows, eager_rows) -> tuple[list[str], list[list[str]]]:
    """Per jitted cell: the same backend eager, the jitted call, the JIT's speed-up, numpy eager and jitted vs numpy."""
    eager = {(m.params["backend"], *_key(m)): m for m in eager_rows}
    body = []
    for m in sorted(jitted_rows, key=lambda m: (m.params["backend"], _key(m))):
        backend, (device, precision, size) = m.params["backend"], _key(m)
        same = eager.get((backend, device, precision, size))
        ref = eager.get((REFERENCE_BACKEND, "cpu", precision, size))
        body.append([f"{backend}/{device}/{precision}", f"{size:g}",
                     format_value(same.value, same.unit) if same else "-", format_value(m.value, m.unit),
                     f"{same.value / m.value:.1f}×" if same else "-",
                     format_value(ref.value, ref.unit) if ref else "-",
                     f"{ref.value / m.value:.2f}×" if ref else "-"])
    header = ["configuration", SIZE_PARAM, "eager", "jitted", "JIT speed-up", f"{REFERENCE_BACKEND}/cpu eager",
              f"jitted vs {REFERENCE_BACKEND}"]
    return header, body
