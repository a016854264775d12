"""``pyhf-bench costs``: the work of each benchmarked step as the compilers count it.

Timings depend on the machine; the work itself does not.  For each operation
(:data:`OPERATIONS`) on each model (synthetic models of :data:`BIN_SIZES` bins,
the 100-bin model batched :data:`BATCH_SIZES` times, the published likelihoods
of :data:`LIKELIHOODS`) and each precision, this records

* JAX/XLA: ``jax.jit(f).lower(x).compile().cost_analysis()``'s flops,
  transcendentals and bytes accessed; the kernels of the optimised HLO (the
  entry computation's instructions that run code: fusions, copies, custom calls,
  ...; parameters, constants, tuples and bitcasts are free), of which fusions;
  and the primitives a call dispatches one by one when *not* jitted (the top
  level of the jaxpr: pyhf's ``logpdf`` runs eagerly, each primitive its own
  dispatch; its helpers that JAX jits itself count once);
* PyTorch: ``torch.utils.flop_counter.FlopCounterMode``'s flops (it counts
  matrix products only: pyhf's ``einsum`` calls, not its element-wise work) and
  the calls into torch a step makes (``torch.overrides.TorchFunctionMode``),
  each at least one dispatched kernel on a GPU.

The optimised HLO is the CPU compiler's: on a GPU, XLA fuses with other rules,
so the kernel count is a proxy there (the GPU run measures the real one).  The
counts depend only on shapes, so they are deterministic: the same pyhf and jax
give the same table.  Each backend and precision is counted in a fresh
interpreter (switching frameworks in one process is fragile).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pyhf_bench import UserError
from pyhf_bench.core.childjson import run_code
from pyhf_bench.core.pyhfversions import interpolator
from pyhf_bench.core.runtime import activate
from pyhf_bench.core.synthetic import make_alphasets, make_histogramssets, make_spec
from pyhf_bench.likelihoods import load_key
from pyhf_bench.likelihoods.inference import Problem

OPERATIONS = ("logpdf", "value_and_grad", "fit_step", "batched_logpdf")
#: Synthetic model sizes (total bins); 10^5 bins is 4 channels of 25,000 bins, 200,005 parameters.
BIN_SIZES = (10, 100, 1000, 10_000, 100_000)
#: Batch sizes of ``batched_logpdf``, on the :data:`BATCHED_BINS`-bin model (as ``BatchedLogpdf``).
BATCH_SIZES = (1, 10, 100, 1000, 10_000)
BATCHED_BINS = 100
#: Published likelihoods (the quick tier's); left out, with a note, where the data is absent.
LIKELIHOODS = ("sbottom/RegionA", "staus/combined")
#: pyhf's interpolators alone (the measurement of pyhf issue #301), as benchmarks/interpolators.py
#: builds them: codes, systematics, and bins on both sides of multiples of 128 (a TPU's tile width).
INTERP_CODES = (0, "4p")
INTERP_SYS = 10
INTERP_BINS = (1, 10, 100, 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025, 10_000)
BACKENDS = ("jax", "pytorch")
PRECISIONS = ("64b", "32b")
FORMAT = 1

#: Optimised-HLO instructions that run no code of their own.
FREE_OPCODES = frozenset({"parameter", "constant", "tuple", "get-tuple-element", "bitcast"})
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*.*?\s([a-z][a-z0-9\-]*)\(")


def hlo_kernels(hlo_text: str) -> dict:
    """Kernels and fusions in the ENTRY computation of an optimised HLO module's text."""
    kernels = fusions = 0
    opcodes: dict[str, int] = {}
    in_entry = False
    for line in hlo_text.splitlines():
        if line.startswith("ENTRY"):
            in_entry = True
            continue
        if not in_entry:
            continue
        if line.startswith("}"):
            break
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        opcode = match.group(1)
        if opcode in FREE_OPCODES:
            continue
        kernels += 1
        fusions += opcode == "fusion"
        opcodes[opcode] = opcodes.get(opcode, 0) + 1
    if not in_entry:
        raise ValueError("no ENTRY computation in the HLO text")
    return {"kernels": kernels, "fusions": fusions, "opcodes": dict(sorted(opcodes.items()))}


# --------------------------------------------------------------------------- the steps


@dataclass
class InterpolatorStep:
    """One of pyhf's interpolators on its histograms: ``function(pars)`` with *pars* the alphas."""

    rt: Any
    operation: str
    function: Callable
    pars: Any
    n_sys: int
    n_bins: int


def interpolator_step(rt, code, n_sys: int, n_bins: int) -> InterpolatorStep:
    with rt.scope():
        function = interpolator(code, make_histogramssets(n_sys, n_bins))
        pars = rt.tensorlib.astensor(make_alphasets(n_sys))
    return InterpolatorStep(rt, f"interpolate_{code}", function, pars, n_sys, n_bins)


def models(sizes, batches, likelihoods, interp_bins=()):
    """(label, kind, size, builder) for every model of the table; builder(rt) -> Problem (or InterpolatorStep)."""

    for n in sizes:
        yield f"synthetic:{n}", "bins", n, lambda rt, n=n: Problem.from_spec(rt, make_spec(n))
    for b in batches:
        yield (
            f"synthetic:{BATCHED_BINS}x{b}",
            "batch",
            b,
            lambda rt, b=b: Problem.from_spec(rt, make_spec(BATCHED_BINS), batch_size=b),
        )
    for key in likelihoods:
        yield key, "likelihood", None, lambda rt, key=key: _likelihood_problem(rt, key)
    # Last: a device run's time budget goes to the models first (`accelerators zigzag` sweeps these).
    for code in INTERP_CODES if interp_bins else ():
        for n in interp_bins:
            yield (f"interp{code}:{INTERP_SYS}x{n}", "interpolator", n,
                   lambda rt, code=code, n=n: interpolator_step(rt, code, INTERP_SYS, n))


def _likelihood_problem(rt, key):
    return Problem.from_likelihood(rt, load_key(key))


def step_functions(problem) -> dict:
    """The functions of one parameter vector that each operation evaluates, as the benchmarks do.

    ``logpdf``/``batched_logpdf``: ``model.logpdf(pars, data)``; ``value_and_grad``:
    the NLL and its gradient (:meth:`Runtime.value_and_grad`); ``fit_step``: the
    objective-and-gradient pyhf's optimizer calls once per iteration of a fit
    (``pyhf.optimize.common.shim`` of ``twice_nll``, as ``pyhf.infer.mle.fit`` builds it).
    """
    if isinstance(problem, InterpolatorStep):
        return {problem.operation: problem.function}
    import pyhf
    from pyhf.optimize.common import shim

    model, data, rt = problem.model, problem.data, problem.rt
    logpdf = lambda pars: model.logpdf(pars, data)  # noqa: E731
    if model.batch_size:
        return {"batched_logpdf": logpdf}
    init = model.config.suggested_init()
    minimizer_kwargs, _ = shim(
        pyhf.infer.mle.twice_nll, data, model, init, model.config.suggested_bounds(), None, do_grad=True
    )
    return {
        "logpdf": logpdf,
        "value_and_grad": rt.value_and_grad(model, data),
        "fit_step": minimizer_kwargs["func"],
    }


def _jax_counts(function, pars) -> dict:
    import jax

    lowered = jax.jit(function).lower(pars)
    compiled = lowered.compile()
    analysis, unfused = compiled.cost_analysis(), lowered.cost_analysis()
    if isinstance(analysis, list):  # older jax: one dict per device program
        analysis, unfused = analysis[0], unfused[0]
    counts = {
        "flops": float(analysis.get("flops", 0.0)),
        "transcendentals": float(analysis.get("transcendentals", 0.0)),
        "bytes_accessed": float(analysis.get("bytes accessed", 0.0)),
        # Before fusion (the lowered module): what op-by-op execution moves through memory.
        "unfused_bytes_accessed": float(unfused.get("bytes accessed", 0.0)),
    }
    kernels = hlo_kernels(compiled.as_text())
    counts.update(kernels=kernels["kernels"], fusions=kernels["fusions"])
    counts["eager_dispatches"] = len(jax.make_jaxpr(function)(pars).jaxpr.eqns)
    return counts


def _torch_counts(function, pars) -> dict:
    from torch.overrides import TorchFunctionMode
    from torch.utils.flop_counter import FlopCounterMode

    class CallCounter(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.calls += 1
            return func(*args, **(kwargs or {}))

    flops = FlopCounterMode(display=False)
    with flops:
        function(pars)
    calls = CallCounter()
    with calls:
        function(pars)
    return {"matmul_flops": float(flops.get_total_flops()), "torch_calls": calls.calls}


def step_counts(backend: str, problem, operation: str) -> dict:
    """The counts of one operation (a key of :func:`step_functions`) on *problem*'s active backend."""
    import numpy as np

    function = step_functions(problem)[operation]
    precision = problem.rt.precision
    pars = problem.pars
    if operation == "fit_step":
        model = problem.model
        # What the optimizer hands the objective: a host (numpy) vector.
        pars = np.asarray(model.config.suggested_init(), dtype="float64" if precision == "64b" else "float32")
        if backend == "pytorch":
            pars = problem.rt.tensorlib.astensor(pars)
    counts = _jax_counts(function, pars) if backend == "jax" else _torch_counts(function, pars)
    # Host<->device copies per call on an accelerator: the benchmarks keep pars and data on the
    # device; a fit's optimizer (scipy, on the host) sends pars and reads back the value and gradient.
    width = 8 if precision == "64b" else 4
    npars = describe(problem)["n_parameters"]
    copies, values = (2, npars + 1 + npars) if operation == "fit_step" else (0, 0)
    counts.update(host_transfers=copies, host_transfer_bytes=width * values)
    return counts


def describe(problem) -> dict:
    """Bins, batch size and parameters of a problem (for an interpolator: its bins and systematics)."""
    if isinstance(problem, InterpolatorStep):
        return {"n_bins": problem.n_bins, "batch_size": 1, "n_parameters": problem.n_sys}
    model = problem.model
    return {
        "n_bins": int(sum(model.config.channel_nbins.values())),
        "batch_size": int(model.batch_size or 1),
        "n_parameters": int(model.config.npars),
    }


def measure(backend: str, precision: str, sizes=BIN_SIZES, batches=BATCH_SIZES, likelihoods=LIKELIHOODS,
            interp_bins=INTERP_BINS) -> list[dict]:
    """The rows of one backend at one precision, in this process (see :func:`table` for the fresh ones)."""

    rt = activate(backend, "cpu", precision)
    rows = []
    for label, kind, size, build in models(sizes, batches, likelihoods, interp_bins):
        try:
            problem = build(rt)
        except UserError as exc:  # a published likelihood whose files are absent here
            rows.append({"backend": backend, "precision": precision, "model": label, "kind": kind, "missing": str(exc)})
            continue
        common = {"backend": backend, "precision": precision, "model": label, "kind": kind, **describe(problem)}
        if size is not None:
            common["size"] = size
        for operation in step_functions(problem):
            rows.append({**common, "operation": operation, **step_counts(backend, problem, operation)})
    return rows


_WORKER = r"""
import json, warnings
warnings.simplefilter("ignore")
from pyhf_bench.asvtools.costs import framework_versions, measure
from pyhf_bench.core.childjson import emit
rows = measure(BACKEND, PRECISION, SIZES, BATCHES, LIKELIHOODS, INTERP)
emit({"versions": framework_versions(BACKEND), "rows": rows})
"""


def framework_versions(backend: str) -> dict:
    """Versions the counts depend on: pyhf and the backend's framework (and Python)."""
    import platform

    import pyhf

    found = {"python": platform.python_version(), "pyhf": pyhf.__version__}
    if backend == "jax":
        import jax
        import jaxlib

        found.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
    elif backend == "pytorch":
        import torch

        found["torch"] = torch.__version__
    return found


def measure_in_subprocess(backend, precision, sizes, batches, likelihoods, interp_bins=(), timeout: float = 1800) -> dict:
    """The rows of one backend at one precision, counted in a fresh interpreter."""
    values = {"BACKEND": backend, "PRECISION": precision, "SIZES": tuple(sizes), "BATCHES": tuple(batches),
              "LIKELIHOODS": tuple(likelihoods), "INTERP": tuple(interp_bins)}
    child = run_code(_WORKER, values, timeout)
    if child.result is None:
        raise RuntimeError(f"counting {backend}/{precision} failed (exit {child.returncode}): {child.last_line}")
    return child.result


def table(backends=BACKENDS, precisions=PRECISIONS, sizes=BIN_SIZES, batches=BATCH_SIZES, likelihoods=LIKELIHOODS,
          interp_bins=INTERP_BINS) -> dict:
    """The whole cost table: every backend x precision counted in a fresh interpreter."""
    rows = []
    found: dict = {}
    for backend in backends:
        for precision in precisions:
            part = measure_in_subprocess(backend, precision, sizes, batches, likelihoods, interp_bins)
            rows.extend(part["rows"])
            found.update(part["versions"])
    return {
        "format": FORMAT,
        "about": (
            "Work per call of each benchmarked step, as the compilers count it (pyhf-bench costs). "
            "jax: XLA cost_analysis() flops/transcendentals/bytes_accessed of the jitted step, kernels and "
            "fusions of the CPU compiler's optimised HLO, unfused_bytes_accessed of the lowered (unoptimised) module, eager_dispatches = primitives dispatched one by one "
            "without jit. pytorch: FlopCounterMode matmul_flops, torch_calls = calls into torch per step."
        ),
        "versions": dict(sorted(found.items())),
        "sizes": list(sizes),
        "batches": list(batches),
        "batched_bins": BATCHED_BINS,
        "likelihoods": list(likelihoods),
        "interpolators": {"codes": [str(c) for c in INTERP_CODES], "n_sys": INTERP_SYS, "bins": list(interp_bins)},
        "rows": rows,
    }


def load_table(path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; write it with `pyhf-bench costs --out {path}`") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not JSON ({exc}); regenerate it with `pyhf-bench costs --out {path}`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("rows"), list):
        raise UserError(f"{path} is not a cost table of format {FORMAT}; regenerate it with `pyhf-bench costs`")
    return data
