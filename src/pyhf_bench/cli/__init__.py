"""The ``pyhf-bench`` command line.

Exit status, the same for every subcommand (decided in :mod:`pyhf_bench.core.verdict`,
described in ``docs/exit-codes.md``):

* 0: ok (every checked result within tolerance);
* 1: a finding: a ``WRONG: <quantity> = <value>, reference <ref> (<kind>): <cause>``
  line (a result off its reference, a fit at a bound or not converged, a
  degenerate CLs band, a regression, a failed comparison);
* 2: cannot run: bad input or infrastructure, as one line
  ``pyhf-bench: error: <problem>; <fix>``;
* 130: interrupted (Ctrl-C), one line.

Tracebacks are kept for real bugs.
"""

from __future__ import annotations

import argparse
import sys

from pyhf_bench import UserError


def _build_parser() -> argparse.ArgumentParser:
    from pyhf_bench.reporting import accelerators
    from pyhf_bench.asvtools import costs
    from pyhf_bench.asvtools import dashboard
    from pyhf_bench.asvtools import envinfo
    from pyhf_bench.asvtools import gpucheck
    from pyhf_bench.asvtools import history
    from pyhf_bench import likelihoods
    from pyhf_bench.reporting import profiling
    from pyhf_bench.reporting import references
    from pyhf_bench.reporting import report
    from pyhf_bench import root as roobridge
    from pyhf_bench.asvtools import runner
    from pyhf_bench import scan
    from pyhf_bench.asvtools import selection
    from pyhf_bench.asvtools import tiertime
    from pyhf_bench.cli import timing

    parser = argparse.ArgumentParser(
        prog="pyhf-bench",
        description="asv benchmarks of pyhf's computational backends.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    history.add_parser(sub)
    envinfo.add_parser(sub)
    runner.add_parser(sub)
    runner.add_publish_parser(sub)
    selection.add_parser(sub)
    references.add_parser(sub)
    likelihoods.add_parser(sub)
    gpucheck.add_parser(sub)
    report.add_parser(sub)
    timing.add_parsers(sub)  # review, review-proof, noise, instructions-proof, instructions
    profiling.add_parser(sub)
    dashboard.add_parser(sub)
    roobridge.add_parser(sub)
    scan.add_parser(sub)
    tiertime.add_parser(sub)
    costs.add_parser(sub)
    accelerators.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` is passed through untouched (e.g. to `asv run`).
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    args.passthrough = passthrough
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        # One line, naming the problem and the fix (messages that quote a library may hold newlines).
        print(f"pyhf-bench: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Files are written atomically, so an interrupt leaves no half-written result behind.
        print(f"pyhf-bench: interrupted: `{args.command}` stopped by Ctrl-C; nothing half-written was kept", file=sys.stderr)
        return 130

