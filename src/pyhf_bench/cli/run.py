"""The commands that benchmark pyhf commits and publish the dashboard: ``run``, ``publish``, ``dashboard-offline``.

Argument parsing and printing only; the work is :mod:`pyhf_bench.asvtools.runner`'s and
:mod:`pyhf_bench.asvtools.dashboard`'s.
"""

from __future__ import annotations

from pathlib import Path

from pyhf_bench.asvtools import dashboard


def _cmd_dashboard_offline(args) -> int:
    done = dashboard.vendor(args.html_dir, Path(args.cache) if args.cache else None)
    if not done:
        print(f"{args.html_dir}/index.html loads nothing from a CDN (already vendored)")
    for url, local in done.items():
        print(f"{local}  <-  {url}")
    return 0


def add_dashboard_parser(sub) -> None:
    p = sub.add_parser(
        "dashboard-offline",
        help="make the asv dashboard in HTML_DIR work without CDN access (libraries from npm)",
        description="asv's dashboard loads jQuery, flot and bootstrap from CDNs. Fetch the same libraries "
        "with `npm pack`, copy them into HTML_DIR/vendor/ and point index.html at them.",
    )
    p.add_argument("html_dir", metavar="HTML_DIR", help="asv's html_dir after `asv publish` (e.g. html/)")
    p.add_argument("--cache", metavar="DIR", default=None, help="npm tarball cache (default ~/.cache/pyhf-bench/npm)")
    p.set_defaults(func=_cmd_dashboard_offline)


def add_parsers(sub) -> None:
    add_dashboard_parser(sub)
