"""Build a model and run one inference step: the code path shared by the benchmarks and the CLI.

A :class:`Problem` holds a pyhf model, its data and parameters as tensors of the
active backend (see :func:`pyhf_bench.support.activate`).  Every step returns
through ``Runtime.synchronize``, so a timing of a step includes the device work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .support import Runtime, upper_limit

#: POI values for the fixed upper-limit scan (CLs at each, then interpolated to 0.05).
UPPER_LIMIT_SCAN = (0.0, 5.0, 11)
#: Test statistic for hypotests: qtilde, the LHC's choice for a POI bounded at zero.
TEST_STAT = "qtilde"


def build_model(
    rt: Runtime,
    spec: dict,
    batch_size: int | None = None,
    modifier_settings: dict | None = None,
    poi_name: str | None = "mu",
):
    """``pyhf.Model`` of *spec* on the active backend; schema validation included.

    *poi_name* None builds a background-only model (no parameter of interest).
    """
    import pyhf

    kwargs: dict[str, Any] = {"poi_name": poi_name}
    if batch_size is not None:
        kwargs["batch_size"] = batch_size
    if modifier_settings is not None:
        kwargs["modifier_settings"] = modifier_settings
    with rt.scope():
        return pyhf.Model(spec, **kwargs)


@dataclass
class Problem:
    """A model with its data and parameters, ready for inference steps."""

    rt: Runtime
    model: Any
    data: Any  # observed main data + auxdata, as a backend tensor
    pars: Any  # suggested initial parameters, as a backend tensor

    @classmethod
    def from_spec(
        cls, rt: Runtime, spec: dict, data: list[float] | None = None, _model=None, **model_kwargs
    ) -> "Problem":
        from .synthetic import make_data

        model = _model if _model is not None else build_model(rt, spec, **model_kwargs)
        if data is None:
            data = make_data(model, spec)
        with rt.scope():
            tensorlib = rt.tensorlib
            init = model.config.suggested_init()
            batch = model.batch_size
            pars = tensorlib.astensor([init] * batch if batch else init)
            return cls(rt, model, tensorlib.astensor(data), pars)

    @classmethod
    def from_likelihood(cls, rt: Runtime, lk, batch_size: int | None = None) -> "Problem":
        """A published (or user-registered) likelihood, as loaded by :func:`pyhf_bench.likelihoods.load`."""
        model = build_model(rt, lk.model_spec(), batch_size, lk.modifier_settings, poi_name=lk.poi)
        return cls.from_spec(rt, lk.model_spec(), data=lk.data(model), _model=model)

    # Each step below is what one asv timing call measures.

    def logpdf(self):
        with self.rt.scope():
            return self.rt.synchronize(self.model.logpdf(self.pars, self.data))

    def value_and_grad_function(self):
        """The jitted/autodiff NLL-and-gradient function; call :meth:`value_and_grad` to evaluate it."""
        with self.rt.scope():
            return self.rt.value_and_grad(self.model, self.data)

    def value_and_grad(self, function):
        with self.rt.scope():
            return self.rt.synchronize(function(self.pars))

    def fit(self):
        """Unconditional maximum-likelihood fit; returns (best-fit parameters, twice the NLL)."""
        import pyhf

        with self.rt.scope():
            return self.rt.synchronize(pyhf.infer.mle.fit(self.data, self.model, return_fitted_val=True))

    def fixed_poi_fit(self, poi: float = 1.0):
        import pyhf

        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.mle.fixed_poi_fit(poi, self.data, self.model, return_fitted_val=True)
            )

    def hypotest(self, poi: float = 1.0):
        """Asymptotic CLs at *poi* with the expected band: (CLs_obs, [CLs_exp for -2..+2 sigma])."""
        import pyhf

        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.hypotest(poi, self.data, self.model, test_stat=TEST_STAT, return_expected_set=True)
            )

    def toy_hypotest(self, ntoys: int, poi: float = 1.0):
        """Toy-based CLs at *poi* (qtilde): 2 x *ntoys* pseudo-experiments, each with two fits."""
        import pyhf

        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.hypotest(
                    poi, self.data, self.model, test_stat=TEST_STAT, calctype="toybased", ntoys=ntoys,
                    track_progress=False,
                )
            )

    def upper_limit(self):
        """Observed and expected 95% CL upper limits on mu from a fixed scan."""
        import numpy as np

        scan = np.linspace(*UPPER_LIMIT_SCAN)
        with self.rt.scope():
            return self.rt.synchronize(upper_limit(self.data, self.model, scan, level=0.05))


# --------------------------------------------------------------------------- one-shot runs (the CLI)


def _timed(rt: Runtime, step, what: str) -> tuple[Any, float, float]:
    """Run *step* twice: (result of the second call, seconds of the first call, seconds of the second).

    The first call pays JIT compilation and first-call caches; the second is the
    steady-state cost that the asv benchmarks measure.
    """
    import time

    from .support import warm_up

    start = time.perf_counter()
    warm_up(rt, step, what)
    first = time.perf_counter() - start
    start = time.perf_counter()
    result = step()
    return result, first, time.perf_counter() - start


def _activate_for(lk, backend, device, precision, optimizer) -> Runtime:
    from . import UserError
    from .support import Skip, activate

    try:
        return activate(backend, device, precision, optimizer, lk.fit_settings(optimizer))
    except Skip as exc:
        raise UserError(f"cannot run {backend}/{device}/{precision}/{optimizer} here: {exc}") from None


def as_float(x) -> float:
    import numpy as np

    return float(np.asarray(x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else x, dtype=float).reshape(-1)[0])


def _deviation(value: float, reference: float | None) -> float | None:
    if reference is None:
        return None
    return abs(value - reference) / abs(reference) if reference else abs(value)


def _run_step(lk, step: str, backend, device, precision, optimizer) -> tuple[dict, "Problem", Any]:
    """Activate, build *lk*'s problem, run *step* twice (see :func:`_timed`).

    Returns the common part of the CLI's result, the problem and the step's result.
    """
    from . import UserError
    from .support import Skip

    rt = _activate_for(lk, backend, device, precision, optimizer)
    problem = Problem.from_likelihood(rt, lk)
    try:
        result, first, seconds = _timed(rt, getattr(problem, step), f"{step} of {lk.label}")
    except Skip as exc:
        raise UserError(str(exc)) from None
    header = {
        "likelihood": lk.label,
        "backend": backend,
        "device": device,
        "precision": precision,
        "optimizer": optimizer,
        "pyhf": rt.pyhf_version,
    }
    return {**header, "seconds": seconds, "seconds_first_call": first}, problem, result


def run_hypotest(name, region=None, patch=None, backend="numpy", device="cpu", precision="64b", optimizer="scipy") -> dict:
    """``pyhf-bench hypotest``: CLs at mu=1 with the expected band, the reference and the time taken."""
    from . import UserError
    from .likelihoods import load

    lk = load(name, region, patch)
    if lk.poi is None:
        raise UserError(f"{lk.label} is background-only (no signal patch): run `pyhf-bench fit {lk.name}` instead")
    common, _, (cls_obs, cls_exp) = _run_step(lk, "hypotest", backend, device, precision, optimizer)
    cls_obs = as_float(cls_obs)
    band = [as_float(x) for x in cls_exp]
    ref = (lk.reference or {}).get("cls_obs")
    ref_band = (lk.reference or {}).get("cls_exp")
    return {
        **common,
        "cls_obs": cls_obs,
        "cls_exp": band,
        "reference_cls_obs": ref,
        "reference_cls_exp": ref_band,
        "relative_deviation": _deviation(cls_obs, ref),
        "relative_deviation_exp": None if ref_band is None else max(_deviation(a, b) for a, b in zip(band, ref_band)),
    }


def run_fit(name, region=None, patch=None, backend="numpy", device="cpu", precision="64b", optimizer="scipy") -> dict:
    """``pyhf-bench fit``: unconditional best fit; twice the NLL at the minimum against the reference."""
    from .likelihoods import load

    lk = load(name, region, patch)
    common, problem, (pars, twice_nll) = _run_step(lk, "fit", backend, device, precision, optimizer)
    twice_nll = as_float(twice_nll)
    ref = (lk.reference or {}).get("twice_nll")
    result = {
        **common,
        "n_parameters": problem.model.config.npars,
        "twice_nll": twice_nll,
        "reference_twice_nll": ref,
        "absolute_deviation": None if ref is None else abs(twice_nll - ref),
    }
    if lk.poi is not None:
        result["poi_hat"] = as_float(pars[problem.model.config.poi_index])
    return result


def compute_reference(name: str, region: str) -> dict:
    """The registry reference of a region: numpy, 64b, scipy with the registry's fit settings.

    With a default signal patch: CLs_obs and the expected band at mu=1;
    background-only: twice the NLL at the best fit.
    """
    from .likelihoods import load

    lk = load(name, region)
    rt = _activate_for(lk, "numpy", "cpu", "64b", "scipy")
    problem = Problem.from_likelihood(rt, lk)
    reference: dict[str, Any] = {"patch": lk.patch}
    if lk.poi is not None:
        cls_obs, cls_exp = problem.hypotest()
        reference["cls_obs"] = as_float(cls_obs)
        reference["cls_exp"] = [as_float(x) for x in cls_exp]
    else:
        import pyhf

        # The result object tells how many iterations the optimizer took: a fit
        # that stops after one or two has not converged (raise the tolerance in
        # the registry's "fit" settings).
        _, twice_nll, result = pyhf.infer.mle.fit(
            problem.data, problem.model, return_fitted_val=True, return_result_obj=True
        )
        reference["twice_nll"] = as_float(twice_nll)
        reference["iterations"] = int(getattr(result, "nit", -1))
    reference.update(
        pyhf=rt.pyhf_version, backend="numpy", precision="64b", optimizer="scipy", fit_settings=lk.fit_settings("scipy")
    )
    return reference
