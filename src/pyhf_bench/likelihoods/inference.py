"""Build a model and run one inference step: the code path shared by the benchmarks and the CLI.

A :class:`Problem` holds a pyhf model, its data and parameters as tensors of the
active backend (see :func:`pyhf_bench.core.runtime.activate`).  Every step returns
through ``Runtime.synchronize``, so a timing of a step includes the device work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyhf_bench.core.pyhfversions import upper_limit
from pyhf_bench.core.runtime import Runtime

#: POI values for the fixed upper-limit scan (CLs at each, then interpolated to 0.05).
UPPER_LIMIT_SCAN = (0.0, 5.0, 11)
#: Test statistic for hypotests: qtilde, the LHC's choice for a POI bounded at zero.
TEST_STAT = "qtilde"
TEST_STATS = ("qtilde", "q", "q0")
CALCULATORS = ("asymptotic", "toybased")
#: Pseudo-experiments per hypothesis of a toy-based hypotest when neither the registry nor --ntoys sets it.
DEFAULT_NTOYS = 1000


@dataclass(frozen=True)
class HypotestSettings:
    """What a hypotest tests: the POI value, the test statistic and the calculator (with its toys).

    ``q0`` is a discovery test: pyhf tests the background-only hypothesis, the
    POI at 0, and returns the p-value p0 (not CLs).
    """

    poi_value: float = 1.0
    test_stat: str = TEST_STAT
    calculator: str = "asymptotic"
    ntoys: int | None = None  # toybased only

    @classmethod
    def build(cls, defaults: dict | None = None, poi_value=None, test_stat=None, calculator=None, ntoys=None,
              where: str = "") -> "HypotestSettings":
        """Command-line values over the registry's *defaults* over pyhf-bench's; checked."""
        from pyhf_bench import UserError

        defaults = dict(defaults or {})
        unknown = set(defaults) - {"poi_value", "test_stat", "calculator", "ntoys"}
        if unknown:
            raise UserError(f"{where}: unknown 'hypotest' settings {sorted(unknown)}; allowed: poi_value, test_stat, calculator, ntoys")
        test_stat = test_stat or defaults.get("test_stat") or TEST_STAT
        calculator = calculator or defaults.get("calculator") or "asymptotic"
        if test_stat not in TEST_STATS:
            raise UserError(f"{where}: test statistic {test_stat!r} is not one of {', '.join(TEST_STATS)}")
        if calculator not in CALCULATORS:
            raise UserError(f"{where}: calculator {calculator!r} is not one of {', '.join(CALCULATORS)}")
        if poi_value is None and not (test_stat == "q0" and defaults.get("test_stat") != "q0"):
            # A registry POI value belongs to the registry's test statistic: a q0 asked for here tests 0.
            poi_value = defaults.get("poi_value")
        if test_stat == "q0":
            if poi_value not in (None, 0, 0.0):
                raise UserError(f"--test-stat q0 is a discovery test of the background-only hypothesis (POI = 0), "
                                f"not of POI = {poi_value:g}; drop --poi-value or give --poi-value 0")
            poi_value = 0.0
        poi_value = 1.0 if poi_value is None else float(poi_value)
        if ntoys is None:
            ntoys = defaults.get("ntoys")
        if calculator == "asymptotic":
            if ntoys is not None and ntoys != defaults.get("ntoys"):
                raise UserError("--ntoys needs --calculator toybased (the asymptotic calculator throws no toys)")
            ntoys = None
        else:
            ntoys = int(ntoys if ntoys is not None else DEFAULT_NTOYS)
            if ntoys < 1:
                raise UserError(f"--ntoys must be at least 1, not {ntoys}")
        return cls(poi_value, test_stat, calculator, ntoys)

    @property
    def quantity(self) -> str:
        """What the hypotest returns: CLs, or p0 for the discovery test."""
        return "p0" if self.test_stat == "q0" else "CLs"

    def as_dict(self) -> dict:
        return {"poi_value": self.poi_value, "test_stat": self.test_stat, "calculator": self.calculator,
                "ntoys": self.ntoys}


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
    #: What :meth:`hypotest` tests: the registry's settings for a likelihood, else mu=1 with qtilde.
    test: HypotestSettings = HypotestSettings()

    @classmethod
    def from_spec(
        cls, rt: Runtime, spec: dict, data: list[float] | None = None, _model=None, **model_kwargs
    ) -> "Problem":
        from pyhf_bench.core.synthetic import make_data

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
        problem = cls.from_spec(rt, lk.model_spec(), data=lk.data(model), _model=model)
        problem.test = HypotestSettings.build(getattr(lk, "hypotest", None), where=lk.label)
        return problem

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

    def hypotest(self, poi: float | None = None, test: HypotestSettings | None = None):
        """CLs (p0 for q0) at the POI value of *test* (default: :attr:`test`; *poi* overrides its value)
        with the expected band: (observed, [expected for -2..+2 sigma]).
        """
        import pyhf

        test = test or self.test
        poi = test.poi_value if poi is None else poi
        extra = {}
        if test.calculator == "toybased":
            extra = {"calctype": "toybased", "ntoys": test.ntoys, "track_progress": False}
        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.hypotest(
                    poi, self.data, self.model, test_stat=test.test_stat, return_expected_set=True, **extra
                )
            )

    def toy_hypotest(self, ntoys: int, poi: float | None = None):
        """Toy-based CLs at *poi* (default: the test settings' value): 2 x *ntoys* pseudo-experiments, each with two fits."""
        import pyhf

        poi = self.test.poi_value if poi is None else poi
        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.hypotest(
                    poi, self.data, self.model, test_stat=self.test.test_stat, calctype="toybased", ntoys=ntoys,
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

    from pyhf_bench.core.runtime import warm_up

    start = time.perf_counter()
    warm_up(rt, step, what)
    first = time.perf_counter() - start
    start = time.perf_counter()
    result = step()
    return result, first, time.perf_counter() - start


def _activate_for(lk, backend, device, precision, optimizer) -> Runtime:
    from pyhf_bench import UserError
    from pyhf_bench.core.runtime import activate
    from pyhf_bench.core.skip import Skip

    try:
        return activate(backend, device, precision, optimizer, lk.fit_settings(optimizer))
    except Skip as exc:
        raise UserError(f"cannot run {backend}/{device}/{precision}/{optimizer} here: {exc}") from None


def as_float(x) -> float:
    import numpy as np

    return float(np.asarray(x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else x, dtype=float).reshape(-1)[0])


def _deviation(value: float | None, reference: float | None) -> float | None:
    if reference is None or value is None:
        return None
    return abs(value - reference) / abs(reference) if reference else abs(value)


# --------------------------------------------------------------------------- checks before and after a run


def check_observations(lk) -> None:
    """Observations pyhf cannot fit are bad input: NaN, infinite or negative counts."""
    import math

    from pyhf_bench import UserError

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
    from pyhf_bench import UserError

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
    import pyhf

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
    import contextlib
    import logging

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
    import numpy as np

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


def _failed_fit(exc) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}"


# --------------------------------------------------------------------------- the two one-shot commands


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
    from pyhf_bench.core.verdict import Finding

    fixed = lk.fixed_parameters() if hasattr(lk, "fixed_parameters") else {}
    return [Finding("NOTE", name, "held fixed", f"the registry holds it at its initial value: {why}")
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
    from pyhf_bench import UserError
    from pyhf_bench.core import verdict
    from pyhf_bench.likelihoods import load
    from pyhf_bench.core.runtime import seed_everything
    from pyhf_bench.core.skip import Skip

    lk = load(name, region, patch)
    if lk.poi is None:
        raise UserError(f"{lk.label} is background-only (no signal patch): run `pyhf-bench fit {lk.name}` instead")
    test = HypotestSettings.build(lk.hypotest, poi_value, test_stat, calculator, ntoys, where=lk.label)
    check_observations(lk)
    rt = _activate_for(lk, backend, device, precision, optimizer)
    problem = Problem.from_likelihood(rt, lk)
    problem.test = test
    check_poi_bounds(problem, lk, test)
    findings = _fixed_note(lk)
    applies = _reference_applies(lk.reference, test)
    reference = lk.reference if applies else None
    q = test.quantity
    result = {**_header(lk, rt, backend, device, precision, optimizer, problem.model), **test.as_dict(), "quantity": q}
    import pyhf

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
    except pyhf.exceptions.FailedMinimization as exc:
        with quiet_pyhf():
            cause = data_scale_cause(problem, lk) or likely_cause(problem, lk)
        findings.append(verdict.Finding("WRONG", q + "_obs", "not computed", f"a fit of the hypotest does not converge "
                                        f"({_failed_fit(exc)}); likely cause: {cause}"))
        return {**result, "findings": [f.as_dict() for f in findings], "exit_status": verdict.exit_status(findings)}
    obs = as_float(obs)
    band = [as_float(x) for x in band]
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
    misses = verdict.check_cls(obs, band, reference, precision, "CAUSE", lk.tolerance) if q == "CLs" else []
    others = [r for r in lk.independent_references if _reference_applies(r, test)]
    result["independent_references"] = [
        {"kind": r.get("kind"), "source": r.get("source"), "cls_obs": r.get("cls_obs"), "cls_exp": r.get("cls_exp"),
         "relative_deviation": _deviation(obs, r.get("cls_obs")), "interpolation": r.get("interpolation")}
        for r in others
    ]
    for r in others:
        misses += verdict.check_cls(obs, band, r, precision, "CAUSE", lk.tolerance) if q == "CLs" else []
    degenerate = verdict.check_band(band, signal_is_zero(lk)) if q == "CLs" else []
    if any(f.level == "WRONG" for f in misses + degenerate):
        with quiet_pyhf():
            cause = likely_cause(problem, lk)
        # The diagnosis in full on the first line; the others point to it.
        misses = [verdict.Finding(f.level, f.quantity, f.value,
                                  f.cause.replace("CAUSE", cause if i == 0 else "the same cause as above"),
                                  f.reference, f.kind) for i, f in enumerate(misses)]
        degenerate = [verdict.Finding(f.level, f.quantity, f.value, f"{f.cause}; {cause}") if f.level == "WRONG" else f
                      for f in degenerate]
    findings += misses + degenerate
    findings += _fit_bounds(problem, lk, "unconditional fit of the hypotest")
    return {**result, "findings": [f.as_dict() for f in findings], "exit_status": verdict.exit_status(findings)}


def _fit_bounds(problem: Problem, lk, what: str, pars=None) -> list:
    """Free parameters of the unconditional fit (refitted here unless given) that end at a bound."""
    import pyhf

    from pyhf_bench.core import verdict

    config = problem.model.config
    if pars is None:
        try:
            with quiet_pyhf(), problem.rt.scope():
                pars = pyhf.infer.mle.fit(problem.data, problem.model)
        except pyhf.exceptions.FailedMinimization as exc:
            return [verdict.Finding("WRONG", "unconditional fit", "not converged", _failed_fit(exc))]
    values = [as_float(x) for x in (pars.numpy() if hasattr(pars, "numpy") else pars)] if config.npars else []
    found = verdict.check_bounds(list(config.par_names), values, config.suggested_bounds(), config.suggested_fixed(),
                                 lk.poi, what)
    if any(f.level == "WRONG" for f in found):
        hint = data_scale_cause(problem, lk)
        if hint:
            found = [verdict.Finding(f.level, f.quantity, f.value, f"{f.cause}; {hint}") if f.level == "WRONG" else f
                     for f in found]
    return found


def run_fit(name, region=None, patch=None, backend="numpy", device="cpu", precision="64b", optimizer="scipy") -> dict:
    """``pyhf-bench fit``: unconditional best fit; twice the NLL against the reference, parameters against their bounds."""
    import pyhf

    from pyhf_bench import UserError
    from pyhf_bench.core import verdict
    from pyhf_bench.likelihoods import load
    from pyhf_bench.core.skip import Skip

    lk = load(name, region, patch)
    check_observations(lk)
    rt = _activate_for(lk, backend, device, precision, optimizer)
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
                                        f"({_failed_fit(exc)}); likely cause: {cause}"))
        return {**result, "findings": [f.as_dict() for f in findings], "exit_status": verdict.exit_status(findings)}
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
            cause = likely_cause(problem, lk)
        misses = [verdict.Finding(f.level, f.quantity, f.value,
                                  f.cause.replace("CAUSE", cause if i == 0 else "the same cause as above"),
                                  f.reference, f.kind) for i, f in enumerate(misses)]
    findings += misses
    findings += _fit_bounds(problem, lk, "fit", pars)
    return {**result, "findings": [f.as_dict() for f in findings], "exit_status": verdict.exit_status(findings)}


def compute_reference(name: str, region: str) -> dict:
    """The registry reference of a region: numpy, 64b, scipy with the registry's fit settings.

    With a default signal patch: CLs_obs and the expected band at mu=1;
    background-only: twice the NLL at the best fit.
    """
    from pyhf_bench.likelihoods import load

    lk = load(name, region)
    rt = _activate_for(lk, "numpy", "cpu", "64b", "scipy")
    problem = Problem.from_likelihood(rt, lk)
    # The suite's own output: it catches a change, not an error (independent kinds: likelihoods.REFERENCE_KINDS).
    reference: dict[str, Any] = {"patch": lk.patch, "kind": "self-snapshot"}
    if lk.poi is not None:
        cls_obs, cls_exp = problem.hypotest()
        reference["cls_obs"] = as_float(cls_obs)
        reference["cls_exp"] = [as_float(x) for x in cls_exp]
        reference["test"] = problem.test.as_dict()
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
    if lk.fixed_parameters():
        reference["fixed_parameters"] = sorted(lk.fixed_parameters())
    return reference
