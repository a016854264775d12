"""``pyhf-bench report RESULTS_DIR --out DIR``: comparison, scaling, history and accuracy plots and a case study.

Reads asv result files with asv's own reader (:func:`asv.results.iter_results`)
for every machine under RESULTS_DIR (``<machine>/machine.json`` +
``<machine>/<commit>-<env>.json``) and the benchmark metadata in
``RESULTS_DIR/benchmarks.json`` (parameter names, units, repeat settings), and
writes into DIR:

* ``compare-<machine>-<benchmark>.png/.svg``: time of each backend x device x
  precision (x optimizer, ROOT evaluation mode, ...) at the newest commit, with
  the speed-up relative to numpy on the CPU at 64b;
* ``scaling-<machine>-<benchmark>.png/.svg``: time against ``n_bins`` on
  log-log axes with the fitted power-law slope of each configuration;
* ``history-<machine>-<benchmark>.png/.svg``: each parameter combination over
  the commit dates;
* ``accuracy-<machine>-<benchmark>.png/.svg``: the ``track_`` benchmarks;
* ``measurements.csv``: every value read, one row per parameter combination;
* ``case-study.md``: machines, method, tables, the plots and findings computed
  from the data.

asv writes NaN for a skipped combination (shown as ``n/a``) and null for a
failed one; both are counted and listed, never plotted, never fatal.
Profiles written by ``pyhf-bench profile --out DIR/profiles/<name>`` are
picked up from ``DIR/profiles`` (or ``--profiles``).
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import os
import re
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file

#: Parameters that say *how* a step is computed; every other parameter says *what* (model, size, step).
# eval_backend: RooFit's evaluation backend (legacy/cpu/codegen) in benchmarks/root_peer.py.
CONFIG_PARAMS = ("backend", "device", "precision", "optimizer", "eval_backend")
#: The configuration every speed-up is relative to.
REFERENCE = {"backend": "numpy", "device": "cpu", "precision": "64b"}
#: Parameter whose values are model sizes (the scaling plot's x axis).
SIZE_PARAM = "n_bins"
#: At most this many panels (comparison) or lines (history) per figure; the rest are in the tables/CSV.
MAX_PANELS = 9
MAX_LINES = 10

FIGURE_FORMATS = ("png", "svg")


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Machine:
    name: str
    info: dict  # machine.json: cpu, num_cpu, ram, os, arch


@dataclass
class Measurement:
    """One parameter combination of one benchmark in one result file."""

    machine: str
    commit: str
    date_ms: int | None  # commit date (JavaScript timestamp), as asv stores it
    env_name: str
    env_params: dict  # the result file's params: python, requirement pins, env vars
    benchmark: str
    kind: str  # time, peakmem, track, mem, timeraw
    unit: str
    params: dict  # parameter name -> value (Python value where it parses)
    value: float | None  # None: failed; NaN: skipped (n/a)
    spread: tuple[float, float] | None = None  # asv's interquartile range (q_25, q_75) where stored

    @property
    def status(self) -> str:
        if self.value is None:
            return "failed"
        if isinstance(self.value, float) and math.isnan(self.value):
            return "n/a"
        return "ok"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def config(self) -> tuple:
        return tuple((k, self.params[k]) for k in CONFIG_PARAMS if k in self.params)

    def problem(self) -> tuple:
        return tuple((k, v) for k, v in self.params.items() if k not in CONFIG_PARAMS)


@dataclass
class ResultSet:
    machines: dict[str, Machine]
    measurements: list[Measurement]
    benchmarks: dict[str, dict]  # benchmarks.json
    files: int = 0
    commit_dates: dict[str, int | None] = field(default_factory=dict)
    #: Result files that could not be read: (path, reason). The report names each one.
    skipped: list = field(default_factory=list)


def _param_value(text):
    """asv stores parameter values as their repr ("'numpy'", "100"): give back the value."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _kind(name: str, meta: dict) -> str:
    if meta.get("type"):
        return meta["type"]
    method = name.rsplit(".", 1)[-1]
    return method.split("_", 1)[0]


def _unit(kind: str, meta: dict) -> str:
    if meta.get("unit"):
        return meta["unit"]
    return {"time": "seconds", "timeraw": "seconds", "peakmem": "bytes", "mem": "bytes"}.get(kind, "unit")


def load_results(results_dir: str | os.PathLike) -> ResultSet:
    """Every measurement of every machine under *results_dir* (asv's results_dir)."""
    from asv import util as asv_util
    from asv.results import Results

    root = Path(results_dir)
    if not root.is_dir():
        raise UserError(f"results directory {root} does not exist; give asv's results_dir (e.g. results/)")
    benchmarks: dict[str, dict] = {}
    bench_file = root / "benchmarks.json"
    if bench_file.is_file():
        try:
            raw = json.loads(bench_file.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"{bench_file} is not valid JSON ({exc}); rerun asv or delete it") from None
        benchmarks = {k: v for k, v in raw.items() if isinstance(v, dict)}

    machines: dict[str, Machine] = {}
    measurements: list[Measurement] = []
    files = 0
    skipped: list[tuple[str, str]] = []
    for machine_json in sorted(root.glob("*/machine.json")):
        try:
            info = json.loads(machine_json.read_text())
        except json.JSONDecodeError as exc:
            skipped.append((str(machine_json), f"bad machine.json ({exc}): the whole folder is left out"))
            continue
        name = info.get("machine") or machine_json.parent.name
        machines[name] = Machine(name, info)
        # One file at a time (asv's iter_results only logs a file it cannot read): every
        # unreadable file is named in the report instead of silently dropping its rows.
        for path in sorted(machine_json.parent.rglob("*.json")):
            if path.name in ("machine.json", "benchmarks.json"):
                continue
            try:
                result = Results.load(str(path), machine_name=name)
            except (asv_util.UserError, OSError, ValueError, KeyError, TypeError) as exc:
                skipped.append((str(path), " ".join(str(exc).split())[:200] or type(exc).__name__))
                continue
            files += 1
            measurements.extend(_measurements(name, result, benchmarks))
    for path, reason in skipped:
        print(f"WARNING: {path} cannot be read and is left out of the report: {reason}", file=sys.stderr)
    if not machines:
        raise UserError(f"no asv machine directory (with machine.json) under {root}; run asv first")
    if files == 0:
        raise UserError(f"no asv result files under {root} ({', '.join(machines)}); run asv first")
    dates = {m.commit: m.date_ms for m in measurements}
    return ResultSet(machines, measurements, benchmarks, files, dates, skipped)


def _measurements(machine: str, result, benchmarks: dict) -> list[Measurement]:
    out = []
    for key in sorted(result.get_all_result_keys()):
        meta = benchmarks.get(key, {})
        kind = _kind(key, meta)
        unit = _unit(kind, meta)
        result_params = result.get_result_params(key) or []
        values = result.get_result_value(key, result_params) if result_params else None
        if not result_params:
            # A benchmark without parameters: one value (or None).
            raw = result._results.get(key)  # noqa: SLF001 - asv has no public accessor for unparameterised values
            values = [raw[0] if isinstance(raw, list) else raw]
            combos = [()]
        else:
            import itertools

            combos = list(itertools.product(*result_params))
        try:
            stats = result.get_result_stats(key, result_params) if result_params else [None]
        except (KeyError, TypeError):
            stats = [None] * len(combos)
        stats = stats or [None] * len(combos)
        names = list(meta.get("param_names") or [])
        if len(names) != len(result_params):
            names = [f"param{i}" for i in range(len(result_params))]
        for combo, value, stat in zip(combos, values, stats):
            spread = None
            if isinstance(stat, dict) and stat.get("q_25") is not None and stat.get("q_75") is not None:
                spread = (float(stat["q_25"]), float(stat["q_75"]))
            out.append(
                Measurement(
                    machine=machine,
                    commit=result.commit_hash,
                    date_ms=result.date,
                    env_name=result.env_name or "",
                    env_params=dict(result.params or {}, env_vars=dict(result.env_vars or {})),
                    benchmark=key,
                    kind=kind,
                    unit=unit,
                    params={n: _param_value(v) for n, v in zip(names, combo)},
                    value=None if value is None else float(value),
                    spread=spread,
                )
            )
    return out


# --------------------------------------------------------------------------- profiles


def load_profiles(directory: Path) -> list[dict]:
    """The ``profile.json`` summaries written by ``pyhf-bench profile`` under *directory*."""
    found = []
    if not directory.is_dir():
        return found
    for path in sorted(directory.rglob("profile.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            print(f"pyhf-bench report: skipping unreadable profile {path}", file=sys.stderr)
            continue
        data["_dir"] = path.parent
        found.append(data)
    return found


# --------------------------------------------------------------------------- formatting


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    if math.isnan(value):
        return "n/a"
    if unit == "seconds":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if abs(value) >= scale or scale == 1e-9:
                return f"{value / scale:.3g} {suffix}"
    if unit == "bytes":
        for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"), (1, "B")):
            if abs(value) >= scale or scale == 1:
                return f"{value / scale:.3g} {suffix}"
    return f"{value:.4g} {unit}" if unit not in ("unit", "") else f"{value:.4g}"


def _label(pairs) -> str:
    return "/".join(str(v) for _, v in pairs) if pairs else "(no parameters)"


def _problem_label(pairs) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs) if pairs else "-"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def _date(ms: int | None) -> str:
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def _short_env(m: Measurement) -> str:
    era = (m.env_params.get("env_vars") or {}).get("PYHF_BENCH_ERA") if isinstance(m.env_params.get("env_vars"), dict) else None
    era = era or m.env_params.get("PYHF_BENCH_ERA")
    return f"era {era}" if era else (m.env_name or "?")


# --------------------------------------------------------------------------- analysis


def latest_commit(measurements: list[Measurement]) -> str | None:
    """The newest commit (by commit date) that has at least one successful measurement."""
    dated = [(m.date_ms or 0, m.commit) for m in measurements if m.ok]
    return max(dated)[1] if dated else None


def speedups(rows: list[Measurement]) -> dict[int, float]:
    """Speed-up of each row relative to numpy/cpu/64b with the same other parameters (index -> factor)."""
    reference: dict[tuple, float] = {}
    for m in rows:
        if m.ok and all(m.params.get(k) == v for k, v in REFERENCE.items()):
            key = (m.env_name, tuple((k, v) for k, v in m.params.items() if k not in REFERENCE))
            reference[key] = m.value  # type: ignore[assignment]
    out = {}
    for i, m in enumerate(rows):
        if not m.ok or m.value == 0:
            continue
        key = (m.env_name, tuple((k, v) for k, v in m.params.items() if k not in REFERENCE))
        if key in reference:
            out[i] = reference[key] / m.value  # type: ignore[operator]
    return out


def fit_slope(sizes: list[float], values: list[float]) -> float | None:
    """Least-squares slope of log(value) against log(size): time ~ size^slope."""
    points = [(math.log(s), math.log(v)) for s, v in zip(sizes, values) if s > 0 and v and v > 0]
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx


def _group(items, key):
    grouped = defaultdict(list)
    for item in items:
        grouped[key(item)].append(item)
    return dict(grouped)


# --------------------------------------------------------------------------- plotting


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "font.size": 9, "axes.grid": True,
                         "grid.alpha": 0.3, "svg.hashsalt": "pyhf-bench", "svg.fonttype": "none"})
    return plt


def _axis_formatter(unit: str):
    from matplotlib.ticker import EngFormatter, ScalarFormatter

    if unit == "seconds":
        return EngFormatter(unit="s")
    if unit == "bytes":
        return EngFormatter(unit="B")
    return ScalarFormatter()


def _axis_label(kind: str, unit: str) -> str:
    if kind in ("time", "timeraw"):
        return "time per call (s)"
    if kind in ("peakmem", "mem"):
        return "peak memory (bytes)"
    return unit if unit not in ("", "unit") else "value"


def save_figure(fig, out: Path, stem: str) -> list[Path]:
    """Write *fig* as PNG and SVG, each atomically; return the paths."""
    paths = []
    for fmt in FIGURE_FORMATS:
        path = out / f"{stem}.{fmt}"
        with atomic_file(path, "wb") as fh:
            fig.savefig(fh, format=fmt, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def plot_comparison(plt, machine: str, benchmark: str, rows: list[Measurement], out: Path) -> Path | None:
    """Horizontal bars: one panel per problem (model size, step...), one bar per configuration."""
    ok = [m for m in rows if m.ok]
    if not ok:
        return None
    factors = speedups(rows)
    index = {id(m): i for i, m in enumerate(rows)}
    problems = _group(ok, Measurement.problem)
    # The panels with the most configurations are the most informative comparisons.
    chosen = sorted(problems, key=lambda p: (-len(problems[p]), str(p)))[:MAX_PANELS]
    chosen.sort(key=str)
    ncols = min(3, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    height = max(len(problems[p]) for p in chosen)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 0.9 + nrows * (0.9 + 0.32 * height)), squeeze=False)
    unit, kind = ok[0].unit, ok[0].kind
    for ax, problem in zip(axes.flat, chosen):
        cells = sorted(problems[problem], key=lambda m: m.value)
        labels = [_label(m.config()) for m in cells]
        values = [m.value for m in cells]
        colors = ["#444444" if all(m.params.get(k) == v for k, v in REFERENCE.items()) else "#3b75af" for m in cells]
        ax.barh(range(len(cells)), values, color=colors)
        ax.set_yticks(range(len(cells)), labels)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_axis_formatter(unit))
        ax.set_xlabel(_axis_label(kind, unit))
        ax.set_title(_problem_label(problem) if problem else "", fontsize=9)
        for y, m in enumerate(cells):
            factor = factors.get(index[id(m)])
            is_reference = all(m.params.get(k) == v for k, v in REFERENCE.items())
            text = format_value(m.value, unit)
            if factor is not None and not is_reference:
                text += f"  speed-up ×{factor:.2g}"
            ax.text(m.value, y, " " + text, va="center", fontsize=7)
        ax.set_xlim(min(values) / 2, max(values) * 40)  # room for the annotations right of the bars
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    commit = ok[0].commit[:8]
    fig.suptitle(f"{benchmark}\n{machine}, commit {commit} ({_date(ok[0].date_ms)}); "
                 "dark bar: the numpy/cpu/64b reference of the speed-ups; shorter is faster", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, f"compare-{_slug(machine)}-{_slug(benchmark)}")[0]


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


def plot_scaling(plt, machine: str, benchmark: str, series: dict[tuple, dict], out: Path, unit: str, kind: str):
    if not series:
        return None
    by_rest = _group(series.items(), lambda item: item[0][0])
    rests = sorted(by_rest, key=str)[:MAX_PANELS]
    ncols = min(2, len(rests))
    nrows = math.ceil(len(rests) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.4 * nrows), squeeze=False)
    for ax, rest in zip(axes.flat, rests):
        for (_, config), entry in sorted(by_rest[rest], key=lambda item: str(item[0][1])):
            slope = entry["slope"]
            ax.plot(entry["sizes"], entry["values"], marker="o",
                    label=f"{_label(config)}: slope {slope:.2f}" if slope is not None else _label(config))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_axis_formatter(unit))
        ax.set_xlabel(f"model size ({SIZE_PARAM})")
        ax.set_ylabel(_axis_label(kind, unit))
        ax.set_title(_problem_label(rest), fontsize=9)
        ax.legend(fontsize=7, title="config: fitted log-log slope", title_fontsize=7)
    for ax in list(axes.flat)[len(rests):]:
        ax.set_visible(False)
    fig.suptitle(f"{benchmark}: scaling with model size\n{machine}; slope 1 = linear in {SIZE_PARAM}, "
                 "0 = size-independent overhead", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, f"scaling-{_slug(machine)}-{_slug(benchmark)}")[0]


def plot_history(plt, machine: str, benchmark: str, rows: list[Measurement], out: Path) -> Path | None:
    ok = [m for m in rows if m.ok and m.date_ms is not None]
    if not ok:
        return None
    from matplotlib import dates as mdates

    lines = _group(ok, lambda m: (_short_env(m), tuple(m.params.items())))
    # Keep the lines measured at the most commits, the numpy/cpu/64b reference first.
    def priority(key):
        params = dict(key[1])
        is_reference = all(params.get(k) == v for k, v in REFERENCE.items())
        return (-len({m.commit for m in lines[key]}), not is_reference, str(key))

    chosen = sorted(lines, key=priority)[:MAX_LINES]
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    ax.set_yscale("log")
    unit, kind = ok[0].unit, ok[0].kind
    for key in sorted(chosen, key=str):
        points = sorted(lines[key], key=lambda m: m.date_ms)
        env, params = key
        as_dict = dict(params)
        label = _label(tuple((k, as_dict[k]) for k in CONFIG_PARAMS if k in as_dict))
        problem = tuple((k, v) for k, v in params if k not in CONFIG_PARAMS)
        label += (", " + _problem_label(problem) if problem else "") + (f" [{env}]" if len({k[0] for k in lines}) > 1 else "")
        ax.plot([datetime.fromtimestamp(m.date_ms / 1000, tz=timezone.utc) for m in points],
                [m.value for m in points], marker="o", label=label)
    commits = sorted({(m.date_ms, m.commit) for m in ok})
    for ms, commit in commits:
        ax.annotate(commit[:8], (datetime.fromtimestamp(ms / 1000, tz=timezone.utc), 1), xycoords=("data", "axes fraction"),
                    xytext=(0, -3), textcoords="offset points", ha="center", va="top", fontsize=6, color="0.4")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 2.5)  # headroom for the commit labels (log axis)
    if len({ms for ms, _ in commits}) == 1:
        # A single date would make matplotlib span years around it.
        from datetime import timedelta

        only = datetime.fromtimestamp(commits[0][0] / 1000, tz=timezone.utc)
        ax.set_xlim(only - timedelta(days=30), only + timedelta(days=30))
    ax.yaxis.set_major_formatter(_axis_formatter(unit))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    ax.set_xlabel("commit date")
    ax.set_ylabel(_axis_label(kind, unit))
    hidden = len(lines) - len(chosen)
    ax.set_title(f"{benchmark} over commits, {machine}" + (f" ({hidden} more lines in measurements.csv)" if hidden else ""),
                 fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save_figure(fig, out, f"history-{_slug(machine)}-{_slug(benchmark)}")[0]


def plot_accuracy(plt, machine: str, benchmark: str, rows: list[Measurement], out: Path) -> Path | None:
    ok = [m for m in rows if m.ok]
    if not ok:
        return None
    latest = latest_commit(ok)
    cells = sorted((m for m in ok if m.commit == latest), key=lambda m: str(m.params))
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.3 * len(cells)))
    values = [abs(m.value) for m in cells]
    ax.barh(range(len(cells)), values, color="#b5562f")
    ax.set_yticks(range(len(cells)), [_label(tuple(m.params.items())) for m in cells])
    ax.invert_yaxis()
    if all(v > 0 for v in values) and max(values) / min(values) > 100:
        ax.set_xscale("log")
    ax.set_xlabel(f"|value| ({ok[0].unit})")
    ax.set_title(f"{benchmark}, {machine}, commit {latest[:8]}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, f"accuracy-{_slug(machine)}-{_slug(benchmark)}")[0]


# --------------------------------------------------------------------------- the case study


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _rel(path: Path, out: Path) -> str:
    return os.path.relpath(path, out).replace(os.sep, "/")


#: Keys of a result file's params that describe the machine (shown in the machine table), not the environment.
_MACHINE_KEYS = ("machine", "arch", "cpu", "num_cpu", "os", "ram", "python", "env_vars")


def _machine_section(rs: ResultSet, env_info: dict[str, dict]) -> list[str]:
    lines = ["## Machines and environments", ""]
    rows = []
    for name, machine in sorted(rs.machines.items()):
        info = machine.info
        ram = info.get("ram")
        try:
            ram_text = f"{int(ram) / 2**30:.1f} GiB"
        except (TypeError, ValueError):
            ram_text = str(ram or "?")
        rows.append([name, info.get("cpu", "?"), info.get("num_cpu", "?"), ram_text, info.get("os", "?"), info.get("arch", "?")])
    lines += [_table(["machine", "CPU", "cores", "memory", "OS", "arch"], rows), ""]
    lines += ["asv's `machine.json` has no GPU or CUDA field: GPU model and CUDA version are part of the "
              "machine name where a GPU was used (e.g. `h100-cuda12.4`), and in the environment report "
              "below where one was given with `--env-info`.", ""]
    envs = {}
    for m in rs.measurements:
        envs.setdefault((m.machine, m.env_name), m.env_params)
    rows = []
    for (machine, env), params in sorted(envs.items()):
        pins = ", ".join(f"{k} {v}" for k, v in sorted(params.items()) if k not in _MACHINE_KEYS and v)
        env_vars = params.get("env_vars") if isinstance(params.get("env_vars"), dict) else {}
        extra = ", ".join(f"{k}={v}" for k, v in sorted(env_vars.items()))
        commits = sorted({(m.date_ms or 0, m.commit) for m in rs.measurements if m.machine == machine and m.env_name == env})
        rows.append([machine, f"`{env}`", params.get("python", "?"), pins or "(the running interpreter's packages)",
                     extra or "-", ", ".join(f"`{c[:8]}` ({_date(d)})" for d, c in commits)])
    lines += [_table(["machine", "asv environment", "Python", "pinned packages", "env vars", "commits (date)"], rows), ""]
    for machine, info in sorted(env_info.items()):
        lines += [f"Environment report for `{machine}` (`pyhf-bench env --json`):", ""]
        versions = [["pyhf", info.get("pyhf", "?")], ["Python", info.get("python", "?")],
                    ["platform", info.get("platform", "?")], ["cores", info.get("cpu_count", "?")]]
        for backend, entry in sorted((info.get("backends") or {}).items()):
            versions.append([backend, (entry or {}).get("version") or "not installed"])
        for opt, version in sorted((info.get("optimizers") or {}).items()):
            versions.append([f"optimizer {opt}", version or "not installed"])
        for key in sorted(k for k in info if re.search(r"cuda|gpu|tpu|accelerator", k, re.I)):
            versions.append([key, json.dumps(info[key])])
        nodes = info.get("device_nodes") or {}
        versions.append(["device nodes", ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in nodes.items()) or "?"])
        lines += [_table(["what", "version / value"], versions), ""]
    return lines


def _method_section(rs: ResultSet) -> list[str]:
    lines = [
        "## What was measured and how",
        "",
        "Each benchmark is an asv class in `benchmarks/`. Its `setup` switches pyhf to one backend on one "
        "device at one precision (`pyhf_bench.core.runtime.activate`), builds the model and **runs the timed step "
        "once before timing** (JIT compilation and first-call caches are never timed; asv's own warm-up is "
        "off). Every timed call returns through `Runtime.synchronize` (`jax.block_until_ready`, "
        "`torch.cuda.synchronize()`, TensorFlow's `sync_devices`), so asynchronous device work is counted. "
        "asv runs each parameter combination in a fresh process and reports the median of its samples; "
        "the spread below is asv's interquartile range.",
        "",
    ]
    present = sorted({m.benchmark for m in rs.measurements})
    rows = []
    for name in present:
        meta = rs.benchmarks.get(name, {})
        rows.append([f"`{name}`", meta.get("type", "?"), meta.get("number", "default") or "auto",
                     meta.get("repeat", "default") or "auto", meta.get("rounds", "default"),
                     meta.get("warmup_time", "default"), meta.get("timeout", "default")])
    lines += [_table(["benchmark", "type", "number", "repeat", "rounds", "warmup_time", "timeout (s)"], rows), ""]
    lines += ["`number`/`repeat` 0 (auto) means asv chooses them (enough calls per sample for `sample_time`); "
              "a `repeat` triple is (min samples, max samples, max seconds) per round; default: asv's own.", ""]
    return lines


def _status_counts(rows: list[Measurement]) -> dict[str, int]:
    counts = {"ok": 0, "n/a": 0, "failed": 0}
    for m in rows:
        counts[m.status] += 1
    return counts


def build_report(results_dir, out, profiles_dir=None, env_info: dict[str, dict] | None = None,
                 command: str | None = None, wrong: list | None = None) -> Path:
    """Write the plots, measurements.csv and case-study.md into *out*; return the case study's path.

    *wrong*, if given, receives one ``WRONG:`` line per accuracy value beyond tolerance.
    """
    rs = load_results(results_dir)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(out)
    profiles = load_profiles(Path(profiles_dir) if profiles_dir else out / "profiles")
    plt = _pyplot()

    _write_csv(rs, out / "measurements.csv")
    by_machine_bench = _group(rs.measurements, lambda m: (m.machine, m.benchmark))
    counts = _status_counts(rs.measurements)

    md: list[str] = [
        "# pyhf backends: case study",
        "",
        f"Generated by `{command or 'pyhf-bench report'}` from {rs.files} asv result file(s) "
        f"of {len(rs.machines)} machine(s): {len(rs.measurements)} parameter combinations, "
        f"{counts['ok']} measured, {counts['n/a']} skipped (n/a: cannot run there, or outside the tier), "
        f"{counts['failed']} failed. Every number below is read from those files; "
        "`measurements.csv` has all of them.",
        "",
    ]
    if rs.skipped:
        md[-2] = md[-2].replace("Every number below is read from those files", "Every number below is read from "
                                "those files, but not every file could be read")
        md += [f"**{len(rs.skipped)} file(s) could not be read and are left out** (their numbers are missing "
               "below):", ""] + [f"* `{path}`: {reason}" for path, reason in rs.skipped] + [""]
    md += _machine_section(rs, env_info or {})
    md += _method_section(rs)

    findings: list[str] = []
    compare_md: list[str] = ["## Backends compared", ""]
    scaling_md: list[str] = ["## Scaling with model size", ""]
    history_md: list[str] = ["## History over commits", ""]
    accuracy_md: list[str] = ["## Accuracy (`track_` benchmarks)", ""]
    slopes_rows: list[list[str]] = []
    any_track = False

    for (machine, bench), rows in sorted(by_machine_bench.items()):
        kind = rows[0].kind
        if kind == "track":
            any_track = True
            path = plot_accuracy(plt, machine, bench, rows, out)
            accuracy_md += _accuracy_block(machine, bench, rows, path, out)
            flagged = deviation_findings(bench, machine, rows)
            accuracy_md += [f"**{line}**" for line in flagged] + ([""] if flagged else [])
            findings += flagged
            if wrong is not None:
                wrong += flagged
            continue
        latest = latest_commit(rows)
        if latest is None:
            c = _status_counts(rows)
            compare_md += [f"### `{bench}` on {machine}", "",
                           f"Nothing measured: {c['n/a']} combination(s) skipped, {c['failed']} failed.", ""]
            continue
        current = [m for m in rows if m.commit == latest]
        path = plot_comparison(plt, machine, bench, current, out)
        compare_md += _comparison_block(machine, bench, current, path, out, findings)
        series = scaling_series(current)
        if series:
            spath = plot_scaling(plt, machine, bench, series, out, current[0].unit, kind)
            scaling_md += [f"### `{bench}` on {machine}", "", f"![scaling of {bench}]({_rel(spath, out)})", ""]
            for (rest, config), entry in sorted(series.items(), key=lambda item: str(item[0])):
                slope = entry["slope"]
                slopes_rows.append([machine, f"`{bench}`", _problem_label(rest), _label(config),
                                    f"{int(entry['sizes'][0])}–{int(entry['sizes'][-1])}",
                                    f"{slope:.2f}" if slope is not None else "?"])
            findings += _scaling_findings(bench, machine, series)
        commits = {m.commit for m in rows if m.ok}
        hpath = plot_history(plt, machine, bench, rows, out)
        history_md += [f"### `{bench}` on {machine}", "",
                       f"{len(commits)} commit(s) measured." + ("" if len(commits) > 1 else
                                                                 " One commit: no change over time to show yet."), "",
                       f"![history of {bench}]({_rel(hpath, out)})", ""]
        findings += _history_findings(bench, machine, rows)

    if slopes_rows:
        scaling_md[2:2] = [_table(["machine", "benchmark", "other parameters", "configuration", f"{SIZE_PARAM} range",
                                   "slope (log time / log size)"], slopes_rows), ""]
    else:
        scaling_md += [f"No benchmark in these results was measured at two or more `{SIZE_PARAM}` values "
                       "(the quick tier runs one size; run the full tier, `PYHF_BENCH_TIER=full`).", ""]
    if not any_track:
        accuracy_md += ["No `track_` results in these result files: no accuracy benchmark was run. "
                        "Nothing is plotted here.", ""]

    md += compare_md + scaling_md + history_md + accuracy_md
    md += _profiles_section(profiles, out)
    md += ["## TPU", "",
           "**No TPU run was made**: none of the result files read here comes from a machine with a TPU, so "
           "this report has no TPU numbers. What the compilers' counts predict for GPUs and TPUs, the TPU "
           "questions (float64, pyhf #301's zig-zag) and the measurement that would settle them: "
           "[docs/accelerators.md](../accelerators.md).", ""]
    md += ["## Findings", "", "Computed from the numbers above when this report was generated.", ""]
    md += [f"* {f}" for f in findings] or ["* No measurement to draw a finding from."]
    failed = sorted({(m.machine, m.benchmark, _label(tuple(m.params.items()))) for m in rs.measurements if m.status == "failed"})
    if failed:
        md += ["", "### Failed combinations", ""] + [f"* {mach}: `{b}` ({p})" for mach, b, p in failed]
    md.append("")
    target = out / "case-study.md"
    with atomic_file(target) as fh:
        fh.write("\n".join(md))
    return target


def deviation_findings(bench: str, machine: str, rows: list[Measurement]) -> list[str]:
    """``track_deviation`` values of the latest commit beyond :mod:`pyhf_bench.core.verdict`'s tolerance, as WRONG lines.

    The deviation is relative for a CLs reference and absolute for a 2*NLL one; which
    one a likelihood has is read from the registry.
    """
    from pyhf_bench import likelihoods
    from pyhf_bench.core import verdict

    if not bench.endswith("track_deviation"):
        return []
    latest = latest_commit(rows)
    out = []
    for m in rows:
        if m.commit != latest or not m.ok or "likelihood" not in m.params:
            continue
        name, region = likelihoods.split_key(str(m.params["likelihood"]))
        try:
            entry = likelihoods.entry(name)
            reference = entry.region(region)[1].get("reference") or {}
        except UserError:
            continue  # a likelihood no longer registered: nothing to judge it by
        precision = str(m.params.get("precision", "64b"))
        if "cls_obs" in reference:
            tolerance, what = verdict.cls_tolerance(precision)[0], "relative deviation of CLs_obs"
        else:
            tolerance = verdict.TWICE_NLL_TOLERANCE.get(precision, verdict.TWICE_NLL_TOLERANCE["32b"])
            what = "absolute deviation of 2*NLL"
        if m.value > tolerance:
            out.append(f"WRONG: {what} = {m.value:.3g}, tolerance {tolerance:g} against the "
                       f"{reference.get('kind', 'self-snapshot')} reference: `{bench}` ({_label(tuple(m.params.items()))}) "
                       f"on {machine}, commit {m.commit[:8]}")
    return out


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


def _comparison_block(machine, bench, rows, path, out, findings) -> list[str]:
    factors = speedups(rows)
    unit = rows[0].unit
    c = _status_counts(rows)
    lines = [f"### `{bench}` on {machine}", "",
             f"Commit `{rows[0].commit[:8]}` ({_date(rows[0].date_ms)}), {_short_env(rows[0])}: "
             f"{c['ok']} measured, {c['n/a']} skipped (n/a), {c['failed']} failed.", ""]
    if path is not None:
        lines += [f"![{bench} on {machine}]({_rel(path, out)})", ""]
    table = []
    for i, m in enumerate(rows):
        if m.status == "n/a":
            continue  # skips are counted above; listing hundreds of n/a rows helps nobody
        spread = f"{format_value(m.spread[0], unit)} – {format_value(m.spread[1], unit)}" if m.spread else ""
        factor = factors.get(i)
        table.append([_problem_label(m.problem()), _label(m.config()), format_value(m.value, unit), spread,
                      f"{factor:.2f}×" if factor is not None else ""])
    table.sort(key=lambda r: (r[0], r[1]))
    if table:
        lines += [_table(["problem", "configuration", "median", "interquartile range", "speed-up vs numpy/cpu/64b"],
                         table), ""]
    for problem, cells in sorted(_group([m for m in rows if m.ok], Measurement.problem).items(), key=lambda x: str(x[0])):
        if len(cells) < 2:
            continue
        best = min(cells, key=lambda m: m.value)
        worst = max(cells, key=lambda m: m.value)
        idx = {id(m): i for i, m in enumerate(rows)}
        factor = factors.get(idx[id(best)])
        text = (f"`{bench}` ({_problem_label(problem) + ', ' if problem else ''}{machine}): fastest is {_label(best.config())} at "
                f"{format_value(best.value, unit)}, slowest {_label(worst.config())} at {format_value(worst.value, unit)} "
                f"({worst.value / best.value:.1f}× apart)")
        if factor is not None and _label(best.config()) != "numpy/cpu/64b":
            text += f"; {factor:.2f}× the speed of numpy/cpu/64b"
        findings.append(text + ".")
    return lines


def _scaling_findings(bench, machine, series) -> list[str]:
    out = []
    for (rest, config), entry in sorted(series.items(), key=lambda item: str(item[0])):
        slope = entry["slope"]
        if slope is None:
            continue
        if slope < 0.3:
            meaning = "nearly size-independent: fixed per-call overhead dominates"
        elif slope < 0.8:
            meaning = "sub-linear: per-call overhead still weighs"
        elif slope < 1.2:
            meaning = "about linear in the number of bins"
        else:
            meaning = "super-linear"
        lo, hi = entry["sizes"][0], entry["sizes"][-1]
        out.append(f"`{bench}` with {_label(config)} ({machine}{', ' + _problem_label(rest) if rest else ''}): "
                   f"time ∝ {SIZE_PARAM}^{slope:.2f} over {int(lo)}–{int(hi)} bins, {meaning} "
                   f"({entry['values'][-1] / entry['values'][0]:.1f}× from smallest to largest).")
    return out


def _history_findings(bench, machine, rows) -> list[str]:
    """The largest change between consecutive commits of each parameter combination."""
    lines = _group([m for m in rows if m.ok and m.date_ms is not None], lambda m: (m.env_name, tuple(m.params.items())))
    biggest = None
    for key, points in lines.items():
        points = sorted(points, key=lambda m: m.date_ms)
        for before, after in zip(points, points[1:]):
            ratio = after.value / before.value if before.value else None
            if ratio and (biggest is None or abs(math.log(ratio)) > abs(math.log(biggest[0]))):
                biggest = (ratio, key, before, after)
    if biggest is None:
        return []
    ratio, key, before, after = biggest
    direction = "slower" if ratio > 1 else "faster"
    return [f"`{bench}` ({machine}): the largest change between consecutive commits is "
            f"{_label(key[1])} from `{before.commit[:8]}` to `{after.commit[:8]}`: "
            f"{format_value(before.value, before.unit)} → {format_value(after.value, after.unit)} "
            f"({ratio:.2f}×, {direction})."]


def _accuracy_block(machine, bench, rows, path, out) -> list[str]:
    c = _status_counts(rows)
    lines = [f"### `{bench}` on {machine}", "", f"{c['ok']} values, {c['n/a']} skipped, {c['failed']} failed.", ""]
    if path is not None:
        lines += [f"![{bench}]({_rel(path, out)})", ""]
    latest = latest_commit(rows)
    table = [[_label(tuple(m.params.items())), format_value(m.value, m.unit)]
             for m in rows if m.commit == latest and m.status != "n/a"]
    if table:
        lines += [_table(["parameters", "value"], table), ""]
    return lines


def _profiles_section(profiles: list[dict], out: Path) -> list[str]:
    lines = ["## Profiles", ""]
    if not profiles:
        return lines + ["No profile in the profiles directory: make one with "
                        "`pyhf-bench profile synthetic:100 --backend numpy --step logpdf --out <report>/profiles/numpy-logpdf`.", ""]
    for prof in profiles:
        where = prof["_dir"]
        lines += [f"### {prof.get('name')} — {prof.get('step')} with {prof.get('backend')}/{prof.get('device')}/"
                  f"{prof.get('precision')}", "",
                  f"pyhf {prof.get('pyhf_version', '?')}; {prof.get('profiled_calls', 1)} call(s) profiled after a "
                  f"warm-up call: {format_value(prof.get('profiled_wall_s'), 'seconds')} per call under cProfile "
                  f"({format_value(prof.get('unprofiled_wall_s'), 'seconds')} without the profiler). "
                  f"Full listing: `{_rel(where / 'profile.txt', out)}`"
                  + (f", flame graph: `{_rel(where / 'flamegraph.svg', out)}`" if (where / "flamegraph.svg").exists() else "")
                  + ".", ""]
        rows = [[f"`{f['function']}`", f.get("ncalls_per_call", "?"), f"{f['cumtime_s'] * 1e3:.3f}",
                 f"{f['tottime_s'] * 1e3:.3f}"] for f in prof.get("top_cumulative", [])[:10]]
        lines += [_table(["function", "calls per step", "cumulative per step (ms)", "own per step (ms)"], rows), ""]
    return lines


def _write_csv(rs: ResultSet, path: Path) -> None:
    names = sorted({k for m in rs.measurements for k in m.params})
    with atomic_file(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["machine", "commit", "commit_date", "env", "benchmark", *names, "status", "value", "unit"])
        for m in rs.measurements:
            writer.writerow([m.machine, m.commit, _date(m.date_ms), m.env_name, m.benchmark,
                             *[m.params.get(n, "") for n in names], m.status,
                             "" if not m.ok else repr(m.value), m.unit])


# --------------------------------------------------------------------------- command line


def _parse_env_info(items: list[str]) -> dict[str, dict]:
    out = {}
    for item in items or []:
        machine, sep, file = item.partition("=")
        if not sep or not machine or not file:
            raise UserError(f"bad --env-info {item!r}; give MACHINE=FILE with FILE from `pyhf-bench env --json`")
        try:
            out[machine] = json.loads(Path(file).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"--env-info {item}: cannot read {file} as JSON ({exc}); write it with `pyhf-bench env --json > {file}`") from None
    return out


def _cmd_report(args) -> int:
    env_info = _parse_env_info(args.env_info)
    command = "pyhf-bench report " + " ".join([args.results_dir, "--out", args.out]
                                               + (["--profiles", args.profiles] if args.profiles else []))
    wrong: list[str] = []
    path = build_report(args.results_dir, args.out, args.profiles, env_info, command=command, wrong=wrong)
    print(path)
    for line in wrong:
        print(line)
    # An accuracy value beyond tolerance is a finding (pyhf_bench.core.verdict): exit 1.
    return 1 if wrong else 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="plots and a Markdown case study from asv result files",
        description="Read asv result files (every machine under RESULTS_DIR) and write comparison, scaling, "
        "history and accuracy plots (PNG and SVG), measurements.csv and case-study.md into --out.",
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="asv's results directory (e.g. results/)")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the report")
    p.add_argument("--profiles", metavar="DIR", default=None,
                   help="profiles written by `pyhf-bench profile` (default: DIR/profiles under --out)")
    p.add_argument("--env-info", metavar="MACHINE=FILE", action="append", default=[],
                   help="`pyhf-bench env --json` output of an asv machine (backend versions, devices); repeatable")
    p.set_defaults(func=_cmd_report)
