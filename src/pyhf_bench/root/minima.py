"""Whether pyhf's and ROOT's fits ended in the same minimum: both NLLs at both points, and a refit from the lower one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyhf_bench.root.equivalence import MODEL_CHECK_TOLERANCE
from pyhf_bench.root.model import RootModel
from pyhf_bench.root.nll import RootNLL, with_global_observables
from pyhf_bench.root.plan import HistFactoryPlan
from pyhf_bench.root.pyhf_side import numpy_pyhf, pyhf_data, pyhf_model
from pyhf_bench.root.settings import MU_TEST, FitOptions, Tolerances

#: Two fits of one likelihood whose minima differ by more than this in 2*NLL, with pyhf and
#: ROOT each evaluating both points and agreeing on the difference, ended in different minima
#: (a likelihood with two minima, e.g. a code0 histosys whose variations lie on the same side
#: of the nominal: a kink at alpha=0).  It is 1000x the convergence both minimisers are asked
#: for (ROOT: EDM < 1e-9; pyhf's SLSQP: ftol 1e-6 on the NLL) and 10x the q_mu tolerance at q~1.
MINIMA_GAP = 1e-3
#: Each side's Asimov data come from its own fit at mu=0, and those agree to the fits'
#: convergence, not exactly (measured: Asimov data up to 3e-4 apart, relative, on small
#: code0 models whose every quantity passes), so the gaps of the two Asimov fits are
#: compared to this fraction of the gap plus ASIMOV_GAP_FLOOR (in 2*NLL), not to 1e-7.
ASIMOV_GAP_AGREEMENT = 0.1
ASIMOV_GAP_FLOOR = 1e-4

#: Minuit2 status codes (Minuit2Minimizer::Minimize; -1 is RooMinimizer's "no valid minimum").
MINUIT_STATUS = {
    -1: "no valid minimum: Migrad failed",
    1: "covariance matrix forced positive definite",
    2: "Hesse matrix invalid",
    3: "EDM above the requested maximum",
    4: "call limit reached",
    5: "minimisation failed",
}
#: The statuses of a converged fit: 0, or 1 (converged, covariance forced positive definite).
MINUIT_OK = (0, 1)

#: What each fit is, and the quantities that are read off it.
FIT_LABELS = {
    "best_fit": "best fit",
    "conditional": f"fit at mu={MU_TEST:g}",
    "asimov_generation": "fit at mu=0 (makes the Asimov data)",
    "asimov_free": "Asimov best fit",
    "asimov_conditional": f"Asimov fit at mu={MU_TEST:g}",
}


@dataclass
class _FitData:
    """What one fit was made on: pyhf's data, ROOT's NLL of its data, ROOT's dataset (None: observed) and global observables."""

    pyhf_data: Any
    root_nll: RootNLL
    root_data: Any
    globs: dict


def cross_check_minima(spec: dict, plan: HistFactoryPlan, root_model: RootModel, pyhf_result: dict, root_result: dict,
                       fit_settings: dict | None, eval_backend: str, options: FitOptions, mu: float = MU_TEST,
                       tolerances: Tolerances = Tolerances()) -> list[dict]:
    """For each fit: both NLLs at both best-fit points, and a refit from the lower one.

    pyhf and ROOT each evaluate their NLL at their own and at the other's
    best-fit point.  When both agree that one point is lower by more than
    :data:`MINIMA_GAP` (in 2*NLL), the two fits ended in different minima of
    the same function: the side with the higher minimum is refitted, started
    from the other's point, to show that its minimiser stays in (or below) the
    lower minimum.  When the two evaluations disagree, the models differ at the
    fitted points (the model check moves parameters by half a width only).
    The two fits to the Asimov data are checked where the fits at mu=0 that
    make it found the same minimum (else each side fits other data): pyhf's
    NLL on pyhf's Asimov data, ROOT's on ROOT's, with its global observables.
    Returns one entry per fit checked; ``different`` is True where the minima differ.
    """
    import numpy as np  # numpy comes with pyhf, imported only where pyhf is

    numpy_pyhf(fit_settings)
    model = pyhf_model(spec, plan)
    observed = _FitData(np.asarray(pyhf_data(spec, model)), RootNLL(root_model, eval_backend, offset="none"), None, {})
    fits = [("best_fit", "best_fit", None)]
    if plan.poi is not None:
        fits += [("conditional", "conditional_fit", mu), ("asimov_generation", "asimov_generation_fit", 0.0),
                 ("asimov_free", "asimov_free_fit", None), ("asimov_conditional", "asimov_conditional_fit", mu)]
    entries = []
    asimov_data = None
    for fit, key, fixed in fits:
        fit_data = observed
        if fit.startswith("asimov_") and fit != "asimov_generation":
            # Fits to the Asimov data: each side fits its own, made from its own fit at mu=0.
            # Only where those fits found the same minimum are the two datasets the same.
            generation = next(e for e in entries if e["fit"] == "asimov_generation")
            if generation["different"] or generation["degenerate"] or not generation["same_function"]:
                continue
            if asimov_data is None:
                asimov, globs = root_result["asimov_dataset"]
                asimov_data = _FitData(np.asarray(pyhf_result["asimov_data"]),
                                       RootNLL(root_model, eval_backend, data=asimov, offset="none"), asimov, globs)
            fit_data = asimov_data
        points = {"pyhf": pyhf_result[key], "ROOT": root_result[key]}
        entry = _both_nlls_at_both_points(fit, points, model, fit_data, root_model)
        _mark_degenerate(entry, points, fixed, root_model, plan, tolerances)
        if entry["same_function"] and abs(entry["twice_nll_gap_pyhf"]) > MINIMA_GAP:
            entry.update(_refit_higher(fit, points, fixed, entry, model, fit_data, root_model, eval_backend, options))
        entries.append(entry)
    return entries


def _both_nlls_at_both_points(fit: str, points: dict, model, fit_data: _FitData, root_model: RootModel) -> dict:
    """The entry of one fit: 2*NLL of pyhf and ROOT at both points, the gaps each sees, and whether they agree."""
    import numpy as np  # numpy comes with pyhf, imported only where pyhf is

    with with_global_observables(root_model, fit_data.globs):
        twice_nll = {
            side: {
                "pyhf": -2.0 * float(model.logpdf(np.asarray(point), fit_data.pyhf_data)[0]),
                "ROOT": 2.0 * fit_data.root_nll.value(point),
            }
            for side, point in points.items()
        }
    # > 0: pyhf's point is lower, as each side sees it.
    gap_pyhf = twice_nll["ROOT"]["pyhf"] - twice_nll["pyhf"]["pyhf"]
    gap_root = twice_nll["ROOT"]["ROOT"] - twice_nll["pyhf"]["ROOT"]
    return {
        "fit": fit,
        "label": FIT_LABELS[fit],
        "twice_nll_gap_pyhf": gap_pyhf,
        "twice_nll_gap_root": gap_root,
        "different": False,
        "same_function": abs(gap_pyhf - gap_root) <= (
            ASIMOV_GAP_AGREEMENT * max(abs(gap_pyhf), abs(gap_root)) + ASIMOV_GAP_FLOOR if fit_data.root_data is not None
            else MODEL_CHECK_TOLERANCE * max(1.0, abs(gap_pyhf))
        ),
        # 2*NLL at {whose best-fit point: {evaluated by: value}}
        "twice_nll": twice_nll,
    }


def _mark_degenerate(entry: dict, points: dict, fixed: float | None, root_model: RootModel, plan: HistFactoryPlan,
                     tolerances: Tolerances) -> None:
    """The free parameter whose two fitted values differ most: with the same NLL, a
    difference beyond the nuisance tolerance is a degenerate (or flat) minimum."""
    worst = max(
        ((abs(points["pyhf"][k] - points["ROOT"][k]), k) for k in range(len(root_model.pyhf_order))
         if not root_model.fixed[k] and not (fixed is not None and root_model.pyhf_order[k][0] == plan.poi)),
        default=(0.0, None),
    )
    entry["degenerate"] = False
    if worst[1] is not None:
        name, i, _ = root_model.pyhf_order[worst[1]]
        label = f"{name}[{i}]" if len(plan.root_names[name]) > 1 else name
        entry["largest_point_difference"] = {"parameter": label, "pyhf": points["pyhf"][worst[1]], "ROOT": points["ROOT"][worst[1]]}
        entry["degenerate"] = entry["same_function"] and abs(entry["twice_nll_gap_pyhf"]) <= MINIMA_GAP and worst[0] > tolerances.nuisance_abs


def _refit_higher(fit: str, points: dict, fixed: float | None, entry: dict, model, fit_data: _FitData,
                  root_model: RootModel, eval_backend: str, options: FitOptions) -> dict:
    """Different minima: the side with the higher one refitted from the other's point; the entry's additions."""
    import numpy as np  # numpy comes with pyhf, imported only where pyhf is
    import pyhf  # heavy; numpy_pyhf has set its backend for this comparison

    gap_pyhf, gap_root, twice_nll = entry["twice_nll_gap_pyhf"], entry["twice_nll_gap_root"], entry["twice_nll"]
    lower = "pyhf" if gap_pyhf > 0 else "ROOT"
    higher = "ROOT" if lower == "pyhf" else "pyhf"
    start = points[lower]
    if higher == "ROOT":
        with with_global_observables(root_model, fit_data.globs):
            refit_nll = RootNLL(root_model, eval_backend, data=fit_data.root_data, offset=options.offset)
            _, refit_point, status = refit_nll.minimize(options, fixed_poi=fixed, start=start)
            refit_twice_nll = 2.0 * fit_data.root_nll.value(refit_point)
        own = twice_nll["ROOT"]["ROOT"]
        root_model.reset()
    else:
        init = np.asarray(start)
        if fixed is None:
            refit_point = pyhf.infer.mle.fit(fit_data.pyhf_data, model, init_pars=init.tolist())
        else:
            refit_point = pyhf.infer.mle.fixed_poi_fit(fixed, fit_data.pyhf_data, model, init_pars=init.tolist())
        refit_point = [float(x) for x in refit_point]
        refit_twice_nll = -2.0 * float(model.logpdf(np.asarray(refit_point), fit_data.pyhf_data)[0])
        own, status = twice_nll["pyhf"]["pyhf"], None
    return {
        "different": True,
        "lower": lower,
        "twice_nll_gap": abs(gap_pyhf),
        "refit": {
            "side": higher,
            "started_from": f"{lower}'s {FIT_LABELS[fit]}",
            # The refit's 2*NLL relative to the side's own first fit (< 0: it found the lower minimum).
            "twice_nll_change": refit_twice_nll - own,
            # ... by the gap the refitted side's own NLL sees (on Asimov data the two differ a little).
            "reaches_lower_minimum": refit_twice_nll - own <= -abs(gap_root if higher == "ROOT" else gap_pyhf) + MINIMA_GAP,
            "minuit_status": status,
        },
    }
