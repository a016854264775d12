"""Every backend really runs the inference steps on the CPU and agrees with numpy.

One fresh interpreter per backend (switching frameworks in one process is fragile).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import run_python

STEPS = r"""
import json, math
import numpy as np
from pyhf_bench.core import runtime, skip
from pyhf_bench.core import synthetic
from pyhf_bench.likelihoods.inference import Problem

out = {}
for precision in ("64b", "32b"):
    rt = runtime.activate(BACKEND, "cpu", precision)
    spec = synthetic.make_spec(10)
    problem = Problem.from_spec(rt, spec)
    logpdf = problem.logpdf()
    entry = {
        "placement": rt.placement(problem.pars),
        "logpdf": float(np.asarray(rt.tensorlib.tolist(logpdf))[0]),
        "dtype": str(problem.pars.dtype),
    }
    if BACKEND != "numpy":
        value, grad = problem.value_and_grad(problem.value_and_grad_function())
        entry["grad"] = [float(x) for x in rt.tensorlib.tolist(grad)]
    try:
        cls_obs, cls_exp = problem.hypotest()
        entry["cls_obs"] = float(cls_obs)
        entry["cls_exp"] = [float(x) for x in cls_exp]
    except Exception as exc:
        if precision == "64b":
            raise
        entry["fit_error"] = f"{type(exc).__name__}: {exc}"
    batched = Problem.from_spec(rt, spec, batch_size=3).logpdf()
    entry["batched"] = [float(x) for x in rt.tensorlib.tolist(batched)]
    out[precision] = entry
print("@@" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def numpy_reference():
    return run_python("BACKEND = 'numpy'\n" + STEPS)


def _finite_difference_gradient():
    return run_python(
        r"""
import json
import numpy as np
from pyhf_bench.core import runtime, skip
from pyhf_bench.core import synthetic
from pyhf_bench.likelihoods.inference import Problem
rt = runtime.activate("numpy")
p = Problem.from_spec(rt, synthetic.make_spec(10))
pars = np.asarray(p.pars, dtype=float)
def nll(x):
    return -float(p.model.logpdf(x, p.data)[0])
grad = []
for i in range(len(pars)):
    h = 1e-6 * max(1.0, abs(pars[i]))
    up, down = pars.copy(), pars.copy()
    up[i] += h
    down[i] -= h
    grad.append((nll(up) - nll(down)) / (2 * h))
print("@@" + json.dumps(grad))
"""
    )


@pytest.mark.parametrize("backend", ["jax", "pytorch", "tensorflow"])
def test_backend_matches_numpy(backend, numpy_reference):
    result = run_python(f"BACKEND = {backend!r}\n" + STEPS)
    for precision, rtol in (("64b", 1e-6), ("32b", 1e-3)):
        got, ref = result[precision], numpy_reference[precision]
        assert got["placement"] == "cpu"
        assert ("64" if precision == "64b" else "32") in got["dtype"]
        assert got["logpdf"] == pytest.approx(ref["logpdf"], rel=rtol)
        assert got["batched"] == pytest.approx([ref["logpdf"]] * 3, rel=rtol)
        if "fit_error" in got:
            # scipy >= 1.16's SLSQP takes float64 only; pyhf 0.7.6 hands it float32
            # tensors from torch and TensorFlow at 32b (the benchmarks skip these).
            assert precision == "32b" and backend in ("pytorch", "tensorflow")
            assert "must be of type numpy.float64" in got["fit_error"]
            continue
        if precision == "64b":
            assert got["cls_obs"] == pytest.approx(ref["cls_obs"], rel=1e-5)
            assert got["cls_exp"] == pytest.approx(ref["cls_exp"], rel=1e-5)
        else:
            # 32b fits stop wherever float32 resolution lets them (the expected band
            # of jax and numpy differed by up to ~2x here): only sanity at 32b; the
            # published-likelihood issue states the justified 32b tolerance.
            assert 0.0 <= got["cls_obs"] <= 1.0
    fd = _finite_difference_gradient()
    assert result["64b"]["grad"] == pytest.approx(fd, rel=1e-4, abs=1e-4)


def test_numpy_reference_is_sane(numpy_reference):
    ref = numpy_reference["64b"]
    assert ref["placement"] == "cpu"
    assert 0.0 < ref["cls_obs"] < 1.0
    assert ref["cls_exp"] == sorted(ref["cls_exp"])  # -2 sigma ... +2 sigma


def test_pyhf_without_a_backend_is_skipped(tmp_path):
    """pyhf main removed its tensorflow and pytorch backends: those must skip, numpy must still run."""
    import pyhf

    copy = tmp_path / "pyhf"
    shutil.copytree(Path(pyhf.__file__).parent, copy)
    for name in ("tensorflow_backend.py", "pytorch_backend.py"):
        (copy / "tensor" / name).unlink()
    result = run_python(
        r"""
import json, pyhf
from pyhf_bench.core import runtime, skip
out = {"pyhf": pyhf.__file__}
for backend in ("tensorflow", "pytorch", "numpy"):
    try:
        runtime.activate(backend)
        out[backend] = "ran"
    except skip.Skip as exc:
        out[backend] = "skip: " + str(exc)
print("@@" + json.dumps(out))
""",
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert result["pyhf"].startswith(str(tmp_path))
    assert result["numpy"] == "ran"
    for backend in ("tensorflow", "pytorch"):
        assert result[backend].startswith(f"skip: pyhf {pyhf.__version__} cannot use the {backend} backend here")


def test_a_backend_that_is_there_but_raises_is_a_failure_not_a_skip(tmp_path):
    """A pyhf whose numpy backend is present but broken: activate raises the error (asv: failed), never Skip."""
    import pyhf

    copy = tmp_path / "pyhf"
    shutil.copytree(Path(pyhf.__file__).parent, copy)
    backend_file = copy / "tensor" / "numpy_backend.py"
    backend_file.write_text(backend_file.read_text() + (
        "\n\ndef _broken(self, *args, **kwargs):\n    raise RuntimeError('injected breakage')\n\n\n"
        "numpy_backend.astensor = _broken\n"
    ))
    result = run_python(
        r"""
import json, pyhf
from pyhf_bench.core import runtime, skip
try:
    runtime.activate("numpy")
    out = "ran"
except skip.Skip as exc:
    out = "skip: " + str(exc)
except RuntimeError as exc:
    out = "failed: " + str(exc)
print("@@" + json.dumps([pyhf.__file__, out]))
""",
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert result[0].startswith(str(tmp_path))
    assert result[1] == "failed: injected breakage"
