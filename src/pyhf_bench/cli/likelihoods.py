"""``pyhf-bench references``, ``likelihoods``, ``fetch``, ``verify``, ``hypotest`` and ``fit``: argparse and printing.

The work is in :mod:`pyhf_bench.likelihoods` (registry, fetching, runs) and
:mod:`pyhf_bench.reporting.references` (ROOT references).
"""

from __future__ import annotations

import json
import time

from pyhf_bench import UserError
from pyhf_bench.core.axes import BACKENDS, DEVICES, OPTIMIZERS, PRECISIONS
from pyhf_bench.core.verdict import Finding, print_findings
from pyhf_bench.likelihoods import (
    BKGONLY,
    data_dir,
    describe,
    entry,
    fetch,
    has_signal,
    key,
    reference_targets,
    registry,
    store_reference,
    verify,
)
from pyhf_bench.likelihoods.inference import CALCULATORS, TEST_STATS
from pyhf_bench.likelihoods.runs import compute_reference, run_fit, run_hypotest
from pyhf_bench.reporting.references import compute_root_reference


def add_parsers(sub) -> None:
    """``references``, then the likelihood commands (in the order ``pyhf-bench --help`` lists them)."""
    _add_references_parser(sub)
    p = sub.add_parser("likelihoods", help="list the registered likelihoods and whether their files are here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_likelihoods)

    p = sub.add_parser("fetch", help="download likelihoods from HEPData into the data directory (hash-checked)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", action="store_true", help="every built-in likelihood")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("verify", help="hash-check the likelihood files in the data directory")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.set_defaults(func=_cmd_verify)

    for command, text in (
        ("hypotest", "CLs (default: asymptotic, qtilde, mu=1) with the expected band, against the registry's references"),
        ("fit", "unconditional maximum-likelihood fit: twice the NLL at the minimum, against the reference"),
    ):
        _add_run_parser(sub, command, text)


def _add_run_parser(sub, command: str, text: str) -> None:
    p = sub.add_parser(command, help=text, description=text + ". Times the second call (the first pays JIT warm-up).")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--region", help="region (default: the first one)")
    p.add_argument("--patch", help=f"signal patch (default: the region's default; '{BKGONLY}' for none)")
    p.add_argument("--backend", default="numpy", choices=BACKENDS)
    p.add_argument("--device", default="cpu", choices=DEVICES)
    p.add_argument("--precision", default="64b", choices=PRECISIONS)
    p.add_argument("--optimizer", default="scipy", choices=OPTIMIZERS)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    if command == "hypotest":
        p.add_argument("--poi-value", type=float, default=None,
                       help="POI value to test (default: the registry's, else 1; q0 tests 0)")
        p.add_argument("--test-stat", choices=TEST_STATS, default=None,
                       help="test statistic (default: the registry's, else qtilde); q0 is a discovery test and "
                       "reports p0")
        p.add_argument("--calculator", choices=CALCULATORS, default=None,
                       help="asymptotic formulae or pseudo-experiments (default: the registry's, else asymptotic)")
        p.add_argument("--ntoys", type=int, default=None,
                       help="pseudo-experiments per hypothesis with --calculator toybased (default: the registry's, else 1000)")
    p.set_defaults(func=_cmd_hypotest)


def _cmd_likelihoods(args) -> int:
    described = [describe(e) for e in registry().values()]
    if args.json:
        print(json.dumps({"data_dir": str(data_dir()), "likelihoods": described}, indent=1))
        return 0
    print(f"data directory: {data_dir()}")
    for d in described:
        mark = "available" if d["available"] else "not fetched"
        regions = ", ".join(f"{r}[{v['default_patch'] or BKGONLY}]" for r, v in d["regions"].items())
        print(f"{d['name']:14} {mark:12} {d['analysis']}\n{'':14} regions: {regions}")
    return 0


def _cmd_fetch(args) -> int:
    if not args.all and not args.names:
        raise UserError("name a likelihood to fetch, or give --all")
    names = [e.name for e in registry().values() if not e.user] if args.all else args.names
    for name in names:
        result = fetch(name)
        print(f"{name}: {result['fetched']} file(s) fetched, {result['verified']} verified in {entry(name).root()}")
    return 0


def _cmd_verify(args) -> int:
    report = verify(args.names or None)
    bad = 0
    for name, r in report.items():
        state = "ok" if not r["bad"] and not r["missing"] else ("BAD" if r["bad"] else "incomplete")
        print(f"{name:14} {state:10} {r['ok']} ok, {r['missing']} missing, {len(r['bad'])} bad")
        for message in r["bad"].values():
            print(f"    {message}")
        bad += len(r["bad"])
    print(f"data directory: {data_dir()}")
    missing = sum(r["missing"] for r in report.values())
    if missing and not bad:
        print(f"{missing} file(s) missing: run `pyhf-bench fetch NAME` for each incomplete likelihood above")
    # Missing files are a finding too: the data directory cannot serve those likelihoods.
    return 1 if bad or missing else 0


def _cmd_hypotest(args) -> int:
    """``hypotest`` and ``fit``: the result, then one line per finding; the exit status is the verdict's."""
    common = dict(region=args.region, patch=args.patch, backend=args.backend, device=args.device,
                  precision=args.precision, optimizer=args.optimizer)
    if args.command == "hypotest":
        result = run_hypotest(args.name, **common, poi_value=args.poi_value, test_stat=args.test_stat,
                              calculator=args.calculator, ntoys=args.ntoys)
    else:
        result = run_fit(args.name, **common)
    if args.json:
        print(json.dumps(result, indent=1))
        return result["exit_status"]
    for k, v in result.items():
        if k not in ("findings", "exit_status", "independent_references"):
            print(f"{k:>22}: {v}")
    # One line per reference from outside this suite, with its kind and source.
    for r in result.get("independent_references", []):
        value = r.get("cls_obs", r.get("twice_nll"))
        deviation = r.get("relative_deviation", r.get("absolute_deviation"))
        where = "; ".join(str(x) for x in (r.get("source"), r.get("interpolation")) if x)
        print(f"{'reference (' + str(r.get('kind')) + ')':>22}: {value} (deviation {deviation:.2g}; {where})"
              if deviation is not None else f"{'reference (' + str(r.get('kind')) + ')':>22}: {value} ({where})")
    findings = [Finding(**{k: f[k] for k in ("level", "quantity", "value", "cause", "reference", "kind")})
                for f in result["findings"]]
    print_findings(findings)
    if not any(f.level == "WRONG" for f in findings):
        print("verdict: ok" if any(result.get(k) is not None for k in ("reference_cls_obs", "reference_twice_nll"))
              else "verdict: ok (no reference to compare with)")
    return result["exit_status"]



def _add_references_parser(sub) -> None:
    p = sub.add_parser("references", help="compute the registry's reference results (numpy 64b scipy, or --root)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--region", help="only this region")
    p.add_argument("--update", action="store_true", help="write them into the built-in registry file")
    p.add_argument("--root", action="store_true",
                   help="ROOT's CLs via `roofit`'s fits (kind 'root', stored as independent_references)")
    p.set_defaults(func=_cmd_references)


def _cmd_references(args) -> int:
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
