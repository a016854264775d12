"""pyhf vs ROOT on one likelihood: the quantities side by side, the verdict and its causes, the report."""

from __future__ import annotations

import math
import os
from pathlib import Path

from pyhf_bench.root.backends import check_eval_backend, import_root
from pyhf_bench.root.equivalence import MODEL_CHECK_POINTS, MODEL_CHECK_TOLERANCE, check_model_equivalence
from pyhf_bench.root.inference import pyhf_inference, root_inference
from pyhf_bench.root.interpolation import interpolation_sources
from pyhf_bench.root.minima import FIT_LABELS, MINUIT_OK, MINUIT_STATUS, cross_check_minima
from pyhf_bench.root.model import RootModel
from pyhf_bench.root.plan import HistFactoryPlan, plan_histfactory
from pyhf_bench.root.pyhf_side import numpy_pyhf, pyhf_model
from pyhf_bench.root.settings import MU_TEST, FitOptions, Tolerances
from pyhf_bench.root.workspace import build_workspace

def quantity_entry(name: str, pyhf_value: float, root_value: float, kind: str, tol: Tolerances, fits: tuple[str, ...] = ("best_fit",)) -> dict:
    diff = abs(root_value - pyhf_value)
    scale = max(abs(pyhf_value), abs(root_value))
    rel = diff / scale if scale > 0 else 0.0
    if kind == "abs":
        limit = tol.poi_abs
        passed = diff <= limit
        tolerance = f"abs {limit:g}"
    elif kind == "nuisance":
        limit = tol.nuisance_abs
        passed = diff <= limit
        tolerance = f"abs {limit:g}"
    else:
        limit = tol.nll_diff_rel if kind == "nll" else tol.cls_rel
        passed = diff <= tol.abs_floor or rel <= limit
        tolerance = f"rel {limit:g} (or abs {tol.abs_floor:g})"
    return {
        "quantity": name,
        "pyhf": pyhf_value,
        "root": root_value,
        "abs_diff": diff,
        "rel_diff": rel,
        "tolerance": tolerance,
        "passed": bool(passed and math.isfinite(diff)),
        # The fits (FIT_LABELS) this quantity is read off.
        "fits": list(fits),
    }


def compare_results(pyhf_result: dict, root_result: dict, root_model: RootModel, tol: Tolerances = Tolerances()) -> list[dict]:
    """Each quantity for pyhf and ROOT with absolute and relative difference and pass/fail."""
    entries = [
        quantity_entry("2*dNLL(initial -> best fit)", pyhf_result["twice_delta_nll_initial_to_best"], root_result["twice_delta_nll_initial_to_best"], "nll", tol)
    ]
    if "mu_hat" in pyhf_result:
        observed = ("best_fit", "conditional")
        asimov = ("asimov_generation", "asimov_free", "asimov_conditional")
        entries += [
            quantity_entry("mu_hat", pyhf_result["mu_hat"], root_result["mu_hat"], "abs", tol),
            quantity_entry(f"q_mu = 2*dNLL(mu={MU_TEST:g})", pyhf_result["q_mu"], root_result["q_mu"], "nll", tol, observed),
            quantity_entry("qtilde_mu", pyhf_result["qtilde_mu"], root_result["qtilde_mu"], "nll", tol, observed),
            quantity_entry("qtilde_mu_asimov", pyhf_result["qtilde_mu_asimov"], root_result["qtilde_mu_asimov"], "nll", tol, asimov),
            quantity_entry("CLs_obs", pyhf_result["cls_obs"], root_result["cls_obs"], "cls", tol, observed + asimov),
        ]
        for n, p, r in zip((-2, -1, 0, 1, 2), pyhf_result["cls_exp"], root_result["cls_exp"]):
            entries.append(quantity_entry(f"CLs_exp({n:+d} sigma)", p, r, "cls", tol, asimov))
    # Nuisance parameters at the best fit: the largest difference, named.
    worst = None
    for k, (name, i, root_name) in enumerate(root_model.pyhf_order):
        if root_model.fixed[k] or name == root_model.plan.poi:
            continue
        diff = abs(pyhf_result["best_fit"][k] - root_result["best_fit"][k])
        if worst is None or diff > worst[0]:
            worst = (diff, k, f"{name}[{i}]" if len(root_model.plan.root_names[name]) > 1 else name)
    if worst is not None:
        _, k, label = worst
        entries.append(quantity_entry(f"nuisance parameter with the largest difference: {label}", pyhf_result["best_fit"][k], root_result["best_fit"][k], "nuisance", tol))
    # The one known difference of the two models (see nonpositive_interval): it must
    # not matter, i.e. no fit may end where pyhf's factor is negative and ROOT's 0.
    for name, ((low, high), where) in root_model.plan.clipped_normsys.items():
        k = next(k for k, (pname, _, _) in enumerate(root_model.pyhf_order) if pname == name)
        fitted = [result[fit][k] for result in (pyhf_result, root_result) for fit in ("best_fit", "conditional_fit") if fit in result]
        entry = quantity_entry(f"{name} at the best fit (pyhf's code4 factor of {where} < 0 for alpha in [{low:.3f}, {high:.3f}], ROOT's 0)", pyhf_result["best_fit"][k], root_result["best_fit"][k], "nuisance", tol,
                       ("best_fit", "conditional") if "conditional_fit" in pyhf_result else ("best_fit",))
        entry["tolerance"] += f"; every fit outside [{low:.3f}, {high:.3f}]"
        entry["passed"] = entry["passed"] and all(not (low <= value <= high) for value in fitted)
        entries.append(entry)
    return entries


def compare(
    spec: dict,
    measurement: str | None = None,
    modifier_settings: dict | None = None,
    fit_settings: dict | None = None,
    eval_backend: str = "cpu",
    label: str = "",
    route: str = "auto",
    export_directory: str | os.PathLike | None = None,
    options: FitOptions = FitOptions(),
    tolerances: Tolerances = Tolerances(),
    root_spec: dict | None = None,
    stat_errors: dict[str, tuple[str, float]] | None = None,
) -> dict:
    """pyhf vs ROOT on one likelihood: the comparison report (JSON-serialisable).

    *root_spec*: the spec ROOT builds, if not *spec* (the tests give ROOT other
    data to see the comparison fail, and say why).  *stat_errors*: an XML
    likelihood's StatErrorConfig per channel (:func:`read_stat_error_configs`),
    honoured on both sides.
    """
    check_eval_backend(eval_backend)
    plan = plan_histfactory(spec, measurement, modifier_settings, stat_errors)
    pyhf = numpy_pyhf(fit_settings)
    pyhf_result = pyhf_inference(spec, plan, fit_settings)
    root_model = build_workspace(root_spec or spec, plan.measurement, modifier_settings, route=route, xml_directory=export_directory,
                                 stat_errors=stat_errors)
    model_mismatch = check_model_equivalence(root_model, pyhf_model(spec, plan), eval_backend)
    root_result = root_inference(root_model, eval_backend, options)
    entries = compare_results(pyhf_result, root_result, root_model, tolerances)
    minima = cross_check_minima(spec, plan, root_model, pyhf_result, root_result, fit_settings, eval_backend, options, tolerances=tolerances)
    entries += lower_minima_entries(minima, tolerances)
    causes = verdict_causes(entries, minima, root_result["minuit_status"])
    return {
        "likelihood": label,
        "measurement": plan.measurement,
        "poi": plan.poi,
        "background_only": plan.poi is None,
        "declared_poi": plan.declared_poi,
        "n_parameters": len(root_model.pyhf_order),
        "interpolation": {
            mtype: f"pyhf {code} = ROOT code {root_code}" for mtype, (code, root_code) in plan.interpolation.items()
        },
        # A result compared with ROOT-referenced values needs these codes: say where they came from.
        "interpolation_source": interpolation_sources(modifier_settings),
        # Every channel with stat errors: its constraint and pruning threshold, on both sides.
        "stat_errors": _stat_errors_section(plan, stat_errors),
        "pyhf": {
            "version": pyhf.__version__,
            "backend": "numpy 64b",
            "optimizer": f"scipy ({fit_settings or 'pyhf defaults'})",
            "timings_s": pyhf_result["timings"],
        },
        "root": _root_section(root_model, root_result, eval_backend, options),
        "model_check": {
            "points": MODEL_CHECK_POINTS,
            "worst_relative_mismatch_of_nll_differences": model_mismatch,
            "tolerance": MODEL_CHECK_TOLERANCE,
            # Held at their initial value in the check (see POISSON_UNRESOLVED_TAU).
            "unresolved_gammas": {name: {"tau": tau, "sample": where} for name, (tau, where) in plan.unresolved_gammas.items()},
        },
        "export_directory": str(Path(export_directory).resolve()) if export_directory else None,
        "quantities": entries,
        "minima": minima,
        # Why it failed, most fundamental first (see verdict_causes); empty when it passed.
        "causes": causes,
        "verdict": "passed" if not causes else "FAILED: " + "; ".join(c["text"] for c in causes),
        # Every quantity within tolerance, one minimum per fit, every Minuit2 status 0 or 1.
        "passed": not causes,
    }



def _stat_errors_section(plan: HistFactoryPlan, stat_errors: dict[str, tuple[str, float]] | None) -> dict:
    """Each channel with stat errors: its constraint, pruning threshold and where they come from."""
    return {
        c.name: {"constraint": c.stat_constraint, "rel_error_threshold": c.stat_threshold,
                 "source": "the XML: its StatErrorConfig, or HistFactory's default without one" if stat_errors and c.name in stat_errors else "pyhf's staterror"}
        for c in plan.channels if any(s.staterror is not None for s in c.samples)
    }


def _root_section(root_model: RootModel, root_result: dict, eval_backend: str, options: FitOptions) -> dict:
    """ROOT's version, route, backend, minimiser, Minuit2 statuses and times."""
    return {
        "version": str(import_root().gROOT.GetVersion()),
        "route": root_model.route,
        "eval_backend": eval_backend,
        "minimizer": f"{options.minimizer} {options.algorithm}, strategy {options.strategy}, tolerance {options.tolerance:g}",
        "minuit_status": root_result["minuit_status"],
        "build_s": root_model.build_seconds,
        "timings_s": root_result["timings"],
    }


def lower_minima_entries(minima: list[dict], tol: Tolerances = Tolerances()) -> list[dict]:
    """Where the observed-data fits ended in different minima: q_mu from the lower minima, each side with its own NLL.

    Both sides evaluated both points (:func:`cross_check_minima`), so q_mu =
    2*NLL(lower conditional minimum) - 2*NLL(lower best fit) is computed by pyhf
    and by ROOT at the same two points: it agrees when the functions do, and is
    the q_mu a global minimiser would give.  Nothing is returned where every fit
    found the same minimum.
    """
    by_fit = {m["fit"]: m for m in minima}
    if not any(by_fit.get(fit, {}).get("different") for fit in ("best_fit", "conditional")) or "conditional" not in by_fit:
        return []

    def lower(fit: str) -> str:
        m = by_fit[fit]
        return m["lower"] if m["different"] else "pyhf"

    best, cond = lower("best_fit"), lower("conditional")
    q = {side: by_fit["conditional"]["twice_nll"][cond][side] - by_fit["best_fit"]["twice_nll"][best][side] for side in ("pyhf", "ROOT")}
    entry = quantity_entry(f"q_mu at the lower minima ({best}'s best fit, {cond}'s fit at mu={MU_TEST:g})", q["pyhf"], q["ROOT"], "nll", tol, ())
    return [entry]


def verdict_causes(entries: list[dict], minima: list[dict], minuit_status: dict[str, int]) -> list[dict]:
    """Why a comparison fails, each cause once, and a ``notes`` list on every quantity it affects.

    In this order: fits that ended in different minima of the same function
    (a finding about the minimisers, not about the models: ``kind`` "minima"),
    fitted points where the two NLLs differ ("model"), ROOT fits whose Minuit2
    status is not 0 or 1 ("minuit"), then quantities outside their tolerance
    that no cause above explains ("disagreement").  Every one is a finding
    (exit status 1); a model that cannot be built or mapped is a UserError
    (exit status 2) before any of this runs.
    """
    causes: list[dict] = []
    notes: dict[str, list[str]] = {}
    for m in minima:
        if m["different"]:
            refit = m["refit"]
            reached = "reaches it" if refit["reaches_lower_minimum"] else "does not reach it"
            text = (f"different minima found in the {m['label']} ({m['lower']}'s is lower by 2*dNLL = {m['twice_nll_gap']:.6g}; "
                    f"both NLLs agree on that to {abs(m['twice_nll_gap_pyhf'] - m['twice_nll_gap_root']):.1e}; "
                    f"{refit['side']} refitted from {refit['started_from']} {reached}: 2*NLL changes by {refit['twice_nll_change']:.6g})")
            causes.append({"kind": "minima", "fit": m["fit"], "text": text})
            notes[m["fit"]] = notes.get(m["fit"], []) + [f"different minima in the {m['label']}, {m['lower']}'s lower by {m['twice_nll_gap']:.3g}"]
        elif m.get("degenerate"):
            point = m["largest_point_difference"]
            text = (f"the {m['label']} ended at different points with the same NLL (2*NLL differs by {abs(m['twice_nll_gap_pyhf']):.1e}; "
                    f"{point['parameter']} is {point['pyhf']:.6g} in pyhf and {point['ROOT']:.6g} in ROOT): a degenerate or flat minimum")
            causes.append({"kind": "minima", "fit": m["fit"], "text": text})
            notes[m["fit"]] = notes.get(m["fit"], []) + [f"degenerate minimum in the {m['label']}"]
        elif not m["same_function"]:
            text = (f"pyhf and ROOT's NLLs differ at the points of the {m['label']}: 2*NLL(ROOT's point) - 2*NLL(pyhf's point) "
                    f"is {m['twice_nll_gap_pyhf']:.6g} in pyhf and {m['twice_nll_gap_root']:.6g} in ROOT; the models are not the same there")
            causes.append({"kind": "model", "fit": m["fit"], "text": text})
            notes[m["fit"]] = notes.get(m["fit"], []) + [f"the NLLs differ at the points of the {m['label']}"]
    remarks: dict[str, str] = {}
    for fit, status in minuit_status.items():
        if status in MINUIT_OK and status != 0:
            # Converged, covariance forced positive definite: said on the rows, not a failure.
            remarks[fit] = f"ROOT's {FIT_LABELS[fit]}: Minuit2 status {status} ({MINUIT_STATUS[status]})"
        elif status not in MINUIT_OK:
            meaning = MINUIT_STATUS.get(status, "unknown status")
            causes.append({"kind": "minuit", "fit": fit, "text": f"ROOT's {FIT_LABELS[fit]} ended with Minuit2 status {status} ({meaning})"})
            notes[fit] = notes.get(fit, []) + [f"ROOT's {FIT_LABELS[fit]}: Minuit2 status {status} ({meaning})"]
    unexplained = []
    for e in entries:
        e["notes"] = [note for fit in e["fits"] for note in notes.get(fit, [])]
        e["remarks"] = [remarks[fit] for fit in e["fits"] if fit in remarks]
        if not e["passed"] and not e["notes"]:
            unexplained.append(e["quantity"])
    if unexplained:
        causes.append({"kind": "disagreement", "fit": None,
                       "text": f"pyhf and ROOT disagree beyond tolerance on {', '.join(unexplained)} (same model, same minima, every fit converged)"})
    return causes
