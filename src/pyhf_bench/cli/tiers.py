"""The commands about what a tier runs here and for how long: ``env``, ``asv-run`` and ``tier-time``.

Argument parsing and printing only; the work is :mod:`pyhf_bench.asvtools.envinfo`'s,
:mod:`pyhf_bench.asvtools.selection`'s and :mod:`pyhf_bench.asvtools.tiertime`'s.
"""

from __future__ import annotations

import json
from pathlib import Path

from pyhf_bench.asvtools import envinfo
from pyhf_bench.asvtools import selection
from pyhf_bench.asvtools import tiertime
from pyhf_bench.core import support
from pyhf_bench.likelihoods import all_keys


def _cmd_env(args) -> int:
    backends = [support.check_choice("backend", b) for b in (args.backend or support.BACKENDS)]
    report = envinfo.environment_report(backends)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"python {report['python']}  pyhf {report['pyhf']}  era {report['era'] or '-'}  tier {report['tier']}")
        for backend, r in report["backends"].items():
            print(f"{backend:<11} {r['version'] or 'not installed'}")
            for c in r["combinations"]:
                state = "usable" if c["usable"] else f"skip: {c['reason']}"
                print(f"    {c['device']:<4} {c['precision']:<4} {state}")
            if r.get("error"):
                print(f"    error: {r['error']}")
    return 0


def add_env_parser(sub) -> None:
    p = sub.add_parser("env", help="report which backends/devices/precisions are usable here")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--backend", action="append", help="probe only this backend (repeatable)")
    p.set_defaults(func=_cmd_env)


def _cmd_asv_run(args) -> int:
    return selection.asv_run(Path(args.config), args.tier, list(getattr(args, "passthrough", [])))


def add_asv_run_parser(sub) -> None:
    p = sub.add_parser(
        "asv-run",
        help="asv run over exactly one tier's combinations (no process for the ones outside it)",
        description="Run `asv run` with one -b regex per benchmark selecting exactly the tier's parameter "
        "combinations, so the combinations outside it are never forked only to skip (the quick tier: ~110 "
        "run of ~12,000). Arguments after -- go to `asv run`; their -b regexes narrow the selection "
        "(e.g. pyhf-bench asv-run -- --python=same --quick -b Logpdf). Two asv runs: the memory benchmarks "
        "separately, without the frameworks preloaded in asv's forkserver.",
    )
    p.add_argument("--tier", choices=support.TIERS, help=f"tier to select (sets {support.TIER_ENV}; default: "
                   f"{support.TIER_ENV}, else quick)")
    p.add_argument("--config", default="asv.conf.json", help="asv config (default: asv.conf.json)")
    p.set_defaults(func=_cmd_asv_run)


def _cmd_tier_time(args) -> int:
    if args.markdown:
        support.check_choice("tier", args.tier)
        print(tiertime.ledger_markdown(tiertime.read_ledger(Path(args.ledger)), all_keys()), end="")
        return 0
    totals = tiertime.measure(Path(args.config), Path(args.ledger), args.tier, only=args.only,
                              remeasure=args.remeasure, retry_failed=args.retry_failed,
                              budget_minutes=args.budget_minutes, asv_args=list(args.passthrough),
                              log_dir=Path(args.log_dir))
    print(json.dumps(totals, indent=1))
    return 0


def add_tier_time_parser(sub) -> None:
    p = sub.add_parser(
        "tier-time",
        help="measure a tier's wall time shard by shard (resumable ledger)",
        description="Run a tier of the suite with `asv run --python=same --quick`, one likelihood at a time, "
        "and record each shard's wall time in a JSON ledger; shards already recorded are skipped. "
        "Arguments after -- go to `asv run` (e.g. -- --machine epyc-2core).",
    )
    p.add_argument("--config", default="asv.conf.json", help="asv config (default: asv.conf.json)")
    p.add_argument("--ledger", required=True, help="JSON ledger to read and extend (created if missing)")
    p.add_argument("--tier", default="full", choices=support.TIERS, help="tier to measure (default: full)")
    p.add_argument("--only", nargs="+", metavar="SHARD",
                   help="run only these shards, in this order (name/region, 'rest' or one of its module "
                   "parts such as rest:synthetic_models, or a whole-grid shard such as "
                   "sbottom/RegionA:GridScan:numpy:64b:w0)")
    p.add_argument("--budget-minutes", type=float, help="start no new shard after this many minutes")
    p.add_argument("--retry-failed", action="store_true", help="run again the shards recorded with a non-zero asv status")
    p.add_argument("--remeasure", nargs="+", default=[], metavar="SHARD",
                   help="run these shards again although recorded (e.g. after a change to the suite); "
                   "their rows are replaced")
    p.add_argument("--markdown", action="store_true",
                   help="print the ledger as a Markdown table with its total and what is left (the README's), run nothing")
    p.add_argument("--log-dir", default=".asv/tier-time-logs", help="asv's output per shard (default: .asv/tier-time-logs)")
    p.set_defaults(func=_cmd_tier_time)


def add_parsers(sub) -> None:
    add_env_parser(sub)
    add_asv_run_parser(sub)
    add_tier_time_parser(sub)
