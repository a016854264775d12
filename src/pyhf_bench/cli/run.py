"""The commands that benchmark pyhf commits and publish the dashboard: ``run``, ``publish``, ``dashboard-offline``.

Argument parsing and printing only; the work is :mod:`pyhf_bench.asvtools.runner`'s and
:mod:`pyhf_bench.asvtools.dashboard`'s.
"""

from __future__ import annotations

from pathlib import Path

from pyhf_bench.asvtools import dashboard
from pyhf_bench.asvtools import runner
from pyhf_bench.asvtools.runner import LATEST, TAGS
from pyhf_bench.core import support


def _cmd_run(args) -> int:
    return runner.run(Path(args.config), args.revisions, repo=args.repo or args.offline, eras=args.era,
                      tier=args.tier, skip_existing=args.skip_existing, then_publish=args.publish,
                      dry_run=args.dry_run, verbose=args.verbose, asv_args=list(getattr(args, "passthrough", [])))


def _cmd_publish(args) -> int:
    return runner.publish_dashboard(Path(args.config), repo=args.repo, verbose=args.verbose)


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


def add_run_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="asv run over pyhf commits, each in its environment era",
        description="Benchmark pyhf commits with asv, each in the environment era that runs it "
        "(eras.json). Arguments after -- go to `asv run` (e.g. -- -b Logpdf).",
    )
    p.add_argument("revisions", nargs="*", metavar="REVISION",
                   help=f"what to benchmark: {LATEST} (default: the newest release tag), {TAGS} (every release "
                   "tag), a range A..B, a commit or tag, HASHFILE:PATH; several may be given")
    p.add_argument("--repo", metavar="PATH", help="a local pyhf git repository: a clone of pyhf, or the history "
                   "`pyhf-bench history build PATH` makes (default: clone the repo of asv.conf.json)")
    p.add_argument("--offline", metavar="PATH", help="the same as --repo PATH")
    p.add_argument("--config", default="asv.conf.json", help="asv config (default: asv.conf.json)")
    p.add_argument("--era", action="append", help="run only this era (repeatable)")
    p.add_argument("--tier", choices=support.TIERS, help=f"benchmark tier (sets {support.TIER_ENV}; default quick)")
    p.add_argument("--skip-existing", action="store_true", help="skip commits that already have results (asv's own)")
    p.add_argument("--publish", action="store_true", help="then `asv publish` and vendor its libraries: an offline "
                   "dashboard in html/")
    p.add_argument("--dry-run", action="store_true", help="print the plan only")
    p.add_argument("--verbose", action="store_true", help="print asv's own output and command lines")
    # Arguments after `--` are split off by pyhf_bench.cli.main into args.passthrough.
    p.set_defaults(func=_cmd_run)


def add_publish_parser(sub) -> None:
    p = sub.add_parser(
        "publish",
        help="asv publish of the results, with the dashboard's libraries vendored (works offline)",
        description="Write asv's dashboard of results/ to html/ and vendor its JavaScript from npm, so it "
        "works without CDN access (what `run --publish` does after running, and the Pages workflow runs).",
    )
    p.add_argument("--repo", metavar="PATH", help="the pyhf repository the results are of (a clone, or the "
                   "offline history): asv reads commit dates and tags there (default: asv.conf.json's repo)")
    p.add_argument("--config", default="asv.conf.json", help="asv config (default: asv.conf.json)")
    p.add_argument("--verbose", action="store_true", help="print asv's own output")
    p.set_defaults(func=_cmd_publish)


def add_parsers(sub) -> None:
    add_run_parser(sub)
    add_publish_parser(sub)
    add_dashboard_parser(sub)
