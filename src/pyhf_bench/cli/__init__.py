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
from pyhf_bench.cli import accelerators as accelerator_commands
from pyhf_bench.cli import devices as device_commands
from pyhf_bench.cli import docs as docs_commands
from pyhf_bench.cli import history as history_commands
from pyhf_bench.cli import likelihoods as likelihood_commands
from pyhf_bench.cli import profiling as profile_commands
from pyhf_bench.cli import report as report_commands
from pyhf_bench.cli import root as root_commands
from pyhf_bench.cli import run as run_commands
from pyhf_bench.cli import scan as scan_commands
from pyhf_bench.cli import tiers as tier_commands
from pyhf_bench.cli import timing as timing_commands


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyhf-bench",
        description="asv benchmarks of pyhf's computational backends.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    history_commands.add_parsers(sub)
    tier_commands.add_parsers(sub)
    device_commands.add_parsers(sub)
    run_commands.add_parsers(sub)
    likelihood_commands.add_parsers(sub)  # references, likelihoods, fetch, verify, hypotest, fit
    report_commands.add_parsers(sub)
    timing_commands.add_parsers(sub)  # review, review-proof, noise, instructions-proof, instructions
    profile_commands.add_parsers(sub)
    root_commands.add_parsers(sub)
    scan_commands.add_parsers(sub)
    accelerator_commands.add_parsers(sub)
    docs_commands.add_parsers(sub)
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

