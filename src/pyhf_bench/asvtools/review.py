"""``pyhf-bench review``: the pull-request regression check.

The check is what ``.github/workflows/benchmarks.yml`` runs on a labelled pull
request (`review_commits`): ``asv continuous --factor F --interleave-rounds BASE
HEAD``, which exits 1 when a benchmark got slower by more than F (and asv's
statistics call the change significant); what it flags is then re-measured alone
with more interleaved rounds, and only a slowdown both passes flag fails the
check.  Instruction counts (``benchmarks/instruction_counts.py``, deterministic to a
fraction of a percent for numpy) are judged first, at ``--instruction-factor``, from
``asv compare`` of the same results, with no second pass (`decide`).  Nothing
measured (asv failed, no network, an empty table) is exit 2 with the reason.  The proof that it
catches a slowdown and passes a no-op is :mod:`pyhf_bench.asvtools.review_proof`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pyhf_bench.asvtools.instructions import DEFAULT_INSTRUCTION_FACTOR, gated, timed_name

#: The wall-time factor of the pull-request check (workflow and the proof). Chosen from the 10-repeat
#: wall-time proof (docs/review-proof-wall-epyc-2core.json, judged at the candidate factors in
#: docs/review.md): the smallest candidate above a no-op both passes confirmed (1.13, CI's machine);
#: 1.1 caught no more there (1.2x: 6/10 at 1.1, 5/10 at 1.15). Instruction counts gate finer.
DEFAULT_FACTOR = 1.15
#: Interleaved rounds of the confirmation pass (see `review_commits`; README, "Pull-request review").
DEFAULT_CONFIRM_ROUNDS = 16
def continuous_command(config: Path, env_name: str, factor: float, base: str, head: str,
                       benchmarks: list[str] | None = None, rounds: int | None = None,
                       machine: str | None = None, cpu_affinity: str | None = None,
                       attributes: tuple[str, ...] = ()) -> list[str]:
    """``asv continuous --factor F --interleave-rounds`` (plus -b/-a rounds/--machine/--cpu-affinity when given)."""
    cmd = [sys.executable, "-m", "asv", "--config", str(config), "continuous", "--factor", str(factor),
           "--interleave-rounds", "-E", env_name, "--show-stderr"]
    for regex in benchmarks or ():
        cmd += ["-b", regex]
    for attribute in attributes:
        cmd += ["-a", attribute]
    if rounds:
        cmd += ["-a", f"rounds={rounds}"]
    if machine:
        cmd += ["--machine", machine]
    if cpu_affinity:
        cmd += ["--cpu-affinity", cpu_affinity]
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
                   instruction_factor: float = DEFAULT_INSTRUCTION_FACTOR, cpu_affinity: str | None = None,
                   attributes: tuple[str, ...] = ()) -> Review:
    """The pull-request check (the workflow runs this through `pyhf-bench review`).

    Pass 1: ``asv continuous --factor F --interleave-rounds`` over *benchmarks* (regexes; all if None).
    Then ``asv compare --factor F_instr`` of the same results: the instruction counts
    (deterministic to about 0.2 %) are judged at the tight *instruction_factor* with no
    second pass.  Pass 2, only if pass 1 marked wall-time benchmarks slower: the same
    command on just those benchmarks with ``-a rounds=confirm_rounds``. Why: on a shared
    machine a no-op measured 1.52x in pass 1 (CI, 4 rounds); a real regression survives a
    second, longer interleaved measurement and such a burst of noise does not. A wall-time
    slowdown counts only if both passes flag it; a newly failing benchmark counts at once.
    *cpu_affinity*: asv's ``--cpu-affinity`` for both passes (a core no other job uses: the
    noise study, docs/review.md). *attributes*: more asv ``-a`` overrides for both passes. See `decide`."""
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

    first = run(continuous_command(config, env_name, factor, base, head, benchmarks=benchmarks, machine=machine,
                                   cpu_affinity=cpu_affinity, attributes=attributes))
    if continuous_failure(first, "first pass"):
        return decide(first, None, None, "".join(out))
    table = run(compare_command(config, env_name, instruction_factor, base, head, machine=machine))
    flagged = wall_flagged(first)
    confirm = None
    if flagged:
        confirm = run(continuous_command(config, env_name, factor, base, head, machine=machine,
                                         benchmarks=[f"^{re.escape(name)}$" for name in flagged],
                                         rounds=confirm_rounds, cpu_affinity=cpu_affinity, attributes=attributes))
    return decide(first, table, confirm, "".join(out))


def _asv_version() -> str:
    import asv

    return asv.__version__


def summary_table(verdict: Review) -> str:
    """Each benchmark with its wall-time ratio and, where it has one, its instruction-count ratio."""

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
