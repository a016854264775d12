"""``pyhf-bench report``: argument parsing and printing (the report itself is :mod:`pyhf_bench.reporting.report`)."""

from __future__ import annotations

import json
from pathlib import Path

from pyhf_bench import UserError


def _parse_env_info(items: list[str]) -> dict[str, dict]:
    out = {}
    for item in items or []:
        machine, sep, file = item.partition("=")
        if not sep or not machine or not file:
            raise UserError(f"bad --env-info {item!r}; give MACHINE=FILE with FILE from `pyhf-bench env --json`")
        try:
            out[machine] = json.loads(Path(file).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"--env-info {item}: cannot read {file} as JSON ({exc}); write it with "
                            f"`pyhf-bench env --json > {file}`") from None
    return out


def _cmd_report(args) -> int:
    from pyhf_bench.reporting import report  # matplotlib and asv load with it: only for this command

    env_info = _parse_env_info(args.env_info)
    command = "pyhf-bench report " + " ".join([args.results_dir, "--out", args.out]
                                               + (["--profiles", args.profiles] if args.profiles else []))
    wrong: list[str] = []
    path = report.build_report(args.results_dir, args.out, args.profiles, env_info, command=command, wrong=wrong)
    print(path)
    for line in wrong:
        print(line)
    # An accuracy value beyond tolerance is a finding (pyhf_bench.core.verdict): exit 1.
    return 1 if wrong else 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "report",
        help="plots and a Markdown case study from asv result files",
        description="Read asv result files (every machine under RESULTS_DIR) and write comparison, scaling, "
        "history and accuracy plots (PNG and SVG), measurements.csv and case-study.md into --out.",
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="asv's results directory (e.g. results/)")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the report")
    p.add_argument("--profiles", metavar="DIR", default=None,
                   help="profiles written by `pyhf-bench profile` (default: DIR/profiles under --out)")
    p.add_argument("--env-info", metavar="MACHINE=FILE", action="append", default=[],
                   help="`pyhf-bench env --json` output of an asv machine (backend versions, devices); repeatable")
    p.set_defaults(func=_cmd_report)
