"""`pyhf-bench asv-run`: a tier's -b selection is exactly the combinations the benchmarks' setups keep.

The real asv run through the selection is test_asv.py::test_every_benchmark_runs_or_skips_once.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from pyhf_bench import UserError
from pyhf_bench.asvtools import selection

from .conftest import ROOT, run_python

BENCHMARKS = ROOT / "benchmarks"


def _asv_selected(regexes: list[str], combos: list[selection.Combination]) -> set[str]:
    """The combinations asv's own selection code (asv.benchmarks.Benchmarks) picks with these -b regexes."""
    from asv.benchmarks import Benchmarks  # asv: optional (the dev extra)

    class _Conf:
        benchmark_dir = str(BENCHMARKS)

    by_benchmark: dict[str, list[tuple[str, ...]]] = {}
    for combo in combos:
        by_benchmark.setdefault(combo.benchmark, []).append(combo.ids)
    listed = []
    for name, id_sets in by_benchmark.items():
        if id_sets == [()]:
            listed.append({"name": name, "params": []})
        else:  # the axes back from the product (each axis' ids in asv's order)
            axes = [list(dict.fromkeys(ids[i] for ids in id_sets)) for i in range(len(id_sets[0]))]
            assert list(itertools.product(*axes)) == id_sets, name
            listed.append({"name": name, "params": axes})
    chosen = Benchmarks(_Conf(), listed, regex=regexes)
    out = set()
    for bench in listed:
        picked = chosen.benchmark_selection.get(bench["name"], ())
        if bench["name"] not in chosen:
            continue
        if picked is None:
            out.add(bench["name"])
            continue
        product = list(itertools.product(*bench["params"]))
        out |= {f"{bench['name']}({', '.join(product[i])})" for i in picked}
    return out


def test_the_quick_selection_is_what_asv_selects_and_nothing_else():
    combos = selection.combinations(BENCHMARKS)
    assert len(combos) > 10_000  # the full tier: every axis of every benchmark
    quick = {c.name for c in combos if c.quick}
    assert 100 < len(quick) < 1000, len(quick)
    assert _asv_selected(selection.tier_regexes("quick", BENCHMARKS), combos) == quick
    # Every benchmark method keeps at least one combination, but upper limits and toys, quick only
    # for likelihoods you registered yourself (none here); the full tier selects all.
    user_only = {"published_likelihoods.UpperLimit.time_upper_limit", "published_likelihoods.ToyHypotest.time_toy_hypotest"}
    assert {c.benchmark for c in combos if c.quick} == {c.benchmark for c in combos} - user_only
    assert _asv_selected(selection.tier_regexes("full", BENCHMARKS), combos) == {c.name for c in combos}


def test_the_users_b_narrows_the_tier_as_asv_would():
    combos = selection.combinations(BENCHMARKS)
    narrowed = _asv_selected(selection.tier_regexes("quick", BENCHMARKS, [r"\.Logpdf\.", "'jax'"]), combos)
    expected = {c.name for c in combos if c.quick and (".Logpdf." in c.name or "'jax'" in c.name)}
    assert narrowed == expected and narrowed
    assert any("synthetic_models.Logpdf.time_logpdf('numpy'" in name for name in narrowed)


def test_every_combination_outside_the_quick_selection_skips_in_its_setup():
    """The other direction: what the selection leaves out is what setup would skip (no combination is lost).

    Every unselected combination's setup runs under PYHF_BENCH_TIER=quick and must raise
    asv's skip (NotImplementedError) at once; for the published likelihoods the cache
    names every registered region, so the tier, not a missing likelihood, decides.
    """
    result = run_python(
        "import json, sys, itertools, inspect\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from pyhf_bench.asvtools import selection\n"
        "from pyhf_bench.likelihoods import all_keys\n"
        "from asv_runner.discovery import disc_benchmarks\n"
        f"combos = {{c.name: c.quick for c in selection.combinations({str(BENCHMARKS)!r})}}\n"
        f"found = {{b.name: b for b in disc_benchmarks({str(BENCHMARKS)!r})}}\n"
        "cache = {key: '/nonexistent' for key in all_keys()}\n"
        "ran, reasons = [], {}\n"
        "for bench in found.values():\n"
        "    owner = bench.func.__self__\n"
        "    wants_cache = 'cache' in inspect.signature(owner.setup).parameters if hasattr(owner, 'setup') else False\n"
        "    for values, ids in zip(itertools.product(*bench._params), itertools.product(*bench.params)):\n"
        "        name = f\"{bench.name}({', '.join(ids)})\" if ids else bench.name\n"
        "        if combos[name]:\n"
        "            continue\n"
        "        instance = type(owner)()\n"
        "        try:\n"
        "            instance.setup(*(([cache] if wants_cache else []) + list(values)))\n"
        "            ran.append(name)\n"
        "        except NotImplementedError as exc:\n"
        "            key = 'tier' if 'full tier only' in str(exc) else str(exc).split(' (')[0]\n"
        "            reasons[key] = reasons.get(key, 0) + 1\n"
        "print('@@' + json.dumps({'ran': ran, 'reasons': reasons}))",
        env={"PYHF_BENCH_TIER": "quick"},
    )
    assert result["ran"] == []
    reasons = result["reasons"]
    assert reasons.pop("tier") > 10_000
    # The only other skip met first: DeviceMemory on the CPU, outside the tier anyway.
    assert set(reasons) <= {"device memory is tracked on accelerators only"}, reasons


def test_asv_run_passes_keep_the_rest_fold_in_the_users_b_and_measure_memory_without_the_frameworks(monkeypatch):
    monkeypatch.delenv("PYHF_BENCH_PRELOAD", raising=False)
    passes = selection.asv_run_passes("quick", BENCHMARKS, ["--python=same", "-b", r"\.Logpdf\.|PeakMemory",
                                                            "--quick", "--bench=ImportPyhf"])
    benchmarks = []
    for env, args in passes:
        bench = [args[i + 1] for i, a in enumerate(args) if a == "-b"]
        assert args[2 * len(bench):] == ["--python=same", "--quick"]
        benchmarks.append((env, sorted(r.split("\\(")[0].rstrip("$") for r in bench)))
    assert benchmarks == [
        ({"PYHF_BENCH_TIER": "quick", "PYHF_BENCH_PRELOAD": "frameworks"},
         [r"^published_likelihoods\.Logpdf\.time_logpdf", r"^synthetic_models\.ImportPyhf\.timeraw_import_and_set_backend",
          r"^synthetic_models\.Logpdf\.time_logpdf"]),
        # peak RSS counts the forkserver's pages: memory is measured with pyhf preloaded only
        ({"PYHF_BENCH_TIER": "quick", "PYHF_BENCH_PRELOAD": "pyhf"},
         [r"^published_likelihoods\.PeakMemory\.peakmem_step", r"^synthetic_models\.PeakMemory\.peakmem_step"]),
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["-b", "NoSuchBenchmark"], "no benchmark combination of the quick tier matches -b 'NoSuchBenchmark'"),
        (["-b", "("], "-b '(' is not a regular expression"),
        (["-b"], "-b needs a regular expression"),
    ],
)
def test_bad_b_is_one_clear_error(args, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        selection.asv_run_passes("quick", BENCHMARKS, args)


def test_cli_reports_an_unknown_tier_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "asv-run", "--tier", "medium"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "invalid choice: 'medium'" in proc.stderr
