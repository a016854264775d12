"""``pyhf-bench review`` (the pull-request regression check) and ``review-proof`` (its proof).

The check is what ``.github/workflows/benchmarks.yml`` runs on a labelled pull
request (`review_commits`): ``asv continuous --factor F --interleave-rounds BASE
HEAD``, which exits 1 when a benchmark got slower by more than F (and asv's
statistics call the change significant); what it flags is then re-measured alone
with more interleaved rounds, and only a slowdown both passes flag fails the
check.  Instruction counts (``benchmarks/instruction_counts.py``, deterministic to a
fraction of a percent for numpy) are judged first, at ``--instruction-factor``, from
``asv compare`` of the same results, with no second pass (`decide`).  Nothing
measured (asv failed, no network, an empty table) is exit 2 with the reason.  ``review-proof`` builds an offline pyhf history with v0.7.6 and two
"pull request" branches on top of it:

``pr/slow-logpdf``
    ``src/pyhf/pdf.py`` where ``Model.logpdf`` evaluates the density three times
    and keeps the last value (as a refactoring that adds "check the result"
    passes might): real pyhf code doing real work (no sleep) on exactly the path
    ``model.logpdf`` takes.  Because *all* of the work is repeated, the size of
    the slowdown does not depend on the CPU (measured in-process here on the
    100-bin synthetic model with numpy: see the README).  It is this large on
    purpose: this machine's speed swings up to 2x over seconds, and asv compares
    medians, so same-code ratios reach 1.31 with Logpdf's 4 interleaved rounds
    (README, "Noise"), and a no-op reached 1.52 in one pass on CI's machine; a 1.33x
    slowdown (an earlier version of this branch) was flagged here but not on CI's machine.
``pr/noop-comment``
    the same file with one comment line added: no change in behaviour.

and runs the same check against each branch, N times,
in a real asv virtualenv (the modern era's numpy and scipy pins only; pyhf is
built from each commit), on one benchmark combination:
``synthetic_models.Logpdf.time_logpdf('numpy', 'cpu', '64b', 100)``.
The slow branch must be flagged (exit 1), the no-op must not (exit 0).
Every trial's exit code and measured ratio go to ``review-proof.json``; the
command exits 1 if any trial was misclassified.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.asvtools import history
from pyhf_bench.asvtools import selection
from pyhf_bench.core import tiers
from pyhf_bench.asvtools.envinfo import machine_description
from pyhf_bench.core.files import atomic_file
from pyhf_bench.asvtools.instructions import DEFAULT_INSTRUCTION_FACTOR

#: The factor of the pull-request check (workflow and this proof). Chosen from the
#: no-op ratios of this proof and the noise study: see the README, "Pull-request review".
DEFAULT_FACTOR = 1.5
#: Interleaved rounds of the confirmation pass (see `review_commits`; README, "Pull-request review").
DEFAULT_CONFIRM_ROUNDS = 16
BASE_VERSION = "0.7.6"
BASE_TAG = f"v{BASE_VERSION}"
SLOW_BRANCH = "pr/slow-logpdf"
NOOP_BRANCH = "pr/noop-comment"
PDF_PATH = "src/pyhf/pdf.py"
BENCHMARK = "synthetic_models.Logpdf.time_logpdf"
PARAMS = ("numpy", "cpu", "64b", 100)
#: asv matches a parameterised benchmark's regex against ``name(param, ...)``.
SELECTION = r"Logpdf\.time_logpdf\('numpy', 'cpu', '64b', 100\)"
MACHINE = "review-proof"

# The line of pyhf 0.7.6's Model.logpdf that evaluates the density, and what the slow branch puts before it.
_ANCHOR = """            result = self.make_pdf(pars).log_prob(data)
"""
_REDUNDANT = """            # pyhf-bench review proof: redundant evaluations. The density is computed
            # twice and the values thrown away, then computed again for the result.
            for _ in range(2):
                self.make_pdf(pars).log_prob(data)
"""
_NOOP_COMMENT = "# pyhf-bench review proof: a comment-only change (no behaviour change).\n"


@dataclass
class Trial:
    repeat: int
    branch: str
    expected_regression: bool
    exit_code: int
    flagged: bool  # the verdict: flagged by both passes
    flagged_first: bool  # flagged by the first pass (before confirmation)
    ratio: float | None  # head / base median time (> 1: slower)
    base_s: float | None
    head_s: float | None
    wall_s: float

    @property
    def correct(self) -> bool:
        return self.exit_code in (0, 1) and self.flagged == self.expected_regression


def slow_pdf_source(original: str) -> str:
    """pyhf 0.7.6's pdf.py with the redundant density evaluations (see the module docstring)."""
    if original.count(_ANCHOR) != 1:
        raise UserError(
            f"{PDF_PATH} of pyhf {BASE_VERSION} does not have the expected Model.logpdf code; "
            "the review proof is written against pyhf 0.7.6"
        )
    return original.replace(_ANCHOR, _REDUNDANT + _ANCHOR)


def noop_pdf_source(original: str) -> str:
    return _NOOP_COMMENT + original


def _git_show(repo: Path, rev: str, path: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True, text=True,
                          check=True).stdout


def slowdown_branch(factor: float) -> str:
    return f"{SLOW_BRANCH}-{factor}"


def prepare_history(work: Path, log=print, slowdowns: tuple[float, ...] = ()) -> Path:
    """The offline history (v0.7.6) with the slow and no-op branches; returns its path.

    *slowdowns*: also one branch per factor F (`slowdown_branch`) whose Model.logpdf does
    F times the work on average (`instruction_proof.slowed_source`: (F-1)*100 redundant
    density evaluations in every 100 consecutive calls), as the instruction proof injects."""
    from pyhf_bench.asvtools.instruction_proof import slowed_source

    repo = work / "pyhf"
    history.build_history(repo, versions=[BASE_VERSION], log=log)
    original = _git_show(repo, BASE_TAG, PDF_PATH)
    sources = work / "branch-sources"
    sources.mkdir(exist_ok=True)
    branches = [
        (SLOW_BRANCH, slow_pdf_source(original), "Evaluate the density three times in Model.logpdf (slower logpdf)"),
        (NOOP_BRANCH, noop_pdf_source(original), "Add a comment to pdf.py (no behaviour change)"),
    ]
    branches += [(slowdown_branch(f), slowed_source(original, f), f"Model.logpdf does {f}x the work (redundant evaluations)")
                 for f in slowdowns]
    for branch, text, message in branches:
        local = sources / (branch.replace("/", "_") + "_pdf.py")
        local.write_text(text)
        history.add_branch_commit(repo, branch, replace={PDF_PATH: local}, base=BASE_TAG, message=message, log=log)
    return repo


def write_config(project_config: Path, work: Path, repo: Path, name: str) -> Path:
    """The project's asv config with repo = the offline history, the modern era's numpy/scipy only,
    outputs under *work* (results per trial, one shared env dir so builds and installs are reused)."""
    from asv import util

    conf = util.load_json(str(project_config), api_version=1, js_comments=True)
    project = project_config.parent
    conf["version"] = 1  # load_json strips it
    conf["repo"] = str(repo)
    conf["branches"] = ["main"]
    conf["benchmark_dir"] = str(project / conf.get("benchmark_dir", "benchmarks"))
    conf["env_dir"] = str(work / "env")
    conf["results_dir"] = str(work / "results" / name)
    conf["html_dir"] = str(work / "html")
    conf["install_command"] = [c.replace("{conf_dir}", str(project)) for c in conf["install_command"]]
    modern = [e for e in conf["include"] if (e.get("env_nobuild") or {}).get("PYHF_BENCH_ERA") == "modern"]
    if len(modern) != 1:
        raise UserError(f"{project_config} has no single 'modern' era include entry; the review proof needs one")
    # numpy/scipy only: enough for the numpy backend the proof measures, and light to install.
    modern[0]["req"] = {k: v for k, v in modern[0]["req"].items() if k in ("numpy", "scipy")}
    conf["include"] = modern
    path = work / f"asv.{name}.conf.json"
    with atomic_file(path) as fh:
        json.dump(conf, fh, indent=2)
    return path


def _median(results_dir: Path, commit: str) -> float | None:
    """The stored median time of the proof's benchmark combination for *commit* (None if absent)."""
    import itertools

    from asv.results import iter_results

    for result in iter_results(str(results_dir)):
        if result.commit_hash != commit or BENCHMARK not in result.get_all_result_keys():
            continue
        params = result.get_result_params(BENCHMARK)
        values = result.get_result_value(BENCHMARK, params)
        for combo, value in zip(itertools.product(*params), values):
            if tuple(str(p).strip("'") for p in combo) == tuple(str(p) for p in PARAMS):
                return value if value is not None and value == value else None
    return None


def continuous_command(config: Path, env_name: str, factor: float, base: str, head: str,
                       benchmarks: list[str] | None = None, rounds: int | None = None,
                       machine: str | None = None) -> list[str]:
    """``asv continuous --factor F --interleave-rounds`` (plus -b/-a rounds/--machine when given)."""
    cmd = [sys.executable, "-m", "asv", "--config", str(config), "continuous", "--factor", str(factor),
           "--interleave-rounds", "-E", env_name, "--show-stderr"]
    for regex in benchmarks or ():
        cmd += ["-b", regex]
    if rounds:
        cmd += ["-a", f"rounds={rounds}"]
    if machine:
        cmd += ["--machine", machine]
    return cmd + [base, head]


def compare_command(config: Path, env_name: str, factor: float, base: str, head: str,
                    machine: str | None = None) -> list[str]:
    """``asv compare --factor F`` of the results the first pass stored: every row (not only the changed)."""
    cmd = [sys.executable, "-m", "asv", "--config", str(config), "compare", "--factor", str(factor),
           "--no-only-changed", "-E", env_name]
    if machine:
        cmd += ["--machine", machine]
    return cmd + [base, head]


#: A row of asv's comparison table (as `asv continuous` and `asv compare` print it, tabulate's
#: "github" format): mark, before, after, ratio, benchmark. The header and the rule do not match.
_ROW = re.compile(r"^\s*\|\s*([-+!x*]?)\s*\|([^|]*)\|([^|]*)\|\s*(~?[\d.]+|n/a)\s*\|\s*([^|]*?\S)\s*\|\s*$")
#: What asv prints for a value it has not got (skipped, or failed).
_NOT_MEASURED = ("n/a", "failed", "nan")


@dataclass
class Row:
    mark: str  # "+" slower beyond the factor (and significant), "!" newly failing, "-" faster, "" same
    before: str
    after: str
    ratio: float | None
    name: str

    @property
    def measured(self) -> bool:
        """Measured at both commits (a number on both sides)."""
        return not any(v.strip().lower() in _NOT_MEASURED for v in (self.before, self.after))


def table_rows(table: str) -> list[Row]:
    """Every benchmark row of asv's comparison table(s) in *table*."""
    rows = []
    for m in map(_ROW.match, table.splitlines()):
        if m:
            ratio = m.group(4).lstrip("~")
            rows.append(Row(m.group(1), m.group(2).strip(), m.group(3).strip(),
                            None if ratio == "n/a" else float(ratio), m.group(5)))
    return rows


def worse_rows(table: str) -> list[tuple[str, str]]:
    """(mark, benchmark) for each row of asv's comparison table marked ``+`` or ``!``.

    The benchmark is asv's display name, ``module.Class.method(param, ...)`` for a
    parameterised one: the same string asv matches ``-b`` regexes against."""
    return [(row.mark, row.name) for row in table_rows(table) if row.mark in ("+", "!")]


#: The benchmark module of the instruction counts (benchmarks/instruction_counts.py): its rows
#: are judged by the instruction gate, the others by the wall-time gate.
INSTRUCTION_MODULE = "instruction_counts."


def is_instruction_benchmark(name: str) -> bool:
    return name.startswith(INSTRUCTION_MODULE)


@dataclass
class Pass:
    """One asv command's exit status and output."""

    returncode: int
    stdout: str
    stderr: str = ""

    @classmethod
    def of(cls, proc) -> "Pass":
        return cls(proc.returncode, proc.stdout or "", proc.stderr or "")


#: The last line `asv continuous` prints once it has compared (continuous.py): without one of
#: them it stopped before comparing (a clone, build or install failure).
_CONTINUOUS_VERDICTS = ("BENCHMARKS NOT SIGNIFICANTLY CHANGED.", "SOME BENCHMARKS HAVE CHANGED SIGNIFICANTLY.")


def _last_line(p: Pass) -> str:
    """The line that says why asv stopped: its last error-looking line, else its last line."""
    lines = [line.strip() for line in (p.stderr + "\n" + p.stdout).splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"error|fatal|failed|not found|unable", line, re.I):
            return line[:300]
    return lines[-1][:300] if lines else "(no output)"


def continuous_failure(p: Pass, what: str) -> str | None:
    """Why an `asv continuous` pass could not measure (None: it compared)."""
    if p.returncode not in (0, 1):
        return f"{what}: asv continuous exited {p.returncode}: {_last_line(p)}"
    if not any(v in p.stdout for v in _CONTINUOUS_VERDICTS):
        return f"{what}: asv continuous stopped before comparing (exit {p.returncode}): {_last_line(p)}"
    if p.returncode == 1 and not worse_rows(p.stdout):
        return (f"{what}: asv continuous exited 1 but its table lists no worse benchmark; the table format may "
                f"have changed (asv {_asv_version()})")
    return None


@dataclass
class Review:
    """The verdict of `review_commits`: 0 no regression, 1 a regression, 2 could not measure (*reason*)."""

    exit_code: int
    flagged_first: list[str]  # wall-time benchmarks the first pass marked slower
    failing: list[str]  # benchmarks that newly fail at head (not re-measured: a failure is not noise)
    confirmed: list[str]  # of flagged_first, those the confirmation pass marked slower again
    log: str
    instructions: list[str] = None  # instruction-count benchmarks above the instruction factor
    rows: list[Row] = None  # asv compare's table (every benchmark) at the instruction factor
    reason: str = ""  # exit 2: why nothing could be judged

    def __post_init__(self):
        self.instructions = self.instructions or []
        self.rows = self.rows or []


def wall_flagged(first: Pass) -> list[str]:
    """The wall-time benchmarks the first pass marked slower (to re-measure)."""
    return [name for mark, name in worse_rows(first.stdout) if mark == "+" and not is_instruction_benchmark(name)]


def decide(first: Pass, table: Pass | None, confirm: Pass | None, log: str = "") -> Review:
    """The verdict from the passes' outputs (pure: tested on canned asv output).

    *first*: ``asv continuous`` at the wall-time factor; *table*: ``asv compare`` of the
    same results at the instruction factor (every row); *confirm*: the confirmation pass
    over `wall_flagged` (None where nothing was flagged).  Exit 1 for an instruction
    count above its factor, a wall-time slowdown both passes flag, or a newly failing
    benchmark; 2 where a pass could not measure or no benchmark was measured at both
    commits; else 0."""
    flagged = wall_flagged(first)

    def cannot(reason):
        return Review(2, flagged, [], [], log, reason=reason)

    reason = continuous_failure(first, "first pass")
    if reason:
        return cannot(reason)
    if table is None or table.returncode not in (0, 1):
        return cannot("asv compare of the first pass's results failed: " + (_last_line(table) if table else "not run"))
    rows = table_rows(table.stdout)
    if not any(row.measured or row.mark == "!" for row in rows):
        return cannot("asv's table has no benchmark measured at both commits (empty table: all skipped, or the "
                      "selection matched nothing)")
    from pyhf_bench.asvtools.instructions import gated

    # Only the backends whose counts repeat (instructions.GATED_BACKENDS) are judged; JAX's spread 15 %.
    instructions = [r.name for r in rows if r.mark == "+" and is_instruction_benchmark(r.name) and gated(r.name)]
    failing = sorted({r.name for r in rows if r.mark == "!"} | {n for m, n in worse_rows(first.stdout) if m == "!"})
    confirmed = []
    if flagged:
        if confirm is None:
            return cannot("the first pass flagged wall-time slowdowns but no confirmation pass ran")
        reason = continuous_failure(confirm, "confirmation pass")
        if reason:
            return cannot(reason)
        confirmed = [name for mark, name in worse_rows(confirm.stdout) if mark == "+" and name in flagged]
    code = 1 if instructions or confirmed or failing else 0
    return Review(code, flagged, failing, confirmed, log, instructions, rows)


def review_commits(config: Path, env_name: str, base: str, head: str, factor: float = DEFAULT_FACTOR,
                   confirm_rounds: int = DEFAULT_CONFIRM_ROUNDS, machine: str | None = None,
                   benchmarks: list[str] | None = None, cwd: Path | None = None, env: dict | None = None, echo=None,
                   instruction_factor: float = DEFAULT_INSTRUCTION_FACTOR) -> Review:
    """The pull-request check (the workflow runs this through `pyhf-bench review`).

    Pass 1: ``asv continuous --factor F --interleave-rounds`` over *benchmarks* (regexes; all if None).
    Then ``asv compare --factor F_instr`` of the same results: the instruction counts
    (deterministic to about 0.2 %) are judged at the tight *instruction_factor* with no
    second pass.  Pass 2, only if pass 1 marked wall-time benchmarks slower: the same
    command on just those benchmarks with ``-a rounds=confirm_rounds``. Why: on a shared
    machine a no-op measured 1.52x in pass 1 (CI, 4 rounds); a real regression survives a
    second, longer interleaved measurement and such a burst of noise does not. A wall-time
    slowdown counts only if both passes flag it; a newly failing benchmark counts at once.
    See `decide`."""
    out = []

    def run(cmd):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=3600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            proc = subprocess.CompletedProcess(cmd, 2, "", f"error: {type(exc).__name__}: {exc}")
        text = f"$ {' '.join(cmd)}\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n"
        out.append(text)
        if echo:
            echo(text)
        return Pass.of(proc)

    first = run(continuous_command(config, env_name, factor, base, head, benchmarks=benchmarks, machine=machine))
    if continuous_failure(first, "first pass"):
        return decide(first, None, None, "".join(out))
    table = run(compare_command(config, env_name, instruction_factor, base, head, machine=machine))
    flagged = wall_flagged(first)
    confirm = None
    if flagged:
        confirm = run(continuous_command(config, env_name, factor, base, head, machine=machine,
                                         benchmarks=[f"^{re.escape(name)}$" for name in flagged],
                                         rounds=confirm_rounds))
    return decide(first, table, confirm, "".join(out))


def _asv_version() -> str:
    import asv

    return asv.__version__


def run_proof(project_config: Path, work: Path, repeats: int, factor: float,
              confirm_rounds: int = DEFAULT_CONFIRM_ROUNDS, log=print, slowdowns: tuple[float, ...] = ()) -> list[Trial]:
    """*slowdowns*: trial the `slowdown_branch` of each factor (and the no-op) instead of the 3x branch."""
    from pyhf_bench.asvtools.runner import era_environment

    repo = prepare_history(work, log=log, slowdowns=slowdowns)
    subprocess.run([sys.executable, "-m", "asv", "machine", "--machine", MACHINE, "--yes"], check=True,
                   capture_output=True)
    plan = [(slowdown_branch(f), True) for f in slowdowns] or [(SLOW_BRANCH, True)]
    plan.append((NOOP_BRANCH, False))
    sha = {ref: _git_out(repo, "rev-parse", ref) for ref in (BASE_TAG, *(branch for branch, _ in plan))}
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYHF_BENCH_TIER="quick")
    trials = []
    for repeat in range(1, repeats + 1):
        for branch, expected in plan:
            name = f"{branch.split('/')[-1]}-{repeat}"
            config = write_config(project_config, work, repo, name)
            env_name = era_environment(config, "modern")
            started = time.monotonic()
            verdict = review_commits(config, env_name, BASE_TAG, branch, factor, confirm_rounds, machine=MACHINE,
                                     cwd=work, env=env, benchmarks=[SELECTION])
            wall = time.monotonic() - started
            log_file = work / f"continuous-{name}.log"
            log_file.write_text(verdict.log)
            if verdict.exit_code not in (0, 1):
                raise UserError(f"could not measure {branch}: {verdict.reason}; log: {log_file}")
            results = work / "results" / name
            base_s, head_s = _median(results, sha[BASE_TAG]), _median(results, sha[branch])
            ratio = head_s / base_s if base_s and head_s else None
            trial = Trial(repeat, branch, expected, verdict.exit_code, verdict.exit_code == 1,
                          bool(verdict.flagged_first), ratio, base_s, head_s, round(wall, 1))
            trials.append(trial)
            log(f"repeat {repeat} {branch}: exit {verdict.exit_code} ({'flagged' if trial.flagged else 'not flagged'}; "
                f"first pass {'flagged' if trial.flagged_first else 'not flagged'}), "
                + (f"ratio {ratio:.3f}" if ratio else "no ratio"))
    return trials


def _git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def summarize(trials: list[Trial], factor: float) -> dict:
    slow = [t for t in trials if t.expected_regression]
    noop = [t for t in trials if not t.expected_regression]
    by_branch = {}
    for t in trials:
        row = by_branch.setdefault(t.branch, {"branch": t.branch, "expected_regression": t.expected_regression,
                                              "trials": 0, "flagged": 0, "ratios": []})
        row["trials"] += 1
        row["flagged"] += t.flagged
        row["ratios"].append(t.ratio)
    return {
        "branches": list(by_branch.values()),
        "factor": factor,
        "benchmark": f"{BENCHMARK}{PARAMS}",
        "repeats": len(slow),
        "false_negatives": sum(not t.flagged for t in slow),
        "false_positives": sum(t.flagged for t in noop),
        "first_pass_false_positives": sum(t.flagged_first for t in noop),
        "first_pass_false_negatives": sum(not t.flagged_first for t in slow),
        "slow_ratios": [t.ratio for t in slow],
        "noop_ratios": [t.ratio for t in noop],
        "trials": [asdict(t) for t in trials],
    }


def _cmd(args) -> int:
    if args.repeats < 1:
        raise UserError(f"--repeats {args.repeats}: give at least 1")
    config = _checked_options(args)
    if args.work:
        work = Path(args.work).resolve()
        work.mkdir(parents=True, exist_ok=True)
        cleanup = False
    else:
        work = Path(tempfile.mkdtemp(prefix="pyhf-bench-review-proof-"))
        cleanup = not args.keep
    try:
        slowdowns = _slowdowns(args.slowdowns)
        trials = run_proof(config, work, args.repeats, args.factor, args.confirm_rounds,
                           log=lambda m: print(m, file=sys.stderr), slowdowns=slowdowns)
        summary = summarize(trials, args.factor)
        summary["repeats"] = args.repeats
        summary["confirm_rounds"] = args.confirm_rounds
        summary["machine"] = machine_description()
        text = json.dumps(summary, indent=2)
        if args.json:
            with atomic_file(Path(args.json)) as fh:
                fh.write(text + "\n")
        print(text)
        print(f"review proof, factor {args.factor}, {summary['repeats']} repeat(s): "
              f"{summary['false_negatives']} false negative(s) (slowed commit not flagged), "
              f"{summary['false_positives']} false positive(s) (no-op commit flagged)", file=sys.stderr)
        if slowdowns:
            # Slowdowns below the factor are measured, not required: only those at or above it must be caught.
            missed = sum(t.expected_regression and not t.flagged for t in trials
                         if float(t.branch.rsplit("-", 1)[1]) >= args.factor)
            return 0 if missed == 0 and summary["false_positives"] == 0 else 1
        return 0 if summary["false_negatives"] == 0 and summary["false_positives"] == 0 else 1
    finally:
        if cleanup:
            shutil.rmtree(work, ignore_errors=True)


def _slowdowns(text: str | None) -> tuple[float, ...]:
    from pyhf_bench.asvtools.instruction_proof import extra_per_hundred

    if not text:
        return ()
    try:
        factors = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"--slowdowns {text!r}: give comma-separated factors, e.g. 1.02,1.05,1.1,1.2,1.5") from None
    for f in factors:
        extra_per_hundred(f)  # checks the form 1 + m/100
    return factors


def _checked_options(args) -> Path:
    """The options `review` and `review-proof` share, checked; returns the asv config's path."""
    if args.factor <= 1:
        raise UserError(f"--factor {args.factor}: give a factor above 1 (e.g. {DEFAULT_FACTOR})")
    config = Path(args.config).resolve()
    if not config.is_file():
        raise UserError(f"{config} not found; run from the pyhf-bench checkout or pass --config")
    return config


def summary_table(verdict: Review) -> str:
    """Each benchmark with its wall-time ratio and, where it has one, its instruction-count ratio."""
    from pyhf_bench.asvtools.instructions import timed_name

    by_name = {row.name: row for row in verdict.rows}
    paired = {timed_name(row.name): row for row in verdict.rows if is_instruction_benchmark(row.name)}
    lines = ["| benchmark | time before | time after | time ratio | instructions before | instructions after "
             "| instructions ratio | verdict |", "|---|---|---|---|---|---|---|---|"]

    def ratio(row):
        return "n/a" if row is None or row.ratio is None else f"{row.ratio:.3f}"

    names = [n for n in by_name if not is_instruction_benchmark(n)]
    names += [timed_name(n) for n in by_name if is_instruction_benchmark(n) and timed_name(n) not in by_name]
    for name in names:
        wall, instr = by_name.get(name), paired.get(name)
        if wall is not None and not wall.measured and (instr is None or not instr.measured) and wall.mark != "!":
            continue  # skipped at both commits: nothing to show
        if instr is not None and instr.name in verdict.instructions:
            word = "SLOWER (instructions)"
        elif name in verdict.confirmed:
            word = "SLOWER (time, confirmed)"
        elif name in verdict.failing or (instr is not None and instr.name in verdict.failing):
            word = "FAILING"
        elif name in verdict.flagged_first:
            word = "not confirmed"
        else:
            word = "ok"
        lines.append(f"| {name} | {wall.before if wall else ''} | {wall.after if wall else ''} | {ratio(wall)} | "
                     f"{instr.before if instr else ''} | {instr.after if instr else ''} | {ratio(instr)} | {word} |")
    return "\n".join(lines)


def _review_cmd(args) -> int:
    from pyhf_bench.asvtools.runner import config_for_clone, era_environment

    config = _checked_options(args)
    if args.repo:  # a local pyhf clone, read through the same bare mirror as `run --repo`
        config, _ = config_for_clone(config, Path(args.repo))
    if args.instruction_factor <= 1:
        raise UserError(f"--instruction-factor {args.instruction_factor}: give a factor above 1 "
                        f"(e.g. {DEFAULT_INSTRUCTION_FACTOR})")
    benchmarks = selection.for_asv(config, tiers.tier(), args.bench)  # the quick tier: only what runs
    verdict = review_commits(config, era_environment(config, args.era), args.base, args.head, args.factor,
                             args.confirm_rounds, machine=args.machine, benchmarks=benchmarks,
                             echo=lambda text: print(text, flush=True), instruction_factor=args.instruction_factor)
    if verdict.exit_code == 2:
        raise UserError(f"could not measure: {verdict.reason}; fix that and rerun (asv's full output is above)")
    gates = (f"instruction counts at {args.instruction_factor}x, wall time at {args.factor}x "
             f"(confirmed with {args.confirm_rounds} rounds)")
    lines = [summary_table(verdict), ""]
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
    p.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                   help=f"asv continuous --factor (default {DEFAULT_FACTOR}, as in the workflow)")
    p.add_argument("--confirm-rounds", type=int, default=DEFAULT_CONFIRM_ROUNDS,
                   help="interleaved rounds of the pass that re-measures what the first pass flagged "
                   f"(default {DEFAULT_CONFIRM_ROUNDS})")
    p.add_argument("--config", default="asv.conf.json", help="the project's asv config (default: asv.conf.json)")
    p.add_argument("--instruction-factor", type=float, default=DEFAULT_INSTRUCTION_FACTOR,
                   help="the factor of the instruction-count gate (the instruction_counts benchmarks; "
                   f"default {DEFAULT_INSTRUCTION_FACTOR})")


def add_parser(sub) -> None:
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
    p.set_defaults(func=_cmd)
