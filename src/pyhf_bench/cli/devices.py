"""``pyhf-bench env``, ``gpu-check`` and ``costs``: what this machine's backends and devices can do.

Argparse and printing only; the work is in :mod:`pyhf_bench.asvtools.envinfo`,
:mod:`pyhf_bench.asvtools.gpucheck` and :mod:`pyhf_bench.asvtools.costs`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.asvtools import costs, gpucheck
from pyhf_bench.asvtools.envinfo import environment_report
from pyhf_bench.core.axes import BACKENDS, check_choice
from pyhf_bench.core.files import atomic_file


def add_parsers(sub) -> None:
    """``env``, ``gpu-check`` and ``costs``, in that order."""
    add_env_parser(sub)
    add_gpu_check_parser(sub)
    add_costs_parser(sub)


def _cmd_env(args) -> int:
    chosen = [check_choice("backend", b) for b in (args.backend or BACKENDS)]
    report = environment_report(chosen)
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


def _cmd_gpu_check(args) -> int:
    backends = tuple(args.backend or ("jax", "pytorch", "tensorflow"))
    result = gpucheck.check(backends, args.device, args.batch_size)
    text = json.dumps(result, indent=1)
    if args.out:
        out = Path(args.out)
        if not out.parent.is_dir():
            raise UserError(f"{out.parent} does not exist; create it or choose another --out")
        with atomic_file(out) as fh:
            fh.write(text + "\n")
    print(text)
    return 0


def add_gpu_check_parser(sub) -> None:
    p = sub.add_parser("gpu-check", help="validate placement, CPU agreement and synchronisation on a GPU/TPU")
    p.add_argument("--device", default="gpu", choices=("gpu", "tpu"))
    p.add_argument("--backend", action="append", choices=("jax", "pytorch", "tensorflow"), help="repeatable")
    p.add_argument("--batch-size", type=int, default=1000, help="batch size of the synchronisation probe")
    p.add_argument("--out", help="also write the JSON here (atomically)")
    p.set_defaults(func=_cmd_gpu_check)


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(float(x)) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"{text!r} is not a comma-separated list of integers; e.g. 10,100,1000") from None
    if not values or min(values) < 1:
        raise UserError(f"{text!r}: sizes must be positive integers; e.g. 10,100,1000")
    return values


def _cmd_costs(args) -> int:
    sizes = _ints(args.sizes) if args.sizes else costs.BIN_SIZES
    batches = _ints(args.batches) if args.batches else costs.BATCH_SIZES
    likelihoods = tuple(args.likelihood) if args.likelihood is not None else costs.LIKELIHOODS
    interp_bins = _ints(args.interpolator_bins) if args.interpolator_bins else costs.INTERP_BINS
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise UserError(f"{out.parent} does not exist; create it or choose another --out")
    try:
        result = costs.table(tuple(args.backend or costs.BACKENDS), tuple(args.precision or costs.PRECISIONS), sizes, batches, likelihoods,
                       interp_bins)
    except RuntimeError as exc:
        raise UserError(f"{exc}; run `python -c 'from pyhf_bench.asvtools.costs import measure; measure(...)'` to see why") from None
    text = json.dumps(result, indent=1)
    if out is not None:
        with atomic_file(out) as fh:
            fh.write(text + "\n")
        print(f"{len(result['rows'])} rows -> {out}")
    else:
        print(text)
    return 0


def add_costs_parser(sub) -> None:
    p = sub.add_parser("costs", help="flops, bytes and kernels of each benchmarked step, from the compilers")
    p.add_argument("--out", help="write the JSON table here (atomically); default: print it")
    p.add_argument("--backend", action="append", choices=costs.BACKENDS, help="repeatable (default: both)")
    p.add_argument("--precision", action="append", choices=costs.PRECISIONS, help="repeatable (default: both)")
    p.add_argument("--sizes", help=f"synthetic bin counts, comma-separated (default: {','.join(map(str, costs.BIN_SIZES))})")
    p.add_argument("--batches", help=f"batch sizes (default: {','.join(map(str, costs.BATCH_SIZES))})")
    p.add_argument("--likelihood", action="append", help="published likelihood key, repeatable (default: the quick ones)")
    p.add_argument("--interpolator-bins", help=f"bins of the interpolator rows (default: {','.join(map(str, costs.INTERP_BINS))})")
    p.set_defaults(func=_cmd_costs)
