"""``pyhf-bench instructions-proof``: does the instruction-count gate catch small slowdowns?

A pyhf whose ``Model.logpdf`` does more work: pyhf 0.7.6's own ``pdf.py`` (the
installed copy, in an overlay directory put first on the counted child's
``PYTHONPATH``) where call *k* adds ``floor(k*m/100) - floor((k-1)*m/100)``
redundant density evaluations, so any 100 consecutive calls do exactly *m* extra
evaluations: (100 + m)/100 times the real work, no sleep.  The proof counts the
synthetic 100-bin numpy ``Logpdf`` benchmark (its own setup, `instructions.count`)
over loops of 0 and 100 calls (100 consecutive calls: the injected work is exact),
for the base and for each slowed or no-op (comment-only) pyhf, 10 independent
processes each, and applies the review's rule for a single-sample asv result:
flagged when head > base x factor (``asv compare``'s ``_is_result_better``).

The result goes to a JSON file (docs/instruction-proof-*.json); ``--markdown``
writes the docs table from it.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.asvtools import instructions

SLOWDOWNS = (1.02, 1.05, 1.1, 1.2, 1.5)
LOOPS = (0, 100)
BENCHMARK = ("synthetic_models", "Logpdf", "time_logpdf")
PARAMS = ["numpy", "cpu", "64b", 100]

# pyhf 0.7.6's Model.logpdf line that evaluates the density (as review.py's slow branch).
_ANCHOR = """            result = self.make_pdf(pars).log_prob(data)
"""
_EXTRA = """            # pyhf-bench instruction proof: {m} redundant density evaluations in every 100
            # consecutive calls ({factor}x the work), thrown away.
            self._pyhf_bench_calls = getattr(self, "_pyhf_bench_calls", 0) + 1
            for _ in range(self._pyhf_bench_calls * {m} // 100 - (self._pyhf_bench_calls - 1) * {m} // 100):
                self.make_pdf(pars).log_prob(data)
"""


def extra_per_hundred(factor: float) -> int:
    m = round((factor - 1) * 100)
    if m < 1 or abs(1 + m / 100 - factor) > 1e-9:
        raise UserError(f"slowdown {factor}: give a factor of the form 1 + m/100 (1.01, 1.02, ...)")
    return m


def slowed_source(original: str, factor: float) -> str:
    if original.count(_ANCHOR) != 1:
        raise UserError("pyhf's pdf.py does not have pyhf 0.7.6's Model.logpdf line; the proof is written against 0.7.6")
    return original.replace(_ANCHOR, _EXTRA.format(m=extra_per_hundred(factor), factor=factor) + _ANCHOR)


def noop_source(original: str) -> str:
    return "# pyhf-bench instruction proof: a comment-only change (no behaviour change).\n" + original


def overlay(work: Path, name: str, pdf_source: str) -> Path:
    """A directory holding a copy of the installed pyhf with *pdf_source* as its pdf.py."""
    import pyhf

    root = work / name
    target = root / "pyhf"
    if not target.exists():
        shutil.copytree(Path(pyhf.__file__).parent, target, ignore=shutil.ignore_patterns("__pycache__"))
        (target / "pdf.py").write_text(pdf_source)
    return root


def _count(file: str, pythonpath: Path) -> float:
    result = instructions.count(file, *BENCHMARK[1:], PARAMS, loops=LOOPS,
                                env={"PYHF_BENCH_TIER": "full", "PYTHONPATH": str(pythonpath)})
    if "skip" in result:
        raise UserError(f"the proof's benchmark skipped: {result['skip']}")
    if not result.get("pyhf", "").startswith(str(pythonpath)):
        raise UserError(f"the counted child imported pyhf from {result.get('pyhf')}, not the overlay {pythonpath}")
    return result["instructions"]


def run(repeats: int, factor: float, work: Path, benchmark_dir: Path, workers: int = 1, log=print) -> dict:
    import pyhf

    original = (Path(pyhf.__file__).parent / "pdf.py").read_text()
    heads = {"noop": overlay(work, "noop", noop_source(original))}
    for slowdown in SLOWDOWNS:
        heads[str(slowdown)] = overlay(work, f"slow-{slowdown}", slowed_source(original, slowdown))
    base = overlay(work, "base", original)
    file = str(benchmark_dir / f"{BENCHMARK[0]}.py")
    jobs = [(r, name, path) for r in range(1, repeats + 1) for name, path in [("base", base), *heads.items()]]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        counts = list(pool.map(lambda job: _count(file, job[2]), jobs))
    trials = {}
    for (r, name, _), value in zip(jobs, counts):
        trials.setdefault(r, {})[name] = value
        log(f"repeat {r} {name}: {value:.0f} instructions per call")
    rows = []
    for name in heads:
        ratios = [trials[r][name] / trials[r]["base"] for r in sorted(trials)]
        flagged = sum(ratio > factor for ratio in ratios)
        rows.append({"change": name, "injected": None if name == "noop" else float(name), "ratios": ratios,
                     "flagged": flagged, "repeats": len(ratios)})
    bases = [trials[r]["base"] for r in sorted(trials)]
    return {
        "metric": "instructions",
        "benchmark": f"{'.'.join(BENCHMARK)}{tuple(PARAMS)}",
        "loops": list(LOOPS),
        "factor": factor,
        "base_instructions": bases,
        "base_spread": max(bases) / min(bases) - 1,
        "rows": rows,
    }


def markdown(summary: dict, source: str) -> str:
    lines = [f"Instruction-count gate at factor {summary['factor']} on `{summary['benchmark']}` "
             f"({len(summary['base_instructions'])} base counts, spread {100 * summary['base_spread']:.3f} %; "
             f"from `{source}`):", "",
             "| change | detected | min ratio | max ratio |", "|---|---|---|---|"]
    for row in summary["rows"]:
        what = "no-op (comment only)" if row["injected"] is None else f"{row['injected']}x slower"
        word = "false alarms" if row["injected"] is None else "detected"
        lines.append(f"| {what} | {row['flagged']}/{row['repeats']} {word} | {min(row['ratios']):.4f} "
                     f"| {max(row['ratios']):.4f} |")
    return "\n".join(lines) + "\n"


