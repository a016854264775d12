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

from pyhf_bench import UserError
from pyhf_bench.asvtools import asvoutput
from pyhf_bench.asvtools import eraplan
from pyhf_bench.asvtools import runner
from pyhf_bench.core import support

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
    assert eraplan.release_tags(repo) == ["v0.6.3", "v0.7.0", "v0.7.5", "v0.7.6"]
    assert runner.resolve_commits(repo, [runner.LATEST]) == [_rev(repo, "v0.7.6")]
    assert runner.resolve_commits(repo, [runner.TAGS]) == [_rev(repo, t) for t in eraplan.release_tags(repo)]


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
    versions = {era: [p.version for p in rows] for era, rows in grouped.items()}
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
    assert "(pyhf 0.5.4): release v0.5.4: in no era" in capsys.readouterr().err


PYPROJECT = """[project]
name = "pyhf"
dependencies = ["scipy>=1.2.0{scipy}", "numpy"]
[project.optional-dependencies]
jax = ["jax>=0.4.1", "jaxlib>=0.4.1"]
{extra}
"""


@pytest.fixture(scope="module")
def real_shape(tmp_path_factory) -> Path:
    """pyhf's shape: v0.7.4 on main, v0.7.5 and v0.7.6 on a release branch main never merges, then main moves on.

    main's later commits describe as 0.7.5.devN (the tag main can see), though they are
    dated after v0.7.6: one plain, one that pins scipy<1.16 (the modern era has 1.17.1),
    one that needs a jax no era has.
    """
    path = tmp_path_factory.mktemp("pyhf-real")
    day = 86400
    start = 1_700_000_000

    def commit(message: str, when: int, scipy: str = "", extra: str = "") -> str:
        (path / "pyproject.toml").write_text(PYPROJECT.format(scipy=scipy, extra=extra))
        _git(path, "add", "pyproject.toml")
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                   GIT_COMMITTER_EMAIL="t@t", GIT_COMMITTER_DATE=f"@{when} +0000", GIT_AUTHOR_DATE=f"@{when} +0000")
        subprocess.run(["git", "-C", str(path), "commit", "-q", "--allow-empty", "-m", message], check=True, env=env)
        return _git(path, "rev-parse", "HEAD")

    _git(path, "init", "-q", "-b", "main")
    commit("release 0.7.4", start)
    _git(path, "tag", "v0.7.4")
    _git(path, "checkout", "-q", "-b", "release/v0.7.x")
    commit("release 0.7.5", start + 10 * day)
    _git(path, "tag", "v0.7.5")
    commit("release 0.7.6", start + 20 * day)
    _git(path, "tag", "v0.7.6")
    _git(path, "checkout", "-q", "main")
    commit("main between 0.7.4 and 0.7.5", start + 5 * day)
    commit("main after 0.7.6", start + 30 * day)
    commit("main pins scipy<1.16", start + 31 * day, scipy=",<1.16")
    commit("main needs jax 99", start + 32 * day, extra='minuit = ["iminuit>=2"]\nbackends = ["jax>=99"]')
    return path


def test_main_commits_get_the_era_of_their_date_not_of_git_describe(real_shape, capsys):
    commits = runner.resolve_commits(real_shape, ["v0.7.4..main", runner.TAGS])
    grouped = runner.plan(real_shape, commits)
    placed = {p.commit: (era, p.version, p.why) for era, rows in grouped.items() for p in rows}
    main = _git(real_shape, "rev-list", "--reverse", "v0.7.4..main").split()
    # describe sees only v0.7.4 from main: its versions say 0.7.5.devN ...
    assert [placed[c][1] for c in main[:3]] == ["0.7.5.dev1", "0.7.5.dev2", "0.7.5.dev3"]
    # ... but the era follows the date: vintage before v0.7.5 was tagged, modern after v0.7.6.
    assert placed[main[0]][0] == "vintage" and "after v0.7.4" in placed[main[0]][2]
    assert placed[main[1]][0] == "modern" and "after v0.7.6" in placed[main[1]][2]
    # A commit whose pyproject.toml conflicts with its era goes to the nearest era that fits, saying why.
    era, _, why = placed[main[2]]
    assert era == "legacy" and "scipy<1.16,>=1.2.0 (era: 1.17.1)" in why, why
    # One that no era can satisfy is left out, with the conflict named.
    assert main[3] not in placed
    assert "conflicts with every era" in capsys.readouterr().err
    # Releases keep their versions' eras.
    tags = {p.version: era for era, rows in grouped.items() for p in rows if p.why.startswith("release")}
    assert tags == {"0.7.4": "vintage", "0.7.5": "legacy", "0.7.6": "modern"}


def test_eras_json_pins_are_the_asv_matrix_requirements():
    """The guard checks environments against eras.json's pins: they must be what asv installs."""
    from asv import util  # asv: optional (the dev extra)

    conf = util.load_json(str(ROOT / "asv.conf.json"), api_version=1, js_comments=True)
    for entry in conf["include"]:
        assert support.eras()[entry["env_nobuild"]["PYHF_BENCH_ERA"]]["pins"] == entry["req"]


def test_the_guard_sees_a_changed_pin(tmp_path):
    """A venv standing for an era environment where installing 'a commit' downgraded scipy: the guard finds it."""
    era = "modern"
    pins = support.eras()[era]["pins"]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Stand-in for the change: a dist-info of an older 'scipy' shadowing the real one, as pip leaves it.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    fake = Path(site) / "scipy-1.15.3.dist-info"
    fake.mkdir(parents=True)
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: scipy\nVersion: 1.15.3\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    code = ("import json; from pyhf_bench.asvtools import eraplan; "
            f"print('@@' + json.dumps(eraplan.changed_pins({era!r})))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    changed = json.loads(out.split("@@", 1)[1])
    assert changed.get("scipy") == ["1.15.3", pins["scipy"]], changed
    assert eraplan.era_of_environment(f"virtualenv-py3.11-scipy{pins['scipy']}-PYHF_BENCH_ERA{era}") == era
    # The CPU wheel of torch says 2.13.0+cpu: the pin 2.13.0 holds (found by the first real run).
    assert eraplan.same_version("2.13.0+cpu", "2.13.0") and not eraplan.same_version("1.15.3", "1.17.1")
    assert eraplan.era_of_environment("virtualenv-py3.11-numpy2.4.6") is None


def test_every_era_has_one_environment_and_the_packages_it_installs():
    entries = runner.era_entries(ROOT / "asv.conf.json")
    assert set(entries) == {"classic", "vintage", "legacy", "modern"}
    name, installs = entries["modern"]
    assert name.endswith("PYHF_BENCH_ERAmodern") and "jax" in installs and "dask" not in installs


def test_the_machine_is_registered_outside_a_terminal(tmp_path):
    """A fresh HOME (no ~/.asv-machine.json) and no terminal: asv itself would stop; run registers the machine."""
    code = ("import json; from pyhf_bench.asvtools import asvmachine; "
            "print('@@' + json.dumps([asvmachine.ensure_machine(None), asvmachine.ensure_machine(None)]))")
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
[85.00%] ··· ...tic_models.BatchedLogpdf.time_batched_logpdf                 ok
[85.00%] ··· ============ ======== =========== ============ ===========
"""


def test_asv_output_is_condensed_to_progress_lines():
    progress = asvoutput.Progress(total=60)
    progress.begin("era modern", 30, {"synthetic_models.Logpdf.time_logpdf",
                                      "synthetic_models.BatchedLogpdf.time_batched_logpdf"})
    shown = [line for line in map(progress.line, ASV_LINES.splitlines()) if line]
    assert shown[0] == "  era modern: Creating environments"
    assert shown[1] == "  era modern: Building f9b57672 <v0.7.6>"  # no 100-character environment name
    assert shown[2].endswith("era modern, f9b57672 <v0.7.6>: running synthetic_models.Logpdf.time_logpdf")
    assert shown[3].endswith("era modern, f9b57672 <v0.7.6>: synthetic_models.Logpdf.time_logpdf ok")
    assert shown[4].endswith(": synthetic_models.BatchedLogpdf.time_batched_logpdf ok")  # asv shortened it
    assert len(shown) == 5  # the tables stay in the log
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
    counts = asvoutput.tally(path, [r"^m\.A\.time_a\((?:'numpy', 1|'numpy', 10|'jax', 1)\)$", r"^m\.B\.time_b$"])
    assert (counts.measured, counts.skipped, counts.failed) == (2, 1, ["m.A.time_a('jax', 1)"])
    everything = asvoutput.tally(path, [r"^m\."])
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


def test_a_ref_named_like_a_folder_is_unambiguous_to_asv_through_the_mirror(tmp_path):
    """pyhf has a tag and a top-level folder both named binder: asv's own get_tags fails in the clone, not the mirror."""
    from asv.plugins.git import Git
    from asv.util import ProcessError

    clone = tmp_path / "pyhf"
    clone.mkdir()
    _git(clone, "init", "-q", "-b", "main")
    (clone / "binder").mkdir()
    (clone / "binder" / "environment.yml").write_text("name: pyhf\n")
    _git(clone, "add", "binder")
    _git(clone, "commit", "-q", "-m", "binder")
    _git(clone, "tag", "binder")
    _git(clone, "tag", "v0.7.6")
    with pytest.raises(ProcessError):
        Git(str(clone), str(clone)).get_tags()  # what asv publish runs: git rev-list -n 1 binder
    mirror = runner.asv_repository(clone, tmp_path / "mirrors")
    head = _git(clone, "rev-parse", "HEAD")
    assert Git(str(mirror), str(mirror)).get_tags() == {"binder": head, "v0.7.6": head}
    # A new commit in the clone reaches the mirror on the next run.
    (clone / "f").write_text("x")
    _git(clone, "add", "f")
    _git(clone, "commit", "-q", "-m", "more")
    assert runner.asv_repository(clone, tmp_path / "mirrors") == mirror
    assert _git(mirror, "rev-parse", "main") == _git(clone, "rev-parse", "HEAD")


def test_review_takes_a_local_clone_too(tmp_path):
    """`review --repo PATH` is `run --repo PATH`'s route; a path that is no repository is one line, exit 2."""
    proc = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "review", "--repo", str(tmp_path / "nope"),
                           "v0.7.5", "v0.7.6"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a git repository" in lines[0], proc.stderr
