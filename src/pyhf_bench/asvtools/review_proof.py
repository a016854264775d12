"""``pyhf-bench review-proof``: does the review (:mod:`pyhf_bench.asvtools.review`) catch a slowdown?

It builds an offline pyhf history with v0.7.6 and two
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

With ``--slowdowns F,...`` the branches are instead one per factor whose
``Model.logpdf`` does F times the work (the instruction proof's injection) and
the no-op; the result (`prove`) goes to a JSON file and ``--markdown`` writes the
docs table from it (`proof_markdown`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.asvtools import history
from pyhf_bench.asvtools.envinfo import machine_description
from pyhf_bench.asvtools.review import DEFAULT_CONFIRM_ROUNDS, review_commits
from pyhf_bench.core.files import atomic_file
from pyhf_bench.asvtools.instruction_proof import slowed_source
from pyhf_bench.asvtools.runner import era_environment

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
#: The --slowdowns branches add (F-1)*100 evaluations per 100 consecutive calls: one sample of one
#: call (Logpdf's own number=1) mostly holds none, and asv's median of such samples does not see them
#: (measured: 1.2x at 1.07). Each sample spans the injection's period instead: F times the work each.
SLOWDOWN_ATTRIBUTES = ("number=100",)
#: The proof's combination as asv's tables name it.
PROOF_ROW = f"{BENCHMARK}{PARAMS!r}"

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
    ratio: float | None  # head / base median time (> 1: slower), as stored by the last pass
    first_ratio: float | None  # the first pass's ratio (asv's table, 2-3 digits)
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


def injected_slowdown(branch: str) -> float | None:
    """The factor a :func:`slowdown_branch` injects; None for the no-op and the fixed 3x branch."""
    prefix = f"{SLOW_BRANCH}-"
    return float(branch[len(prefix):]) if branch.startswith(prefix) else None


def prepare_history(work: Path, log=print, slowdowns: tuple[float, ...] = ()) -> Path:
    """The offline history (v0.7.6) with the slow and no-op branches; returns its path.

    *slowdowns*: also one branch per factor F (`slowdown_branch`) whose Model.logpdf does
    F times the work on average (`instruction_proof.slowed_source`: (F-1)*100 redundant
    density evaluations in every 100 consecutive calls), as the instruction proof injects."""

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


def run_proof(project_config: Path, work: Path, repeats: int, factor: float,
              confirm_rounds: int = DEFAULT_CONFIRM_ROUNDS, log=print, slowdowns: tuple[float, ...] = (),
              cpu_affinity: str | None = None, on_trial=None, done: tuple[Trial, ...] = ()) -> list[Trial]:
    """*slowdowns*: trial the `slowdown_branch` of each factor (and the no-op) instead of the 3x branch.
    *on_trial*: called with the trials so far after each one (a long proof keeps what it measured).
    *done*: trials of complete repeats measured before (`resumed_trials`); repeats go on after them."""

    repo = prepare_history(work, log=log, slowdowns=slowdowns)
    subprocess.run([sys.executable, "-m", "asv", "machine", "--machine", MACHINE, "--yes"], check=True,
                   capture_output=True)
    plan = [(slowdown_branch(f), True) for f in slowdowns] or [(SLOW_BRANCH, True)]
    plan.append((NOOP_BRANCH, False))
    sha = {ref: _git_out(repo, "rev-parse", ref) for ref in (BASE_TAG, *(branch for branch, _ in plan))}
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYHF_BENCH_TIER="quick")
    trials = list(done)
    for repeat in range(len(done) // len(plan) + 1, repeats + 1):
        for branch, expected in plan:
            name = f"{branch.split('/')[-1]}-{repeat}"
            config = write_config(project_config, work, repo, name)
            env_name = era_environment(config, "modern")
            started = time.monotonic()
            verdict = review_commits(config, env_name, BASE_TAG, branch, factor, confirm_rounds, machine=MACHINE,
                                     cwd=work, env=env, benchmarks=[SELECTION], cpu_affinity=cpu_affinity,
                                     attributes=SLOWDOWN_ATTRIBUTES if slowdowns else ())
            wall = time.monotonic() - started
            log_file = work / f"continuous-{name}.log"
            log_file.write_text(verdict.log)
            if verdict.exit_code not in (0, 1):
                raise UserError(f"could not measure {branch}: {verdict.reason}; log: {log_file}")
            results = work / "results" / name
            base_s, head_s = _median(results, sha[BASE_TAG]), _median(results, sha[branch])
            ratio = head_s / base_s if base_s and head_s else None
            first_ratio = next((row.ratio for row in verdict.rows or () if row.name == PROOF_ROW), None)
            trial = Trial(repeat, branch, expected, verdict.exit_code, verdict.exit_code == 1,
                          bool(verdict.flagged_first), ratio, first_ratio, base_s, head_s, round(wall, 1))
            trials.append(trial)
            if on_trial:
                on_trial(trials)
            log(f"repeat {repeat} {branch}: exit {verdict.exit_code} ({'flagged' if trial.flagged else 'not flagged'}; "
                f"first pass {'flagged' if trial.flagged_first else 'not flagged'}), "
                + (f"ratio {ratio:.3f}" if ratio else "no ratio") + f", first pass {first_ratio}, {wall:.0f} s")
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


def prove(project_config: Path, work: Path, repeats: int, factor: float, confirm_rounds: int = DEFAULT_CONFIRM_ROUNDS,
          slowdowns: tuple[float, ...] = (), cpu_affinity: str | None = None, log=print, partial=None,
          where: str | None = None, resume: dict | None = None) -> dict:
    """`run_proof` and its `summarize`d result, with what it ran under (for the committed JSON).

    *partial*: called with the summary of the trials so far after each trial (its ``repeats``: the
    repeats completed), so that a proof stopped early still leaves every complete repeat.
    *where*: the conditions of the measurement in words (recorded as given).
    *resume*: an earlier result of the same settings (`resumed_trials`): its repeats are kept and
    the proof goes on to *repeats* in all."""
    started = time.monotonic()
    per_repeat = len(slowdowns) + 1 if slowdowns else 2
    settings = {"factor": factor, "confirm_rounds": confirm_rounds, "slowdowns": list(slowdowns),
                "cpu_affinity": cpu_affinity, "threads": 1,
                "asv_attributes": list(SLOWDOWN_ATTRIBUTES if slowdowns else ()), "machine": machine_description()}
    done = resumed_trials(resume, settings, per_repeat) if resume else ()
    where = where or (resume or {}).get("where")
    earlier_s = (resume or {}).get("wall_s", 0.0) if done else 0.0

    def summary_of(trials):
        summary = summarize(trials, factor)
        summary.update(settings, repeats=len(trials) // per_repeat,
                       wall_s=round(earlier_s + time.monotonic() - started, 1))
        if where:
            summary["where"] = where
        return summary

    def checkpoint(trials):
        if partial and len(trials) % per_repeat == 0:
            partial(summary_of(trials))

    return summary_of(run_proof(project_config, work, repeats, factor, confirm_rounds, log=log, slowdowns=slowdowns,
                                cpu_affinity=cpu_affinity, on_trial=checkpoint, done=done))


def resumed_trials(summary: dict, settings: dict, per_repeat: int) -> tuple[Trial, ...]:
    """The trials of the complete repeats of an earlier `prove` *summary*, if it ran under *settings*
    (factor, rounds, slowdowns, affinity, threads, asv attributes, machine); otherwise a UserError
    naming the first difference (a proof of other settings is another proof)."""
    for key, value in settings.items():
        if summary.get(key) != value:
            raise UserError(f"--resume: the earlier proof ran with {key} {summary.get(key)!r}, this one with "
                            f"{value!r}; resume with the same options (or start a new --json file)")
    trials = [Trial(**t) for t in summary.get("trials", ())]
    return tuple(trials[:len(trials) // per_repeat * per_repeat])


def proof_exit_code(summary: dict) -> int:
    """1 if the no-op was flagged or a slowdown at or above the factor was missed (those below it are
    measured, not required); without --slowdowns, any misclassified trial."""
    if summary.get("slowdowns"):
        missed = sum(not t["flagged"] for t in summary["trials"]
                     if (injected_slowdown(t["branch"]) or 0) >= summary["factor"])
        return 0 if missed == 0 and summary["false_positives"] == 0 else 1
    return 0 if summary["false_negatives"] == 0 and summary["false_positives"] == 0 else 1


def proof_markdown(summary: dict, source: str) -> str:
    """The docs table of a `prove` result: per branch, how often the review flagged it and its ratios."""
    if not {"branches", "trials", "factor"} <= set(summary):
        raise UserError(f"{source} is not a review-proof result (no branches/trials); write one with "
                        f"`pyhf-bench review-proof --json {source}`")
    lines = [f"Wall-time gate at factor {summary['factor']} (confirmation pass {summary['confirm_rounds']} rounds) on "
             f"`{summary['benchmark']}`, {summary['repeats']} repeat(s); {summary.get('machine', '?')}"
             + (f", {summary['where']}" if summary.get("where") else "")
             + (f", CPU affinity {summary['cpu_affinity']}" if summary.get("cpu_affinity") else "")
             + f" (from `{source}`):", "",
             "| change | flagged | first pass flagged | min ratio | median ratio | max ratio |",
             "|---|---|---|---|---|---|"]
    for row in summary["branches"]:
        trials = [t for t in summary["trials"] if t["branch"] == row["branch"]]
        ratios = sorted(r for r in row["ratios"] if r is not None)
        if row["branch"] == NOOP_BRANCH:
            what, word = "no-op (comment only)", "false alarms"
        elif row["branch"] == SLOW_BRANCH:
            what, word = "3x the work", "detected"
        else:
            what, word = f"{injected_slowdown(row['branch'])}x slower", "detected"
        first = sum(t["flagged_first"] for t in trials)
        spread = (f"{ratios[0]:.3f} | {ratios[len(ratios) // 2]:.3f} | {ratios[-1]:.3f}" if ratios
                  else "n/a | n/a | n/a")
        lines.append(f"| {what} | {row['flagged']}/{row['trials']} {word} | {first}/{row['trials']} | {spread} |")
    walls = [t["wall_s"] for t in summary["trials"]]
    lines += ["", f"{len(walls)} trials, {sum(walls):.0f} s in all ({min(walls):.0f}-{max(walls):.0f} s each)."]
    higher = [f for f in CANDIDATE_FACTORS if f > summary["factor"]]
    if summary.get("slowdowns") and higher:
        lines += ["", f"The same trials judged at higher factors (`flagged_at`: both passes' ratios above the factor; "
                  "asv's significance test is not applied again):", "",
                  "| change | " + " | ".join(f"at {f}" for f in higher) + " |",
                  "|---|" + "---|" * len(higher)]
        for row in summary["branches"]:
            trials = [t for t in summary["trials"] if t["branch"] == row["branch"]]
            what = ("no-op (comment only)" if row["branch"] == NOOP_BRANCH
                    else f"{injected_slowdown(row['branch'])}x slower")
            lines.append(f"| {what} | " + " | ".join(f"{sum(flagged_at(t, f) for t in trials)}/{len(trials)}"
                                                    for f in higher) + " |")
    return "\n".join(lines) + "\n"


#: The factors `proof_markdown` also judges a proof's trials at (those above the factor it ran with).
CANDIDATE_FACTORS = (1.1, 1.15, 1.2, 1.25, 1.3, 1.5)


def flagged_at(trial: dict, factor: float) -> bool:
    """Whether a trial of a proof run at a lower factor would be flagged at *factor*: its first pass's
    ratio and its confirmation's (the stored ratio) both above it. A trial the first pass did not flag
    has no confirmation and is not flagged. asv's significance test is not re-applied, so at most
    this many are flagged (an upper bound on detections and on false alarms alike)."""
    return bool(trial["flagged_first"] and trial["first_ratio"] is not None and trial["ratio"] is not None
                and trial["first_ratio"] > factor and trial["ratio"] > factor)
