"""``pyhf-bench gpu-check``: prove the device paths on a machine with a GPU (or TPU).

For each accelerated backend, in a fresh interpreter per backend and device
(switching frameworks in one process is fragile):

* placement: the model's data and parameters really live on the device;
* agreement: sbottom RegionA CLs (or a synthetic model's, without the data
  directory) on the device against the CPU, at 64b and 32b;
* synchronisation: a large batched ``logpdf`` timed with and without
  ``Runtime.synchronize`` — on an asynchronous device the unsynchronised time
  measures only the launch, which is why every benchmark synchronises;
* peak device memory, where the backend exposes it.

The result is JSON (``--out FILE``); ``tests/test_gpu.py`` asserts on it and
``tools/gpu-validation.sh`` runs it with the asv GPU runs in one go.
"""

from __future__ import annotations

from pyhf_bench.core.childjson import run_code

#: Relative CLs tolerance between the device and the CPU.  64b: both sides are
#: float64, only the order of floating-point reductions differs.  32b: float32
#: carries ~7 significant digits and two fits amplify rounding (see the README).
TOLERANCE = {"64b": 1e-5, "32b": 1e-2}

_PROBE = r"""
import json, time, warnings
warnings.simplefilter("ignore")
from pyhf_bench.likelihoods.inference import Problem, as_float
from pyhf_bench.core.childjson import emit
from pyhf_bench.core.runtime import activate, device_peak_memory, warm_up
from pyhf_bench.core.skip import Skip
from pyhf_bench.core.synthetic import make_spec

backend, device, precision = BACKEND, DEVICE, PRECISION
out = {"backend": backend, "device": device, "precision": precision}
try:
    rt = activate(backend, device, precision)
except Skip as exc:
    emit({**out, "skipped": str(exc)})
    raise SystemExit(0)
try:
    from pyhf_bench.likelihoods import load
    lk = load("sbottom", "RegionA")
    problem = Problem.from_likelihood(rt, lk)
    out["model"] = lk.label
except Exception as exc:  # no data directory: a synthetic model still proves the path
    problem = Problem.from_spec(rt, make_spec(100))
    out["model"] = "synthetic:100"
out["placement"] = {"data": rt.placement(problem.data), "pars": rt.placement(problem.pars)}
try:
    cls_obs, cls_exp = warm_up(rt, problem.hypotest, "hypotest")
    out["cls"] = [as_float(cls_obs)] + [as_float(x) for x in cls_exp]
except Skip as exc:
    out["cls_skipped"] = str(exc)

batched = Problem.from_spec(rt, make_spec(1000), batch_size=BATCH)
def launch():
    with rt.scope():
        return batched.model.logpdf(batched.pars, batched.data)
rt.synchronize(launch())
rt.synchronize(launch())
def best(fn, n=20):
    times = []
    for _ in range(n):
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
    return min(times)
out["logpdf_seconds_unsynchronized"] = best(launch)
rt.synchronize(launch())
out["logpdf_seconds_synchronized"] = best(lambda: rt.synchronize(launch()))
out["peak_device_memory_bytes"] = device_peak_memory(rt)
emit(out)
"""


def probe(backend: str, device: str, precision: str, batch_size: int = 1000, timeout: float = 900) -> dict:
    """One backend on one device at one precision, in a fresh interpreter (see the module docstring)."""
    values = {"BACKEND": backend, "DEVICE": device, "PRECISION": precision, "BATCH": int(batch_size)}
    child = run_code(_PROBE, values, timeout)
    if child.result is not None:
        return child.result
    return {"backend": backend, "device": device, "precision": precision,
            "error": f"exit {child.returncode}: {child.last_line}"}


def check(backends=("jax", "pytorch", "tensorflow"), device: str = "gpu", batch_size: int = 1000) -> dict:
    """Probe each backend on *device* and on the CPU at both precisions; compare."""
    rows = []
    for backend in backends:
        for precision in ("64b", "32b"):
            on_device = probe(backend, device, precision, batch_size)
            on_cpu = probe(backend, "cpu", precision, batch_size)
            row = {"backend": backend, "precision": precision, device: on_device, "cpu": on_cpu}
            if "cls" in on_device and "cls" in on_cpu:
                deviation = max(abs(a - b) / abs(b) for a, b in zip(on_device["cls"], on_cpu["cls"]) if b)
                row["cls_max_relative_deviation"] = deviation
                row["cls_agrees"] = deviation <= TOLERANCE[precision]
            if "logpdf_seconds_synchronized" in on_device:
                row["sync_over_unsync"] = on_device["logpdf_seconds_synchronized"] / max(
                    on_device["logpdf_seconds_unsynchronized"], 1e-12
                )
            rows.append(row)
    return {"device": device, "batch_size": batch_size, "tolerance": TOLERANCE, "rows": rows}
