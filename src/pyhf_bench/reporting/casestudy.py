"""The case study's Markdown: machines, method, tables and findings, each computed from the measurements.

Every number and every claim in ``case-study.md`` is made here from the rows of
:mod:`pyhf_bench.reporting.measurements`; nothing is typed in by hand.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.reporting.comparisonplots import config_label
from pyhf_bench.reporting.measurements import (SIZE_PARAM, Measurement, ResultSet, date_text, era_label,
                                               format_value, group, hardware_label, is_reference, label,
                                               latest_commit, problem_label, sample_text, speedups)
from pyhf_bench import likelihoods
from pyhf_bench.core import verdict


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def rel(path: Path, out: Path) -> str:
    return os.path.relpath(path, out).replace(os.sep, "/")


#: Keys of a result file's params that describe the machine (shown in the machine table), not the environment.
_MACHINE_KEYS = ("machine", "arch", "cpu", "num_cpu", "os", "ram", "python", "env_vars")


def machine_section(rs: ResultSet, env_info: dict[str, dict]) -> list[str]:
    lines = ["## Machines and environments", ""]
    rows = []
    for name, machine in sorted(rs.machines.items()):
        info = machine.info
        ram = info.get("ram")
        try:
            ram_text = f"{int(ram) / 2**30:.1f} GiB"
        except (TypeError, ValueError):
            ram_text = str(ram or "?")
        rows.append([name, info.get("cpu", "?"), info.get("num_cpu", "?"), ram_text, info.get("os", "?"),
                     info.get("arch", "?"), hardware_label(machine)])
    lines += [table(["machine", "CPU", "cores", "memory", "OS", "arch", "label in plots"], rows), ""]
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
                     extra or "-", ", ".join(f"`{c[:8]}` ({date_text(d)})" for d, c in commits)])
    lines += [table(["machine", "asv environment", "Python", "pinned packages", "env vars", "commits (date)"], rows), ""]
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
        lines += [table(["what", "version / value"], versions), ""]
    return lines


def method_section(rs: ResultSet) -> list[str]:
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
    lines += [table(["benchmark", "type", "number", "repeat", "rounds", "warmup_time", "timeout (s)"], rows), ""]
    lines += ["`number`/`repeat` 0 (auto) means asv chooses them (enough calls per sample for `sample_time`); "
              "a `repeat` triple is (min samples, max samples, max seconds) per round; default: asv's own.", ""]
    return lines


def status_counts(rows: list[Measurement]) -> dict[str, int]:
    counts = {"ok": 0, "n/a": 0, "failed": 0}
    for m in rows:
        counts[m.status] += 1
    return counts


def deviation_findings(bench: str, machine: str, rows: list[Measurement]) -> list[str]:
    """``track_deviation`` values of the latest commit beyond :mod:`pyhf_bench.core.verdict`'s tolerance, as WRONG lines.

    The deviation is relative for a CLs reference and absolute for a 2*NLL one; which
    one a likelihood has is read from the registry.
    """

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
                       f"{reference.get('kind', 'self-snapshot')} reference: `{bench}` ({label(tuple(m.params.items()))}) "
                       f"on {machine}, commit {m.commit[:8]}")
    return out


def comparison_block(machine, bench, rows, path, out, findings, jitted: bool = False) -> list[str]:
    """The comparison plot, its table (measured rows only) and the fastest/slowest finding of each problem.

    *jitted*: whether a jitted benchmark of the same call has results on this machine."""
    factors = speedups(rows)
    unit = rows[0].unit
    c = status_counts(rows)
    lines = [f"### `{bench}` on {machine}", "",
             f"Commit `{rows[0].commit[:8]}` ({date_text(rows[0].date_ms)}), {era_label(rows[0])}: "
             f"{c['ok']} measured ({sample_text(rows)}), {c['n/a']} skipped (n/a), {c['failed']} failed.", ""]
    if path is not None:
        lines += [f"![{bench} on {machine}]({rel(path, out)})", ""]
    if any(config_label(bench, m.config()).endswith("(eager)") for m in rows if m.ok):
        lines += ["JAX here is pyhf's `model.logpdf` called op by op (eager dispatch, no `jax.jit`): its time is "
                  "per-operation overhead, not what a jitted step costs. "
                  + ("The jitted call is beside it in \"Jitted and eager logpdf\" below." if jitted else
                     "No jitted logpdf benchmark has results for this benchmark here, so jitted and eager cannot "
                     "be shown side by side."), ""]
    body = []
    for i, m in enumerate(rows):
        if m.status == "n/a":
            continue  # skips are counted above; listing hundreds of n/a rows helps nobody
        spread = ""
        if m.spread and (m.samples or 0) > 1:
            spread = f"{format_value(m.spread[0], unit)} – {format_value(m.spread[1], unit)}"
        factor = factors.get(i)
        body.append([problem_label(m.problem()), config_label(bench, m.config()), format_value(m.value, unit),
                     m.samples or "?", spread or "-", f"{factor:.2f}×" if factor is not None else ""])
    body.sort(key=lambda r: (r[0], r[1]))
    if body:
        lines += [table(["problem", "configuration", "median", "samples", "interquartile range",
                         "speed-up vs numpy/cpu/64b"], body), ""]
    findings += _extremes(machine, bench, rows, factors)
    return lines


def _extremes(machine, bench, rows, factors) -> list[str]:
    out = []
    unit = rows[0].unit
    idx = {id(m): i for i, m in enumerate(rows)}
    for problem, cells in sorted(group([m for m in rows if m.ok], Measurement.problem).items(), key=lambda x: str(x[0])):
        if len(cells) < 2:
            continue
        best = min(cells, key=lambda m: m.value)
        worst = max(cells, key=lambda m: m.value)
        factor = factors.get(idx[id(best)])
        text = (f"`{bench}` ({problem_label(problem) + ', ' if problem else ''}{machine}, {sample_text(cells)}): "
                f"fastest is {config_label(bench, best.config())} at {format_value(best.value, unit)}, slowest "
                f"{config_label(bench, worst.config())} at {format_value(worst.value, unit)} "
                f"({worst.value / best.value:.1f}× apart)")
        if factor is not None and not is_reference(best):
            text += f"; {factor:.2f}× the speed of numpy/cpu/64b"
        out.append(text + ".")
    return out


def scaling_findings(bench, machine, series) -> list[str]:
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
        out.append(f"`{bench}` with {label(config)} ({machine}{', ' + problem_label(rest) if rest else ''}): "
                   f"time ∝ {SIZE_PARAM}^{slope:.2f} over {int(lo)}–{int(hi)} bins, {meaning} "
                   f"({entry['values'][-1] / entry['values'][0]:.1f}× from smallest to largest).")
    return out


def accuracy_block(machine, bench, rows, path, out) -> list[str]:
    c = status_counts(rows)
    lines = [f"### `{bench}` on {machine}", "", f"{c['ok']} values, {c['n/a']} skipped, {c['failed']} failed.", ""]
    if path is not None:
        lines += [f"![{bench}]({rel(path, out)})", ""]
    latest = latest_commit(rows)
    table = [[label(tuple(m.params.items())), format_value(m.value, m.unit)]
             for m in rows if m.commit == latest and m.status != "n/a"]
    if table:
        lines += [table(["parameters", "value"], table), ""]
    return lines


def profiles_section(profiles: list[dict], out: Path) -> list[str]:
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
                  f"Full listing: `{rel(where / 'profile.txt', out)}`"
                  + (f", flame graph: `{rel(where / 'flamegraph.svg', out)}`" if (where / "flamegraph.svg").exists() else "")
                  + ".", ""]
        rows = [[f"`{f['function']}`", f.get("ncalls_per_call", "?"), f"{f['cumtime_s'] * 1e3:.3f}",
                 f"{f['tottime_s'] * 1e3:.3f}"] for f in prof.get("top_cumulative", [])[:10]]
        lines += [table(["function", "calls per step", "cumulative per step (ms)", "own per step (ms)"], rows), ""]
    return lines


