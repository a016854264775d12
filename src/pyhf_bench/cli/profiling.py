"""``pyhf-bench profile``: cProfile one inference step. Argument parsing and printing only.

The work is :func:`pyhf_bench.reporting.profiling.profile_step`'s.
"""

from __future__ import annotations

from pathlib import Path

from pyhf_bench.core import support
from pyhf_bench.reporting.profiling import MIN_PROFILED_S, STEPS, profile_step


def _cmd_profile(args) -> int:
    summary = profile_step(args.name, args.backend, args.device, args.precision, args.step, Path(args.out),
                           optimizer=args.optimizer, patch=args.patch, calls=args.calls)
    print(f"{summary['label']}: {args.step} with {args.backend}/{args.device}/{args.precision}: "
          f"{summary['unprofiled_wall_s'] * 1e3:.3f} ms ({summary['profiled_wall_s'] * 1e3:.3f} ms under cProfile)")
    for row in summary["top_cumulative"][:10]:
        print(f"  {row['cumtime_s'] * 1e3:9.3f} ms  {row['ncalls_per_call']:>8}  {row['function']}")
    print(f"wrote {args.out}/profile.txt, profile.pstats, profile.json" +
          (", flamegraph.svg" if summary["flamegraph"] == "flamegraph.svg" else f" (flame graph {summary['flamegraph']})"))
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "profile",
        help="cProfile one inference step (after a warm-up call) with a flame graph",
        description="Run one inference step on a model as the benchmarks do, warm it up, then profile the "
        "next call with cProfile: writes profile.txt, profile.pstats, flamegraph.svg and profile.json to --out.",
    )
    p.add_argument("name", metavar="NAME", help="synthetic:N (N bins) or a registered likelihood name[/region]")
    p.add_argument("--backend", required=True, help=f"one of: {', '.join(support.BACKENDS)}")
    p.add_argument("--device", default="cpu", help="cpu (default), gpu or tpu")
    p.add_argument("--precision", default="64b", help="64b (default) or 32b")
    p.add_argument("--optimizer", default="scipy", help="scipy (default) or minuit, for fit-based steps")
    p.add_argument("--step", default="logpdf", help=f"one of: {', '.join(STEPS)} (default logpdf)")
    p.add_argument("--patch", default=None, help="signal patch of a published likelihood (default: its default)")
    p.add_argument("--calls", type=int, default=None,
                   help=f"profile this many calls after the warm-up (default: enough for {MIN_PROFILED_S} s)")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the profile")
    p.set_defaults(func=_cmd_profile)
