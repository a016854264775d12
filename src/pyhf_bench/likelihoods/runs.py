"""The one-shot runs behind ``pyhf-bench hypotest``, ``fit`` and ``references``: a result judged against the
registry's references, as a dict of plain values with ``findings`` and ``exit_status``.

The top of :mod:`pyhf_bench.likelihoods`: loads the likelihood, builds the
:class:`~pyhf_bench.likelihoods.inference.Problem`, times the step, runs the
checks.  pyhf is imported inside the functions (heavy).
"""

from __future__ import annotations

import time
from typing import Any

from pyhf_bench import UserError
from pyhf_bench.core import verdict
from pyhf_bench.core.runtime import Runtime, seed_everything, warm_up
from pyhf_bench.core.skip import Skip
from pyhf_bench.likelihoods.checks import (
    check_fit_bounds,
    check_observations,
    check_poi_bounds,
    data_scale_cause,
    failed_fit,
    likely_cause,
    quiet_pyhf,
    signal_is_zero,
)
from pyhf_bench.likelihoods.inference import HypotestSettings, Problem, activate_for, as_float
from pyhf_bench.likelihoods.loading import load


def _timed(rt: Runtime, step, what: str) -> tuple[Any, float, float]:
    """Run *step* twice: (result of the second call, seconds of the first call, seconds of the second).

    The first call pays JIT compilation and first-call caches; the second is the
    steady-state cost that the asv benchmarks measure.
    """
    start = time.perf_counter()
    warm_up(rt, step, what)
    first = time.perf_counter() - start
    start = time.perf_counter()
    result = step()
    return result, first, time.perf_counter() - start


def _deviation(value: float | None, reference: float | None) -> float | None:
    if reference is None or value is None:
        return None
    return abs(value - reference) / abs(reference) if reference else abs(value)


def _header(lk, rt: Runtime, backend, device, precision, optimizer, model=None) -> dict:
    return {
        "likelihood": lk.label,
        "backend": backend,
        "device": device,
        "precision": precision,
        "optimizer": optimizer,
        "pyhf": rt.pyhf_version,
        # The codes decide the numbers (ROOT's defaults differ): say which were used, and whose choice they were.
        "interpolation": _interpolation(lk, model),
    }


def _interpolation(lk, model) -> str:
    settings = getattr(getattr(model, "config", None), "modifier_settings", None) or lk.modifier_settings or {}
    codes = ", ".join(f"{kind} {value.get('interpcode')}" for kind, value in sorted(settings.items()))
    return f"{codes} ({'the registry' if lk.modifier_settings else 'pyhf defaults'})" if codes else "pyhf defaults"


def _fixed_note(lk) -> list:
    fixed = lk.fixed_parameters() if hasattr(lk, "fixed_parameters") else {}
    return [verdict.Finding("NOTE", name, "held fixed", f"the registry holds it at its initial value: {why}")
            for name, why in fixed.items()]


def _reference_applies(reference: dict | None, test: HypotestSettings) -> bool:
    """References are computed at mu=1, qtilde, asymptotic unless they record other settings."""
    if not reference:
        return False
    recorded = HypotestSettings.build(reference.get("test"), where="reference")
    return recorded == test


def run_hypotest(name, region=None, patch=None, backend="numpy", device="cpu", precision="64b", optimizer="scipy",
                 poi_value=None, test_stat=None, calculator=None, ntoys=None) -> dict:
    """``pyhf-bench hypotest``: CLs (p0 for q0) with the expected band, judged against the reference.

    The result holds ``findings`` (see :mod:`pyhf_bench.core.verdict`) and ``exit_status``.
    """
    import pyhf  # heavy: only for its exception type

    lk = load(name, region, patch)
    if lk.poi is None:
        raise UserError(f"{lk.label} is background-only (no signal patch): run `pyhf-bench fit {lk.name}` instead")
    test = HypotestSettings.build(lk.hypotest, poi_value, test_stat, calculator, ntoys, where=lk.label)
    check_observations(lk)
    rt = activate_for(lk, backend, device, precision, optimizer)
    problem = Problem.from_likelihood(rt, lk)
    problem.test = test
    check_poi_bounds(problem, lk, test)
    findings = _fixed_note(lk)
    applies = _reference_applies(lk.reference, test)
    reference = lk.reference if applies else None
    q = test.quantity
    result = {**_header(lk, rt, backend, device, precision, optimizer, problem.model), **test.as_dict(), "quantity": q}
    try:
        obs, band, first, seconds = _timed_hypotest(problem, lk, test)
    except pyhf.exceptions.FailedMinimization as exc:
        with quiet_pyhf():
            cause = data_scale_cause(problem, lk) or likely_cause(problem, lk)
        findings.append(verdict.Finding("WRONG", q + "_obs", "not computed", f"a fit of the hypotest does not converge "
                                        f"({failed_fit(exc)}); likely cause: {cause}"))
        return _finish(result, findings)
    ref = (reference or {}).get("cls_obs")
    ref_band = (reference or {}).get("cls_exp")
    result.update({
        "seconds": seconds,
        "seconds_first_call": first,
        f"{q.lower()}_obs": obs,
        f"{q.lower()}_exp": band,
        "reference_kind": (reference or {}).get("kind"),
        "reference_cls_obs": ref,
        "reference_cls_exp": ref_band,
        "relative_deviation": _deviation(obs, ref),
        "relative_deviation_exp": None if ref_band is None else max(_deviation(a, b) for a, b in zip(band, ref_band)),
    })
    if lk.reference and not applies:
        findings.append(verdict.Finding("NOTE", "reference", "not compared", "the registry's reference is for "
                                        "POI 1, qtilde, asymptotic; these settings differ"))
    others = [r for r in lk.independent_references if _reference_applies(r, test)]
    result["independent_references"] = [
        {"kind": r.get("kind"), "source": r.get("source"), "cls_obs": r.get("cls_obs"), "cls_exp": r.get("cls_exp"),
         "relative_deviation": _deviation(obs, r.get("cls_obs")), "interpolation": r.get("interpolation")}
        for r in others
    ]
    if q == "CLs":
        findings += _judge_cls(problem, lk, obs, band, [reference] + others, precision)
    findings += check_fit_bounds(problem, lk, "unconditional fit of the hypotest")
    return _finish(result, findings)


def _timed_hypotest(problem: Problem, lk, test: HypotestSettings) -> tuple[float, list[float], float, float]:
    """(observed, expected band, seconds of the first call, seconds of the second) of *problem*'s hypotest."""
    rt = problem.rt

    def step():
        if test.calculator == "toybased":
            seed_everything(rt)  # the same toys on every run
        return problem.hypotest()

    try:
        with quiet_pyhf():
            (obs, band), first, seconds = _timed(rt, step, f"hypotest of {lk.label}")
    except Skip as exc:
        raise UserError(str(exc)) from None
    except TypeError as exc:
        if test.calculator != "toybased":
            raise
        # pyhf 0.7.6's toy calculator calls percentile(..., interpolation=...), which numpy 2 removed.
        raise UserError(f"pyhf {rt.pyhf_version}'s toy-based calculator fails in this environment ({exc}); use "
                        "--calculator asymptotic, or a pyhf release that supports your numpy") from None
    return as_float(obs), [as_float(x) for x in band], first, seconds


def _judge_cls(problem: Problem, lk, obs: float, band: list[float], references: list, precision: str) -> list:
    """CLs and its band against each reference (None: none), and the band's own sanity; causes filled in."""
    misses = []
    for r in references:
        misses += verdict.check_cls(obs, band, r, precision, "CAUSE", lk.tolerance)
    degenerate = verdict.check_band(band, signal_is_zero(lk))
    if not any(f.level == "WRONG" for f in misses + degenerate):
        return misses + degenerate
    with quiet_pyhf():
        cause = likely_cause(problem, lk)
    degenerate = [verdict.Finding(f.level, f.quantity, f.value, f"{f.cause}; {cause}") if f.level == "WRONG" else f
                  for f in degenerate]
    return _with_cause(misses, cause) + degenerate


def _with_cause(misses: list, cause: str) -> list:
    """The diagnosis in full on the first finding's line; the others point to it."""
    return [verdict.Finding(f.level, f.quantity, f.value,
                            f.cause.replace("CAUSE", cause if i == 0 else "the same cause as above"),
                            f.reference, f.kind) for i, f in enumerate(misses)]


def _finish(result: dict, findings: list) -> dict:
    return {**result, "findings": [f.as_dict() for f in findings], "exit_status": verdict.exit_status(findings)}


def run_fit(name, region=None, patch=None, backend="numpy", device="cpu", precision="64b", optimizer="scipy") -> dict:
    """``pyhf-bench fit``: unconditional best fit; twice the NLL against the reference, parameters against their bounds."""
    import pyhf  # heavy: only for its exception type

    lk = load(name, region, patch)
    check_observations(lk)
    rt = activate_for(lk, backend, device, precision, optimizer)
    problem = Problem.from_likelihood(rt, lk)
    findings = _fixed_note(lk)
    result = {**_header(lk, rt, backend, device, precision, optimizer, problem.model), "n_parameters": problem.model.config.npars}
    try:
        with quiet_pyhf():
            (pars, twice_nll), first, seconds = _timed(rt, problem.fit, f"fit of {lk.label}")
    except Skip as exc:
        raise UserError(str(exc)) from None
    except pyhf.exceptions.FailedMinimization as exc:
        with quiet_pyhf():
            cause = data_scale_cause(problem, lk) or likely_cause(problem, lk)
        findings.append(verdict.Finding("WRONG", "2*NLL", "not computed", f"the fit does not converge "
                                        f"({failed_fit(exc)}); likely cause: {cause}"))
        return _finish(result, findings)
    twice_nll = as_float(twice_nll)
    ref = (lk.reference or {}).get("twice_nll")
    result.update({
        "seconds": seconds,
        "seconds_first_call": first,
        "twice_nll": twice_nll,
        "reference_kind": (lk.reference or {}).get("kind"),
        "reference_twice_nll": ref,
        "absolute_deviation": None if ref is None else abs(twice_nll - ref),
    })
    config = problem.model.config
    values = [as_float(x) for x in (pars.numpy() if hasattr(pars, "numpy") else pars)] if config.npars else []
    if lk.poi is not None:
        result["poi_hat"] = values[config.poi_index]
    misses = verdict.check_twice_nll(twice_nll, lk.reference, precision, "CAUSE", lk.tolerance)
    result["independent_references"] = [
        {"kind": r.get("kind"), "source": r.get("source"), "twice_nll": r.get("twice_nll"),
         "absolute_deviation": None if r.get("twice_nll") is None else abs(twice_nll - r["twice_nll"])}
        for r in lk.independent_references
    ]
    for r in lk.independent_references:
        misses += verdict.check_twice_nll(twice_nll, r, precision, "CAUSE", lk.tolerance)
    if misses:
        with quiet_pyhf():
            misses = _with_cause(misses, likely_cause(problem, lk))
    findings += misses
    findings += check_fit_bounds(problem, lk, "fit", pars)
    return _finish(result, findings)


def compute_reference(name: str, region: str) -> dict:
    """The registry reference of a region: numpy, 64b, scipy with the registry's fit settings.

    With a default signal patch: CLs_obs and the expected band at mu=1;
    background-only: twice the NLL at the best fit.
    """
    lk = load(name, region)
    rt = activate_for(lk, "numpy", "cpu", "64b", "scipy")
    problem = Problem.from_likelihood(rt, lk)
    # The suite's own output: it catches a change, not an error (independent kinds: registry.REFERENCE_KINDS).
    reference: dict[str, Any] = {"patch": lk.patch, "kind": "self-snapshot"}
    if lk.poi is not None:
        cls_obs, cls_exp = problem.hypotest()
        reference["cls_obs"] = as_float(cls_obs)
        reference["cls_exp"] = [as_float(x) for x in cls_exp]
        reference["test"] = problem.test.as_dict()
    else:
        import pyhf  # heavy

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
    if lk.fixed_parameters():
        reference["fixed_parameters"] = sorted(lk.fixed_parameters())
    return reference

