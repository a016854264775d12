"""A tier's parameter combinations as asv's own ``-b`` selection: ``pyhf-bench asv-run``.

``PYHF_BENCH_TIER`` selects a tier inside each benchmark's ``setup``: a
combination outside it raises :class:`support.Skip`.  That is the one rule, and
plain ``asv run`` obeys it, but asv forks a process for every combination just
to hear it skip (~14 ms each under forkserver): the quick tier is ~110
combinations that run among ~12,000 that skip, about 150 s of forks on these
2 cores.  asv runs only the combinations a ``-b`` regex matches and records the
rest as n/a without starting anything (``asv.runner.run_benchmark``), so this
module turns each class's ``quick`` declaration into one anchored regex per
benchmark that matches exactly its quick combinations.  The combinations come
from asv_runner's own discovery (names, parameter values and the ids asv
matches against), and membership is :func:`support.in_quick_tier`, the test
each ``setup`` applies, so the selection and the skips cannot disagree
(``tests/test_selection.py`` checks both against asv).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from pyhf_bench import UserError
from pyhf_bench.core import support
from pyhf_bench.asvtools.asvmachine import ensure_machine, machine_name


#: asv_runner's types of the benchmarks whose result is the benchmark process's memory (mem_, peakmem_).
MEMORY_KINDS = ("memory", "peakmemory")


@dataclass(frozen=True)
class Combination:
    benchmark: str  # asv's name, e.g. published_likelihoods.Fit.time_fit
    ids: tuple[str, ...]  # asv's parameter ids, e.g. ("'sbottom/RegionA'", "'numpy'", ...)
    quick: bool
    kind: str  # asv_runner's benchmark type: time, timeraw, track, memory, peakmemory
    requires: tuple[str, ...] = ()  # distributions the benchmark needs beyond pyhf's (its class's ``requires``)

    @property
    def name(self) -> str:
        """The string asv's ``-b`` regexes are searched in (``asv.benchmarks.Benchmarks``)."""
        return f"{self.benchmark}({', '.join(self.ids)})" if self.ids else self.benchmark


def combinations(benchmark_dir: Path) -> list[Combination]:
    """Every parameter combination of every benchmark in *benchmark_dir*, as asv discovers them."""
    from asv_runner.discovery import disc_benchmarks  # asv: optional (the dev extra) and slow to import

    root = str(Path(benchmark_dir).resolve())
    parent = os.path.dirname(root)
    added = parent not in sys.path
    if added:
        sys.path.insert(0, parent)  # asv_runner imports the suite as a package named after the folder
    try:
        found = list(disc_benchmarks(root))
    finally:
        if added:
            sys.path.remove(parent)
    out = []
    for bench in found:
        owner = getattr(bench.func, "__self__", None)
        quick = getattr(type(owner), "quick", {}) if owner is not None else {}
        requires = tuple(getattr(type(owner), "requires", ())) if owner is not None else ()
        if not bench._params:
            out.append(Combination(bench.name, (), True, bench.type, requires))
            continue
        for values, ids in zip(itertools.product(*bench._params), itertools.product(*bench.params)):
            params = dict(zip(bench.param_names, values))
            out.append(Combination(bench.name, tuple(ids), support.in_quick_tier(quick, params), bench.type, requires))
    return out


def tier_regexes(tier: str, benchmark_dir: Path, within: list[str] | None = None,
                 available: Callable[[str], bool] | None = None) -> list[str]:
    """One anchored ``-b`` regex per benchmark, matching exactly its combinations in *tier*.

    *within*: the user's own ``-b`` regexes (asv ORs several), applied first as
    asv would, so ``-b Logpdf`` with the quick tier is the quick Logpdf combinations.
    *available*: whether a distribution a benchmark ``requires`` is in the target
    environment; benchmarks that need a missing one are left out (None: keep all).
    """
    return [regex for _, regex in _tier_selection(tier, benchmark_dir, within, available).values()]


def _tier_selection(tier: str, benchmark_dir: Path, within: list[str] | None,
                    available: Callable[[str], bool] | None = None) -> dict[str, tuple[str, str]]:
    """``{benchmark: (asv's benchmark type, regex)}``: :func:`tier_regexes` by benchmark."""
    support.check_choice("tier", tier)
    if within:
        try:
            user = [re.compile(pattern) for pattern in within]
        except re.error as exc:
            raise UserError(f"-b {exc.pattern!r} is not a regular expression: {exc}") from None
    chosen: dict[str, list[tuple[str, ...]]] = {}
    kinds: dict[str, str] = {}
    counts: dict[str, int] = {}
    for combo in combinations(benchmark_dir):
        counts[combo.benchmark] = counts.get(combo.benchmark, 0) + 1
        if tier == "quick" and not combo.quick:
            continue
        if within and not any(pattern.search(combo.name) for pattern in user):
            continue
        if available is not None and not all(available(dist) for dist in combo.requires):
            continue
        chosen.setdefault(combo.benchmark, []).append(combo.ids)
        kinds[combo.benchmark] = combo.kind
    regexes = {}
    for benchmark, id_sets in chosen.items():
        if id_sets == [()]:
            regexes[benchmark] = (kinds[benchmark], f"^{re.escape(benchmark)}$")
        elif len(id_sets) == counts[benchmark]:
            # Every combination (the full tier): the name alone, not thousands of alternatives.
            regexes[benchmark] = (kinds[benchmark], rf"^{re.escape(benchmark)}\(")
        else:
            alternatives = "|".join(re.escape(", ".join(ids)) for ids in id_sets)
            regexes[benchmark] = (kinds[benchmark], rf"^{re.escape(benchmark)}\((?:{alternatives})\)$")
    if not regexes:
        raise UserError(f"no benchmark combination of the {tier} tier matches -b {' '.join(within or [])!r}")
    return regexes


def left_out(benchmark_dir: Path, available: Callable[[str], bool]) -> dict[str, tuple[str, ...]]:
    """``{benchmark module: missing distributions}`` for the benchmarks that need what is not *available*."""
    missing: dict[str, set[str]] = {}
    for combo in combinations(benchmark_dir):
        gone = {dist for dist in combo.requires if not available(dist)}
        if gone:
            missing.setdefault(combo.benchmark.split(".")[0], set()).update(gone)
    return {module: tuple(sorted(dists)) for module, dists in sorted(missing.items())}


def split_bench_args(asv_args: list[str]) -> tuple[list[str], list[str]]:
    """Split ``-b REGEX`` / ``--bench REGEX`` / ``--bench=REGEX`` out of *asv_args*."""
    rest, bench = [], []
    args = iter(asv_args)
    for arg in args:
        if arg in ("-b", "--bench"):
            try:
                bench.append(next(args))
            except StopIteration:
                raise UserError(f"{arg} needs a regular expression") from None
        elif arg.startswith("--bench="):
            bench.append(arg.split("=", 1)[1])
        elif arg.startswith("-b") and len(arg) > 2:
            bench.append(arg[2:])
        else:
            rest.append(arg)
    return rest, bench


def asv_run_passes(tier: str, benchmark_dir: Path, asv_args: list[str],
                   available: Callable[[str], bool] | None = None) -> list[tuple[dict, list[str]]]:
    """The ``asv run`` calls of ``pyhf-bench asv-run``: ``[(environment, asv arguments), ...]``.

    *asv_args* with their ``-b`` regexes replaced by the tier's selection within them,
    in two passes.  Timing and tracking benchmarks run with the frameworks preloaded in
    asv's forkserver (``PYHF_BENCH_PRELOAD=frameworks``: only what runs is forked, so a
    large server costs little).  Memory benchmarks run in a second pass with pyhf only:
    a forked child's peak RSS counts the server's resident pages, and with the
    frameworks there a numpy fit's process read 526 MB instead of 95 MB (measured).
    *available*: as in :func:`tier_regexes`.
    """
    rest, bench = split_bench_args(asv_args)
    chosen = _tier_selection(tier, benchmark_dir, bench, available)
    passes = []
    for memory, preload in ((False, os.environ.get(support.PRELOAD_ENV) or "frameworks"), (True, "pyhf")):
        # asv's memory and peakmemory benchmarks: the benchmark process's own memory is the result.
        regexes = [regex for kind, regex in chosen.values() if (kind in MEMORY_KINDS) == memory]
        if regexes:
            passes.append(({support.TIER_ENV: tier, support.PRELOAD_ENV: preload},
                           [arg for regex in regexes for arg in ("-b", regex)] + rest))
    return passes


def for_asv(config: Path, tier: str, bench: list[str] | None) -> list[str] | None:
    """The ``-b`` regexes an asv command of *tier* should get, given the user's *bench* (None: all).

    The quick tier: its selection within *bench* (the forkserver keeps its default
    preload: these commands run memory benchmarks too).  The full tier selects
    everything: *bench* as it is.
    """
    if tier != "quick":
        return bench
    return tier_regexes(tier, benchmark_dir_of(config), bench)


def benchmark_dir_of(config: Path) -> Path:
    """The benchmark folder *config* names (asv.conf.json's ``benchmark_dir``), resolved."""
    from asv import util  # asv: optional (the dev extra) and ~1 s to import

    conf = util.load_json(str(config), js_comments=True)
    return (config.parent / conf.get("benchmark_dir", "benchmarks")).resolve()


def asv_run(config: Path, tier: str | None = None, asv_args: Sequence[str] = ()) -> int:
    """``pyhf-bench asv-run``: ``asv run`` over exactly *tier*'s combinations (:func:`asv_run_passes`); asv's status."""
    config = Path(config).resolve()
    if not config.is_file():
        raise UserError(f"{config} not found; run from the pyhf-bench checkout or pass --config")
    tier = tier or support.tier()  # argparse and support.tier() check the name
    passthrough = list(asv_args)
    machine, registered = ensure_machine(machine_name(passthrough))
    if registered:
        print(f"registered this machine with asv as {machine!r} (`asv machine --yes`)")
    status = 0
    for env, run_args in asv_run_passes(tier, benchmark_dir_of(config), passthrough):
        n = run_args.count("-b")
        print(f"+ {' '.join(f'{k}={v}' for k, v in env.items())} asv run <{n} -b selections of the {tier} tier> "
              + " ".join(run_args[2 * n:]), flush=True)
        rc = subprocess.call([sys.executable, "-m", "asv", "--config", str(config), "run", *run_args],
                             cwd=config.parent, env=dict(os.environ, **env))
        status = status or rc
    return status
