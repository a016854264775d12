"""``pyhf-bench tier-time``: measure a tier's wall time one likelihood at a time, resumably.

The full tier (every likelihood, region, operation, precision, optimizer and
whole signal grids) runs for many hours on a small machine: longer than one
sitting.  asv saves results only when a whole ``asv run`` ends, so an
interrupted run leaves nothing.  This command splits the tier into shards
that asv can select by parameter (``asv run -b`` matches
``name('sbottom/RegionA', 'numpy', ...)``):

* one shard per registered ``name/region`` — every benchmark whose first
  parameter is that likelihood (published-likelihood steps, ROOT peers, the
  grid worker counts that skip on small machines) — which also splits into
  backend parts (``KEY:numpy`` ... ``KEY:other``) for the big models, whose
  whole shard outlasts a sitting;
* one shard per whole-grid benchmark class, grid, backend, precision and
  worker count (``sbottom/RegionA:GridScaling:tensorflow:64b:w1``), taken out
  of that likelihood's shard: a grid's shard would otherwise run for a day
  here (TensorFlow scans sbottom RegionA in about an hour, and ``GridScaling``
  scans it twice per worker count), and even one backend's scans outlast a
  sitting;
* one ``rest`` shard — everything without a likelihood axis (synthetic
  models, interpolators, the quick grid subset).

Each finished shard's wall time is written to a JSON ledger (atomically: an
interrupted shard records nothing), and shards already in the ledger are not
run again, so the tier's wall time is the ledger's sum after any number of
sittings.  Each shard pays asv's start-up and the shared ``setup_cache``
(reading every likelihood of the tier) once: the sum slightly over-counts a
single uninterrupted run.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.asvtools.envinfo import machine_description
from pyhf_bench.core import support
from pyhf_bench.core.files import atomic_file
from pyhf_bench.likelihoods import all_keys, load_key

REST = "rest"
LOG_TAIL = 4000


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


#: The whole-grid classes of benchmarks/grid_scans.py and the worker counts that get shards
#: of their own; larger counts stay in the likelihood's shard (they skip on a 2-core machine).
GRID_SHARD_WORKERS = {"GridScan": (0, 1, 2), "GridScaling": (1, 2)}


def _grid_shards(grid: str) -> dict[str, str]:
    """``{name: regex}`` for one whole grid: asv names them ``grid_scans.GridScan.time_scan('grid',
    'backend', 'device', 'precision', workers)``; every device is in the shard (off the CPU they
    skip in seconds where there is no such device)."""
    out = {}
    for cls, worker_counts in GRID_SHARD_WORKERS.items():
        for backend in support.BACKENDS:
            for precision in support.PRECISIONS:
                for workers in worker_counts:
                    out[f"{grid}:{cls}:{backend}:{precision}:w{workers}"] = (
                        rf"^grid_scans\.{cls}\.\w+\({re.escape(repr(grid))}, {re.escape(repr(backend))}, "
                        rf"'[^']*', {re.escape(repr(precision))}, {workers}\)"
                    )
    return out


def shards(keys: list[str]) -> dict[str, str]:
    """``{shard name: asv -b regex}``: a shard per likelihood key, ``rest``, and the whole-grid shards.

    A parameterised benchmark's name as asv matches it is
    ``module.Class.method('key', 'backend', ...)``, so ``\\('key'`` selects the
    combinations whose first parameter is that key; ``rest`` is the complement.
    A whole grid's (``support.WHOLE_GRIDS``) likelihood shard leaves out the
    combinations of its grid shards.
    """
    out, grids = {}, {}
    for key in keys:
        if key in support.WHOLE_GRIDS:
            grids.update(_grid_shards(key))
        out[key] = _likelihood_regex(key)
    out[REST] = "^" + _no_likelihood(keys) + ".*"
    return {**out, **grids}


def _no_likelihood(keys: list[str]) -> str:
    """A lookahead refusing every combination whose first parameter is one of *keys*."""
    if not keys:
        return ""
    alternatives = "|".join(re.escape(repr(key)) for key in keys)
    return rf"(?!.*\((?:{alternatives}))"


#: The benchmark modules ``rest`` is split by (``rest:synthetic_models`` ...): in the full tier
#: ``rest`` outlasts a sitting (it had run 3 of its 16 benchmarks after 32 min, 2026-12-03).
#: tests/test_tiertime.py checks that these parts select exactly what ``rest`` does.
REST_MODULES = ("compiler_costs", "grid_scans", "instruction_counts", "interpolators", "root_peer",
                "synthetic_models")


def rest_parts(keys: list[str]) -> dict[str, str]:
    """``rest`` split by benchmark module: ``rest:grid_scans`` ... ``rest:synthetic_models``."""
    return {f"{REST}:{m}": rf"^(?={re.escape(m)}\.){_no_likelihood(keys)}" for m in REST_MODULES}


def parts_of(name: str, keys: list[str]) -> dict[str, str]:
    """The parts a whole shard splits into: a likelihood's backend parts, ``rest``'s module parts, else none."""
    if name == REST:
        return rest_parts(keys)
    return backend_parts(name) if name in keys else {}


def _likelihood_regex(key: str, after: str = "") -> str:
    """Combinations whose first parameter is *key* (then *after*), less its whole-grid shards'."""
    selects = r"\(" + re.escape(repr(key)) + after
    if key not in support.WHOLE_GRIDS:
        return selects
    classes = "|".join(GRID_SHARD_WORKERS)
    counts = "|".join(str(w) for w in sorted({w for ws in GRID_SHARD_WORKERS.values() for w in ws}))
    split_off = rf"grid_scans\.(?:{classes})\.\w+\({re.escape(repr(key))}, '[^']*', '[^']*', '[^']*', (?:{counts})\)"
    return rf"^(?!{split_off}).*{selects}"


#: The part of a likelihood's shard without a backend axis (the ROOT peers).
OTHER = "other"


def backend_parts(key: str) -> dict[str, str]:
    """A likelihood's shard split by backend (``1Ljets/all:numpy`` ...) and ``KEY:other``.

    For the big models one likelihood's shard outlasts a sitting (1Ljets/all had
    not finished its fits after an hour); its parts together select exactly what
    the whole shard does, and the ledger counts either the whole or all its parts.
    """
    backends = "|".join(re.escape(repr(b)) for b in support.BACKENDS)
    parts = {f"{key}:{b}": _likelihood_regex(key, ", " + re.escape(repr(b))) for b in support.BACKENDS}
    parts[f"{key}:{OTHER}"] = _likelihood_regex(key, rf", (?!(?:{backends})[,)])")
    return parts


def all_shards(keys: list[str]) -> dict[str, str]:
    """Every shard name ``tier-time`` accepts: the partition of ``shards`` and the likelihoods' backend parts."""
    out = shards(keys)
    for key in keys:
        out.update(backend_parts(key))
    out.update(rest_parts(keys))
    return out


def shard_key(name: str) -> str | None:
    """The likelihood a shard needs (``None`` for ``rest`` and its parts)."""
    key = name.split(":", 1)[0]
    return None if key == REST else key


def _is_part(name: str) -> bool:
    """A part of a whole shard (``1Ljets/all:numpy``, ``rest:interpolators``); grid shards have more colons."""
    return name.count(":") == 1


def overlapping(name: str, keys: list[str]) -> set[str]:
    """Shards that select some of *name*'s combinations: a whole shard (a likelihood's, ``rest``)
    and each of its parts (the parts partition the whole, so they do not overlap one another)."""
    if _is_part(name):
        whole = name.split(":", 1)[0]
        return {whole} if name in parts_of(whole, keys) else set()
    return set(parts_of(name, keys))


def record_row(ledger: dict, row: dict, keys: list[str]) -> None:
    """Add a finished shard's row; it replaces an earlier row of the same shard and the rows it
    overlaps, so no combination is counted twice."""
    replaced = {row["shard"], *overlapping(row["shard"], keys)}
    ledger["shards"] = [r for r in ledger["shards"] if r["shard"] not in replaced] + [row]
    ledger["summary"] = summary(ledger)


def covered(name: str, recorded: set[str], keys: list[str]) -> bool:
    """Whether the ledger's *recorded* shards already cover every combination of *name*."""
    if name in recorded:
        return True
    if _is_part(name):
        whole = name.split(":", 1)[0]
        return name in parts_of(whole, keys) and whole in recorded
    parts = parts_of(name, keys)
    return bool(parts) and set(parts) <= recorded


def read_ledger(path: Path) -> dict:
    if not path.exists():
        return {"format": 1, "shards": []}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"ledger {path} is not valid JSON ({exc}); move it away to start a new one") from None
    if not isinstance(data, dict) or not isinstance(data.get("shards"), list):
        raise UserError(f"ledger {path} has no 'shards' list; it was not written by `pyhf-bench tier-time`")
    return data


def summary(ledger: dict) -> dict:
    """Totals over the recorded shards: seconds, shards that failed (asv status != 0), timeouts."""
    rows = ledger["shards"]
    return {
        "shards": len(rows),
        "seconds": sum(r["seconds"] for r in rows),
        "failed_shards": [r["shard"] for r in rows if r["returncode"] != 0],
        "timeouts": sum(r.get("timeouts", 0) for r in rows),
    }


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s ({seconds / 60:.1f} min)"


def _machines(ledger: dict) -> str:
    """Which machine measured which rows: the VM behind these sittings is not always the same CPU.

    A row names its machine (rows written before rows did fall back to the
    ledger's, the machine of its last sitting); the few rows of a machine in the
    minority are named.
    """
    fallback = ledger.get("machine", "machine not recorded")
    by_machine: dict[str, list[str]] = {}
    for r in ledger["shards"]:
        by_machine.setdefault(r.get("machine") or fallback, []).append(r["shard"])
    if len(by_machine) <= 1:
        return next(iter(by_machine), fallback)
    described = []
    for rank, (machine, names) in enumerate(sorted(by_machine.items(), key=lambda item: -len(item[1]))):
        listed = f": {', '.join(f'`{n}`' for n in names)}" if rank and len(names) <= 5 else ""
        described.append(f"{machine}, {len(names)} row{'s' if len(names) != 1 else ''}{listed}")
    return "; ".join(described)


def ledger_markdown(ledger: dict, keys: list[str]) -> str:
    """The ledger as the README shows it: a table row per region shard or backend part, one per
    whole grid (its grid shards summed), and a line with the total and what is not measured yet."""
    rows = ledger["shards"]
    partition = list(shards(keys))
    grid_shards = {key: {s for s in partition if s.startswith(key + ":")} for key in support.WHOLE_GRIDS}
    grids = {key: [r for r in rows if r["shard"] in names] for key, names in grid_shards.items()}
    in_grids = {r["shard"] for grid_rows in grids.values() for r in grid_rows}
    lines = ["| shard | wall time | asv status | timeouts | suite | started (UTC) | load before → after |",
             "|---|---|---|---|---|---|---|"]

    def suite(r):
        return f"`{r['suite']}`" if r.get("suite") else "not recorded"

    def started(r):
        return r["started"][:16].replace("T", " ")

    def load(r):
        if r.get("load_before") is None or r.get("load_after") is None:
            return ""
        return f"{r['load_before']:.2f} → {r['load_after']:.2f}"

    for r in rows:
        if r["shard"] in in_grids:
            continue
        lines.append(f"| `{r['shard']}` | {_minutes(r['seconds'])} | {r['returncode']} | {r.get('timeouts', 0)} "
                     f"| {suite(r)} | {started(r)} | {load(r)} |")
    for key, grid_rows in grids.items():
        if not grid_rows:
            continue
        suites = sorted({suite(r) for r in grid_rows})
        lines.append(
            f"| `{key}:*` ({len(grid_rows)} of {len(grid_shards[key])} grid shards) "
            f"| {_minutes(sum(r['seconds'] for r in grid_rows))} | {max(r['returncode'] for r in grid_rows)} "
            f"| {sum(r.get('timeouts', 0) for r in grid_rows)} | {', '.join(suites)} "
            f"| {started(min(grid_rows, key=lambda r: r['started']))} | |")
    recorded = {r["shard"] for r in rows}
    left = [s for s in partition if not covered(s, recorded, keys)]
    total = summary(ledger)["seconds"]
    grid_counts = {key: len(names - recorded) for key, names in grid_shards.items()}
    regions = [s for s in left if not any(s in names for names in grid_shards.values())]
    parts = {s: [p for p in parts_of(s, keys) if p in recorded] for s in regions}
    named = [f"`{s}`" + (f" (parts {', '.join(p.split(':')[1] for p in parts[s])} measured)" if parts.get(s) else "")
             for s in regions]
    grid_left = [f"`{key}:*` ({count})" for key, count in grid_counts.items() if count]
    summary_line = (f"**{len(partition) - len(left)} of {len(partition)} shards, {total:.0f} s ({total / 3600:.2f} h){' so far' if left else ''}**"
                    f" ({_machines(ledger)}).")
    if left:
        # Either list can be empty (the region shards are measured before the last grid shards).
        still = ([", ".join(named)] if named else []) + (["the whole-grid shards " + ", ".join(grid_left)] if grid_left else [])
        summary_line += " Not measured yet: " + "; and ".join(still) + "."
    return "\n".join(lines) + "\n\n" + summary_line + "\n"


def _write_ledger(path: Path, ledger: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as handle:
        json.dump(ledger, handle, indent=1)
        handle.write("\n")


def suite_revision(checkout: Path) -> str | None:
    """The suite's git commit (``+changes`` when benchmarks/ or src/ differ from it): what a shard measured.

    Ledger rows from different sittings may come from different versions of
    the suite; each row says which.
    """
    def git(*args):
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True)

    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode:
        return None
    dirty = git("status", "--porcelain", "--", "benchmarks", "src").stdout.strip()
    return head.stdout.strip() + ("+changes" if dirty else "")


def run_shard(name: str, regex: str, tier: str, config: Path, asv_args: list[str], log_dir: Path) -> dict:
    """Run one shard under ``asv run --python=same --quick``; return its ledger row."""
    env = dict(os.environ, **{support.TIER_ENV: tier})
    # asv runs each benchmark in a temporary working directory: a relative data
    # directory or registry would not be found there, and every combination would
    # skip ("cannot load ...") in seconds, passing for a measured shard.
    for variable in ("PYHF_BENCH_DATA", "PYHF_BENCH_REGISTRY"):
        if env.get(variable):
            env[variable] = str(Path(env[variable]).resolve())
    cmd = [sys.executable, "-m", "asv", "--config", str(config), "run", "--python=same", "--quick", "-b", regex, *asv_args]
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".log")
    suite = suite_revision(config.parent)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_before = _loadavg()
    t0 = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=config.parent)
    seconds = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    return {
        "shard": name,
        "regex": regex,
        "seconds": round(seconds, 1),
        "returncode": proc.returncode,
        # asv writes one such line per combination it killed at the benchmark's `timeout`.
        "timeouts": len(re.findall(r"timed out", text)),
        "suite": suite,
        "machine": machine_description(),
        "started": started,
        "load_before": load_before,
        "load_after": _loadavg(),
        "log": str(log),
        "log_tail": text[-LOG_TAIL:] if proc.returncode else "",
    }


#: ``asv run``'s exit statuses after it ran the benchmarks: 0, or 2 when some of them failed.  Any
#: other (1: a UserError such as an unknown ``--machine``, no benchmark selected, a config error;
#: negative: killed) means nothing was measured: such a shard took seconds and must not pass for
#: a measured one (seen: three "0 s, asv status 1" rows on a machine without ~/.asv-machine.json).
ASV_RAN = (0, 2)


def _check_ran(row: dict) -> None:
    """Refuse a shard asv did not run, naming asv's own error and where its log is."""
    if row["returncode"] in ASV_RAN:
        return
    lines = [line.strip(" ·") for line in row["log_tail"].splitlines() if line.strip(" ·")]
    said = " ".join(lines[-2:]) or "no output"
    hint = (" (the machine's name: run `asv machine --yes --machine NAME` once, or drop --machine)"
            if "machine" in said else "")
    raise UserError(
        f"shard {row['shard']}: asv ran nothing (status {row['returncode']} after {row['seconds']:.0f} s: {said}); "
        f"nothing was recorded: fix that{hint} and run tier-time again (asv's output: {row['log']})")


def _check_loads(name: str, key: str) -> None:
    """Refuse a shard whose likelihood cannot be loaded: its benchmarks would only skip."""
    try:
        load_key(key)
    except UserError as exc:
        raise UserError(f"shard {name}: {exc}") from None


def expand(patterns: list[str], available: dict[str, str]) -> list[str]:
    """Shard names, in order; a pattern with shell wildcards (``'sbottom/RegionA:*:numpy:*'``) names every shard it matches."""
    names, unknown = [], []
    for pattern in patterns:
        matched = fnmatch.filter(available, pattern)  # a plain name matches only itself
        unknown += [] if matched else [pattern]
        names += [n for n in matched if n not in names]
    if unknown:
        likelihoods = [n for n in available if ":" not in n]
        raise UserError(
            f"unknown shard(s) {', '.join(unknown)}; choose from: {', '.join(likelihoods)}; a likelihood's "
            f"backend parts KEY:BACKEND and KEY:{OTHER} (e.g. '1Ljets/all:numpy'); rest's module parts "
            f"{', '.join(rest_parts([]))}; and the whole-grid "
            "shards GRID:CLASS:BACKEND:PRECISION:wN (e.g. 'sbottom/RegionA:GridScan:numpy:64b:w0'; "
            "shell wildcards select several)")
    return names


def measure(config: Path, ledger_path: Path, tier: str = "full", only: list[str] | None = None,
            remeasure: Sequence[str] = (), retry_failed: bool = False, budget_minutes: float | None = None,
            asv_args: Sequence[str] = (), log_dir: Path = Path(".asv/tier-time-logs")) -> dict:
    """``pyhf-bench tier-time``: run the shards not yet in the ledger at *ledger_path*, recording each one.

    *only*: these shards (names or shell wildcards, :func:`expand`) instead of the whole
    partition; *remeasure*: run these again although recorded.  Returns the ledger's
    totals with the shards still left.
    """
    tier = support.check_choice("tier", tier)
    config = Path(config).resolve()
    if not config.is_file():
        raise UserError(f"{config} not found; run from the pyhf-bench checkout or pass --config")
    ledger_path = Path(ledger_path)
    ledger = read_ledger(ledger_path)
    keys = all_keys()
    available = all_shards(keys)
    wanted = expand(only, available) if only else list(shards(keys))
    remeasured = expand(list(remeasure), available)
    if ledger.get("tier", tier) != tier:
        raise UserError(f"ledger {ledger_path} records the {ledger['tier']} tier, not {tier}; use another --ledger")
    ledger.update(
        tier=tier,
        command=f"{support.TIER_ENV}={tier} asv run --python=same --quick -b <shard regex> " + " ".join(asv_args),
        machine=machine_description(),
    )
    done = {row["shard"] for row in ledger["shards"] if row["returncode"] == 0 or not retry_failed}
    done -= {overlap for name in remeasured for overlap in {name, *overlapping(name, keys)}}
    # A likelihood (or rest) begun part by part in an earlier sitting goes on part by part.
    recorded = {row["shard"] for row in ledger["shards"]}
    wanted = [part for name in wanted for part in (
        [p for p in parts_of(name, keys) if p not in recorded]
        if name not in done and set(parts_of(name, keys)) & recorded else [name])]
    start = time.monotonic()
    for name in wanted:
        if covered(name, done, keys):
            print(f"{name}: in the ledger, skipped", flush=True)
            continue
        if budget_minutes is not None and time.monotonic() - start > 60 * budget_minutes:
            print(f"budget of {budget_minutes} min spent: {name} and later shards left for the next sitting", flush=True)
            break
        if shard_key(name) is not None:
            _check_loads(name, shard_key(name))
        print(f"{name}: running (-b {available[name]!r})", flush=True)
        row = run_shard(name, available[name], tier, config, list(asv_args), Path(log_dir).resolve())
        _check_ran(row)
        record_row(ledger, row, keys)
        _write_ledger(ledger_path, ledger)
        print(f"{name}: {row['seconds']:.0f} s, asv status {row['returncode']}, {row['timeouts']} timeouts", flush=True)
    total = summary(ledger)
    recorded = {r["shard"] for r in ledger["shards"]}
    left = [s for s in shards(keys) if not covered(s, recorded, keys)]
    return {**total, "hours": round(total["seconds"] / 3600, 2), "shards_left": left}
