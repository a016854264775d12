"""``pyhf-bench noise A B``: how much two runs of the same code differ (the noise floor).

A and B are asv result files, or directories holding them (a results_dir, or
one machine's folder).  Run the same pyhf commit twice (e.g. two quick-tier
runs into two results directories: asv keeps one result per commit, machine
and environment, so a second run into the same directory replaces the
first), then compare them: for every benchmark and parameter combination
measured in both, the ratio B/A.  A regression check's ``--factor`` must sit
above the ratios this shows, or unchanged code gets flagged.

Pairs are matched on benchmark, parameters, environment and commit; when the
two sides hold different commits (two no-op commits, say) or environments,
the looser match without them is used, provided it is still one-to-one.
Skipped (n/a) and failed combinations are left out and counted; ``track_``
benchmarks (accuracy values, not timings) are left out.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.reporting.measurements import Measurement, label, result_measurements


def _benchmarks_json(start: Path) -> dict:
    for folder in [start, *start.parents][:3]:
        candidate = folder / "benchmarks.json"
        if candidate.is_file():
            try:
                return {k: v for k, v in json.loads(candidate.read_text()).items() if isinstance(v, dict)}
            except json.JSONDecodeError:
                return {}
    return {}


def load_side(path: str | Path) -> list[Measurement]:
    """Every measurement in a result file, or in all result files under a directory."""
    from asv import util as asv_util
    from asv.results import Results

    path = Path(path)
    if path.is_file():
        files = [path]
        meta = _benchmarks_json(path.parent)
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.name not in ("machine.json", "benchmarks.json"))
        meta = _benchmarks_json(path)
    else:
        raise UserError(f"{path} does not exist; give an asv result file or a directory of them")
    if not files:
        raise UserError(f"no asv result files under {path}; run asv first")
    out: list[Measurement] = []
    for file in files:
        try:
            result = Results.load(str(file))
        except (asv_util.UserError, KeyError, ValueError) as exc:
            raise UserError(f"{file} is not an asv result file ({exc})") from None
        machine = (result.params or {}).get("machine", "?")
        out.extend(m for m in result_measurements(machine, result, meta) if m.kind != "track")
    return out


def _keyed(side: list[Measurement], with_env: bool, with_commit: bool) -> dict | None:
    keyed: dict = {}
    for m in side:
        if not m.ok:
            continue
        # Parameter values, not names: a lone result file has no benchmarks.json to name them.
        key = (m.benchmark, tuple(m.params.values())) + ((m.env_name,) if with_env else ()) + \
              ((m.commit,) if with_commit else ())
        if key in keyed:
            return None  # not one-to-one at this looseness
        keyed[key] = m
    return keyed


def pair(a: list[Measurement], b: list[Measurement]) -> tuple[list[tuple[Measurement, Measurement]], str]:
    """Matched (A, B) measurements and a description of how they were matched."""
    for with_env, with_commit, how in ((True, True, "same commit and environment"),
                                       (True, False, "same environment, commits differ"),
                                       (False, False, "environments and commits differ")):
        ka, kb = _keyed(a, with_env, with_commit), _keyed(b, with_env, with_commit)
        if ka is None or kb is None:
            continue
        common = sorted(set(ka) & set(kb), key=str)
        if common:
            return [(ka[k], kb[k]) for k in common], how
    return [], "no common benchmark combination"


def study(a: list[Measurement], b: list[Measurement]) -> dict:
    pairs, how = pair(a, b)
    if not pairs:
        raise UserError("the two sides have no successfully measured benchmark combination in common; "
                        "compare two runs of the same benchmarks")
    rows = []
    for ma, mb in pairs:
        if not ma.value or ma.value <= 0:
            continue
        ratio = mb.value / ma.value
        rows.append({"benchmark": ma.benchmark, "params": label(tuple(ma.params.items())), "a": ma.value,
                     "b": mb.value, "unit": ma.unit, "ratio": ratio, "deviation": abs(ratio - 1)})
    per_benchmark = {}
    for name in sorted({r["benchmark"] for r in rows}):
        mine = [r for r in rows if r["benchmark"] == name]
        worst = max(mine, key=lambda r: r["deviation"])
        per_benchmark[name] = {"pairs": len(mine), "median_ratio": statistics.median(r["ratio"] for r in mine),
                               "median_deviation": statistics.median(r["deviation"] for r in mine),
                               "worst_deviation": worst["deviation"], "worst_params": worst["params"]}
    deviations = sorted(r["deviation"] for r in rows)
    worst = max(rows, key=lambda r: r["deviation"])
    # The smallest --factor that would not have flagged any of these pairs as slower.
    slowest = max(r["ratio"] for r in rows)
    return {
        "matched": how,
        "pairs": len(rows),
        "left_out": {"a": sum(not m.ok for m in a), "b": sum(not m.ok for m in b)},
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "median_deviation": statistics.median(deviations),
        "p90_deviation": _quantile(deviations, 0.9),
        "worst_deviation": worst["deviation"],
        "worst": {k: worst[k] for k in ("benchmark", "params", "ratio")},
        "largest_slowdown_ratio": slowest,
        "per_benchmark": per_benchmark,
        "ratios": rows,
    }


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile (as numpy's default) of already sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def format_study(s: dict) -> str:
    lines = [
        f"{s['pairs']} benchmark combinations measured in both ({s['matched']}); "
        f"left out as n/a or failed: {s['left_out']['a']} in A, {s['left_out']['b']} in B",
        f"ratio B/A: median {s['median_ratio']:.3f}; |ratio - 1|: median {s['median_deviation']:.3f}, "
        f"90th percentile {s['p90_deviation']:.3f}, worst {s['worst_deviation']:.3f} "
        f"({s['worst']['benchmark']} {s['worst']['params']}, ratio {s['worst']['ratio']:.3f})",
        f"largest slowdown from noise alone: {s['largest_slowdown_ratio']:.3f}x "
        f"(an `asv continuous --factor` at or below this would have flagged unchanged code)",
        "",
        f"{'benchmark':<58} {'pairs':>5} {'median':>7} {'med|r-1|':>8} {'worst|r-1|':>10}",
    ]
    for name, row in s["per_benchmark"].items():
        lines.append(f"{name:<58} {row['pairs']:>5} {row['median_ratio']:>7.3f} {row['median_deviation']:>8.3f} "
                     f"{row['worst_deviation']:>10.3f}")
    return "\n".join(lines)


def study_markdown(data: dict, source: str) -> str:
    """The docs table of one `study` (per benchmark) or of a noise-study file (``settings``: one row per setting)."""
    if "per_benchmark" in data:
        lines = [f"From `{source}`:", "", "| benchmark | pairs | median ratio B/A | median \\|ratio − 1\\| | "
                 "worst \\|ratio − 1\\| |", "|---|---|---|---|---|"]
        for name, row in data["per_benchmark"].items():
            lines.append(f"| `{name}` | {row['pairs']} | {row['median_ratio']:.3f} | {row['median_deviation']:.3f} | "
                         f"{row['worst_deviation']:.3f} |")
        lines.append(f"| **all** | {data['pairs']} | {data['median_ratio']:.3f} | **{data['median_deviation']:.3f}** | "
                     f"{data['worst_deviation']:.3f} |")
        return "\n".join(lines) + "\n"
    if not data.get("settings"):
        raise UserError(f"{source} is neither a `pyhf-bench noise --json` result nor a noise study (no settings)")
    lines = [f"{data.get('where', '?')}; {data.get('machine', '?')}; benchmarks of pyhf-bench "
             f"{data.get('pyhf_bench_commit', '?')[:10]}, pyhf {data.get('pyhf', '?')} (from `{source}`):", "",
             "| setting | pairs | samples per combination | median \\|ratio − 1\\| | 90th pct | worst | wall per run |",
             "|---|---|---|---|---|---|---|"]
    for name, s in data["settings"].items():
        n = s.get("samples_per_combination")
        samples = f"{n['min']}–{n['max']} (median {n['median']:g})" if n else "?"
        wall = " / ".join(f"{w} s" for w in s.get("wall_s") or []) or "?"
        lines.append(f"| {s.get('description', name)} | {s['pairs']} | {samples} | {s['median_deviation']:.3f} | "
                     f"{s['p90_deviation']:.3f} | {s['worst_deviation']:.3f} | {wall} |")
    return "\n".join(lines) + "\n"
