"""The quantities of a hypothesis test on both sides: fits, q_mu, q~_mu, q~_mu,A and asymptotic CLs."""

from __future__ import annotations

import math
import time
from typing import Any

from pyhf_bench.root.model import RootModel
from pyhf_bench.root.nll import RootNLL, root_asimov, with_global_observables
from pyhf_bench.root.plan import HistFactoryPlan
from pyhf_bench.root.pyhf_side import numpy_pyhf, pyhf_data, pyhf_model
from pyhf_bench.root.settings import MU_TEST, FitOptions

def asymptotic_cls(qtilde: float, qtilde_asimov: float) -> tuple[float, list[float]]:
    """Observed CLs and the expected band (-2..+2 sigma) from q~_mu and q~_mu,A, as pyhf computes them.

    pyhf (AsymptoticCalculator, qtilde, ``calc_base_dist="normal"``): with
    sqrt(q) and sqrt(qA), the test statistic is sqrt(q) - sqrt(qA) when
    sqrt(q) <= sqrt(qA), else (q - qA) / (2 sqrt(qA)); CLs+b = Phi(-(t + sqrt(qA))),
    CLb = Phi(-t), CLs = CLs+b / CLb; the expected band evaluates the same at
    t = n for n in (2, 1, 0, -1, -2), pyhf's order (the -2 sigma entry first).
    """
    sqrt_q, sqrt_qa = math.sqrt(max(qtilde, 0.0)), math.sqrt(max(qtilde_asimov, 0.0))

    def phi(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    def cls(t: float) -> float:
        return phi(-(t + sqrt_qa)) / phi(-t)

    if sqrt_q <= sqrt_qa:
        t = sqrt_q - sqrt_qa
    else:
        t = (qtilde - qtilde_asimov) / (2.0 * sqrt_qa)
    return cls(t), [cls(float(n)) for n in (2, 1, 0, -1, -2)]


def root_inference(root_model: RootModel, eval_backend: str = "cpu", options: FitOptions = FitOptions(), mu: float = MU_TEST) -> dict:
    """Best fit, conditional fit at *mu*, q~_mu, q~_mu,A and CLs from ROOT's fits (see :func:`asymptotic_cls`)."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    nll = RootNLL(root_model, eval_backend, offset=options.offset)
    timings["nll_setup"] = time.perf_counter() - start
    nll_init = nll.value(root_model.init)
    start = time.perf_counter()
    nll_free, pars_free, status_free = nll.minimize(options)
    timings["best_fit"] = time.perf_counter() - start
    result: dict[str, Any] = {
        "nll_initial": nll_init,
        "nll_best": nll_free,
        "best_fit": pars_free,
        "minuit_status": {"best_fit": status_free},
        "twice_delta_nll_initial_to_best": 2.0 * (nll_init - nll_free),
    }
    poi = root_model.plan.poi
    if poi is not None:
        poi_index = next(k for k, (name, _, _) in enumerate(root_model.pyhf_order) if name == poi)
        mu_hat = pars_free[poi_index]
        start = time.perf_counter()
        nll_cond, pars_cond, status_cond = nll.minimize(options, fixed_poi=mu)
        timings["conditional_fit"] = time.perf_counter() - start
        q_mu = 2.0 * (nll_cond - nll_free)
        qtilde = 0.0 if mu_hat > mu else max(q_mu, 0.0)
        start = time.perf_counter()
        asimov, asimov_globs, (pars_gen, status_gen) = root_asimov(root_model, nll, options)
        with with_global_observables(root_model, asimov_globs):
            asimov_nll = RootNLL(root_model, eval_backend, data=asimov, offset=options.offset)
            a_free, a_pars, a_status_free = asimov_nll.minimize(options)
            a_cond, a_pars_cond, a_status_cond = asimov_nll.minimize(options, fixed_poi=mu)
        timings["asimov"] = time.perf_counter() - start
        qa = 2.0 * (a_cond - a_free)
        mu_hat_a = a_pars[poi_index]
        qtilde_a = 0.0 if mu_hat_a > mu else max(qa, 0.0)
        cls_obs, cls_exp = asymptotic_cls(qtilde, qtilde_a)
        result.update(
            mu_hat=mu_hat,
            nll_conditional=nll_cond,
            conditional_fit=pars_cond,
            asimov_generation_fit=pars_gen,
            asimov_free_fit=a_pars,
            asimov_conditional_fit=a_pars_cond,
            # ROOT objects, for cross_check_minima (not serialised).
            asimov_dataset=(asimov, asimov_globs),
            q_mu=q_mu,
            qtilde_mu=qtilde,
            qtilde_mu_asimov=qtilde_a,
            cls_obs=cls_obs,
            cls_exp=cls_exp,
        )
        result["minuit_status"].update(
            conditional=status_cond, asimov_generation=status_gen, asimov_free=a_status_free, asimov_conditional=a_status_cond
        )
    root_model.reset()
    result["timings"] = timings
    return result


def pyhf_inference(spec: dict, plan: HistFactoryPlan, fit_settings: dict | None = None, mu: float = MU_TEST) -> dict:
    """The same quantities with pyhf: numpy backend, 64b, scipy optimizer (pyhf's defaults + *fit_settings*)."""
    pyhf = numpy_pyhf(fit_settings)
    import numpy as np  # numpy comes with pyhf, imported only where pyhf is

    model = pyhf_model(spec, plan)
    data = np.asarray(pyhf_data(spec, model))
    init = np.asarray(model.config.suggested_init())
    timings: dict[str, float] = {}
    start = time.perf_counter()
    best, twice_nll_best = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    timings["best_fit"] = time.perf_counter() - start
    nll_init = -float(model.logpdf(init, data)[0])
    result: dict[str, Any] = {
        "nll_initial": nll_init,
        "nll_best": float(twice_nll_best) / 2.0,
        "best_fit": [float(x) for x in best],
        "twice_delta_nll_initial_to_best": 2.0 * nll_init - float(twice_nll_best),
        "par_order": [(name, i) for name in model.config.par_order for i in range(model.config.param_set(name).n_parameters)],
    }
    if plan.poi is not None:
        start = time.perf_counter()
        cond, twice_nll_cond = pyhf.infer.mle.fixed_poi_fit(mu, data, model, return_fitted_val=True)
        timings["conditional_fit"] = time.perf_counter() - start
        mu_hat = float(best[model.config.poi_index])
        q_mu = float(twice_nll_cond) - float(twice_nll_best)
        start = time.perf_counter()
        cls_obs, cls_exp, calculator = pyhf.infer.hypotest(
            mu, data, model, test_stat="qtilde", return_expected_set=True, return_calculator=True
        )
        timings["hypotest"] = time.perf_counter() - start
        # pyhf's own q~_mu from the hypotest's fits (identical to the fits above:
        # same start point, bounds and optimizer), and its q~_mu,A.
        fitted = calculator.fitted_pars
        qtilde = 0.0 if mu_hat > mu else max(
            -2.0 * float(model.logpdf(fitted.fixed_poi_fit_to_data, data)[0]) + 2.0 * float(model.logpdf(fitted.free_fit_to_data, data)[0]),
            0.0,
        )
        result.update(
            mu_hat=mu_hat,
            nll_conditional=float(twice_nll_cond) / 2.0,
            conditional_fit=[float(x) for x in cond],
            # The fit at mu=0 whose expectation is pyhf's Asimov data.
            asimov_generation_fit=[float(x) for x in fitted.asimov_pars],
            asimov_free_fit=[float(x) for x in fitted.free_fit_to_asimov],
            asimov_conditional_fit=[float(x) for x in fitted.fixed_poi_fit_to_asimov],
            # pyhf's Asimov data (main + auxdata), as its calculator makes it.
            asimov_data=[float(x) for x in model.expected_data(fitted.asimov_pars)],
            q_mu=q_mu,
            qtilde_mu=qtilde,
            qtilde_mu_asimov=float(calculator.sqrtqmuA_v) ** 2,
            cls_obs=float(cls_obs),
            cls_exp=[float(x) for x in cls_exp],
        )
    result["timings"] = timings
    return result
