"""`pyhf-bench docs-table` and `docs-tables`: the documentation's generated tables (argparse and printing only)."""

from __future__ import annotations

import sys
from pathlib import Path

from pyhf_bench.reporting import docpages


def _cmd_table(args) -> int:
    print(docpages.render(args.kind, args.file, Path(args.root)), end="")
    return 0


def _cmd_tables(args) -> int:
    root = Path(args.root)
    stale = docpages.refresh(root, check=args.check)
    for page in stale:
        verb = "is stale" if args.check else "rewritten"
        print(f"{page.relative_to(root)}: {verb}", file=sys.stderr if args.check else sys.stdout)
    if args.check and stale:
        print("run `pyhf-bench docs-tables` to regenerate them from their data files", file=sys.stderr)
        return 1
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("docs-table", help="print one generated docs table from its committed data file",
                       description=f"Print the table a page's `<!-- pyhf-bench docs-table KIND FILE -->` block holds. "
                                   f"Kinds: {', '.join(docpages.RENDERERS)}.")
    p.add_argument("kind", choices=sorted(docpages.RENDERERS))
    p.add_argument("file", help="the data file, relative to --root (e.g. docs/grid-sbottom-RegionA-epyc-2core.json)")
    p.add_argument("--root", default=".", help="the checkout (default: the current directory)")
    p.set_defaults(func=_cmd_table)

    p = sub.add_parser("docs-tables", help="regenerate every generated table of README.md and docs/*.md",
                       description="Rewrite every `<!-- pyhf-bench ... -->` ... `<!-- end -->` block of README.md and "
                                   "docs/*.md from the data file or command it names.")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 naming the pages that are stale")
    p.add_argument("--root", default=".", help="the checkout (default: the current directory)")
    p.set_defaults(func=_cmd_tables)
