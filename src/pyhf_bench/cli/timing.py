"""The timing commands: ``review``, ``review-proof``, ``noise``, ``instructions`` and
``instructions-proof`` (argparse and printing; the work is in asvtools.review,
asvtools.instructions, asvtools.instruction_proof and reporting.noise)."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.asvtools import instruction_proof, instructions, review, review_proof, selection
from pyhf_bench.core import tiers
from pyhf_bench.core.files import atomic_file
from pyhf_bench.reporting import noise
from pyhf_bench.asvtools.envinfo import machine_description
from pyhf_bench.asvtools.runner import config_for_clone, era_environment


def _write_json(path: str, data: dict) -> None:
    with atomic_file(Path(path)) as fh:
        fh.write(json.dumps(data, indent=2) + "\n")


def _read_json(path: str, writer: str) -> dict:
    """A committed result file for ``--markdown`` (*writer*: the command that writes it)."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{file} not found; write it with `pyhf-bench {writer} --json {file}`")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{file} is not JSON ({exc}); write it with `pyhf-bench {writer} --json {file}`") from None


# ---- review / review-proof -------------------------------------------------------------------------------

def _checked_options(args) -> Path:
    """The options `review` and `review-proof` share, checked; returns the asv config's path."""
    if args.factor <= 1:
        raise UserError(f"--factor {args.factor}: give a factor above 1 (e.g. {review.DEFAULT_FACTOR})")
    config = Path(args.config).resolve()
    if not config.is_file():
        raise UserError(f"{config} not found; run from the pyhf-bench checkout or pass --config")
    return config


def _slowdowns(text: str | None) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        factors = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--slowdowns {text!r}: give comma-separated factors, e.g. 1.02,1.05,1.1,1.2,1.5") from None
    for f in factors:
        instruction_proof.extra_per_hundred(f)  # checks the form 1 + m/100
    return factors


def _proof_cmd(args) -> int:
    if args.markdown:
        print(review_proof.proof_markdown(_read_json(args.markdown, "review-proof"), args.markdown), end="")
        return 0
    if args.repeats < 1:
        raise UserError(f"--repeats {args.repeats}: give at least 1")
    config = _checked_options(args)
    slowdowns = _slowdowns(args.slowdowns)
    if args.work:
        work = Path(args.work).resolve()
        work.mkdir(parents=True, exist_ok=True)
        cleanup = False
    else:
        work = Path(tempfile.mkdtemp(prefix="pyhf-bench-review-proof-"))
        cleanup = not args.keep
    try:
        summary = review_proof.prove(config, work, args.repeats, args.factor, args.confirm_rounds,
                                     slowdowns=slowdowns, cpu_affinity=args.cpu_affinity, where=args.where,
                                     resume=_read_json(args.resume, "review-proof") if args.resume else None,
                                     log=lambda m: print(m, file=sys.stderr, flush=True),
                                     partial=(lambda data: _write_json(args.json, data)) if args.json else None)
    finally:
        if cleanup:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        _write_json(args.json, summary)
    print(json.dumps(summary, indent=2))
    print(f"review proof, factor {args.factor}, {summary['repeats']} repeat(s): "
          f"{summary['false_negatives']} false negative(s) (slowed commit not flagged), "
          f"{summary['false_positives']} false positive(s) (no-op commit flagged)", file=sys.stderr)
    return review_proof.proof_exit_code(summary)


def _review_cmd(args) -> int:
    config = _checked_options(args)
    if args.repo:  # a local pyhf clone, read through the same bare mirror as `run --repo`
        config, _ = config_for_clone(config, Path(args.repo))
    if args.instruction_factor <= 1:
        raise UserError(f"--instruction-factor {args.instruction_factor}: give a factor above 1 "
                        f"(e.g. {instructions.DEFAULT_INSTRUCTION_FACTOR})")
    benchmarks = selection.for_asv(config, tiers.tier(), args.bench)  # the quick tier: only what runs
    verdict = review.review_commits(config, era_environment(config, args.era), args.base, args.head, args.factor,
                                    args.confirm_rounds, machine=args.machine, benchmarks=benchmarks,
                                    echo=lambda text: print(text, flush=True),
                                    instruction_factor=args.instruction_factor, cpu_affinity=args.cpu_affinity)
    if verdict.exit_code == 2:
        raise UserError(f"could not measure: {verdict.reason}; fix that and rerun (asv's full output is above)")
    gates = (f"instruction counts at {args.instruction_factor}x, wall time at {args.factor}x "
             f"(confirmed with {args.confirm_rounds} rounds)")
    lines = [review.summary_table(verdict), ""]
    if verdict.exit_code == 0:
        lines.append(f"no regression ({gates})" + (
            f"; the first pass flagged {len(verdict.flagged_first)}, not confirmed: "
            + ", ".join(verdict.flagged_first) if verdict.flagged_first else ""))
    else:
        lines += [f"REGRESSION (instruction count > {args.instruction_factor}x): {name}" for name in verdict.instructions]
        lines += [f"REGRESSION (wall time, confirmed, > {args.factor}x): {name}" for name in verdict.confirmed]
        lines += [f"REGRESSION (newly failing): {name}" for name in verdict.failing]
    text = "\n".join(lines)
    print(text)
    if args.summary:
        with atomic_file(Path(args.summary)) as fh:
            fh.write(text + "\n")
    return verdict.exit_code


def _add_review_options(p) -> None:
    p.add_argument("--factor", type=float, default=review.DEFAULT_FACTOR,
                   help=f"asv continuous --factor (default {review.DEFAULT_FACTOR}, as in the workflow)")
    p.add_argument("--confirm-rounds", type=int, default=review.DEFAULT_CONFIRM_ROUNDS,
                   help="interleaved rounds of the pass that re-measures what the first pass flagged "
                   f"(default {review.DEFAULT_CONFIRM_ROUNDS})")
    p.add_argument("--config", default="asv.conf.json", help="the project's asv config (default: asv.conf.json)")
    p.add_argument("--instruction-factor", type=float, default=instructions.DEFAULT_INSTRUCTION_FACTOR,
                   help="the factor of the instruction-count gate (the instruction_counts benchmarks; "
                   f"default {instructions.DEFAULT_INSTRUCTION_FACTOR})")
    p.add_argument("--cpu-affinity", metavar="CPUS", default=None,
                   help="asv's --cpu-affinity for the benchmark processes (e.g. 0: one core no other job uses; "
                   "docs/review.md, noise study); default: not set")


def _add_review_parsers(sub) -> None:
    p = sub.add_parser(
        "review",
        help="the pull-request regression check: asv continuous, then a confirmation pass on what it flagged",
        description="Run `asv continuous --factor F --interleave-rounds BASE HEAD` in an era's environment; if it "
        "marks wall-time benchmarks slower, re-measure just those with more interleaved rounds; instruction "
        "counts (instruction_counts benchmarks) are judged at --instruction-factor. Exit 1 for an instruction "
        "count above its factor, a slowdown both passes flag or a newly failing benchmark; 2 if nothing could "
        "be measured (asv failed, no network, empty table); else 0.",
    )
    p.add_argument("base", help="the base commit (e.g. the pull request's merge base)")
    p.add_argument("head", help="the commit under review")
    p.add_argument("--era", default="modern", help="the environment era to run in (default: modern)")
    p.add_argument("--repo", metavar="PATH", help="a local pyhf clone holding BASE and HEAD (default: the repo "
                   "of --config)")
    p.add_argument("-b", "--bench", action="append", default=None, metavar="REGEX",
                   help="only benchmarks matching REGEX (as asv's -b; repeatable)")
    p.add_argument("--machine", default=None, help="asv machine name (default: asv's own)")
    p.add_argument("--summary", metavar="FILE", default=None,
                   help="also write the table (time and instruction ratios) and the verdict to FILE (Markdown)")
    _add_review_options(p)
    p.set_defaults(func=_review_cmd)

    p = sub.add_parser(
        "review-proof",
        help="prove the PR regression check: a slowed pyhf commit is flagged, a no-op is not",
        description="Build an offline pyhf history with a slowed-logpdf branch and a no-op branch, run the "
        "check of `pyhf-bench review` against each N times in a real virtualenv, and count false "
        "negatives and false positives. Exit 1 if any trial was misclassified.",
    )
    p.add_argument("--repeats", type=int, default=1, help="trials per branch (default 1)")
    p.add_argument("--slowdowns", default=None, metavar="F,F,...",
                   help="trial one branch per factor whose Model.logpdf does F times the work (e.g. "
                   "1.02,1.05,1.1,1.2,1.5; the instruction proof's injection) and the no-op, instead of the 3x branch; "
                   "exit 1 if the no-op is flagged or a slowdown at or above --factor is missed")
    _add_review_options(p)
    p.add_argument("--work", metavar="DIR", default=None,
                   help="keep everything here (history, virtualenv, results, logs); reused by later runs")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the summary to FILE")
    p.add_argument("--resume", metavar="FILE", default=None,
                   help="keep the complete repeats of an earlier result FILE of the same options and go on "
                   "to --repeats in all")
    p.add_argument("--where", metavar="TEXT", default=None,
                   help="the conditions of the measurement in words, recorded in the result (e.g. which "
                   "core, what else ran)")
    p.add_argument("--markdown", metavar="FILE", default=None,
                   help="print the docs table from a result FILE (runs nothing)")
    p.set_defaults(func=_proof_cmd)


# ---- noise -----------------------------------------------------------------------------------------------

def _noise_cmd(args) -> int:
    if args.markdown:
        print(noise.study_markdown(_read_json(args.markdown, "noise"), args.markdown), end="")
        return 0
    if args.a is None or args.b is None:
        raise UserError("give two result sets, RESULTS_A and RESULTS_B (or --markdown FILE)")
    result = noise.study(noise.load_side(args.a), noise.load_side(args.b))
    result["a"], result["b"] = str(args.a), str(args.b)
    print(noise.format_study(result))
    if args.json:
        _write_json(args.json, result)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _add_noise_parser(sub) -> None:
    p = sub.add_parser(
        "noise",
        help="ratios between two runs of the same benchmarks (the noise floor for --factor)",
        description="Compare two asv runs of the same code (result files or directories of them): "
        "per-benchmark ratios B/A, their median and worst |ratio - 1|.",
    )
    p.add_argument("a", metavar="RESULTS_A", nargs="?", help="asv result file or directory (first run)")
    p.add_argument("b", metavar="RESULTS_B", nargs="?", help="asv result file or directory (second run)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write every ratio and the summary to FILE")
    p.add_argument("--markdown", metavar="FILE", default=None,
                   help="print the docs table of a noise result or noise-study FILE (runs nothing)")
    p.set_defaults(func=_noise_cmd)


# ---- instructions / instructions-proof -------------------------------------------------------------------

def _instructions_proof_cmd(args) -> int:
    if args.markdown:
        print(instruction_proof.markdown(_read_json(args.markdown, "instructions-proof"), args.markdown), end="")
        return 0

    factor = args.factor or instructions.DEFAULT_INSTRUCTION_FACTOR
    if args.repeats < 1:
        raise UserError(f"--repeats {args.repeats}: give at least 1")
    benchmark_dir = Path(args.benchmarks).resolve()
    module = instruction_proof.BENCHMARK[0]
    if not (benchmark_dir / f"{module}.py").is_file():
        raise UserError(f"{benchmark_dir} has no {module}.py; run from the checkout or pass --benchmarks")
    work = Path(tempfile.mkdtemp(prefix="pyhf-bench-instruction-proof-"))
    try:
        summary = instruction_proof.run(args.repeats, factor, work, benchmark_dir, args.workers,
                                        log=lambda m: print(m, file=sys.stderr))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary["machine"] = machine_description()
    if args.json:
        _write_json(args.json, summary)
    print(instruction_proof.markdown(summary, args.json or "this run"), end="")
    missed = sum(r["repeats"] - r["flagged"] for r in summary["rows"] if r["injected"] is not None)
    false_alarms = sum(r["flagged"] for r in summary["rows"] if r["injected"] is None)
    return 0 if missed == 0 and false_alarms == 0 else 1


def _instructions_cmd(args) -> int:
    if args.markdown:
        print(instructions.survey_markdown(_read_json(args.markdown, "instructions"), args.markdown), end="")
        return 0
    if args.repeats < 1:
        raise UserError(f"--repeats {args.repeats}: give at least 1")
    benchmark_dir = Path(args.benchmarks).resolve()
    if not (benchmark_dir / f"{instructions.BENCHMARK_MODULE}.py").is_file():
        raise UserError(f"{benchmark_dir} has no {instructions.BENCHMARK_MODULE}.py; run from the checkout or pass "
                        "--benchmarks")
    if instructions.valgrind_path() is None:
        raise UserError("valgrind is not installed; install it (Debian: apt-get install valgrind)")

    data = instructions.survey(benchmark_dir, args.repeats, args.bench, args.full,
                               log=lambda m: print(m, file=sys.stderr, flush=True))
    data["machine"] = machine_description()
    if args.json:
        _write_json(args.json, data)
    print(instructions.survey_markdown(data, args.json or "this run"), end="")
    return 0


def _add_instruction_parsers(sub) -> None:
    p = sub.add_parser(
        "instructions-proof",
        help="prove the instruction-count gate: injected 1.02-1.5x slowdowns of pyhf's logpdf and a no-op",
        description="Count the instructions of the synthetic 100-bin numpy Logpdf benchmark with pyhf's "
        "Model.logpdf doing 2-50 %% more real work (and a comment-only no-op), N processes each, and apply the "
        "review's instruction gate. Exit 1 if any slowdown was missed or any no-op flagged.",
    )
    p.add_argument("--repeats", type=int, default=10, help="independent counts of each change (default 10)")
    p.add_argument("--factor", type=float, default=None, help="the gate's factor (default: review's)")
    p.add_argument("--workers", type=int, default=1, help="counts run at once (default 1)")
    p.add_argument("--benchmarks", default="benchmarks", help="the benchmark directory (default: benchmarks)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the result to FILE")
    p.add_argument("--markdown", metavar="FILE", default=None,
                   help="print the docs table from a result FILE (runs nothing)")
    p.set_defaults(func=_instructions_proof_cmd)

    p = sub.add_parser(
        "instructions",
        help="count the instructions of the quick tier's instruction_counts benchmarks (valgrind), N times each",
        description="Run each quick-tier instruction_counts benchmark (the timed benchmark's setup and method "
        "under callgrind) N times in separate processes: instructions per call and their spread.",
    )
    p.add_argument("--repeats", type=int, default=3, help="counts per combination (default 3)")
    p.add_argument("-b", "--bench", action="append", default=None, metavar="REGEX",
                   help="only combinations whose asv name matches REGEX (repeatable)")
    p.add_argument("--full", action="store_true", help="every combination (the full tier), not only the quick tier's")
    p.add_argument("--benchmarks", default="benchmarks", help="the benchmark directory (default: benchmarks)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the counts to FILE")
    p.add_argument("--markdown", metavar="FILE", default=None, help="print the docs table from FILE (runs nothing)")
    p.set_defaults(func=_instructions_cmd)


def add_parsers(sub) -> None:
    """Register the timing commands (in the order `pyhf-bench --help` has listed them)."""
    _add_review_parsers(sub)
    _add_noise_parser(sub)
    _add_instruction_parsers(sub)
