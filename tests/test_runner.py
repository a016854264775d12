"""``pyhf-bench run``: revisions, eras, the asv machine, asv's condensed output and the result tally.

Fast and offline: a small git repository with pyhf's tag layout stands in for
pyhf (its files do not matter to the planner), and asv runs only `asv machine`.
The real route through real virtualenvs is ``tests/test_asv.py``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyhf_bench import UserError, runner

from .conftest import ROOT


def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env=env).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """Releases v0.6.3, v0.7.0, v0.7.5, v0.7.6 (tagged out of order) and two commits past v0.7.6."""
    path = tmp_path_factory.mktemp("pyhf")
    _git(path, "init", "-q", "-b", "main")
    for i, tag in enumerate(["v0.6.3", "v0.7.0", "v0.7.5", "v0.7.6", None, None]):
        (path / "f.txt").write_text(str(i))
        _git(path, "add", "f.txt")
        _git(path, "commit", "-q", "-m", f"commit {i}")
        if tag:
            _git(path, "tag", tag)
    _git(path, "tag", "v0.8.0rc1", "HEAD~1")  # a pre-release tag: not a release, but it names the version
    return path


def _rev(repo: Path, ref: str) -> str:
    return _git(repo, "rev-list", "-n", "1", ref)


def test_latest_is_the_newest_release_and_tags_are_every_release(repo):
    assert runner.release_tags(repo) == ["v0.6.3", "v0.7.0", "v0.7.5", "v0.7.6"]
    assert runner.resolve_commits(repo, [runner.LATEST]) == [_rev(repo, "v0.7.6")]
    assert runner.resolve_commits(repo, [runner.TAGS]) == [_rev(repo, t) for t in runner.release_tags(repo)]


def test_ranges_commits_and_hashfiles_combine_in_order_once_each(repo, tmp_path):
    hashfile = tmp_path / "commits.txt"
    hashfile.write_text(f"# a comment\n{_rev(repo, 'v0.7.0')}\n\nv0.6.3\n")
    commits = runner.resolve_commits(repo, ["v0.7.5..main", f"HASHFILE:{hashfile}", "v0.7.6"])
    assert commits == [_rev(repo, "v0.7.6"), _rev(repo, "main~1"), _rev(repo, "main"),
                       _rev(repo, "v0.7.0"), _rev(repo, "v0.6.3")]


@pytest.mark.parametrize("revision, needle", [("nope", "'nope' is not a commit"),
                                              ("HASHFILE:/no/such/file", "no such file")])
def test_bad_revisions_are_one_clear_error(repo, revision, needle):
    with pytest.raises(UserError, match=needle):
        runner.resolve_commits(repo, [revision])


def test_plan_puts_each_commit_in_its_era(repo, capsys):
    commits = runner.resolve_commits(repo, [runner.TAGS, "v0.7.6..main"])
    grouped = runner.plan(repo, commits)
    versions = {era: [v for _, v in rows] for era, rows in grouped.items()}
    assert versions == {"classic": ["0.6.3"], "vintage": ["0.7.0"], "legacy": ["0.7.5"],
                        "modern": ["0.7.6", "0.8.0rc1", "0.8.0rc2.dev1"]}
    assert runner.plan(repo, commits, ["legacy"]) == {"legacy": grouped["legacy"]}


def test_a_commit_in_no_era_is_skipped_with_its_version(tmp_path, capsys):
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "f").write_text("x")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "-q", "-m", "old")
    _git(tmp_path, "tag", "v0.5.4")
    assert runner.plan(tmp_path, runner.resolve_commits(tmp_path, [runner.LATEST])) == {}
    assert "pyhf 0.5.4 is in no era" in capsys.readouterr().err


def test_every_era_has_one_environment_and_the_packages_it_installs():
    entries = runner._era_entries(ROOT / "asv.conf.json")
    assert set(entries) == {"classic", "vintage", "legacy", "modern"}
    name, installs = entries["modern"]
    assert name.endswith("PYHF_BENCH_ERAmodern") and "jax" in installs and "dask" not in installs


def test_the_machine_is_registered_outside_a_terminal(tmp_path):
    """A fresh HOME (no ~/.asv-machine.json) and no terminal: asv itself would stop; run registers the machine."""
    code = ("import json; from pyhf_bench import runner; "
            "print('@@' + json.dumps([runner.ensure_machine(None), runner.ensure_machine(None)]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, HOME=str(tmp_path)), timeout=120)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("@@"))
    (name, first), (again, second) = json.loads(line[2:])
    assert (first, second) == (True, False) and name == again
    assert name in json.loads((tmp_path / ".asv-machine.json").read_text())


# Lines of a real `asv run` in an era environment (asv 0.6.6, this suite's quick tier).
ASV_LINES = """\
· Creating environments
· Discovering benchmarks
·· Building f9b57672 <v0.7.6> for virtualenv-py3.11-numpy2.4.6-PYHF_BENCH_ERAmodern
· Running 30 total benchmarks (1 commits * 1 environments * 30 benchmarks)
[ 0.00%] · For pyhf commit f9b57672 <v0.7.6>:
[ 0.00%] ·· Benchmarking virtualenv-py3.11-numpy2.4.6-PYHF_BENCH_ERAmodern
[13.33%] ··· Running (synthetic_models.Logpdf.time_logpdf--).
[50.00%] ··· synthetic_models.Logpdf.time_logpdf                ok
[50.00%] ··· ========= ======== =========
             backend   device   64b
             ========= ======== =========
               numpy     cpu     502±4μs
               numpy     gpu       n/a
             ========= ======== =========
"""


def test_asv_output_is_condensed_to_progress_lines():
    progress = runner.Progress(total=60)
    progress.begin("era modern", 30, {"synthetic_models.Logpdf.time_logpdf"})
    shown = [line for line in map(progress.line, ASV_LINES.splitlines()) if line]
    assert shown[0] == "  era modern: Creating environments"
    assert shown[1] == "  era modern: Building f9b57672 <v0.7.6>"  # no 100-character environment name
    assert shown[2].endswith("era modern, f9b57672 <v0.7.6>: running synthetic_models.Logpdf.time_logpdf")
    assert shown[3].endswith("era modern, f9b57672 <v0.7.6>: synthetic_models.Logpdf.time_logpdf ok")
    assert len(shown) == 4  # the table stays in the log
    # Half of this call is half of the first of two equal calls: a quarter of the run.
    assert progress.fraction(50.0) == 0.25
    progress.end()
    progress.begin("era modern (memory)", 30, set())
    assert progress.fraction(0.0) == 0.5


def test_the_tally_counts_only_the_selected_combinations(tmp_path):
    nan = float("nan")
    data = {
        "result_columns": ["result", "params"],
        "results": {
            "m.A.time_a": [[1.0, nan, None, 2.0], [["'numpy'", "'jax'"], ["1", "10"]]],
            "m.B.time_b": [[3.0], []],
            "m.C.time_c": [None, []],
        },
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data).replace("NaN", "NaN"))
    counts = runner.tally(path, [r"^m\.A\.time_a\((?:'numpy', 1|'numpy', 10|'jax', 1)\)$", r"^m\.B\.time_b$"])
    assert (counts.measured, counts.skipped, counts.failed) == (2, 1, ["m.A.time_a('jax', 1)"])
    everything = runner.tally(path, [r"^m\."])
    assert (everything.measured, everything.skipped, len(everything.failed)) == (3, 1, 2)
    assert math.isnan(json.loads(path.read_text())["results"]["m.A.time_a"][0][1])


def test_without_network_the_default_route_says_how_to_use_a_local_clone(tmp_path):
    """No --repo: asv would clone GitHub (exit 128 here, a traceback); run gives one line naming --repo."""
    conf = json.loads(json.dumps({"version": 1, "project": "pyhf", "repo": "http://127.0.0.1:9/pyhf.git",
                                  "environment_type": "virtualenv", "env_dir": str(tmp_path / "env"),
                                  "results_dir": str(tmp_path / "results"), "html_dir": str(tmp_path / "html")}))
    config = tmp_path / "asv.conf.json"
    config.write_text(json.dumps(conf))
    proc = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "run", "--config", str(config), "--dry-run"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot clone" in lines[0] and "--repo PATH" in lines[0], proc.stderr
