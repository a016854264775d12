"""Plots of one commit's results: backends side by side, the speed-up matrix, scaling with model size, accuracy.

Speed-ups are relative to numpy on the CPU at 64b with every other parameter
equal (:func:`pyhf_bench.reporting.measurements.speedups`). pyhf's JAX backend
evaluates ``model.logpdf`` eagerly (op by op, no ``jax.jit``), so the JAX
times of the logpdf benchmarks are labelled "eager": they are dispatch
overhead, not what a jitted fit step costs.
"""

from __future__ import annotations

import math
from pathlib import Path

from pyhf_bench.reporting.figures import add_caption, axis_label, format_axis, backend_colour, save_figure
from pyhf_bench.reporting.measurements import (MAX_PANELS, SIZE_PARAM, Measurement, date_text, fit_slope,
                                               format_value, group, is_reference, label, latest_commit,
                                               problem_label, sample_text, slug, speedups)

#: Timed steps that call pyhf's model.logpdf directly: JAX runs them eagerly (no jax.jit around the call).
EAGER_STEPS = (".Logpdf.time_logpdf", ".BatchedLogpdf.time_batched_logpdf")


def config_label(benchmark: str, config: tuple) -> str:
    """The configuration's label, saying "eager" for JAX where the timed step is not jitted."""
    text = label(config)
    if dict(config).get("backend") == "jax" and benchmark.endswith(EAGER_STEPS):
        text += " (eager)"
    return text


def caption_for(rows: list[Measurement], hardware: str) -> str:
    first = rows[0]
    return (f"Measured on {hardware}, commit {first.commit[:8]} ({date_text(first.date_ms)}); "
            f"median of asv's samples, {sample_text(rows)}.")


def plot_comparison(plt, machine: str, benchmark: str, rows: list[Measurement], out: Path,
                    hardware: str) -> Path | None:
    """Horizontal bars: one panel per problem (model size, likelihood...), one bar per configuration."""
    ok = [m for m in rows if m.ok]
    if not ok:
        return None
    factors = speedups(rows)
    index = {id(m): i for i, m in enumerate(rows)}
    problems = group(ok, Measurement.problem)
    # The panels with the most configurations are the most informative comparisons.
    chosen = sorted(problems, key=lambda p: (-len(problems[p]), str(p)))[:MAX_PANELS]
    chosen.sort(key=str)
    ncols = min(3, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    height = max(len(problems[p]) for p in chosen)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 1.2 + nrows * (0.9 + 0.32 * height)), squeeze=False)
    unit, kind = ok[0].unit, ok[0].kind
    for ax, problem in zip(axes.flat, chosen):
        cells = sorted(problems[problem], key=lambda m: m.value)
        values = [m.value for m in cells]
        ax.barh(range(len(cells)), values, color=[backend_colour(m.params.get("backend")) for m in cells],
                edgecolor=["black" if is_reference(m) else "none" for m in cells], linewidth=1.5)
        ax.set_yticks(range(len(cells)), [config_label(benchmark, m.config()) for m in cells])
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel(axis_label(kind, unit))
        ax.set_title(problem_label(problem) if problem else "", fontsize=9)
        for y, m in enumerate(cells):
            factor = factors.get(index[id(m)])
            text = format_value(m.value, unit)
            if factor is not None and not is_reference(m):
                text += f"  speed-up ×{factor:.2g}"
            ax.text(m.value, y, " " + text, va="center", fontsize=7)
        ax.set_xlim(min(values) / 2, max(values) * 40)  # room for the annotations right of the bars
        format_axis(ax.xaxis, unit)  # after the limits: it labels minor ticks only on a narrow axis
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    reference = [label(m.config()) for m in ok if is_reference(m)]
    fig.suptitle(f"{benchmark}, {machine}\n" + (f"outlined bar: the {reference[0]} reference of the speed-ups; "
                                                 if reference else "") + "shorter is faster", fontsize=10)
    fig.tight_layout()
    add_caption(fig, caption_for(ok, hardware))
    return save_figure(fig, out, f"compare-{slug(machine)}-{slug(benchmark)}")[0]


def speedup_matrix(rows_by_bench: dict[str, list[Measurement]]) -> tuple[list[str], list[str], dict]:
    """(row labels, column labels, {(row, column): speed-up}) of the benchmarks that have a numpy/cpu/64b reference.

    A row is one benchmark at one problem (model size, likelihood); a column one
    backend/device/precision. Benchmarks without a precision parameter (import
    time) are not in the matrix: they have their own comparison plot.
    """
    cells: dict[tuple[str, str], float] = {}
    for bench, rows in sorted(rows_by_bench.items()):
        if not any("precision" in m.params for m in rows):
            continue
        factors = speedups(rows)
        for i, factor in factors.items():
            m = rows[i]
            short = bench.split(".", 1)[-1].rsplit(".", 1)[0]
            where = "published" if bench.startswith("published") else "synthetic"
            row = f"{where} {short}" + (f" ({problem_label(m.problem())})" if m.problem() else "")
            if bench.endswith(EAGER_STEPS):
                row += ", JAX eager"
            cells[(row, label(m.config()))] = factor
    row_labels = sorted({r for r, _ in cells})
    backends = [b for b in ("numpy", "jax", "pytorch", "tensorflow")]
    col_labels = sorted({c for _, c in cells}, key=lambda c: (backends.index(c.split("/")[0])
                                                            if c.split("/")[0] in backends else 9, c))
    return row_labels, col_labels, cells


def plot_speedup_heatmap(plt, machine: str, rows_by_bench: dict[str, list[Measurement]], out: Path,
                         hardware: str) -> tuple[Path | None, dict]:
    """Benchmark x backend/precision matrix of speed-ups vs numpy/cpu/64b at each benchmark's newest commit."""
    from matplotlib.colors import TwoSlopeNorm  # heavy: only when plotting

    latest_rows = {}
    for bench, rows in rows_by_bench.items():
        newest = latest_commit(rows)
        if newest is not None:
            latest_rows[bench] = [m for m in rows if m.commit == newest]
    row_labels, col_labels, cells = speedup_matrix(latest_rows)
    if not cells:
        return None, {}
    import numpy as np  # heavy (comes with matplotlib): only when plotting

    grid = np.full((len(row_labels), len(col_labels)), np.nan)
    for (r, c), factor in cells.items():
        grid[row_labels.index(r), col_labels.index(c)] = math.log10(factor)
    fig, ax = plt.subplots(figsize=(1.2 + 1.05 * len(col_labels), 1.4 + 0.45 * len(row_labels)))
    bound = max(1.0, float(np.nanmax(np.abs(grid))))
    image = ax.imshow(grid, cmap="RdBu", norm=TwoSlopeNorm(0.0, -bound, bound), aspect="auto")
    for (r, c), factor in cells.items():
        ax.text(col_labels.index(c), row_labels.index(r), f"{factor:.2g}×", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=7)
    ax.grid(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("log10 speed-up vs numpy/cpu/64b (blue: faster)", fontsize=7)
    ax.set_title(f"Speed-up vs numpy/cpu/64b, {machine}", fontsize=10)
    fig.tight_layout()
    measured = [m for rows in latest_rows.values() for m in rows if m.ok]
    commits = sorted({m.commit[:8] for m in measured})
    add_caption(fig, f"Measured on {hardware}, commit {', '.join(commits)}; each cell: numpy/cpu/64b median ÷ "
                     f"this configuration's median for the same problem, {sample_text(measured)}; empty: not measured.")
    return save_figure(fig, out, f"speedup-{slug(machine)}")[0], cells


def scaling_series(rows: list[Measurement]) -> dict[tuple, dict]:
    """For each (other problem params, configuration): sizes, values and the fitted slope."""
    series: dict[tuple, dict] = {}
    for m in rows:
        if not m.ok or SIZE_PARAM not in m.params:
            continue
        rest = tuple((k, v) for k, v in m.problem() if k != SIZE_PARAM)
        entry = series.setdefault((rest, m.config()), {"sizes": [], "values": []})
        entry["sizes"].append(float(m.params[SIZE_PARAM]))
        entry["values"].append(m.value)
    for entry in series.values():
        order = sorted(range(len(entry["sizes"])), key=lambda i: entry["sizes"][i])
        entry["sizes"] = [entry["sizes"][i] for i in order]
        entry["values"] = [entry["values"][i] for i in order]
        entry["slope"] = fit_slope(entry["sizes"], entry["values"])
    return {k: v for k, v in series.items() if len(v["sizes"]) >= 2}


def plot_scaling(plt, machine: str, benchmark: str, series: dict[tuple, dict], out: Path, rows: list[Measurement],
                 hardware: str):
    """Time against model size on log-log axes, one line per configuration with its fitted slope."""
    if not series:
        return None
    unit, kind = rows[0].unit, rows[0].kind
    by_rest = group(series.items(), lambda item: item[0][0])
    rests = sorted(by_rest, key=str)[:MAX_PANELS]
    ncols = min(2, len(rests))
    nrows = math.ceil(len(rests) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.4 * nrows), squeeze=False)
    for ax, rest in zip(axes.flat, rests):
        for (_, config), entry in sorted(by_rest[rest], key=lambda item: str(item[0][1])):
            slope = entry["slope"]
            name = config_label(benchmark, config)
            params = dict(config)
            ax.plot(entry["sizes"], entry["values"], marker="o", color=backend_colour(params.get("backend")),
                    linestyle="--" if params.get("precision") == "32b" else "-",
                    label=f"{name}: slope {slope:.2f}" if slope is not None else name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        format_axis(ax.yaxis, unit)
        ax.set_xlabel(f"model size ({SIZE_PARAM})")
        ax.set_ylabel(axis_label(kind, unit))
        ax.set_title(problem_label(rest) if rest else "", fontsize=9)
        # Beside the axes: inside, the legend hid a line's points.
        ax.legend(fontsize=7, title="config: fitted log-log slope", title_fontsize=7, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    for ax in list(axes.flat)[len(rests):]:
        ax.set_visible(False)
    fig.suptitle(f"{benchmark}: scaling with model size\n{machine}; slope 1 = linear in {SIZE_PARAM}, "
                 "0 = size-independent overhead", fontsize=10)
    fig.tight_layout()
    add_caption(fig, caption_for([m for m in rows if m.ok], hardware))
    return save_figure(fig, out, f"scaling-{slug(machine)}-{slug(benchmark)}")[0]


def plot_accuracy(plt, machine: str, benchmark: str, rows: list[Measurement], out: Path) -> Path | None:
    ok = [m for m in rows if m.ok]
    if not ok:
        return None
    latest = latest_commit(ok)
    cells = sorted((m for m in ok if m.commit == latest), key=lambda m: str(m.params))
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.3 * len(cells)))
    values = [abs(m.value) for m in cells]
    ax.barh(range(len(cells)), values, color="#b5562f")
    ax.set_yticks(range(len(cells)), [label(tuple(m.params.items())) for m in cells])
    ax.invert_yaxis()
    if all(v > 0 for v in values) and max(values) / min(values) > 100:
        ax.set_xscale("log")
    ax.set_xlabel(f"|value| ({ok[0].unit})")
    ax.set_title(f"{benchmark}, {machine}, commit {latest[:8]}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, f"accuracy-{slug(machine)}-{slug(benchmark)}")[0]



#: Hatching per machine in the side-by-side plot (the colour stays the backend's).
MACHINE_HATCHES = ("", "//", "..", "xx", "\\\\", "++")


def plot_machines(plt, benchmark: str, rows_by_machine: dict[str, list[Measurement]], out: Path,
                  hardware_of: dict[str, str]) -> Path | None:
    """One benchmark on several machines: per configuration a bar per machine, each at its machine's newest commit."""
    newest = {}
    for machine, rows in sorted(rows_by_machine.items()):
        commit = latest_commit(rows)
        if commit is not None:
            newest[machine] = {(m.problem(), m.config()): m for m in rows if m.commit == commit and m.ok}
    if len(newest) < 2:
        return None
    keys = sorted({k for cells in newest.values() for k in cells}, key=str)[:30]
    machines = sorted(newest)
    height = 0.8 / len(machines)
    fig, ax = plt.subplots(figsize=(8.0, 1.4 + 0.28 * len(keys) * len(machines)))
    unit, kind = rows_by_machine[machines[0]][0].unit, rows_by_machine[machines[0]][0].kind
    for j, machine in enumerate(machines):
        ys, values, colours = [], [], []
        for i, key in enumerate(keys):
            m = newest[machine].get(key)
            if m is not None:
                ys.append(i + (j - (len(machines) - 1) / 2) * height)
                values.append(m.value)
                colours.append(backend_colour(m.params.get("backend")))
        ax.barh(ys, values, height=height, color=colours, hatch=MACHINE_HATCHES[j % len(MACHINE_HATCHES)],
                edgecolor="white", label=hardware_of.get(machine, machine))
    ax.set_yticks(range(len(keys)), [(problem_label(p) + " " if p else "") + config_label(benchmark, c)
                                     for p, c in keys], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    format_axis(ax.xaxis, unit)
    ax.set_xlabel(axis_label(kind, unit))
    ax.legend(fontsize=7, title="machine (hatching)", title_fontsize=7, loc="best")
    ax.set_title(f"{benchmark} on {len(machines)} machines; shorter is faster", fontsize=10)
    fig.tight_layout()
    commits = "; ".join(f"{m}: commit {latest_commit(rows_by_machine[m])[:8]}, "
                        f"{sample_text([r for r in rows_by_machine[m] if r.ok])}" for m in machines)
    add_caption(fig, f"Each machine at its newest commit ({commits}). Colour: backend; hatching: machine.")
    return save_figure(fig, out, f"machines-{slug(benchmark)}")[0]
