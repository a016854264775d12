"""``pyhf-bench references``: compute the registry's reference results and, with ``--update``, store them.

Two kinds: the suite's own numpy 64b scipy output (``self-snapshot``, the
region's ``reference``; catches change, not error) and, with ``--root``,
ROOT's CLs from HistFactory and Minuit2 (``root``, an independent reference
stored in ``independent_references``).  A command of its own because it joins
the likelihood registry, the inference step and the ROOT bridge.
"""

from __future__ import annotations

import json
import time

from pyhf_bench import UserError
from pyhf_bench import root as roobridge
from pyhf_bench.likelihoods.inference import HypotestSettings, compute_reference
from pyhf_bench.likelihoods import entry, has_signal, key, load, reference_targets, store_reference


def compute_root_reference(name: str, region: str) -> dict:
    """An independent reference (kind ``root``): CLs and the band from ROOT's HistFactory and Minuit2.

    Through :func:`pyhf_bench.root.compare` on the model this suite fits (the
    registry's fixed parameters included).  Only CLs: ROOT's NLL has other
    constant terms, so a background-only 2*NLL has no ROOT counterpart.  Refused
    when a ROOT fit did not converge (Minuit2 status other than 0 or 1).
    """
    import copy

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


def _cmd(args) -> int:
    for name, region in reference_targets(args.names, args.region):
        if args.root and not has_signal(entry(name), region):
            print(json.dumps({"likelihood": key(name, region), "skipped": "background-only: no CLs to take from ROOT"}))
            continue
        start = time.perf_counter()
        reference = (compute_root_reference if args.root else compute_reference)(name, region)
        print(json.dumps({"likelihood": key(name, region), "seconds": round(time.perf_counter() - start, 1), **reference}))
        if args.update:
            store_reference(name, region, reference)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("references", help="compute the registry's reference results (numpy 64b scipy, or --root)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--region", help="only this region")
    p.add_argument("--update", action="store_true", help="write them into the built-in registry file")
    p.add_argument("--root", action="store_true",
                   help="ROOT's CLs via `roofit`'s fits (kind 'root', stored as independent_references)")
    p.set_defaults(func=_cmd)
