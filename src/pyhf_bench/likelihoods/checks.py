"""Checks before and after a one-shot run: bad observations and POI bounds, and why a fit misses its reference.

Used by :mod:`pyhf_bench.likelihoods.runs`; each diagnosis is one line for a
finding's cause.  pyhf and numpy are imported inside the functions (heavy).
"""

from __future__ import annotations

import contextlib
import logging
import math

from pyhf_bench import UserError
from pyhf_bench.core import verdict
from pyhf_bench.likelihoods.inference import HypotestSettings, Problem, as_float


def check_observations(lk) -> None:
    """Observations pyhf cannot fit are bad input: NaN, infinite or negative counts."""


    for obs in lk.spec.get("observations", []):
        for index, value in enumerate(obs.get("data", [])):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise UserError(
                    f"{lk.label}: observation {index} of channel {obs.get('name')!r} is {value!r}; event counts "
                    "must be finite and >= 0: fix the workspace's 'observations'"
                )


def signal_is_zero(lk) -> bool:
    """True when every sample that the POI scales has zero yield in every bin: CLs is then 1 by construction."""
    scaled = [s for c in lk.spec["channels"] for s in c["samples"] if any(m["name"] == lk.poi for m in s["modifiers"])]
    return bool(scaled) and all(x == 0 for s in scaled for x in s["data"])


def check_poi_bounds(problem: Problem, lk, test: HypotestSettings) -> None:
    """The POI's bounds must hold the tested value, the Asimov fit's value and the initial value.

    pyhf's asymptotic calculator fits the Asimov data with the POI held at 0
    (at 1 for q0); bounds that exclude it end in a scipy ``ValueError`` deep
    inside the calculator.
    """

    config = problem.model.config
    lo, hi = config.suggested_bounds()[config.poi_index]
    init = config.suggested_init()[config.poi_index]
    asimov = 1.0 if test.test_stat == "q0" else 0.0
    for value, what in ((test.poi_value, "the tested value"), (asimov, f"the value the Asimov fit holds it at ({test.test_stat})"),
                        (init, "its initial value")):
        if not lo <= value <= hi:
            raise UserError(
                f"{lk.label}: the POI {lk.poi!r} has bounds [{lo:g}, {hi:g}], which exclude {value:g}, {what}; "
                f"widen its 'bounds' in the workspace's measurement config to include {value:g}"
            )


def unresolved_shapesys(lk, limit: float = 2.5e6) -> list[tuple[str, float]]:
    """Shapesys bins whose Poisson constraint has tau = (nominal / uncertainty)^2 above *limit*, largest first.

    At tau ~ 1e11 the constraint's NLL terms of size tau ln tau cancel to O(1): the
    minimum is smeared by rounding and the Hessian is ill-conditioned (see the README).
    """
    fixed = set(lk.fixed_parameters()) if hasattr(lk, "fixed_parameters") else set()
    out = []
    for channel in lk.spec["channels"]:
        for sample in channel["samples"]:
            for m in sample["modifiers"]:
                if m["type"] != "shapesys" or m["name"] in fixed:
                    continue
                for nominal, sigma in zip(sample["data"], m["data"]):
                    if sigma > 0 and nominal > 0 and (nominal / sigma) ** 2 > limit:
                        out.append((m["name"], (nominal / sigma) ** 2))
    return sorted(out, key=lambda item: -item[1])


def likely_cause(problem: Problem, lk) -> str:
    """Why a result misses its reference: one refit that reports how the optimizer ended, and the model's worst gamma."""
    import pyhf  # heavy: imported where used, not when asv lists the benchmarks

    rt = problem.rt
    gradient = "autodiff" if getattr(rt.tensorlib, "default_do_grad", False) else "finite-difference"
    stiff = unresolved_shapesys(lk)
    stiff_text = ""
    if stiff:
        name, tau = stiff[0]
        stiff_text = (f"; the model is ill-conditioned by shapesys {name!r} with tau = {tau:.2g} (relative width "
                      f"{tau ** -0.5:.1e}): hold it fixed in the registry ('fit': {{'fixed_parameters': {{{name!r}: why}}}})")
    try:
        with rt.scope():
            _, twice_nll, result = pyhf.infer.mle.fit(problem.data, problem.model, return_fitted_val=True,
                                                      return_result_obj=True)
    except Exception as exc:  # noqa: BLE001 - the diagnosis must not hide the finding
        return f"the unconditional fit fails ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}){stiff_text}"
    nit = int(getattr(result, "nit", -1))
    if rt.precision == "32b":
        stiff_text += "; at 32b float32 resolution is the usual cause: compare with --precision 64b"
    if 0 <= nit <= 2:
        return (f"the unconditional fit stops after {nit} iteration(s) at 2*NLL {as_float(twice_nll):.4f} with "
                f"{rt.backend}'s {gradient} gradient ({rt.optimizer}, pyhf {rt.pyhf_version}): pyhf's optimizer "
                f"does not leave its starting point on this model{stiff_text}")
    return (f"the unconditional fit converges ({nit} iterations, 2*NLL {as_float(twice_nll):.4f}) but elsewhere than "
            f"the reference's fits: optimizer noise, or a different pyhf/scipy{stiff_text}")


def quiet_pyhf():
    """pyhf logs a failed fit's traceback at ERROR before raising; the CLI reports it in one line instead."""

    @contextlib.contextmanager
    def quiet():
        logger = logging.getLogger("pyhf")
        level = logger.level
        logger.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            logger.setLevel(level)

    return quiet()


def data_scale_cause(problem: Problem, lk) -> str | None:
    """The observations far beyond what the model can expect: no fit within the bounds can describe them."""
    import numpy as np  # heavy enough to keep out of import time, like pyhf

    config = problem.model.config
    with problem.rt.scope():
        expected = problem.model.expected_actualdata(problem.rt.tensorlib.astensor(config.suggested_init()))
    expected = np.asarray(expected.numpy() if hasattr(expected, "numpy") else expected, dtype=float)
    observed = np.asarray([x for o in lk.spec["observations"] for x in o["data"]], dtype=float)
    if expected.size and observed.max(initial=0) > 10 * max(expected.max(initial=0), 1.0):
        return (f"the observations (up to {observed.max():.3g}) are {observed.max() / max(expected.max(), 1.0):.1g} "
                f"times the model's expected yields (up to {expected.max():.3g}): check the workspace's 'observations'")
    if observed.size and not observed.any():
        return "every observation is zero"
    return None


def failed_fit(exc) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}"


def check_fit_bounds(problem: Problem, lk, what: str, pars=None) -> list:
    """Free parameters of the unconditional fit (refitted here unless given) that end at a bound."""
    import pyhf  # heavy: imported where used, not when asv lists the benchmarks


    config = problem.model.config
    if pars is None:
        try:
            with quiet_pyhf(), problem.rt.scope():
                pars = pyhf.infer.mle.fit(problem.data, problem.model)
        except pyhf.exceptions.FailedMinimization as exc:
            return [verdict.Finding("WRONG", "unconditional fit", "not converged", failed_fit(exc))]
    values = [as_float(x) for x in (pars.numpy() if hasattr(pars, "numpy") else pars)] if config.npars else []
    found = verdict.check_bounds(list(config.par_names), values, config.suggested_bounds(), config.suggested_fixed(),
                                 lk.poi, what)
    if any(f.level == "WRONG" for f in found):
        hint = data_scale_cause(problem, lk)
        if hint:
            found = [verdict.Finding(f.level, f.quantity, f.value, f"{f.cause}; {hint}") if f.level == "WRONG" else f
                     for f in found]
    return found

