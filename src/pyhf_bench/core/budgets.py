"""Cost budgets: predict a step's cost from a timed call and skip what would outrun asv's timeout.

asv kills a benchmark process at its timeout and records nothing for it, so a
combination that cannot finish would only burn the whole timeout.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

from pyhf_bench.core import backends
from pyhf_bench.core.skip import Skip

#: A minuit fit costs about (free parameters)^2 objective calls: Migrad's
#: updates and Hesse's numerical second derivatives, which pyhf always runs
#: after a valid Migrad; where the backend has autodiff each call also
#: computes the gradient.  Measured on this suite's full tier (2-core machine,
#: 47-118 parameters, README "Minuit's cost"): fit seconds / (n^2 x seconds per
#: call) was 0.37-1.17 across numpy, jax, pytorch and tensorflow, and above 1.37
#: for tensorflow on 3L-EWK onshell (114 parameters), whose fit, predicted at
#: 652 s with 1.0, ran into the 30-minute timeout.  The skip decision uses the
#: upper end, because a wrong "run" costs the whole timeout and a wrong "skip"
#: only loses a sample that takes most of it.
MINUIT_CALLS_PER_PARAMETER_SQUARED = 1.5
#: The share of a benchmark's asv timeout that its warm-up plus one timed call may use.
TIMEOUT_SHARE = 0.8


def minuit_budget(problem, fits: int, timeout: float, what: str) -> float | None:
    """Skip a minuit step predicted to outrun the benchmark's timeout; return the prediction (s).

    A timed-out combination costs the whole ``timeout`` and records nothing
    (minuit on eager TensorFlow took 9 min per fit for staus' 118 parameters;
    3L resonance's 623 would take hours), so the cost is predicted first from
    one objective call, timed here: ``fits x n^2 x seconds per call``.  The
    warm-up and the timed call must both fit in ``TIMEOUT_SHARE`` of it.
    Returns None for other optimizers.
    """
    rt = problem.rt
    if rt.optimizer != "minuit":
        return None
    if not backends.get(rt.backend).has_autodiff:  # numpy: minuit differentiates numerically, calling the NLL alone
        call = problem.logpdf
    else:
        function = problem.value_and_grad_function()

        def call():
            return problem.value_and_grad(function)

    n = problem.model.config.npars
    per_call = seconds_per_call(call)
    predicted = fits * MINUIT_CALLS_PER_PARAMETER_SQUARED * n * n * per_call
    # The warm-up and one timed call (heavy benchmarks take one sample per process: min_run_count = 1).
    require_time_budget(
        2 * predicted, timeout,
        f"{what} with minuit on {rt.backend} ({rt.precision}) is predicted at {duration(predicted)} "
        f"({fits} fit(s) x {MINUIT_CALLS_PER_PARAMETER_SQUARED:g} x {n}^2 objective calls x {1e3 * per_call:.1f} ms): "
        "the warm-up and the timed call")
    return predicted


#: ROOT's fits (``roobridge.FitOptions``: Minuit2's Migrad, strategy 1, tolerance
#: 1e-6) differentiate numerically, so they too cost ``C x n^2`` NLL calls, per
#: RooFit evaluation backend.  The call is timed with every parameter changed;
#: Minuit2 changes one at a time and RooFit recomputes only what depends on it,
#: so C is below 1.  Measured here (README "Minuit's cost"): ``cpu`` 0.02-0.14 on
#: six models of 49-165 parameters (0.25 allows for about twice that); ``legacy``
#: 0.13-0.37, and above 0.78 on 1Ljets (165 parameters, 76 ms per call), whose
#: fit was still running after 27 of its 30 minutes.  Other backends: 1.0.
ROOT_CALLS_PER_PARAMETER_SQUARED = {"cpu": 0.25, "legacy": 1.0}


def root_fit_budget(peer, fits: int, timeout: float, what: str) -> float:
    """Skip a ROOT peer step predicted to outrun its timeout; return the prediction (s).

    As :func:`minuit_budget`, from the NLL of *peer* (``roobridge.RootPeer``)
    timed here: ``fits x C x n^2 x seconds per call`` for its n free parameters,
    with the evaluation backend's C (``ROOT_CALLS_PER_PARAMETER_SQUARED``).
    """
    n = peer.free_parameters
    per_call = seconds_per_call(peer.nll_value)
    c = ROOT_CALLS_PER_PARAMETER_SQUARED.get(peer.eval_backend, 1.0)
    predicted = fits * c * n * n * per_call
    require_time_budget(
        2 * predicted, timeout,
        f"{what} in ROOT ({peer.eval_backend} backend) is predicted at {duration(predicted)} "
        f"({fits} fit(s) x {c:g} x {n}^2 NLL calls x {1e3 * per_call:.1f} ms): the warm-up and the timed call")
    return predicted


def seconds_per_call(call: Callable, calls: int = 3) -> float:
    """Median seconds of *calls* timed calls, after one untimed call (compilation, first-call caches)."""
    call()
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


#: Pseudo-experiments in a toy benchmark's warm-up, which also times them for ``toy_budget``.
WARM_UP_TOYS = 5


def toy_budget(problem, ntoys: int, timeout: float, what: str) -> float:
    """Warm up a toy-based hypotest on a few toys; skip if *ntoys* are predicted to outrun the timeout.

    Toys cost about ``ntoys x seconds per toy``: four fits per toy (two
    hypotheses, two fits for the test statistic each) plus a few fits to set
    up the calculator, so timing a small batch over-predicts slightly.  A slow
    backend (TensorFlow fits sbottom in seconds) would burn the whole timeout
    on 1000 toys and record nothing.  The warm-up batch also compiles; if it
    predicts too much, a second, compiled batch is timed before skipping.
    Returns the prediction for the warm-up plus one timed call (s).
    """
    def batch() -> float:
        start = time.perf_counter()
        problem.toy_hypotest(ntoys=WARM_UP_TOYS)
        return time.perf_counter() - start

    rt = problem.rt
    spent = batch()
    per_toy = spent / WARM_UP_TOYS

    def predict() -> float:
        return spent + ntoys * per_toy

    if predict() > TIMEOUT_SHARE * timeout:
        second = batch()
        spent += second
        per_toy = min(per_toy, second / WARM_UP_TOYS)
    predicted = predict()
    require_time_budget(
        predicted, timeout,
        f"{ntoys} toys of {what} on {rt.backend} ({rt.precision}) are predicted at {duration(ntoys * per_toy)} "
        f"({per_toy:.2f} s per toy, timed on {WARM_UP_TOYS})")
    return predicted


def require_time_budget(predicted: float, timeout: float, prediction: str) -> None:
    """Skip when *predicted* seconds exceed ``TIMEOUT_SHARE`` of the benchmark's asv timeout.

    asv kills a benchmark process at its timeout and records nothing for it,
    so a combination that cannot finish would only burn the whole timeout.
    *prediction* says what was predicted and from what; the skip reason is
    ``"<prediction> would outrun this benchmark's N min timeout"``.
    """
    if predicted > TIMEOUT_SHARE * timeout:
        raise Skip(f"{prediction} would outrun this benchmark's {duration(timeout)} timeout")


def duration(seconds: float) -> str:
    """``"45 s"`` under two minutes, else ``"12 min"``: how skip reasons state times."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
