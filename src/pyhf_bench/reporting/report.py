"""``pyhf-bench report RESULTS_DIR --out DIR``: comparison, speed-up, scaling, history and accuracy plots and a case study.

Reads asv result files for every machine under RESULTS_DIR
(:mod:`pyhf_bench.reporting.measurements`) and writes into DIR:

* ``compare-<machine>-<benchmark>.png/.svg``: time of each backend x device x
  precision (x optimizer, ROOT evaluation mode, ...) at the newest commit, with
  the speed-up relative to numpy on the CPU at 64b;
* ``speedup-<machine>.png/.svg``: the benchmark x backend/precision matrix of
  those speed-ups;
* ``scaling-<machine>-<benchmark>.png/.svg``: time against ``n_bins`` on
  log-log axes with the fitted power-law slope (where two or more sizes ran);
* ``history-<machine>-<benchmark>.png/.svg``: each configuration over the pyhf
  releases, across the environment eras (:mod:`pyhf_bench.reporting.historyplots`);
* ``jit-<machine>-<benchmark>.png/.svg``: a jitted benchmark beside the eager one
  that times the same call (:mod:`pyhf_bench.reporting.jitplots`);
* ``accuracy-<machine>-<benchmark>.png/.svg``: the ``track_`` benchmarks;
* ``measurements.csv``: every measured value, one row per parameter combination;
* ``case-study.md``: machines, method, tables, the plots and findings computed
  from the data (:mod:`pyhf_bench.reporting.casestudy`).

Files of those names that this run did not make (a benchmark whose results
are gone) are removed, so the folder is exactly what the committed data gives.
asv writes NaN for a skipped combination (n/a) and null for a failed one; both
are counted and failures listed, never plotted, never fatal. Profiles written
by ``pyhf-bench profile --out DIR/profiles/<name>`` are picked up from
``DIR/profiles`` (or ``--profiles``).
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file
from pyhf_bench.reporting import casestudy
from pyhf_bench.reporting.casestudy import deviation_findings  # noqa: F401 - part of this module's API (tests)
from pyhf_bench.reporting.comparisonplots import (plot_accuracy, plot_comparison, plot_machines, plot_scaling,
                                                  plot_speedup_heatmap, scaling_series)
from pyhf_bench.reporting.figures import pyplot, save_figure  # noqa: F401 - save_figure: the one figure writer
from pyhf_bench.reporting.historyplots import history_findings, plot_history
from pyhf_bench.reporting.jitplots import jit_pairs, jit_table, plot_jit
from pyhf_bench.reporting.measurements import (SIZE_PARAM, Measurement, ResultSet, date_text,  # noqa: F401
                                               fit_slope, format_value, group, hardware_label, label,
                                               latest_commit, load_profiles, load_results, problem_label)

#: The files a report makes (and so may remove when it no longer makes them); nothing else in --out is touched.
REPORT_FILES = re.compile(r"^(compare|speedup|scaling|jit|history|accuracy|machines)-.+\.(png|svg)$")


def build_report(results_dir, out, profiles_dir=None, env_info: dict[str, dict] | None = None,
                 command: str | None = None, wrong: list | None = None,
                 history_data: dict | None = None) -> Path:
    """Write the plots, measurements.csv and case-study.md into *out*; return the case study's path.

    *wrong*, if given, receives one ``WRONG:`` line per accuracy value beyond tolerance;
    *history_data*, if given, receives {history figure path: {line label: commits drawn}}.
    """
    rs = load_results(results_dir)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(out)
    profiles = load_profiles(Path(profiles_dir) if profiles_dir else out / "profiles")
    made: set[Path] = set()
    _write_csv(rs, out / "measurements.csv")
    parts = _Sections()
    for machine in sorted(rs.machines):
        _machine_parts(rs, machine, out, parts, made, history_data)
    _side_by_side(rs, out, parts, made)
    if wrong is not None:
        wrong += [f for f in parts.findings if f.startswith("WRONG:")]
    md = _header(rs, command) + casestudy.machine_section(rs, env_info or {}) + casestudy.method_section(rs)
    md += parts.markdown(rs) + casestudy.profiles_section(profiles, out) + _tpu_section(rs)
    md += ["## Findings", "", "Computed from the numbers above when this report was generated.", ""]
    md += [f"* {f}" for f in parts.findings] or ["* No measurement to draw a finding from."]
    failed = sorted({(m.machine, m.benchmark, label(tuple(m.params.items()))) for m in rs.measurements
                     if m.status == "failed"})
    if failed:
        md += ["", "### Failed combinations", ""] + [f"* {mach}: `{b}` ({p})" for mach, b, p in failed]
    md.append("")
    target = out / "case-study.md"
    with atomic_file(target) as fh:
        fh.write("\n".join(md))
    remove_orphans(out, made)
    return target


class _Sections:
    """The case study's per-benchmark sections, filled machine by machine."""

    def __init__(self):
        self.findings: list[str] = []
        self.speedup: list[str] = ["## Speed-up matrix", ""]
        self.machines: list[str] = []
        self.compare: list[str] = ["## Backends compared", ""]
        self.scaling: list[str] = ["## Scaling with model size", ""]
        self.jit: list[str] = []
        self.history: list[str] = ["## History over releases", ""]
        self.accuracy: list[str] = ["## Accuracy (`track_` benchmarks)", ""]
        self.slopes: list[list[str]] = []
        self.any_track = False

    def markdown(self, rs: ResultSet) -> list[str]:
        scaling = list(self.scaling)
        if self.slopes:
            scaling[2:2] = [casestudy.table(["machine", "benchmark", "other parameters", "configuration",
                                             f"{SIZE_PARAM} range", "slope (log time / log size)"], self.slopes), ""]
        else:
            scaling += [f"No benchmark in these results was measured at two or more `{SIZE_PARAM}` values "
                        "(the quick tier runs one size; run the full tier, `PYHF_BENCH_TIER=full`), so no "
                        "time-against-size plot is drawn.", ""]
        accuracy = list(self.accuracy)
        if not self.any_track:
            accuracy += ["No `track_` results in these result files: no accuracy benchmark was run. "
                         "Nothing is plotted here.", ""]
        jit = (["## Jitted and eager logpdf", "", "pyhf calls its backends op by op (eagerly); "
                "`synthetic_models.JittedLogpdf` times the same `model.logpdf` call compiled by the backend's JIT "
                "(JAX's `jax.jit`; the other backends skip it: pyhf runs them eagerly). Both at the same commit, "
                "both medians of asv's samples.", ""] + self.jit) if self.jit else []
        return self.speedup + self.machines + self.compare + scaling + jit + self.history + accuracy


def _header(rs: ResultSet, command: str | None) -> list[str]:
    counts = casestudy.status_counts(rs.measurements)
    md = ["# pyhf backends: case study", "",
          f"Generated by `{command or 'pyhf-bench report'}` from {rs.files} asv result file(s) "
          f"of {len(rs.machines)} machine(s): {len(rs.measurements)} parameter combinations, "
          f"{counts['ok']} measured, {counts['n/a']} skipped (n/a: cannot run there, or outside the tier), "
          f"{counts['failed']} failed. Every number below is read from those files; "
          "`measurements.csv` has every measured one.", ""]
    if rs.skipped:
        md[-2] = md[-2].replace("Every number below is read from those files", "Every number below is read from "
                                "those files, but not every file could be read")
        md += [f"**{len(rs.skipped)} file(s) could not be read and are left out** (their numbers are missing "
               "below):", ""] + [f"* `{path}`: {reason}" for path, reason in rs.skipped] + [""]
    return md


def _machine_parts(rs: ResultSet, machine: str, out: Path, parts: _Sections, made: set, history_data) -> None:
    """Every plot and section of one machine's results."""
    plt = pyplot()
    hardware = hardware_label(rs.machines[machine])
    by_bench = group([m for m in rs.measurements if m.machine == machine], lambda m: m.benchmark)
    timed = {b: rows for b, rows in by_bench.items() if rows[0].kind != "track"}
    path, cells = plot_speedup_heatmap(plt, machine, timed, out, hardware)
    if path is not None:
        made.update(path.with_suffix(f".{fmt}") for fmt in ("png", "svg"))
        parts.speedup += [f"### {hardware}", "", f"![speed-up matrix, {machine}]({casestudy.rel(path, out)})", "",
                          f"{len(cells)} cells, each the numpy/cpu/64b median over that configuration's median "
                          "at the benchmark's newest commit (blue: faster than numpy, red: slower).", ""]
    pairs = jit_pairs(by_bench)
    with_jitted = {eager for _, eager, *_ in pairs}
    for bench, rows in sorted(by_bench.items()):
        if rows[0].kind == "track":
            _accuracy_part(plt, machine, bench, rows, out, parts, made)
        else:
            _timed_part(plt, rs, machine, bench, rows, out, parts, made, hardware, history_data,
                        bench in with_jitted)
    for jitted, eager, commit, jitted_rows, eager_rows in pairs:
        path = plot_jit(plt, machine, jitted, jitted_rows, eager_rows, out, hardware)
        _made(made, path)
        parts.jit += [f"### `{jitted}` beside `{eager}` on {machine}", "",
                      f"Commit `{commit[:8]}` ({date_text(jitted_rows[0].date_ms)}).", "",
                      f"![jitted and eager logpdf on {machine}]({casestudy.rel(path, out)})", "",
                      casestudy.table(*jit_table(jitted_rows, eager_rows)), ""]


def _side_by_side(rs: ResultSet, out: Path, parts: _Sections, made: set) -> None:
    """The benchmarks measured on more than one machine, each machine labelled with its hardware."""
    plt = pyplot()
    hardware_of = {name: hardware_label(machine) for name, machine in rs.machines.items()}
    timed = [m for m in rs.measurements if m.kind != "track"]
    for bench, rows in sorted(group(timed, lambda m: m.benchmark).items()):
        path = plot_machines(plt, bench, group(rows, lambda m: m.machine), out, hardware_of)
        if path is None:
            continue
        _made(made, path)
        if not parts.machines:
            parts.machines += ["## Machines side by side", "",
                               "Machines: " + "; ".join(hardware_of[n] for n in sorted(hardware_of)) + ".", ""]
        parts.machines += [f"### `{bench}`", "", f"![{bench} on every machine]({casestudy.rel(path, out)})", ""]


def _accuracy_part(plt, machine, bench, rows, out, parts: _Sections, made: set) -> None:
    parts.any_track = True
    path = plot_accuracy(plt, machine, bench, rows, out)
    _made(made, path)
    parts.accuracy += casestudy.accuracy_block(machine, bench, rows, path, out)
    flagged = deviation_findings(bench, machine, rows)
    parts.accuracy += [f"**{line}**" for line in flagged] + ([""] if flagged else [])
    parts.findings += flagged


def _timed_part(plt, rs, machine, bench, rows, out, parts: _Sections, made, hardware, history_data,
                jitted: bool) -> None:
    """*jitted*: whether a jitted benchmark of the same call is shown beside this one (``jit_pairs``)."""
    latest = latest_commit(rows)
    if latest is None:
        c = casestudy.status_counts(rows)
        parts.compare += [f"### `{bench}` on {machine}", "",
                          f"Nothing measured: {c['n/a']} combination(s) skipped, {c['failed']} failed.", ""]
        return
    current = [m for m in rows if m.commit == latest]
    path = plot_comparison(plt, machine, bench, current, out, hardware)
    _made(made, path)
    parts.compare += casestudy.comparison_block(machine, bench, current, path, out, parts.findings, jitted)
    series = scaling_series(current)
    if series:
        spath = plot_scaling(plt, machine, bench, series, out, current, hardware)
        _made(made, spath)
        parts.scaling += [f"### `{bench}` on {machine}", "", f"![scaling of {bench}]({casestudy.rel(spath, out)})", ""]
        for (rest, config), entry in sorted(series.items(), key=lambda item: str(item[0])):
            slope = entry["slope"]
            parts.slopes.append([machine, f"`{bench}`", problem_label(rest), label(config),
                                 f"{int(entry['sizes'][0])}–{int(entry['sizes'][-1])}",
                                 f"{slope:.2f}" if slope is not None else "?"])
        parts.findings += casestudy.scaling_findings(bench, machine, series)
    releases = sorted({(m.date_ms or 0, m.commit) for m in rows if m.ok})
    parts.history += [f"### `{bench}` on {machine}", "",
                      f"{len(releases)} commit(s) measured: "
                      + ", ".join(f"{rs.release(c)}" for _, c in releases)
                      + (": no history to plot." if len(releases) < 2 else "."), ""]
    if len(releases) < 2:
        return
    hpath, drawn = plot_history(plt, rs, machine, bench, rows, out, hardware)
    _made(made, hpath)
    if history_data is not None and hpath is not None:
        history_data[hpath] = drawn
    if hpath is not None:
        parts.history += [f"![history of {bench}]({casestudy.rel(hpath, out)})", ""]
    parts.findings += history_findings(rs, bench, machine, rows)


def _made(made: set, path: Path | None) -> None:
    if path is not None:
        made.update(path.with_suffix(f".{fmt}") for fmt in ("png", "svg"))


def _tpu_section(rs: ResultSet) -> list[str]:
    tpu = [name for name, m in rs.machines.items() if re.search(r"tpu", f"{name} {m.info}", re.I)]
    if tpu:
        return ["## TPU", "", f"TPU machine(s) in these results: {', '.join(sorted(tpu))}; their numbers are in "
                "the sections above.", ""]
    return ["## TPU", "",
            "**No TPU run was made**: none of the result files read here comes from a machine with a TPU, so "
            "this report has no TPU numbers. What the compilers' counts predict for GPUs and TPUs, the TPU "
            "questions (float64, pyhf #301's zig-zag) and the measurement that would settle them: "
            "[docs/accelerators.md](../accelerators.md).", ""]


def remove_orphans(out: Path, made: set[Path]) -> list[Path]:
    """Delete the report's own kind of file (compare-*, history-*, ...) in *out* that this run did not make."""
    removed = []
    for path in sorted(out.iterdir()):
        if path.is_file() and REPORT_FILES.match(path.name) and path not in made:
            path.unlink()
            removed.append(path)
            print(f"NOTE: removed {path}: no committed result makes it any more", file=sys.stderr)
    return removed


def remove_stale_parts(out: Path) -> list[Path]:
    """Delete the hidden ``.NAME.*.part`` files a killed report left in *out* (``files.atomic_file``'s temporaries).

    A report writes into its own --out folder; a partial file there is from a run
    that did not finish, never a file still being written by this one.
    """
    removed = []
    for path in sorted(out.rglob(".*.part")):
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
        print(f"NOTE: removed {path}, a partial file left by an interrupted report", file=sys.stderr)
    return removed


def _write_csv(rs: ResultSet, path: Path) -> None:
    """One row per measured combination (skipped and failed ones are counted and listed in the case study)."""
    measured = [m for m in rs.measurements if m.ok]
    names = sorted({k for m in measured for k in m.params})
    with atomic_file(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["machine", "commit", "release", "commit_date", "env", "benchmark", *names, "value", "unit",
                         "samples", "q_25", "q_75"])
        for m in measured:
            writer.writerow([m.machine, m.commit, rs.release(m.commit), date_text(m.date_ms), m.env_name, m.benchmark,
                             *[m.params.get(n, "") for n in names], repr(m.value), m.unit, m.samples or "",
                             *(repr(v) for v in (m.spread or ("", "")))])
