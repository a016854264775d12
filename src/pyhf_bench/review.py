"""``pyhf-bench review-proof``: show that the pull-request regression check catches a real slowdown.

The check under test is the one ``.github/workflows/benchmarks.yml`` runs on a
labelled pull request: ``asv continuous --factor F BASE HEAD``, which exits 1
when a benchmark got slower by more than F (and asv's statistics call the
change significant).  This command builds an offline pyhf history with
v0.7.6 and two "pull request" branches on top of it:

``pr/slow-logpdf``
    ``src/pyhf/pdf.py`` where ``Model.logpdf`` evaluates the density three times
    and keeps the last value (as a refactoring that adds "check the result"
    passes might): real pyhf code doing real work (no sleep) on exactly the path
    ``model.logpdf`` takes.  Because *all* of the work is repeated, the size of
    the slowdown does not depend on the CPU (measured in-process here on the
    100-bin synthetic model with numpy: see the README).  It is this large on
    purpose: this machine's speed swings up to 2x over seconds, and asv compares
    medians, so same-code ratios reach 1.31 with Logpdf's 4 interleaved rounds
    (README, "Noise"); a 1.33x slowdown (an earlier version of this branch) was
    flagged here but not on CI's machine.
``pr/noop-comment``
    the same file with one comment line added: no change in behaviour.

and runs the same ``asv continuous`` command against each branch, N times,
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
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import UserError, history
from .envinfo import machine_description
from .files import atomic_file

#: The factor of the pull-request check (workflow and this proof). Chosen from the
#: no-op ratios of this proof and the noise study: see the README, "Pull-request review".
DEFAULT_FACTOR = 1.5
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
    flagged: bool
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


def prepare_history(work: Path, log=print) -> Path:
    """The offline history (v0.7.6) with the slow and no-op branches; returns its path."""
    repo = work / "pyhf"
    history.build_history(repo, versions=[BASE_VERSION], log=log)
    original = _git_show(repo, BASE_TAG, PDF_PATH)
    sources = work / "branch-sources"
    sources.mkdir(exist_ok=True)
    for branch, text, message in (
        (SLOW_BRANCH, slow_pdf_source(original), "Evaluate the density three times in Model.logpdf (slower logpdf)"),
        (NOOP_BRANCH, noop_pdf_source(original), "Add a comment to pdf.py (no behaviour change)"),
    ):
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


def continuous_command(config: Path, env_name: str, factor: float, base: str, head: str) -> list[str]:
    """The regression check, exactly as the workflow runs it (plus this proof's config/env/machine)."""
    return [sys.executable, "-m", "asv", "--config", str(config), "continuous", "--factor", str(factor), "--interleave-rounds",
            "-E", env_name, "-b", SELECTION, "--machine", MACHINE, "--show-stderr", base, head]


def run_proof(project_config: Path, work: Path, repeats: int, factor: float, log=print) -> list[Trial]:
    from .runner import era_environment

    repo = prepare_history(work, log=log)
    subprocess.run([sys.executable, "-m", "asv", "machine", "--machine", MACHINE, "--yes"], check=True,
                   capture_output=True)
    sha = {ref: _git_out(repo, "rev-parse", ref) for ref in (BASE_TAG, SLOW_BRANCH, NOOP_BRANCH)}
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYHF_BENCH_TIER="quick")
    trials = []
    for repeat in range(1, repeats + 1):
        for branch, expected in ((SLOW_BRANCH, True), (NOOP_BRANCH, False)):
            name = f"{branch.split('/')[-1]}-{repeat}"
            config = write_config(project_config, work, repo, name)
            env_name = era_environment(config, "modern")
            started = time.monotonic()
            proc = subprocess.run(continuous_command(config, env_name, factor, BASE_TAG, branch),
                                  capture_output=True, text=True, cwd=work, env=env, timeout=1800)
            wall = time.monotonic() - started
            (work / f"continuous-{name}.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
            if proc.returncode not in (0, 1):
                raise RuntimeError(f"asv continuous failed (exit {proc.returncode}) for {branch}; "
                                   f"log: {work / f'continuous-{name}.log'}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            results = work / "results" / name
            base_s, head_s = _median(results, sha[BASE_TAG]), _median(results, sha[branch])
            ratio = head_s / base_s if base_s and head_s else None
            trial = Trial(repeat, branch, expected, proc.returncode, proc.returncode == 1, ratio, base_s, head_s,
                          round(wall, 1))
            trials.append(trial)
            log(f"repeat {repeat} {branch}: exit {proc.returncode} ({'flagged' if trial.flagged else 'not flagged'}), "
                f"ratio {ratio:.3f}" if ratio else f"repeat {repeat} {branch}: exit {proc.returncode}, no ratio")
    return trials


def _git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def summarize(trials: list[Trial], factor: float) -> dict:
    slow = [t for t in trials if t.expected_regression]
    noop = [t for t in trials if not t.expected_regression]
    return {
        "factor": factor,
        "benchmark": f"{BENCHMARK}{PARAMS}",
        "repeats": len(slow),
        "false_negatives": sum(not t.flagged for t in slow),
        "false_positives": sum(t.flagged for t in noop),
        "slow_ratios": [t.ratio for t in slow],
        "noop_ratios": [t.ratio for t in noop],
        "trials": [asdict(t) for t in trials],
    }


def _cmd(args) -> int:
    if args.repeats < 1:
        raise UserError(f"--repeats {args.repeats}: give at least 1")
    if args.factor <= 1:
        raise UserError(f"--factor {args.factor}: give a factor above 1 (e.g. {DEFAULT_FACTOR})")
    config = Path(args.config).resolve()
    if not config.is_file():
        raise UserError(f"{config} not found; run from the pyhf-bench checkout or pass --config")
    if args.work:
        work = Path(args.work).resolve()
        work.mkdir(parents=True, exist_ok=True)
        cleanup = False
    else:
        work = Path(tempfile.mkdtemp(prefix="pyhf-bench-review-proof-"))
        cleanup = not args.keep
    try:
        trials = run_proof(config, work, args.repeats, args.factor, log=lambda m: print(m, file=sys.stderr))
        summary = summarize(trials, args.factor)
        summary["machine"] = machine_description()
        text = json.dumps(summary, indent=2)
        if args.json:
            with atomic_file(Path(args.json)) as fh:
                fh.write(text + "\n")
        print(text)
        print(f"review proof, factor {args.factor}, {summary['repeats']} repeat(s): "
              f"{summary['false_negatives']} false negative(s) (slowed commit not flagged), "
              f"{summary['false_positives']} false positive(s) (no-op commit flagged)", file=sys.stderr)
        return 0 if summary["false_negatives"] == 0 and summary["false_positives"] == 0 else 1
    finally:
        if cleanup:
            shutil.rmtree(work, ignore_errors=True)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "review-proof",
        help="prove the PR regression check: a slowed pyhf commit is flagged, a no-op is not",
        description="Build an offline pyhf history with a slowed-logpdf branch and a no-op branch, run "
        "`asv continuous --factor F` against each N times in a real virtualenv, and count false "
        "negatives and false positives. Exit 1 if any trial was misclassified.",
    )
    p.add_argument("--repeats", type=int, default=1, help="trials per branch (default 1)")
    p.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                   help=f"asv continuous --factor (default {DEFAULT_FACTOR}, as in the workflow)")
    p.add_argument("--config", default="asv.conf.json", help="the project's asv config (default: asv.conf.json)")
    p.add_argument("--work", metavar="DIR", default=None,
                   help="keep everything here (history, virtualenv, results, logs); reused by later runs")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the summary to FILE")
    p.set_defaults(func=_cmd)
