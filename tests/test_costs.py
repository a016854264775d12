"""The compilers' cost table, the accelerator model's predictions and the measured-beside-predicted merge.

The counts are computed in fresh interpreters (``costs.measure_in_subprocess``:
each switches pyhf to one backend).  Nothing here asserts a speed: the CPU
measurement path is run only to check the shape of what it writes.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from pyhf_bench import UserError
from pyhf_bench.reporting.accelerators import (
    EAGER,
    JITTED,
    calibrate,
    check_predictions,
    crossover,
    device_specs,
    merge,
    predict,
)
from pyhf_bench.reporting.accelerators.timing import measure, zigzag
from pyhf_bench.asvtools.costs import hlo_kernels, measure_in_subprocess

SIZES = (10, 100)
BATCHES = (1, 10)
INTERP = (10, 100)


@pytest.fixture(scope="module")
def jax_rows():
    return measure_in_subprocess("jax", "64b", SIZES, BATCHES, (), INTERP)["rows"]


@pytest.fixture(scope="module")
def torch_rows():
    return measure_in_subprocess("pytorch", "64b", SIZES, BATCHES, (), INTERP)["rows"]


def _row(rows, operation, model):
    return next(r for r in rows if r["operation"] == operation and r["model"] == model)


def test_counts_are_deterministic(jax_rows):
    again = measure_in_subprocess("jax", "64b", SIZES, BATCHES, (), INTERP)["rows"]
    assert again == jax_rows


@pytest.mark.parametrize("operation", ["logpdf", "value_and_grad", "fit_step"])
def test_jax_work_grows_with_bins(jax_rows, operation):
    small, large = _row(jax_rows, operation, "synthetic:10"), _row(jax_rows, operation, "synthetic:100")
    for key in ("flops", "transcendentals", "bytes_accessed", "unfused_bytes_accessed"):
        assert large[key] > small[key] > 0, (key, small, large)
    assert small["kernels"] >= 1 and small["fusions"] <= small["kernels"]


def test_batched_work_grows_with_batch(jax_rows, torch_rows):
    one, ten = _row(jax_rows, "batched_logpdf", "synthetic:100x1"), _row(jax_rows, "batched_logpdf", "synthetic:100x10")
    assert ten["flops"] > 5 * one["flops"]
    assert ten["bytes_accessed"] > one["bytes_accessed"]
    t1, t10 = _row(torch_rows, "batched_logpdf", "synthetic:100x1"), _row(torch_rows, "batched_logpdf", "synthetic:100x10")
    assert t10["matmul_flops"] > t1["matmul_flops"] > 0


def test_eager_logpdf_dispatches_do_not_grow_with_size(jax_rows, torch_rows):
    # pyhf's tensorised modifiers: the same primitives for any number of bins (one channel up to 100 bins).
    assert _row(jax_rows, "logpdf", "synthetic:10")["eager_dispatches"] == _row(jax_rows, "logpdf", "synthetic:100")["eager_dispatches"] > 10
    assert _row(torch_rows, "logpdf", "synthetic:10")["torch_calls"] == _row(torch_rows, "logpdf", "synthetic:100")["torch_calls"] > 10
    # A jitted step is one dispatch.
    assert _row(jax_rows, "value_and_grad", "synthetic:100")["eager_dispatches"] == 1


@pytest.mark.parametrize("code", ["0", "4p"])
def test_interpolator_work_grows_and_dispatches_do_not(jax_rows, torch_rows, code):
    small, large = _row(jax_rows, f"interpolate_{code}", f"interp{code}:10x10"), _row(jax_rows, f"interpolate_{code}", f"interp{code}:10x100")
    assert large["flops"] > small["flops"] > 0 and large["bytes_accessed"] > small["bytes_accessed"]
    assert large["eager_dispatches"] == small["eager_dispatches"] >= 1
    assert _row(torch_rows, f"interpolate_{code}", f"interp{code}:10x100")["torch_calls"] >= 1


def test_interpolator_histograms_are_the_benchmarks(root):
    """benchmarks/interpolators.py times what the cost table counts: the same generator, the same values."""
    from pyhf_bench.core.synthetic import make_alphasets, make_histogramssets

    import random

    def before_the_move(n_sys, n_bins, seed=0):  # benchmarks/interpolators.py's recipe until the move
        rng = random.Random(f"pyhf-bench-interp-{n_sys}-{n_bins}-{seed}")
        sets = []
        for _ in range(n_sys):
            nominal = [rng.uniform(10.0, 100.0) for _ in range(n_bins)]
            down = [x * rng.uniform(0.85, 0.98) for x in nominal]
            up = [x * rng.uniform(1.02, 1.15) for x in nominal]
            sets.append([[down, nominal, up]])
        return sets

    for n_sys, n_bins in ((1, 1), (10, 100), (3, 129)):
        assert make_histogramssets(n_sys, n_bins) == before_the_move(n_sys, n_bins)
    rng = random.Random("pyhf-bench-alphas-10")
    assert make_alphasets(10) == [[rng.uniform(-2.0, 2.0)] for _ in range(10)]
    source = (root / "benchmarks" / "interpolators.py").read_text()
    assert "from pyhf_bench.core.synthetic import make_alphasets, make_histogramssets" in source


def test_fit_step_copies_pars_and_results(jax_rows):
    row = _row(jax_rows, "fit_step", "synthetic:100")
    assert row["host_transfers"] == 2
    assert row["host_transfer_bytes"] == 8 * (2 * row["n_parameters"] + 1)
    assert _row(jax_rows, "value_and_grad", "synthetic:100")["host_transfer_bytes"] == 0


def test_hlo_kernels_counts_the_entry_computation():
    text = "\n".join([
        "HloModule m",
        "%fused (p: f64[4]) -> f64[4] {",
        "  %p = f64[4]{0} parameter(0)",
        "  ROOT %e = f64[4]{0} exponential(f64[4]{0} %p)",
        "}",
        "ENTRY %main (a: f64[4]) -> (f64[], f64[4]) {",
        "  %a = f64[4]{0} parameter(0)",
        "  %c = f64[] constant(1)",
        "  %f = f64[4]{0} fusion(f64[4]{0} %a), kind=kLoop, calls=%fused",
        "  %r = f64[] reduce(f64[4]{0} %f, f64[] %c), dimensions={0}, to_apply=%add",
        "  %b = f64[2,2]{1,0} bitcast(f64[4]{0} %f)",
        "  ROOT %t = (f64[], f64[4]{0}) tuple(f64[] %r, f64[4]{0} %f)",
        "}",
    ])
    assert hlo_kernels(text) == {"kernels": 2, "fusions": 1, "opcodes": {"fusion": 1, "reduce": 1}}
    with pytest.raises(ValueError):
        hlo_kernels("HloModule m\n")


def test_crossover_interpolates_in_log_log():
    # Device 10x slower at 10, 10x faster at 1000: equal at 100, 2x faster at 10^(2 + log10(2)/1).
    found = crossover([(10, 1.0, 10.0), (1000, 10.0, 1.0)], margin=1.0)
    assert found["size"] == pytest.approx(100.0)
    assert crossover([(10, 1.0, 10.0), (1000, 10.0, 1.0)], margin=2.0)["size"] == pytest.approx(10 ** (2 + math.log10(2)))
    assert crossover([(10, 1.0, 2.0), (100, 1.0, 3.0)])["size"] is None
    assert crossover([(10, 2.0, 1.0), (100, 3.0, 1.0)])["size"] == 10
    # A tie is no win: the default margin asks for a clear one.
    assert crossover([(10, 1.01, 1.0), (100, 1.02, 1.0)])["size"] is None


CPU_FIGURES = {
    "figures": {
        "peak_flops": {"64b": 2e10, "32b": 4e10}, "exp_per_second": {"64b": 2e8, "32b": 4e8},
        "bandwidth": 1e10, "eager_dispatch": 5e-6, "jit_call": 8e-6, "numpy_dispatch": 5e-7, "torch_dispatch": 2e-6,
    },
    "machine": "test", "threads": "1",
}


@pytest.fixture(scope="module")
def predictions(jax_rows, torch_rows):
    result = predict({"rows": jax_rows + torch_rows, "versions": {}}, CPU_FIGURES)
    check_predictions(json.loads(json.dumps(result)))  # well-formed, and JSON all the way down
    return result


def test_predictions_follow_the_stated_formula(predictions, jax_rows):
    specs, cpu = device_specs(), CPU_FIGURES["figures"]
    h100, tpu = specs["h100-sxm"], specs["tpu-v5e"]
    assert len(predictions["rows"]) == len(jax_rows)
    for pred in predictions["rows"]:
        row = _row(jax_rows, pred["operation"], pred["model"])
        flops = row["flops"] + row["transcendentals"]
        transfers = row["host_transfers"] * h100["transfer_latency"] + row["host_transfer_bytes"] / h100["host_link_bandwidth"]
        if row["operation"] in JITTED:
            work = max(flops / h100["peak_flops"]["64b"], row["bytes_accessed"] / h100["bandwidth"])
            expected = cpu["jit_call"] + row["kernels"] * h100["launch_latency"] + work + transfers
            cpu_expected = cpu["jit_call"] + max(
                row["flops"] / cpu["peak_flops"]["64b"] + row["transcendentals"] / cpu["exp_per_second"]["64b"],
                row["bytes_accessed"] / cpu["bandwidth"])
            # A TPU: one program launch per jitted step, 64b flops emulated.
            tpu_work = max(flops * tpu["f64_emulation_factor"] / tpu["peak_flops"]["64b"], row["bytes_accessed"] / tpu["bandwidth"])
            tpu_transfers = row["host_transfers"] * tpu["transfer_latency"] + row["host_transfer_bytes"] / tpu["host_link_bandwidth"]
            tpu_launch = tpu["launch_latency"] + row["kernels"] * tpu["kernel_in_program_latency"]
            assert pred["tpu-v5e"]["seconds"] == pytest.approx(cpu["jit_call"] + tpu_launch + tpu_work + tpu_transfers)
        else:
            assert row["operation"] in EAGER
            n = row["eager_dispatches"]
            work = max(flops / h100["peak_flops"]["64b"], row["unfused_bytes_accessed"] / h100["bandwidth"])
            expected = max(n * cpu["eager_dispatch"], n * h100["launch_latency"] + work) + transfers
            cpu_expected = n * cpu["eager_dispatch"] + max(
                row["flops"] / cpu["peak_flops"]["64b"] + row["transcendentals"] / cpu["exp_per_second"]["64b"],
                row["unfused_bytes_accessed"] / cpu["bandwidth"])
        assert pred["h100-sxm"]["seconds"] == pytest.approx(expected)
        assert pred["cpu"]["seconds"] == pytest.approx(cpu_expected)
        assert pred["h100-sxm"]["bound"] in ("bandwidth", "compute", "latency", "transfers")
        if row["operation"] in JITTED:  # one graph launch for the whole step: the lower bound
            graphs = specs["h100-sxm-graphs"]
            in_graph = graphs["launch_latency"] + row["kernels"] * graphs["kernel_in_program_latency"]
            assert pred["h100-sxm-graphs"]["seconds"] == pytest.approx(expected - row["kernels"] * graphs["launch_latency"] + in_graph)


def test_summary_covers_every_device_and_step(predictions):
    combos = {(s["device"], s["operation"], s["precision"]) for s in predictions["summary"]}
    for device in device_specs():
        for operation in ("logpdf", "value_and_grad", "fit_step", "batched_logpdf", "interpolate_0", "interpolate_4p"):
            assert (device, operation, "64b") in combos
    for s in predictions["summary"]:
        assert s["speedup_at_largest"] > 0 and math.isfinite(s["speedup_at_largest"])


def test_measured_times_are_written_beside_the_predictions(predictions):
    merged = measure("cpu", predictions, "cpu", ("64b",), max_bins=10, budget=120)
    assert merged["spec"] == "cpu" and merged["device"] == "cpu"
    assert merged["predicted"] == len(predictions["rows"])
    measured = [r for r in merged["rows"] if r["measured_seconds"] is not None]
    # The 10-bin model's three steps, both batched models and the interpolators; the 100-bin model was left out.
    assert {(r["operation"], r["model"]) for r in measured} == {
        ("logpdf", "synthetic:10"), ("value_and_grad", "synthetic:10"), ("fit_step", "synthetic:10"),
        ("batched_logpdf", "synthetic:100x1"), ("batched_logpdf", "synthetic:100x10"),
        *((f"interpolate_{c}", f"interp{c}:10x{n}") for c in ("0", "4p") for n in INTERP)}
    for r in measured:
        assert r["measured_seconds"] > 0 and r["ratio"] == pytest.approx(r["measured_seconds"] / r["predicted_seconds"])
    assert merged["measured"] == len(measured) and merged["median_ratio"] > 0


def test_calibration_recovers_the_host_costs_it_was_given(predictions, jax_rows, torch_rows):
    """Times made of known per-primitive and per-kernel costs: the fit on the smallest sizes finds them."""
    per_primitive = {"logpdf": 150e-6, "batched_logpdf": 120e-6, "interpolate_0": 90e-6, "interpolate_4p": 80e-6}
    per_kernel, jit_call = 3e-6, CPU_FIGURES["figures"]["jit_call"]
    times = []
    for r in jax_rows:
        seconds = (jit_call + r["kernels"] * per_kernel if r["operation"] in JITTED
                   else r["eager_dispatches"] * per_primitive[r["operation"]])
        times.append({"operation": r["operation"], "precision": r["precision"], "model": r["model"], "seconds": seconds})
    measured = merge(predictions, times, "cpu", "cpu")
    found = calibrate(measured, {"rows": jax_rows + torch_rows}, CPU_FIGURES)
    assert found["cpu_kernel"] == pytest.approx(per_kernel)
    assert found["eager_dispatch"] == pytest.approx(per_primitive)
    # Calibrated predictions put the CPU's latency where the times were.
    again = predict({"rows": jax_rows + torch_rows, "versions": {}}, CPU_FIGURES, calibration=found)
    for pred, t in zip(sorted(again["rows"], key=lambda r: (r["operation"], r["model"])),
                       sorted(times, key=lambda r: (r["operation"], r["model"]))):
        assert pred["cpu"]["seconds"] >= t["seconds"] * 0.999  # plus the work term, never below the latency
    with pytest.raises(UserError):
        calibrate(merge(predictions, times, "gpu", "h100-sxm"), {"rows": jax_rows}, CPU_FIGURES)


def test_merge_keeps_unmeasured_predictions(predictions):
    merged = merge(predictions, [], "gpu", "h100-sxm", ["nothing ran"])
    assert merged["measured"] == 0 and merged["median_ratio"] is None
    assert all(r["measured_seconds"] is None and r["predicted_seconds"] > 0 for r in merged["rows"])
    # The CUDA-graph variant rides along: the other end of the H100 bracket, never above the per-kernel launches.
    assert all(r["variants_predicted_seconds"]["h100-sxm-graphs"] <= r["predicted_seconds"] for r in merged["rows"])
    with pytest.raises(UserError):
        measure("gpu", predictions, "no-such-device")


def test_cost_benchmarks_import_nothing_heavy_and_skip_outside_the_tier(root):
    """asv's forkserver imports the suite before forking; a combination outside the quick tier skips at once."""
    code = (
        "import sys, json, time\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "import benchmarks.compiler_costs as cc\n"
        "heavy = sorted(m for m in ('numpy', 'jax', 'torch', 'tensorflow', 'pyhf') if m in sys.modules)\n"
        "start = time.perf_counter()\n"
        "try:\n"
        "    cc.SyntheticXla().setup('cpu', '32b', 'logpdf', 10000)\n"
        "    outcome = 'ran'\n"
        "except NotImplementedError as exc:\n"
        "    outcome = str(exc)\n"
        "print('@@' + json.dumps([heavy, outcome, time.perf_counter() - start]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYHF_BENCH_TIER": "quick"})
    heavy, outcome, seconds = json.loads(next(l[2:] for l in proc.stdout.splitlines() if l.startswith("@@")))
    assert heavy == []
    assert "full tier only" in outcome
    assert seconds < 5, "a tier skip must not build or compile anything"


def test_zigzag_sweeps_the_interpolators_eager_and_jitted():
    result = zigzag("cpu", "32b", (10, 128, 129), repeats=2)
    assert result["repeats"] == 2 and result["device"] == "cpu"
    assert set(result["operations"]) == {"interpolate_0", "interpolate_0_jit", "interpolate_4p", "interpolate_4p_jit"}
    for r in result["operations"].values():
        assert r["sizes"] == [10, 128, 129] and r["neighbour_steps"] == 2
        assert all(len(times) == 2 and min(times) > 0 for times in r["seconds"])
        assert 0 <= r["neighbour_steps_same_sign_in_every_run"] <= 2 and r["median_max_over_min_per_size"] >= 1


def test_predict_command_reports_missing_costs_as_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "accelerators", "predict", "--costs", str(tmp_path / "none.json"),
         "--out", str(tmp_path / "p.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("pyhf-bench: error:") and len(proc.stderr.strip().splitlines()) == 1


def test_committed_predictions_match_the_committed_inputs(root):
    from pyhf_bench.asvtools.costs import load_table

    committed = root / "docs" / "accelerator-predictions.json"
    if not committed.exists():
        pytest.fail("docs/accelerator-predictions.json is missing; run `pyhf-bench accelerators predict`")
    stored = json.loads(committed.read_text())
    check_predictions(stored)
    again = predict(load_table(root / "docs" / "costs-cpu.json"), stored["inputs"]["cpu"], stored["inputs"]["devices"],
                    stored["inputs"]["calibration"])
    assert json.loads(json.dumps(again)) == stored
    assert stored["inputs"]["devices"] == device_specs(), "accelerators.json changed: rerun `pyhf-bench accelerators predict`"
    assert stored["inputs"]["cpu"] == json.loads((root / "docs" / "cpu-figures-epyc-2core.json").read_text())
    assert stored["inputs"]["calibration"] == json.loads((root / "docs" / "cpu-calibration-epyc-2core.json").read_text())


def test_the_docs_page_is_what_the_command_writes_from_the_committed_data(root, tmp_path):
    out = tmp_path / "accelerators.md"
    proc = subprocess.run(
        [sys.executable, "-m", "pyhf_bench.cli", "accelerators", "docs", "--measured", "docs/accelerator-measured-cpu.json",
         "--zigzag", "docs/zigzag-cpu-epyc-2core.json", "--uncalibrated", "docs/accelerator-measured-cpu-uncalibrated.json",
         "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (root / "docs" / "accelerators.md").read_text(), "regenerate docs/accelerators.md"
