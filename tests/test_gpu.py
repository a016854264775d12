"""Device validation on a real accelerator: placement, agreement with the CPU, synchronisation.

Skipped (with the reason) where no GPU is present, as on CI; ``tools/gpu-validation.sh``
runs it on a GPU machine together with the asv GPU runs.
"""

from __future__ import annotations

import pytest

from pyhf_bench.asvtools.gpucheck import TOLERANCE, check
from pyhf_bench.core.axes import device_node_present

pytestmark = pytest.mark.skipif(not device_node_present("gpu"), reason="no GPU on this machine")


@pytest.fixture(scope="module")
def report():
    return check(("jax", "pytorch", "tensorflow"), "gpu", batch_size=1000)


@pytest.mark.parametrize("backend", ["jax", "pytorch", "tensorflow"])
@pytest.mark.parametrize("precision", ["64b", "32b"])
def test_device_path(report, backend, precision):
    row = next(r for r in report["rows"] if r["backend"] == backend and r["precision"] == precision)
    gpu = row["gpu"]
    if "skipped" in gpu:
        pytest.skip(gpu["skipped"])
    assert "error" not in gpu, gpu
    assert gpu["placement"] == {"data": "gpu", "pars": "gpu"}, "tensors must live on the GPU"
    assert row["cpu"]["placement"] == {"data": "cpu", "pars": "cpu"}
    if "cls_agrees" in row:
        assert row["cls_max_relative_deviation"] <= TOLERANCE[precision], row
    # Both timings are recorded for the case study (speed itself is not asserted here).
    assert gpu["logpdf_seconds_synchronized"] > 0 and gpu["logpdf_seconds_unsynchronized"] > 0
