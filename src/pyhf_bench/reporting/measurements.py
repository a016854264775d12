"""Reading asv result files into :class:`Measurement` rows, and the small analyses the report makes of them.

asv's own reader (:class:`asv.results.Results`) loads every result file of every
machine under a results directory (``<machine>/machine.json`` +
``<machine>/<commit>-<env>.json``); the benchmark metadata (parameter names,
units) comes from ``benchmarks.json`` beside them, and the release label of
each commit from ``releases.json`` there (see :func:`load_releases`).
"""

from __future__ import annotations

import ast
import itertools
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

# eval_backend: RooFit's evaluation backend (legacy/cpu/codegen) in benchmarks/root_peer.py.
CONFIG_PARAMS = ("backend", "device", "precision", "optimizer", "eval_backend")
#: The configuration every speed-up is relative to.
REFERENCE = {"backend": "numpy", "device": "cpu", "precision": "64b"}
#: Parameter whose values are model sizes (the scaling plot's x axis).
SIZE_PARAM = "n_bins"
#: At most this many panels per comparison figure; the rest are in the tables and the CSV.
MAX_PANELS = 9


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
    samples: int | None = None  # asv's stats 'repeat': how many samples the median is of (None: not stored)

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
    #: Full commit hash -> release label ("v0.7.6"), from ``releases.json``; a commit not in it is shown by hash.
    releases: dict[str, str] = field(default_factory=dict)

    def release(self, commit: str) -> str:
        return self.releases.get(commit) or commit[:8]


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
            measurements.extend(result_measurements(name, result, benchmarks))
    for path, reason in skipped:
        print(f"WARNING: {path} cannot be read and is left out of the report: {reason}", file=sys.stderr)
    if not machines:
        raise UserError(f"no asv machine directory (with machine.json) under {root}; run asv first")
    if files == 0:
        raise UserError(f"no asv result files under {root} ({', '.join(machines)}); run asv first")
    dates = {m.commit: m.date_ms for m in measurements}
    return ResultSet(machines, measurements, benchmarks, files, dates, skipped, load_releases(root))


#: The file beside ``benchmarks.json`` that names the release of each benchmarked commit.
RELEASES_FILE = "releases.json"


def load_releases(results_dir: Path) -> dict[str, str]:
    """Commit hash -> release tag, from ``RESULTS_DIR/releases.json`` (``{"tags": {"v0.7.6": "<hash>"}}``).

    asv's result files hold commit hashes only; the tags live in the pyhf
    history asv cloned, which a report built from committed files does not
    have. The file is written from that history's tags (its ``_comment`` says
    how); without it every commit is labelled by its short hash.
    """
    path = Path(results_dir) / RELEASES_FILE
    if not path.is_file():
        return {}
    try:
        tags = json.loads(path.read_text()).get("tags") or {}
    except (json.JSONDecodeError, AttributeError) as exc:
        raise UserError(f"{path} is not a JSON object with 'tags' ({exc}); rewrite it from the pyhf history's tags") from None
    return {str(commit): str(tag) for tag, commit in tags.items()}


def hardware_label(machine: Machine) -> str:
    """The machine's name with its hardware as ``machine.json`` records it: 'epyc-2core (AMD EPYC, 2 cores, 23.5 GiB)'."""
    info = machine.info
    parts = [str(info["cpu"])] if info.get("cpu") else []
    if info.get("num_cpu"):
        parts.append(f"{info['num_cpu']} cores")
    try:
        parts.append(f"{int(info['ram']) / 2**30:.1f} GiB")
    except (KeyError, TypeError, ValueError):
        pass
    return f"{machine.name} ({', '.join(parts)})" if parts else machine.name


def sample_text(rows: list[Measurement]) -> str:
    """How many samples each median of *rows* is of, for a caption: 'single sample' or '5-10 samples'."""
    counts = sorted({m.samples for m in rows if m.ok and m.samples})
    if not counts:
        return "sample count not stored"
    if counts == [1]:
        return "single sample per point"
    low, high = counts[0], counts[-1]
    return f"{low} samples per point" if low == high else f"{low}–{high} samples per point"


def result_measurements(machine: str, result, benchmarks: dict) -> list[Measurement]:
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
            samples = None
            if isinstance(stat, dict) and stat.get("q_25") is not None and stat.get("q_75") is not None:
                spread = (float(stat["q_25"]), float(stat["q_75"]))
            if isinstance(stat, dict) and isinstance(stat.get("repeat"), int):
                samples = stat["repeat"]
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
                    samples=samples,
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


def label(pairs) -> str:
    return "/".join(str(v) for _, v in pairs) if pairs else "(no parameters)"


def problem_label(pairs) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs) if pairs else "-"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def date_text(ms: int | None) -> str:
    if ms is None:
        return "?"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def era_label(m: Measurement) -> str:
    """'era modern' from the environment's PYHF_BENCH_ERA (the environment name where it has none)."""
    era = (m.env_params.get("env_vars") or {}).get("PYHF_BENCH_ERA") if isinstance(m.env_params.get("env_vars"), dict) else None
    era = era or m.env_params.get("PYHF_BENCH_ERA")
    return f"era {era}" if era else (m.env_name or "?")


# --------------------------------------------------------------------------- analysis


def latest_commit(measurements: list[Measurement]) -> str | None:
    """The newest commit (by commit date) that has at least one successful measurement."""
    dated = [(m.date_ms or 0, m.commit) for m in measurements if m.ok]
    return max(dated)[1] if dated else None


def is_reference(m: Measurement) -> bool:
    """Whether *m* is the numpy/cpu/64b reference; a parameter the benchmark does not have (an import has no
    precision) counts as matching, so numpy is the reference there too."""
    return all(m.params.get(k, v) == v for k, v in REFERENCE.items())


def speedups(rows: list[Measurement]) -> dict[int, float]:
    """Speed-up of each row relative to numpy/cpu/64b with the same other parameters (index -> factor)."""
    reference: dict[tuple, float] = {}
    for m in rows:
        if m.ok and is_reference(m):
            reference[(m.env_name, m.commit, _non_reference(m))] = m.value  # type: ignore[assignment]
    out = {}
    for i, m in enumerate(rows):
        if not m.ok or m.value == 0:
            continue
        key = (m.env_name, m.commit, _non_reference(m))
        if key in reference:
            out[i] = reference[key] / m.value  # type: ignore[operator]
    return out


def _non_reference(m: Measurement) -> tuple:
    return tuple((k, v) for k, v in m.params.items() if k not in REFERENCE)


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


def group(items, key):
    grouped = defaultdict(list)
    for item in items:
        grouped[key(item)].append(item)
    return dict(grouped)
