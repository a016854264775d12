"""`pyhf-bench run --repo` on a repository with pyhf's real shape, in real asv virtualenvs.

There is no GitHub here, so the fixture is built from PyPI sdists (the offline
history's code) and arranged the way pyhf's repository is: v0.7.4 on main,
v0.7.5 and v0.7.6 on a release branch main never merges, then main commits
dated after v0.7.6 that ``git describe`` calls 0.7.5.devN — one adds a
top-level ``binder/`` folder and a tag of the same name, one removes the
tensorflow backend, one makes the numpy backend raise, one declares
``scipy<1.16``.  The asv environment is the modern era's with only numpy and
scipy (the cheapest that proves the points).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyhf_bench.asvtools import history

from .asv_runs import modern_numpy_scipy, write_config

DAY = 86400
BROKEN_NUMPY = "\n\ndef _broken(self, *args, **kwargs):\n    raise RuntimeError('injected breakage')\n\n\n" \
               "numpy_backend.astensor = _broken\n"


def _git(repo: Path, *args: str, env: dict | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env=dict(os.environ, **(env or {}))).stdout.strip()


@pytest.fixture(scope="module")
def pyhf_like(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("real-shape")
    built = root / "built"
    history.build_history(built, versions=["0.7.4", "0.7.5", "0.7.6"], log=None)
    repo = root / "pyhf"
    subprocess.run(["git", "clone", "-q", str(built), str(repo)], check=True)
    _git(repo, "fetch", "-q", "origin", "+refs/tags/*:refs/tags/*")
    _git(repo, "checkout", "-q", "-b", "release/v0.7.x", "v0.7.6")
    _git(repo, "checkout", "-q", "-B", "main", "v0.7.4")  # main never saw v0.7.5 or v0.7.6
    v076_time = int(_git(repo, "show", "-s", "--format=%ct", "v0.7.6"))
    commits = {}

    def commit(name: str, day: int, change) -> None:
        _git(repo, "checkout", "-q", "v0.7.6" if name == "binder" else "main", "--", ".")
        change(repo)
        _git(repo, "add", "-A")
        date = f"@{v076_time + day * DAY} +0000"
        who = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@t", "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        _git(repo, "commit", "-q", "-m", name, env=who)
        commits[name] = _git(repo, "rev-parse", "HEAD")

    def add_binder(r):
        (r / "binder").mkdir(exist_ok=True)
        (r / "binder" / "environment.yml").write_text("name: pyhf\n")

    def remove_tensorflow(r):
        (r / "src/pyhf/tensor/tensorflow_backend.py").unlink()

    def break_numpy(r):
        path = r / "src/pyhf/tensor/numpy_backend.py"
        path.write_text(path.read_text() + BROKEN_NUMPY)

    def pin_old_scipy(r):
        path = r / "pyproject.toml"
        text = path.read_text()
        assert '"scipy>=1.2.0",' in text
        path.write_text(text.replace('"scipy>=1.2.0",', '"scipy>=1.2.0,<1.16",'))
        path = r / "src/pyhf/tensor/numpy_backend.py"
        path.write_text(path.read_text().replace(BROKEN_NUMPY, ""))

    commit("binder", 1, add_binder)  # main catches up with v0.7.6's code, plus binder/
    _git(repo, "tag", "binder")
    commit("no-tensorflow", 2, remove_tensorflow)
    commit("broken-numpy", 3, break_numpy)
    commit("old-scipy", 4, pin_old_scipy)
    return {"repo": repo, "commits": commits, "root": root}


def _config(tmp_path: Path) -> Path:
    """The suite's asv config with the reduced modern environment, outputs under *tmp_path* (run --repo sets repo)."""
    path = write_config(tmp_path, tmp_path / "unused", include=[modern_numpy_scipy()])
    subprocess.run([sys.executable, "-m", "asv", "machine", "--machine", "ci", "--yes"], check=True,
                   capture_output=True)
    return path


def _run(config: Path, *args: str, timeout: float = 2400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "run", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=config.parent,
                          env=dict(os.environ, PYHF_BENCH_TIER="quick", OMP_NUM_THREADS="1"))


def test_dry_run_places_main_by_date_and_moves_the_scipy_pin(pyhf_like, tmp_path):
    c = pyhf_like["commits"]
    proc = _run(_config(tmp_path), "--repo", str(pyhf_like["repo"]), "v0.7.4..main", "TAGS", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # git describe from main sees v0.7.4 only: 0.7.5.devN, which is the legacy era by version ...
    assert f"{c['binder'][:8]} pyhf 0.7.5.dev1: dated " in out and "after v0.7.6" in out
    modern = out.split("era modern:")[1].split("\n")[0]
    for name in ("binder", "no-tensorflow", "broken-numpy"):
        assert c[name][:8] in modern, out  # ... but they are 2024 code: modern, by date
    legacy = out.split("era legacy:")[1].split("\n")[0]
    assert c["old-scipy"][:8] in legacy and "scipy<1.16,>=1.2.0 (era: 1.17.1)" in out, out
    assert "era vintage: " in out  # v0.7.4, a release, by its version


@pytest.mark.integration
def test_run_over_main_publishes_and_shows_the_broken_backend_as_failed(pyhf_like, tmp_path):
    c = pyhf_like["commits"]
    config = _config(tmp_path)
    proc = _run(config, "--repo", str(pyhf_like["repo"]), "v0.7.4..main", "--era", "modern", "--publish",
                "--", "--quick", "--machine", "ci", "-b", r"synthetic_models\.Logpdf\.time_logpdf\('numpy'")
    # Exit 1: everything ran, and some combinations failed (the raising backend); 2 would be "could not run".
    assert proc.returncode == 1, proc.stdout[-5000:] + proc.stderr[-5000:]
    assert ": 4 measured, 2 combination(s) failed;" in proc.stdout, proc.stdout[-2000:]
    results = {}
    for path in (tmp_path / "results" / "ci").glob("*-*.json"):
        data = json.loads(path.read_text())
        row = dict(zip(data["result_columns"], data["results"]["synthetic_models.Logpdf.time_logpdf"]))
        results[data["commit_hash"]] = row["result"]
    assert set(results) == {c["binder"], c["no-tensorflow"], c["broken-numpy"]}
    measured = [v for v in results[c["no-tensorflow"]] if v is not None and not math.isnan(v)]
    assert len(measured) == 2  # numpy cpu 64b and 32b at 100 bins: a removed tensorflow does not touch numpy
    # The raising numpy backend: failed (None), not skipped (NaN), for every combination that ran before.
    ran_before = [i for i, v in enumerate(results[c["no-tensorflow"]]) if v is not None and not math.isnan(v)]
    assert all(results[c["broken-numpy"]][i] is None for i in ran_before), results[c["broken-numpy"]]
    assert f"{c['broken-numpy'][:8]} (pyhf 0.7.5.dev3): 0 measured, 2 failed" in proc.stdout, proc.stdout[-3000:]
    # asv publish on a repository with a tag and a folder both named binder (through the mirror).
    assert (tmp_path / "html" / "index.html").is_file()


@pytest.mark.integration
def test_an_install_that_moves_a_pin_is_undone_and_fails(pyhf_like, tmp_path):
    """Forced into the modern environment anyway (plain asv), the scipy<1.16 commit must not change the era's stack."""
    from pyhf_bench.asvtools.runner import era_environment, write_offline_config

    config = _config(tmp_path)
    offline = write_offline_config(config, pyhf_like["repo"])
    env_name = era_environment(offline, "modern")
    proc = subprocess.run([sys.executable, "-m", "asv", "--config", str(offline), "run", "-E", env_name,
                           "--machine", "ci", "--quick", "-b", r"synthetic_models\.Logpdf\.time_logpdf\('numpy'",
                           f"{pyhf_like['commits']['old-scipy']}^!"],
                          capture_output=True, text=True, timeout=2400, cwd=tmp_path,
                          env=dict(os.environ, PYHF_BENCH_TIER="quick", OMP_NUM_THREADS="1"))
    text = proc.stdout + proc.stderr
    assert "pyhf-bench era-guard: installing this commit changed the modern era's pins (scipy 1.17.1 -> " in text, \
        text[-4000:]
    python = next((tmp_path / "env").glob("*/bin/python"))
    scipy = subprocess.run([str(python), "-c", "import scipy; print(scipy.__version__)"], capture_output=True,
                           text=True, check=True).stdout.strip()
    assert scipy == "1.17.1"  # restored: the next commit runs on the era's stack
