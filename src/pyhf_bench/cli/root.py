"""``pyhf-bench roofit``: pyhf vs ROOT HistFactory on one likelihood (argparse and printing; the work is pyhf_bench.root)."""

from __future__ import annotations

import argparse
import json

from pyhf_bench.root.backends import EVAL_BACKENDS, check_eval_backend
from pyhf_bench.root.compare import compare
from pyhf_bench.root.loading import load_likelihood


def _print_report(report: dict) -> None:
    print(f"{report['likelihood']}: pyhf {report['pyhf']['version']} (numpy, scipy) vs ROOT {report['root']['version']} "
          f"({report['root']['route']}, {report['root']['eval_backend']} backend, {report['root']['minimizer']})")
    if report["background_only"]:
        print(f"background-only (measurement POI {report['declared_poi']!r} is not in the model)")
    sources = report.get("interpolation_source", {})
    print("interpolation: " + "; ".join(f"{mtype} {text} ({sources.get(mtype, '')})" for mtype, text in report["interpolation"].items()))
    if report.get("stat_errors"):
        print("stat errors: " + "; ".join(
            f"{name} {c['constraint']}, RelErrorThreshold {c['rel_error_threshold']:g} ({c['source']})" for name, c in report["stat_errors"].items()))
    if report.get("fixed_parameters"):
        print("held fixed (the registry's fit.fixed_parameters): " + "; ".join(
            f"{name} ({why})" for name, why in report["fixed_parameters"].items()))
    width = max(len(e["quantity"]) for e in report["quantities"])
    print(f"{'quantity':<{width}}  {'pyhf':>14}  {'ROOT':>14}  {'abs diff':>9}  {'rel diff':>9}  tolerance")
    for e in report["quantities"]:
        # A value within tolerance read off a failed fit or a local minimum is not an agreement.
        mark = ("ok" if e["passed"] else "FAIL") if not e.get("notes") else ("UNRELIABLE" if e["passed"] else "FAIL") + ": " + "; ".join(e["notes"])
        if e.get("remarks"):
            mark += " (" + "; ".join(e["remarks"]) + ")"
        print(f"{e['quantity']:<{width}}  {e['pyhf']:>14.8g}  {e['root']:>14.8g}  {e['abs_diff']:>9.2e}  {e['rel_diff']:>9.2e}  {e['tolerance']}  {mark}")
    print(report["verdict"])


def _cmd_roofit(args: argparse.Namespace) -> int:
    check_eval_backend(args.backend_eval)
    loaded = load_likelihood(args.name, args.region, args.patch)
    report = compare(
        loaded["spec"],
        loaded["measurement"],
        loaded["modifier_settings"],
        loaded["fit_settings"],
        eval_backend=args.backend_eval,
        label=loaded["label"],
        export_directory=args.export,
        stat_errors=loaded["stat_errors"],
    )
    # Held at their initial value on both sides (load_likelihood marks them fixed in the spec).
    report["fixed_parameters"] = loaded["fixed_parameters"]
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print_report(report)
    return 0 if report["passed"] else 1


def add_parsers(sub) -> None:
    parser = sub.add_parser(
        "roofit",
        help="compare pyhf with ROOT HistFactory/RooFit on one likelihood",
        description=(
            "Build the likelihood in pyhf and in ROOT HistFactory, fit both (best fit, conditional fit at mu=1, "
            "qtilde and asymptotic CLs) and compare. Exit status 1 when a quantity is outside its tolerance."
        ),
    )
    parser.add_argument("name", help="registered likelihood (e.g. sbottom, staus, or sbottom/RegionA) or synthetic/<n_bins>")
    parser.add_argument("--region", help="region of the likelihood (default: the registry's)")
    parser.add_argument("--patch", help="signal patch (default: the registry's; 'bkgonly' for background-only)")
    parser.add_argument("--export", metavar="DIR", help="also write the HistFactory XML + ROOT files to DIR")
    parser.add_argument("--backend-eval", choices=EVAL_BACKENDS, default="cpu", help="RooFit evaluation backend (default: cpu)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(func=_cmd_roofit)
