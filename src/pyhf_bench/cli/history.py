"""Parse ``pyhf-bench history``'s options and print: the work is in :mod:`pyhf_bench.asvtools.history`."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from pyhf_bench import UserError
from pyhf_bench.asvtools.history import DEFAULT_VERSIONS, add_branch_commit, build_history

def _parse_replace(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        repo_p, sep, local = item.partition("=")
        if not sep or not repo_p.strip() or not local.strip():
            raise UserError(f"bad --replace {item!r}; give it as REPO_PATH=LOCAL_FILE, like src/pyhf/pdf.py=./pdf.py")
        key = repo_p.strip()
        if key in out:
            raise UserError(f"--replace {key} is given twice; give each path once")
        out[key] = local.strip()
    return out


def _cmd_build(args: argparse.Namespace) -> int:
    branch_only = [
        name
        for name, value in (("--base", args.base), ("--replace", args.replace), ("--delete", args.delete),
                            ("--message", args.message))
        if value
    ]
    if args.branch is None and branch_only:
        verb = "needs" if len(branch_only) == 1 else "need"
        raise UserError(f"{', '.join(branch_only)} {verb} --branch NAME; add it, or drop them")
    if args.branch is not None and not (args.replace or args.delete):
        raise UserError(f"--branch {args.branch} needs changes; give --replace PATH=FILE and/or --delete PATH")
    replace = _parse_replace(args.replace or [])
    build_history(args.path, versions=args.versions, sdist_dir=args.sdist_dir)
    if args.branch is not None:
        sha = add_branch_commit(
            args.path, args.branch, replace=replace, delete=args.delete or [], base=args.base,
            message=args.message, log=lambda m: print(m, file=sys.stderr),
        )
        print(sha)
    return 0


def add_parsers(sub) -> argparse.ArgumentParser:
    """Add ``history`` (with ``build``) to the ``pyhf-bench`` subcommands."""
    hist = sub.add_parser(
        "history",
        help="build an offline git history of pyhf from its PyPI sdists (for asv)",
        description="An offline git history of pyhf made from its PyPI source distributions, "
        "for asv to clone instead of GitHub.",
    )
    hsub = hist.add_subparsers(dest="history_command", required=True, metavar="ACTION")
    b = hsub.add_parser(
        "build",
        help="build or extend the history at PATH (optionally add a branch commit)",
        description="Build or extend a git repository at PATH with one commit per pyhf release "
        "(tree = the PyPI sdist, tag vX.Y.Z, dated at upload) on branch main. With --branch, "
        "also add a commit changing pyhf files on that branch and print its sha.",
    )
    b.add_argument("path", metavar="PATH", help="the repository to build or extend (empty or new directory, "
                   "or a history built by pyhf-bench)")
    b.add_argument("--versions", metavar="V,V,...", default=None,
                   help=f"pyhf releases to hold (default: {','.join(DEFAULT_VERSIONS)})")
    b.add_argument("--sdist-dir", metavar="DIR", default=None,
                   help="download cache for the sdists (default: $XDG_CACHE_HOME/pyhf-bench/sdists "
                   "or ~/.cache/pyhf-bench/sdists)")
    b.add_argument("--branch", metavar="NAME", default=None, help="add a commit on this branch")
    b.add_argument("--base", metavar="REF", default=None,
                   help="where a new branch starts (default: the newest release tag)")
    b.add_argument("--replace", metavar="REPO_PATH=LOCAL_FILE", action="append", default=[],
                   help="give REPO_PATH (relative to pyhf's root) LOCAL_FILE's contents; repeatable")
    b.add_argument("--delete", metavar="REPO_PATH", action="append", default=[],
                   help="delete REPO_PATH from the branch; repeatable")
    b.add_argument("--message", metavar="MSG", default=None, help="commit message for the branch commit")
    b.set_defaults(func=_cmd_build)
    return hist

