"""History plots: each backend/configuration as one line over the pyhf releases, across the pinned-environment eras.

asv files the results of each era (classic, vintage, legacy, modern: the pinned
backend versions of ``core/eras.json``) under its own environment, so a
backend's history is split over four environments. Here the line is one
per configuration (backend, device, precision, ...) over every commit, the
x axis is the commit order labelled by release, and a dashed vertical line
marks where the era (and so the backends' versions) changes: a step there may
be the environment's, not pyhf's. Every line is drawn, so the newest commits
(one per late era) are never dropped.
"""

from __future__ import annotations

import math
from pathlib import Path

from pyhf_bench.reporting.figures import (PRECISION_STYLES, add_caption, axis_label, format_axis,
                                          backend_colour, save_figure)
from pyhf_bench.reporting.measurements import (Measurement, ResultSet, era_label, group, label, problem_label,
                                               sample_text, slug)


def history_lines(rows: list[Measurement]) -> dict[tuple, list[Measurement]]:
    """(problem, configuration) -> its measured points in commit-date order, every era together."""
    ok = [m for m in rows if m.ok and m.date_ms is not None]
    lines = group(ok, lambda m: (m.problem(), m.config()))
    return {key: sorted(points, key=lambda m: (m.date_ms, m.commit)) for key, points in lines.items()}


def commit_order(rows: list[Measurement]) -> list[str]:
    """The measured commits of *rows*, oldest first (by commit date, as asv orders them)."""
    return [c for _, c in sorted({(m.date_ms or 0, m.commit) for m in rows if m.ok})]


def _era_spans(rows: list[Measurement], commits: list[str]) -> list[tuple[int, int, str]]:
    """(first index, last index, era) runs along the commit axis."""
    era_of = {m.commit: era_label(m) for m in rows if m.ok}
    spans: list[tuple[int, int, str]] = []
    for i, commit in enumerate(commits):
        era = era_of[commit]
        if spans and spans[-1][2] == era:
            spans[-1] = (spans[-1][0], i, era)
        else:
            spans.append((i, i, era))
    return spans


def _draw_line(ax, points: list[Measurement], x_of: dict[str, int], config: tuple) -> str:
    """Draw one configuration's line (and its spread band); return the colour matplotlib drew it in."""
    params = dict(config)
    xs = [x_of[m.commit] for m in points]
    (line,) = ax.plot(xs, [m.value for m in points], marker="o", markersize=3.5, color=backend_colour(params.get("backend")),
            linestyle=PRECISION_STYLES.get(str(params.get("precision")), "-"), label=label(config))
    spread = [m for m in points if m.spread and (m.samples or 0) > 1]
    if spread:
        ax.fill_between([x_of[m.commit] for m in spread], [m.spread[0] for m in spread],
                        [m.spread[1] for m in spread], color=backend_colour(params.get("backend")), alpha=0.18,
                        linewidth=0)
    return line.get_color()


def _mark_eras(ax, spans: list[tuple[int, int, str]]) -> None:
    for first, last, era in spans:
        if first > 0:
            ax.axvline(first - 0.5, color="0.35", linestyle=":", linewidth=1)
        ax.text((first + last) / 2, 1.0, era, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=6, color="0.3")  # 6: the names of one-release eras side by side do not overlap


def plot_history(plt, rs: ResultSet, machine: str, benchmark: str, rows: list[Measurement], out: Path,
                 hardware: str) -> tuple[Path | None, dict[str, dict]]:
    """Draw the history; return the figure's path and each drawn line's data (label -> commits and colour)."""
    lines = history_lines(rows)
    # A problem measured at one commit only (e.g. the full tier's extra model sizes, run for the scaling
    # plot at the newest release) has no history: its panel would hold a column of lone points.
    commits_of: dict[tuple, set] = {}
    for (problem, _), points in lines.items():
        commits_of.setdefault(problem, set()).update(m.commit for m in points)
    lines = {key: points for key, points in lines.items() if len(commits_of[key[0]]) >= 2}
    if not lines:
        return None, {}
    commits = commit_order(rows)
    x_of = {c: i for i, c in enumerate(commits)}
    problems = sorted({problem for problem, _ in lines}, key=str)
    ncols = min(2, len(problems))
    nrows = math.ceil(len(problems) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 3.9 * nrows), squeeze=False)
    ok = [m for m in rows if m.ok]
    unit, kind = ok[0].unit, ok[0].kind
    drawn: dict[str, dict] = {}
    spans = _era_spans(rows, commits)
    for ax, problem in zip(axes.flat, problems):
        for (p, config), points in sorted(lines.items(), key=lambda item: str(item[0][1])):
            if p != problem:
                continue
            colour = _draw_line(ax, points, x_of, config)
            drawn[f"{problem_label(problem)}: {label(config)}" if problem else label(config)] = {
                "commits": [m.commit for m in points], "backend": dict(config).get("backend"), "colour": colour}
        ax.set_yscale("log")
        format_axis(ax.yaxis, unit)
        ax.set_xticks(range(len(commits)), [rs.release(c) for c in commits], rotation=45, ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(commits) - 0.5)
        ax.set_ylabel(axis_label(kind, unit))
        ax.set_title(problem_label(problem) if problem else "", fontsize=9, pad=12)
        _mark_eras(ax, spans)
        # Beside the axes, never over them: inside, "best" still hid points of a line (two releases of JAX's hypotest).
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    for ax in list(axes.flat)[len(problems):]:
        ax.set_visible(False)
    fig.suptitle(f"{benchmark} over pyhf releases, {machine}", fontsize=10)
    fig.tight_layout()
    newest = commits[-1]
    add_caption(fig, f"{benchmark} on {hardware}; x axis: pyhf release in commit order, newest {rs.release(newest)} "
                f"(commit {newest[:8]}); dotted lines: a new pinned environment era (backend versions change there); "
                f"{_spread_text(ok)}. Colour: backend"
                + ("; dashed: 32b." if any(m.params.get("precision") == "32b" for m in ok) else "."))
    return save_figure(fig, out, f"history-{slug(machine)}-{slug(benchmark)}")[0], drawn


def _spread_text(rows: list[Measurement]) -> str:
    samples = sample_text(rows)
    if any((m.samples or 0) > 1 for m in rows):
        return f"{samples}, band: asv's interquartile range"
    return f"{samples}, so no spread band (one sample cannot show run-to-run noise)"


def history_findings(rs: ResultSet, bench: str, machine: str, rows: list[Measurement]) -> list[str]:
    """The newest release against the one before it, per configuration, claimed only where the samples separate them.

    A change is claimed when both points have more than one sample and their
    interquartile ranges do not overlap; with single samples the finding says
    that no change can be claimed, and how many points there are.
    """
    out = []
    lines = history_lines(rows)
    single = [m for m in rows if m.ok and (m.samples or 0) <= 1]
    if single and len(single) == sum(1 for m in rows if m.ok):
        commits = commit_order(rows)
        return [f"`{bench}` ({machine}): {len(commits)} releases ({rs.release(commits[0])} to {rs.release(commits[-1])}), "
                f"one sample per point: no change between releases is claimed from these data."]
    for (problem, config), points in sorted(lines.items(), key=lambda item: str(item[0])):
        if len(points) < 2:
            continue
        before, after = points[-2], points[-1]
        if not (before.spread and after.spread and (before.samples or 0) > 1 and (after.samples or 0) > 1):
            continue
        if before.spread[1] < after.spread[0] or after.spread[1] < before.spread[0]:
            ratio = after.value / before.value
            where = f", {problem_label(problem)}" if problem else ""
            # Across an era boundary the environment changed with the commit (numpy 1 -> 2, a newer jax):
            # the step is not pyhf's alone, and the finding says so.
            eras = (era_label(before), era_label(after))
            boundary = (f"; {eras[0]} → {eras[1]} at this step: the backends' versions changed too, so the step "
                        "is not pyhf's alone" if eras[0] != eras[1] else "")
            out.append(f"`{bench}` {label(config)} ({machine}{where}): {rs.release(before.commit)} → "
                       f"{rs.release(after.commit)} {ratio:.2f}× the time ({'slower' if ratio > 1 else 'faster'}; "
                       f"interquartile ranges do not overlap{boundary}).")
    return out
