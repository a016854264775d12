"""ROOT references for the registry (``pyhf-bench references --root``; the command is :mod:`pyhf_bench.cli.likelihoods`).

Two kinds of reference: the suite's own numpy 64b scipy output
(``self-snapshot``, the region's ``reference``; catches change, not error;
:func:`pyhf_bench.likelihoods.runs.compute_reference`) and, here, ROOT's CLs
from HistFactory and Minuit2 (``root``, an independent reference stored in
``independent_references``).  It lives above the likelihoods because it joins
them with the ROOT bridge.
"""

from __future__ import annotations

import copy

from pyhf_bench import UserError
from pyhf_bench import root as roobridge
from pyhf_bench.likelihoods.inference import HypotestSettings
from pyhf_bench.likelihoods.loading import load


def compute_root_reference(name: str, region: str) -> dict:
    """An independent reference (kind ``root``): CLs and the band from ROOT's HistFactory and Minuit2.

    Through :func:`pyhf_bench.root.compare` on the model this suite fits (the
    registry's fixed parameters included).  Only CLs: ROOT's NLL has other
    constant terms, so a background-only 2*NLL has no ROOT counterpart.  Refused
    when a ROOT fit did not converge (Minuit2 status other than 0 or 1).
    """
    lk = load(name, region)
    if lk.poi is None:
        raise UserError(f"{lk.label} is background-only: ROOT's NLL has other constant terms than pyhf's, so only "
                        "CLs references come from ROOT")
    spec = copy.deepcopy(lk.spec)
    measurement = next(m for m in spec["measurements"] if m["name"] == lk.measurement)
    measurement["config"]["parameters"] = lk.model_spec()["parameters"]
    report = roobridge.compare(spec, lk.measurement, lk.modifier_settings, lk.fit_settings("scipy"), label=lk.label)
    status = report["root"]["minuit_status"]
    failed = {fit: code for fit, code in status.items() if code not in (0, 1)}
    if failed:
        raise UserError(f"ROOT's fits of {lk.label} did not converge (Minuit2 status {failed}); no ROOT reference "
                        "is stored: see `pyhf-bench roofit` for the details")
    root = {q["quantity"]: q["root"] for q in report["quantities"]}
    return {
        "patch": lk.patch,
        "kind": "root",
        "cls_obs": root["CLs_obs"],
        "cls_exp": [root[f"CLs_exp({s} sigma)"] for s in ("-2", "-1", "+0", "+1", "+2")],
        "test": HypotestSettings().as_dict(),
        "source": f"ROOT {report['root']['version']} HistFactory ({report['root']['route']}), {report['root']['minimizer']}",
        "interpolation": report["interpolation"],
        "minuit_status": status,
        "pyhf_vs_root_passed": report["passed"],
        "fixed_parameters": sorted(lk.fixed_parameters()),
    }
