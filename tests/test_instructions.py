"""Instruction counts under valgrind (`pyhf_bench.asvtools.instructions`, benchmarks/instruction_counts.py).

Real valgrind on the real benchmark classes: tiny models and short loops, since
every count starts a Python process under callgrind (about 10 s each here).
"""

from __future__ import annotations

import shutil

import pytest

from pyhf_bench.asvtools import instructions

from .conftest import ROOT

SYNTHETIC = str(ROOT / "benchmarks" / "synthetic_models.py")
FULL = {"PYHF_BENCH_TIER": "full"}

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None,
                                    reason="valgrind is not installed (.ci/run installs it from Debian)")


def logpdf_count(n_bins: int) -> float:
    result = instructions.count(SYNTHETIC, "Logpdf", "time_logpdf", ["numpy", "cpu", "64b", n_bins], env=FULL)
    assert set(result) == {"instructions", "counts", "loops", "pyhf", "aslr_off"}, result
    return result["instructions"]


@needs_valgrind
def test_the_count_of_an_operation_repeats_and_grows_with_the_work():
    counts = [logpdf_count(25) for _ in range(3)]
    spread = max(counts) / min(counts) - 1
    assert spread < 0.005, counts
    # 4x the bins is more work: clearly more instructions (the measured growth, about 1.1x, is
    # twenty times the repeatability; the operation's fixed Python overhead dominates small models).
    assert logpdf_count(100) > 1.05 * max(counts), counts


def test_client_requests_do_nothing_outside_valgrind():
    # The counted child checks this to refuse to report a count that was never taken.
    requests = instructions.ClientRequests()
    assert not requests.running_on_valgrind()
    assert requests.request(instructions.TOGGLE_COLLECT, 7) == 7


@needs_valgrind
def test_a_skipping_setup_is_a_skip_and_a_failing_child_an_error(tmp_path):
    # pyhf has no TPU path for pytorch, and "nonexistent" is no backend: a Skip, then a UserError.
    from pyhf_bench import UserError

    skip = instructions.count(SYNTHETIC, "Logpdf", "time_logpdf", ["pytorch", "tpu", "64b", 1], env=FULL)
    assert "tpu" in skip["skip"].lower()
    with pytest.raises(UserError, match="failed"):
        instructions.count(SYNTHETIC, "NoSuchClass", "time_logpdf", ["numpy", "cpu", "64b", 1], env=FULL)


def test_instruction_benchmarks_pair_with_the_timed_benchmarks_they_count():
    import importlib.util
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        modules = {}
        for name in ("instruction_counts", "synthetic_models", "published_likelihoods"):
            spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
            modules[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(modules[name])
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for cls_name, (module, timed_cls, method) in instructions.MIRRORS.items():
        counted = getattr(modules["instruction_counts"], cls_name)
        timed = getattr(modules[module], timed_cls)
        assert hasattr(timed, method) and counted.unit == "instructions"
        # Same parameter names in the same order, values a subset: the names pair up in review's table.
        assert counted.param_names == timed.param_names, cls_name
        for mine, theirs in zip(counted.params, timed.params):
            assert set(mine) <= set(theirs), (cls_name, mine, theirs)
    name = "instruction_counts.SyntheticFit.track_instructions('jax', 'cpu', '64b', 1, 'scipy')"
    assert instructions.timed_name(name) == "synthetic_models.Fit.time_fit('jax', 'cpu', '64b', 1, 'scipy')"
    assert instructions.timed_name("synthetic_models.Fit.time_fit") == "synthetic_models.Fit.time_fit"


def test_the_docs_tables_are_the_commands_output_of_the_committed_files():
    # docs/instruction-counts.md quotes no hand-pasted number: each table is what
    # `pyhf-bench instructions --markdown` / `instructions-proof --markdown` print from the committed JSON.
    import json

    from pyhf_bench.asvtools import instruction_proof

    page = (ROOT / "docs" / "instruction-counts.md").read_text()
    for name, render in (("instruction-counts-epyc-2core.json", instructions.survey_markdown),
                         ("instruction-counts-jax-epyc-2core.json", instructions.survey_markdown),
                         ("instruction-counts-pytorch-epyc-2core.json", instructions.survey_markdown),
                         ("instruction-counts-full-epyc-2core.json", instructions.survey_markdown),
                         ("instruction-proof-epyc-2core.json", instruction_proof.markdown)):
        source = f"docs/{name}"
        table = render(json.loads((ROOT / source).read_text()), source)
        assert table in page, f"regenerate the table of {source} in docs/instruction-counts.md"
