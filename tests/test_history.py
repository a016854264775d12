"""Tests of ``pyhf-bench history``: the offline pyhf git history built from PyPI sdists.

They download two real sdists (pyhf 0.7.5 and 0.7.6, ~110 kB each) once per
session into a shared cache and build pyhf wheels from clones of the history,
so they need PyPI; without it they are skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest

from pyhf_bench import UserError
from pyhf_bench.asvtools import history
from pyhf_bench.cli import history as history_cli
from pyhf_bench.cli import main

VERSIONS = ["0.7.5", "0.7.6"]
# PyPI upload times of the sdists (immutable facts of the index).
UPLOAD_TIMES = {"0.7.5": "2023-10-26T17:27:44Z", "0.7.6": "2024-01-05T17:57:12Z"}
CODE4 = "src/pyhf/interpolators/code4.py"
UNREACHABLE = "http://127.0.0.1:9/pypi/pyhf/json"  # connection refused at once

SRC = str(Path(history.__file__).resolve().parents[1])

# The real command line, in a fresh interpreter (its exit status and stderr are what the tests check).
_MAIN_SCRIPT = "import sys; from pyhf_bench.cli import main; sys.exit(main(sys.argv[1:]))"


def cli_main(argv: list[str]) -> int:
    return main(argv)


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = SRC + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", _MAIN_SCRIPT, *args], capture_output=True, text=True, env=full_env, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pyhf-bench: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def sdist_files(archive: Path, version: str) -> dict[str, bytes]:
    top = f"pyhf-{version}/"
    out = {}
    with tarfile.open(archive) as tf:
        for m in tf.getmembers():
            if m.isfile():
                assert m.name.startswith(top)
                out[m.name[len(top):]] = tf.extractfile(m).read()
    return out


def tree_files(repo: Path, rev: str) -> dict[str, bytes]:
    data = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", rev], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}


# --------------------------------------------------------------------------- #
# fixtures


@pytest.fixture(scope="session")
def pypi_online() -> None:
    try:
        urllib.request.urlopen(history.PYPI_JSON_URL, timeout=15).close()
    except OSError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PyPI unreachable: {exc}")


@pytest.fixture(scope="session")
def sdist_cache(tmp_path_factory, pypi_online) -> Path:
    cache = tmp_path_factory.getbasetemp() / "pyhf-sdist-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture(scope="module")
def built(tmp_path_factory, sdist_cache):
    """The 2-release history, built under a hostile global git config."""
    root = tmp_path_factory.mktemp("history")
    repo = root / "pyhf"
    gitconfig = root / "gitconfig"
    gitconfig.write_text(
        "[commit]\n\tgpgSign = true\n[tag]\n\tgpgSign = true\n[core]\n\tautocrlf = true\n"
        "[init]\n\tdefaultBranch = master\n[user]\n\tname = Somebody Else\n\temail = x@example.org\n"
    )
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.delenv("PYHF_BENCH_PYPI_JSON", raising=False)
        tags = history.build_history(repo, VERSIONS, sdist_cache, log=lines.append)
    return {"repo": repo, "tags": tags, "log": lines, "cache": sdist_cache}


@pytest.fixture(scope="module")
def branch_sha(built, tmp_path_factory) -> str:
    repo = built["repo"]
    new = tmp_path_factory.mktemp("pr") / "code4.py"
    original = git(repo, "show", f"v0.7.6:{CODE4}")
    new.write_text(original + "\n# pyhf-bench test: a pull request touching code4\n")
    return history.add_branch_commit(repo, "pr-code4", {CODE4: str(new)}, [], log=None)


# --------------------------------------------------------------------------- #
# the release history


def test_tags_order_and_dates(built):
    repo = built["repo"]
    assert built["tags"] == ["v0.7.5", "v0.7.6"]
    assert git(repo, "tag", "--list").split() == ["v0.7.5", "v0.7.6"]
    chain = git(repo, "rev-list", "--first-parent", "--reverse", "main").split()
    assert chain == [git(repo, "rev-parse", "v0.7.5^{commit}"), git(repo, "rev-parse", "v0.7.6^{commit}")]
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
    for version, sha in zip(VERSIONS, chain):
        fmt = "%an|%ae|%cn|%ce|%aI|%cI|%s|%G?"
        an, ae, cn, ce, ad, cd, subject, sig = git(repo, "log", "-1", f"--format={fmt}", sha).split("|")
        assert (an, ae) == (cn, ce) == (history.AUTHOR_NAME, history.AUTHOR_EMAIL)
        assert ad == cd == UPLOAD_TIMES[version].replace("Z", "+00:00")
        digest = hashlib.sha256((built["cache"] / f"pyhf-{version}.tar.gz").read_bytes()).hexdigest()
        assert subject == f"pyhf v{version} from PyPI sdist pyhf-{version}.tar.gz (sha256 {digest})"
        assert sig == "N"
    assert len(built["log"]) == 2 and all("committed" in line and "tagged v0.7." in line for line in built["log"])


def test_tree_is_the_sdist_without_build_outputs(built):
    repo = built["repo"]
    sdist = sdist_files(built["cache"] / "pyhf-0.7.6.tar.gz", "0.7.6")
    tree = tree_files(repo, "v0.7.6")
    dropped = set(sdist) - set(tree)
    assert dropped == {"PKG-INFO", "src/pyhf/_version.py"}
    assert all(history.is_build_output(p, sdist[p][:512]) for p in dropped)
    assert tree == {p: b for p, b in sdist.items() if p not in dropped}
    # the working tree is main, checked out and clean
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / CODE4).read_bytes() == sdist[CODE4]
    # the 0.7.5 -> 0.7.6 commit replaced the tree: files only in 0.7.5 are gone
    only_old = set(tree_files(repo, "v0.7.5")) - set(tree)
    assert not any((repo / p).exists() for p in only_old)


def test_describe_and_clone(built, tmp_path):
    repo = built["repo"]
    assert git(repo, "describe", "--tags") == "v0.7.6"
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    assert git(clone, "describe", "--tags", "--long", "--dirty") .startswith("v0.7.6-0-g")
    assert git(clone, "describe", "--tags", "v0.7.5") == "v0.7.5"


def test_rerun_is_a_noop_and_builds_are_reproducible(built, tmp_path, capsys, monkeypatch):
    repo = built["repo"]
    head = git(repo, "rev-parse", "HEAD")
    # Up to date: no PyPI access at all.
    monkeypatch.setenv("PYHF_BENCH_PYPI_JSON", UNREACHABLE)
    assert cli_main(["history", "build", str(repo), "--versions", "0.7.6,0.7.5",
                     "--sdist-dir", str(built["cache"])]) == 0
    assert "up to date" in capsys.readouterr().out
    assert git(repo, "rev-parse", "HEAD") == head
    monkeypatch.delenv("PYHF_BENCH_PYPI_JSON")
    # Another build of the same releases gives the same commits.
    other = tmp_path / "again"
    assert history.build_history(other, VERSIONS, built["cache"], log=None) == built["tags"]
    assert git(other, "rev-parse", "HEAD") == head


def test_append_and_refuse_insert(built, tmp_path):
    repo = tmp_path / "grow"
    lines: list[str] = []
    assert history.build_history(repo, ["0.7.5"], built["cache"], log=lines.append) == ["v0.7.5"]
    assert "cached pyhf-0.7.5.tar.gz" in lines[0]
    first = git(repo, "rev-parse", "HEAD")
    assert history.build_history(repo, "0.7.5,0.7.6", built["cache"], log=None) == ["v0.7.5", "v0.7.6"]
    assert git(repo, "rev-parse", "HEAD^") == first
    assert git(repo, "rev-parse", "HEAD") == git(built["repo"], "rev-parse", "HEAD")
    assert (repo / "src/pyhf/interpolators/code4.py").is_file()
    assert history.release_tags(repo) == ["v0.7.5", "v0.7.6"]

    late = tmp_path / "late"
    history.build_history(late, ["0.7.6"], built["cache"], log=None)
    with pytest.raises(UserError, match="append-only"):
        history.build_history(late, ["0.7.5", "0.7.6"], built["cache"], log=None)


# --------------------------------------------------------------------------- #
# branch ("pull request") commits


def test_branch_commit(built, branch_sha):
    repo = built["repo"]
    assert git(repo, "rev-parse", "refs/heads/pr-code4") == branch_sha
    assert git(repo, "rev-parse", f"{branch_sha}^") == git(repo, "rev-parse", "v0.7.6^{commit}")
    assert git(repo, "diff", "--name-status", "v0.7.6", branch_sha).split() == ["M", CODE4]
    assert git(repo, "show", f"{branch_sha}:{CODE4}").endswith("# pyhf-bench test: a pull request touching code4")
    # main untouched, still checked out, working tree clean and unchanged
    assert git(repo, "rev-parse", "main") == git(repo, "rev-parse", "v0.7.6^{commit}")
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(repo, "status", "--porcelain") == ""
    assert "pull request touching" not in (repo / CODE4).read_text()
    # dated after its parent, so builds are reproducible
    assert int(git(repo, "log", "-1", "--format=%ct", branch_sha)) > int(
        git(repo, "log", "-1", "--format=%ct", "v0.7.6"))


def test_branch_cli_on_top_delete_and_noop(built, tmp_path, capsys):
    repo = tmp_path / "prs"
    history.build_history(repo, VERSIONS, built["cache"], log=None)
    newfile = tmp_path / "new.py"
    newfile.write_text("x = 1\n")
    argv = ["history", "build", str(repo), "--versions", ",".join(VERSIONS), "--sdist-dir", str(built["cache"]),
            "--branch", "pr", "--base", "v0.7.5", "--replace", f"src/pyhf/new_module.py={newfile}",
            "--message", "Add a module"]
    assert cli_main(argv) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert git(repo, "rev-parse", "pr") == first
    assert git(repo, "rev-parse", "pr^") == git(repo, "rev-parse", "v0.7.5^{commit}")
    assert git(repo, "log", "-1", "--format=%s", "pr") == "Add a module"
    # Existing branch: the next commit goes on top of it.
    second = history.add_branch_commit(repo, "pr", {}, ["src/pyhf/interpolators/code0.py"], log=None)
    assert git(repo, "rev-parse", "pr^") == first
    assert git(repo, "diff", "--name-status", first, second).split() == ["D", "src/pyhf/interpolators/code0.py"]
    # The same change again is a no-op.
    assert history.add_branch_commit(repo, "pr", {"src/pyhf/new_module.py": str(newfile)}, [], log=None) == second
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / "src/pyhf/new_module.py").exists()


# --------------------------------------------------------------------------- #
# building pyhf from clones, as asv does


def _wheel(repo: Path, ref: str, tmp_path: Path) -> list[str]:
    clone = tmp_path / f"clone-{ref}"
    subprocess.run(["git", "clone", "-q", "--branch", ref, str(repo), str(clone)], check=True)
    out = tmp_path / f"wheels-{ref}"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", str(out),
         str(clone)], capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sorted(p.name for p in out.iterdir())


def test_wheel_from_release_tag_has_the_tag_version(built, tmp_path):
    assert _wheel(built["repo"], "v0.7.6", tmp_path) == ["pyhf-0.7.6-py3-none-any.whl"]


def test_wheel_from_branch_commit_has_a_dev_version(built, branch_sha, tmp_path):
    names = _wheel(built["repo"], "pr-code4", tmp_path)
    assert len(names) == 1 and names[0].startswith("pyhf-") and names[0].endswith("-py3-none-any.whl")
    version = names[0].split("-")[1]
    assert version != "0.7.6" and ".dev" in version, version  # 0.7.7.dev1


# --------------------------------------------------------------------------- #
# downloads, the cache and sha256 checks


def test_sha256_mismatch_on_download(built, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    good = (built["cache"] / "pyhf-0.7.6.tar.gz").read_bytes()
    (cache / "pyhf-0.7.6.tar.gz").write_bytes(good)
    with pytest.raises(UserError, match="sha256 mismatch for pyhf-0.7.6.tar.gz") as err:
        history.build_history(tmp_path / "repo", ["0.7.6"], cache, expected_sha256={"0.7.6": "0" * 64}, log=None)
    assert "\n" not in str(err.value)
    # nothing written: no repository, the cached file untouched, no temp files
    assert not (tmp_path / "repo").exists()
    assert sorted(p.name for p in cache.iterdir()) == ["pyhf-0.7.6.tar.gz"]
    assert (cache / "pyhf-0.7.6.tar.gz").read_bytes() == good


def test_corrupt_cache_is_downloaded_again(built, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "pyhf-0.7.6.tar.gz").write_bytes(b"tampered")
    lines: list[str] = []
    history.build_history(tmp_path / "repo", ["0.7.6"], cache, log=lines.append)
    assert "does not match PyPI's sha256" in lines[0] and "downloaded" in lines[1]
    digest = hashlib.sha256((cache / "pyhf-0.7.6.tar.gz").read_bytes()).hexdigest()
    assert (cache / "pyhf-0.7.6.tar.gz.sha256").read_text().split() == [digest, "pyhf-0.7.6.tar.gz"]
    assert json.loads((cache / "pyhf-0.7.6.tar.gz.json").read_text())["upload_time_iso_8601"].startswith(
        UPLOAD_TIMES["0.7.6"][:19])


def test_offline_uses_verified_cache(built, tmp_path, monkeypatch):
    monkeypatch.setenv("PYHF_BENCH_PYPI_JSON", UNREACHABLE)
    lines: list[str] = []
    repo = tmp_path / "repo"
    assert history.build_history(repo, VERSIONS, built["cache"], log=lines.append) == ["v0.7.5", "v0.7.6"]
    assert all("PyPI unreachable, sha256 matches sidecar" in line for line in lines)
    # same commits as online: the upload times come from the cache's metadata
    assert git(repo, "rev-parse", "HEAD") == git(built["repo"], "rev-parse", "HEAD")


def test_offline_sidecar_mismatch(built, tmp_path, monkeypatch):
    monkeypatch.setenv("PYHF_BENCH_PYPI_JSON", UNREACHABLE)
    cache = tmp_path / "cache"
    cache.mkdir()
    for suffix in ("", ".sha256", ".json"):
        name = f"pyhf-0.7.6.tar.gz{suffix}"
        (cache / name).write_bytes((built["cache"] / name).read_bytes())
    with open(cache / "pyhf-0.7.6.tar.gz", "ab") as fh:
        fh.write(b"\0")
    proc = run_cli("history", "build", str(tmp_path / "repo"), "--versions", "0.7.6", "--sdist-dir", str(cache),
                   env={"PYHF_BENCH_PYPI_JSON": UNREACHABLE})
    assert_one_line_error(proc, "sha256 mismatch", "sidecar")
    assert not (tmp_path / "repo").exists()


def test_offline_without_cache(tmp_path):
    proc = run_cli("history", "build", str(tmp_path / "repo"), "--versions", "0.7.6",
                   "--sdist-dir", str(tmp_path / "empty"), env={"PYHF_BENCH_PYPI_JSON": UNREACHABLE})
    assert_one_line_error(proc, "cannot reach PyPI", "no cached pyhf-0.7.6.tar.gz")


def _evil_sdist(cache: Path, version: str, member: tarfile.TarInfo, data: bytes = b"") -> None:
    cache.mkdir(exist_ok=True)
    with tarfile.open(cache / f"pyhf-{version}.tar.gz", "w:gz") as tf:
        ok = tarfile.TarInfo(f"pyhf-{version}/setup.py")
        ok.size = 3
        tf.addfile(ok, io.BytesIO(b"x=1"))
        tf.addfile(member, io.BytesIO(data) if member.isfile() else None)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink-out", "other-top", "hardlink-out", "fifo",
                                  "drive"])
def test_unsafe_sdist_rejected(tmp_path, monkeypatch, kind):
    monkeypatch.setenv("PYHF_BENCH_PYPI_JSON", UNREACHABLE)
    version = "9.9.9"
    if kind == "dotdot":
        member = tarfile.TarInfo(f"pyhf-{version}/../../evil.py")
    elif kind == "absolute":
        member = tarfile.TarInfo("/tmp/evil.py")
    elif kind == "other-top":
        member = tarfile.TarInfo("elsewhere/evil.py")
    elif kind == "hardlink-out":
        member = tarfile.TarInfo(f"pyhf-{version}/hard")
        member.type = tarfile.LNKTYPE
        member.linkname = "elsewhere/evil.py"
    elif kind == "fifo":
        member = tarfile.TarInfo(f"pyhf-{version}/fifo")
        member.type = tarfile.FIFOTYPE
    elif kind == "drive":
        member = tarfile.TarInfo("C:/evil.py")
    else:
        member = tarfile.TarInfo(f"pyhf-{version}/link")
        member.type = tarfile.SYMTYPE
        member.linkname = "../../../etc/passwd"
    _evil_sdist(tmp_path / "cache", version, member, b"bad")
    with pytest.raises(UserError, match="outside|special file") as err:
        history.build_history(tmp_path / "repo", [version], tmp_path / "cache", log=None)
    assert "\n" not in str(err.value) and str(err.value).endswith("; delete it and rerun")
    assert not (tmp_path / "evil.py").exists()


def test_sdist_links_and_execute_bits_reach_the_tree(tmp_path, monkeypatch):
    """Links inside the sdist's folder are kept (as git links), execute bits too; no network needed."""
    monkeypatch.setenv("PYHF_BENCH_PYPI_JSON", UNREACHABLE)
    version = "9.9.8"
    script = tarfile.TarInfo(f"pyhf-{version}/run.sh")
    script.mode = 0o755
    script.size = 10
    link = tarfile.TarInfo(f"pyhf-{version}/docs/setup.py")
    link.type = tarfile.SYMTYPE
    link.linkname = "../setup.py"
    hard = tarfile.TarInfo(f"pyhf-{version}/setup-copy.py")
    hard.type = tarfile.LNKTYPE
    hard.linkname = f"pyhf-{version}/setup.py"
    cache = tmp_path / "cache"
    _evil_sdist(cache, version, script, b"#!/bin/sh\n")
    data = io.BytesIO()
    with tarfile.open(cache / f"pyhf-{version}.tar.gz") as src, tarfile.open(fileobj=data, mode="w:gz") as out:
        for m in src.getmembers():
            out.addfile(m, src.extractfile(m) if m.isfile() else None)
        out.addfile(link)
        out.addfile(hard)
    (cache / f"pyhf-{version}.tar.gz").write_bytes(data.getvalue())
    repo = tmp_path / "repo"
    assert history.build_history(repo, [version], cache, log=None) == [f"v{version}"]
    entries = {line.split("\t")[1]: line.split()[0] for line in git(repo, "ls-tree", "-r", "HEAD").splitlines()}
    assert entries == {"setup.py": "100644", "run.sh": "100755", "docs/setup.py": "120000",
                       "setup-copy.py": "100644"}
    assert git(repo, "cat-file", "-p", "HEAD:docs/setup.py") == "../setup.py"


# --------------------------------------------------------------------------- #
# bad input through the command line: exit 2 and one line


def test_cli_missing_release(tmp_path, pypi_online):
    proc = run_cli("history", "build", str(tmp_path / "repo"), "--versions", "0.7.9",
                   "--sdist-dir", str(tmp_path / "cache"))
    line = assert_one_line_error(proc, "pyhf 0.7.9 is not on PyPI", "known releases:", "latest 0.7.6")
    assert "0.7.5" in line
    assert not (tmp_path / "repo").exists()


def test_cli_not_a_git_repository(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "a.txt").write_text("a")
    proc = run_cli("history", "build", str(tmp_path / "stuff"), "--sdist-dir", str(tmp_path / "cache"))
    assert_one_line_error(proc, "is not a git repository", "give an empty or new directory")


def test_cli_path_is_a_file(tmp_path):
    (tmp_path / "file").write_text("a")
    proc = run_cli("history", "build", str(tmp_path / "file"), "--sdist-dir", str(tmp_path / "cache"))
    assert_one_line_error(proc, "is a file")


def test_cli_foreign_git_repository(tmp_path):
    repo = tmp_path / "foreign"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "a").write_text("a")
    env = dict(os.environ, GIT_AUTHOR_NAME="x", GIT_AUTHOR_EMAIL="x@y", GIT_COMMITTER_NAME="x",
               GIT_COMMITTER_EMAIL="x@y")
    subprocess.run(["git", "-C", str(repo), "add", "a"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "commit.gpgSign=false", "commit", "-q", "-m", "a"],
                   check=True, env=env)
    proc = run_cli("history", "build", str(repo), "--sdist-dir", str(tmp_path / "cache"))
    assert_one_line_error(proc, "not built by pyhf-bench")


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--branch", "pr", "--delete", "src/pyhf/nope.py"], ["--delete src/pyhf/nope.py", "no such file"]),
        (["--branch", "pr"], ["needs changes"]),
        (["--branch", "pr", "--replace", "../outside.py=LOCAL"], ["escapes the pyhf repository"]),
        (["--branch", "pr", "--replace", "/abs.py=LOCAL"], ["relative to the pyhf repository root"]),
        (["--branch", "pr", "--replace", f"{CODE4}=/nonexistent/file.py"], ["does not exist"]),
        (["--branch", "pr", "--replace", "src/pyhf"], ["REPO_PATH=LOCAL_FILE"]),
        (["--branch", "pr", "--replace", "src/pyhf=LOCAL"], ["is a directory"]),
        (["--branch", "main", "--delete", CODE4], ["reserved"]),
        (["--branch", "pr", "--base", "nope", "--delete", CODE4], ["--base nope is not a commit"]),
        (["--delete", CODE4], ["needs --branch"]),
        (["--versions", "0.7.x"], ["bad pyhf version"]),
    ],
)
def test_cli_bad_branch_input(built, tmp_path, extra, needles):
    local = tmp_path / "local.py"
    local.write_text("pass\n")
    extra = [a.replace("LOCAL", str(local)) for a in extra]
    repo = built["repo"]
    before = git(repo, "for-each-ref")
    proc = run_cli("history", "build", str(repo), "--versions", ",".join(VERSIONS),
                   "--sdist-dir", str(built["cache"]), *extra, env={"PYHF_BENCH_PYPI_JSON": UNREACHABLE})
    assert_one_line_error(proc, *needles)
    assert git(repo, "for-each-ref") == before


# --------------------------------------------------------------------------- #
# small pieces


def test_parse_versions():
    assert history.parse_versions("0.7.10, v0.7.9,0.6.3,0.7.9") == ["0.6.3", "0.7.9", "0.7.10"]
    assert history.parse_versions(None) == list(history.DEFAULT_VERSIONS)
    assert history.DEFAULT_VERSIONS == ("0.6.3", "0.7.0", "0.7.1", "0.7.2", "0.7.3", "0.7.4", "0.7.5", "0.7.6")
    for bad in ("0.7.0rc1", "", "latest"):
        with pytest.raises(UserError):
            history.parse_versions(bad)


def test_default_sdist_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert history.default_sdist_dir() == tmp_path / "pyhf-bench" / "sdists"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert history.default_sdist_dir() == Path.home() / ".cache" / "pyhf-bench" / "sdists"


def test_is_build_output():
    assert history.is_build_output("PKG-INFO")
    assert history.is_build_output("src/pyhf.egg-info/SOURCES.txt")
    assert history.is_build_output(
        "src/pyhf/_version.py", b"# file generated by setuptools_scm\n# don't change, don't track in version control\n")
    assert not history.is_build_output("src/pyhf/_version.py", b"__version__ = '1'\n")
    assert not history.is_build_output("src/pyhf/PKG-INFO")
    assert not history.is_build_output("setup.cfg")


def test_add_parsers_sets_func():
    parser = argparse.ArgumentParser(prog="pyhf-bench")
    sub = parser.add_subparsers(dest="command", required=True)
    history_cli.add_parsers(sub)
    args = parser.parse_args(["history", "build", "somewhere", "--branch", "b", "--replace", "a=b",
                              "--replace", "c=d", "--delete", "e"])
    assert callable(args.func)
    assert (args.path, args.branch, args.replace, args.delete) == ("somewhere", "b", ["a=b", "c=d"], ["e"])
