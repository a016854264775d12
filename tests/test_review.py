"""The pull-request regression check catches a real slowdown and passes a no-op (`pyhf-bench review-proof`).

Real parts throughout: an offline pyhf history with two branch commits, a real
asv virtualenv (numpy/scipy pins of the modern era) into which asv builds and
installs pyhf from each commit, and the same `asv continuous --factor F` the
workflow runs. One trial per branch keeps it to a few minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pyhf_bench import review

from .conftest import ROOT


def test_slow_branch_source_is_real_code_and_the_noop_only_a_comment():
    import inspect

    import pyhf.pdf

    original = inspect.getsource(pyhf.pdf)  # the installed pyhf 0.7.6: the base of the branches
    slow = review.slow_pdf_source(original)
    assert slow.count("self.make_pdf(pars).log_prob(data)") == 2 and "for _ in range(2):" in slow
    assert "sleep" not in slow
    noop = review.noop_pdf_source(original)
    assert [line for line in noop.splitlines() if not line.startswith("#")] == \
        [line for line in original.splitlines() if not line.startswith("#")]


@pytest.mark.integration
def test_review_proof_flags_the_slow_commit_and_not_the_noop(tmp_path):
    summary_file = tmp_path / "summary.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "review-proof", "--repeats", "1", "--work", str(tmp_path / "work"),
         "--json", str(summary_file), "--config", str(ROOT / "asv.conf.json")],
        capture_output=True, text=True, timeout=1500, cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    # On failure, show each trial and the proof's own benchmark rows of asv's tables (not the
    # hundreds of skipped combinations around them).
    logs = "\n".join(
        f"{p.name}: " + "\n".join(line for line in p.read_text().splitlines()
                                  if "numpy" in line and "64b" in line and "100" in line or "BENCHMARKS" in line)
        for p in sorted((tmp_path / "work").glob("continuous-*.log")))
    assert summary_file.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(summary_file.read_text())
    slow, noop = (next(t for t in summary["trials"] if t["branch"] == b) for b in (review.SLOW_BRANCH, review.NOOP_BRANCH))
    logs = f"trials: {summary['trials']}\n{logs}"
    # The slowed commit: flagged by both passes, and the stored (confirmation) ratio is above the factor.
    assert slow["exit_code"] == 1 and slow["flagged_first"] and slow["ratio"] > review.DEFAULT_FACTOR, logs
    # The no-op: exit 0 (if the first pass flagged it, the confirmation pass did not).
    assert noop["exit_code"] == 0 and noop["ratio"] < review.DEFAULT_FACTOR, logs
    assert summary["false_negatives"] == 0 and summary["false_positives"] == 0
    assert proc.returncode == 0
    # The slow branch's log holds both passes: the first over the selection, the confirmation with more rounds.
    slow_log = (tmp_path / "work" / "continuous-slow-logpdf-1.log").read_text()
    assert slow_log.count("SOME BENCHMARKS HAVE CHANGED SIGNIFICANTLY") == 2, slow_log[-3000:]
    assert f"rounds={review.DEFAULT_CONFIRM_ROUNDS}" in slow_log


def test_review_proof_rejects_bad_arguments():
    proc = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "review-proof", "--factor", "0.9"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "--factor 0.9" in proc.stderr


def test_workflow_uses_the_factor_the_proof_tests():
    # The proof only vouches for the check the workflow runs: same factor, same command.
    import re

    workflow = (ROOT / ".github" / "workflows" / "benchmarks.yml").read_text()
    assert re.search(r'^\s+FACTOR: "([\d.]+)"', workflow, re.M).group(1) == str(review.DEFAULT_FACTOR)
    assert 'pyhf-bench review --config asv.offline.conf.json --era modern --factor "$FACTOR"' in workflow


def test_worse_rows_reads_asvs_table():
    # The rows of `asv continuous`'s table the confirmation pass re-measures: "+" only; "!" is a failure.
    table = (
        "| Change   | Before [d2eaa5b8]    | After [5a1c04bd]    |   Ratio | Benchmark (Parameter)   |\n"
        "|----------|----------------------|---------------------|---------|-------------------------|\n"
        "| +        | 294±40μs             | 446±100μs           |    1.52 | "
        "synthetic_models.Logpdf.time_logpdf('numpy', 'cpu', '64b', 100) |\n"
        "| !        | 1.00±0s              | failed              |     n/a | published_likelihoods.Fit.time_fit |\n"
        "|          | 1.00±0s              | 1.10±0s             |    1.10 | synthetic_models.Hypotest.time_hypotest |\n"
        "| -        | 2.00±0s              | 1.00±0s             |    0.50 | synthetic_models.ModelBuild.time_build |\n"
    )
    assert review.worse_rows(table) == [
        ("+", "synthetic_models.Logpdf.time_logpdf('numpy', 'cpu', '64b', 100)"),
        ("!", "published_likelihoods.Fit.time_fit"),
    ]
