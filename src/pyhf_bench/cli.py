"""The ``pyhf-bench`` command line.

Every subcommand reports bad input as a single ``pyhf-bench: error: ...`` line
and exit status 2; tracebacks are kept for real bugs.
"""

from __future__ import annotations

import argparse
import sys

from . import UserError


def _build_parser() -> argparse.ArgumentParser:
    from . import (
        dashboard,
        envinfo,
        gpucheck,
        history,
        instruction_proof,
        instructions,
        likelihoods,
        noise,
        profiling,
        report,
        review,
        roobridge,
        runner,
        scan,
        selection,
        tiertime,
    )

    parser = argparse.ArgumentParser(
        prog="pyhf-bench",
        description="asv benchmarks of pyhf's computational backends.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    history.add_parser(sub)
    envinfo.add_parser(sub)
    runner.add_parser(sub)
    selection.add_parser(sub)
    likelihoods.add_parser(sub)
    gpucheck.add_parser(sub)
    report.add_parser(sub)
    review.add_parser(sub)
    profiling.add_parser(sub)
    noise.add_parser(sub)
    dashboard.add_parser(sub)
    roobridge.add_parser(sub)
    scan.add_parser(sub)
    tiertime.add_parser(sub)
    instruction_proof.add_parser(sub)
    instructions.add_parser(sub)
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
        # One line, naming the problem and the fix.
        print(f"pyhf-bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
