"""Git plumbing for the offline pyhf history: git as a subprocess, immune to the user's configuration, and the
repository at PATH (is it ours, its release tags, its checked-out ``main``).

Trees and commits are written with git's plumbing (no ignore rules,
attributes, hooks or user configuration apply), with a fixed author and
given dates, so two builds of the same releases give the same commit hashes.
The bottom of the history modules: it imports none of them.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from pyhf_bench import UserError

AUTHOR_NAME = "pyhf release (from PyPI sdist)"
AUTHOR_EMAIL = "pyhf-bench@localhost"
#: Author of the "pull request" commits added with ``--branch``.
BRANCH_AUTHOR_NAME = "pyhf-bench branch commit"
TAG_RE = re.compile(r"^v(\d+(?:\.\d+)*)$")
ZERO_SHA = "0" * 40


def version_key(version: str) -> tuple[int, ...]:
    """Release order of a final version number (``0.7.10`` after ``0.7.9``)."""
    return tuple(int(part) for part in version.split("."))


def _git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Variables a calling git (e.g. a hook) may have set would redirect us.
    for key in (
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
        "GIT_COMMON_DIR",
        "GIT_CEILING_DIRECTORIES",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_DATE",
    ):
        env.pop(key, None)
    env.update(
        {
            "GIT_AUTHOR_NAME": AUTHOR_NAME,
            "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
            "GIT_COMMITTER_NAME": AUTHOR_NAME,
            "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
            "LANGUAGE": "C",
        }
    )
    if extra:
        env.update(extra)
    return env


_GIT_CONFIG = (
    "user.name=" + AUTHOR_NAME,
    "user.email=" + AUTHOR_EMAIL,
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "init.defaultBranch=main",
    "i18n.commitEncoding=UTF-8",
    "advice.detachedHead=false",
)


def git(
    repo: Path | str | None,
    *args: str,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    text: bool = True,
) -> subprocess.CompletedProcess:
    cmd = ["git"]
    for item in _GIT_CONFIG:
        cmd += ["-c", item]
    if repo is not None:
        cmd += ["-C", str(repo)]
    cmd += list(args)
    if text and isinstance(input, bytes):
        text = False
    try:
        proc = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=text,
            env=_git_env(env),
        )
    except FileNotFoundError:  # pragma: no cover - no git at all
        raise UserError("git is not installed or not on PATH; install git and rerun") from None
    if check and proc.returncode != 0:
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
        raise RuntimeError(f"{' '.join(cmd[len(_GIT_CONFIG) * 2 + 1:])} failed ({proc.returncode}): {err.strip()}")
    return proc


def git_out(repo: Path | str | None, *args: str, **kw) -> str:
    """git's stripped output as text, also when the input was bytes (a link's target for hash-object)."""
    out = git(repo, *args, **kw).stdout
    return (out.decode("utf-8", "replace") if isinstance(out, bytes) else out).strip()


def rev(repo: Path, ref: str) -> str | None:
    proc = git(repo, "rev-parse", "--verify", "--quiet", ref + "^{commit}", check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def commit_time(repo: Path, rev: str) -> int:
    return int(git_out(repo, "log", "-1", "--format=%ct", rev))


def commit_tree(
    repo: Path, tree: str, parents: Sequence[str], message: str, epoch: int, name: str = AUTHOR_NAME
) -> str:
    date = f"@{epoch} +0000"
    args = ["commit-tree", tree]
    for p in parents:
        args += ["-p", p]
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_COMMITTER_NAME": name,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    return git_out(repo, *args, input=message, env=env)


def init_repo(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    git(None, "init", "-q", str(path))
    git(path, "symbolic-ref", "HEAD", "refs/heads/main")


def open_repo(path: Path, create: bool) -> Path | None:
    """Return PATH when it is a git repository's root, None when it is new or an
    empty directory and *create* is true; raise UserError otherwise."""
    if path.exists() and not path.is_dir():
        raise UserError(
            f"{path} is a file, not a directory; give an empty or new "
            "directory, or a history built by pyhf-bench"
        )
    if path.is_dir() and (path / ".git").exists():
        proc = git(path, "rev-parse", "--show-toplevel", check=False)
        top = proc.stdout.strip()
        if proc.returncode == 0 and top and os.path.samefile(top, path):
            if rev(path, "HEAD") is None and git_out(path, "for-each-ref", "--count=1"):
                raise UserError(
                    f"{path} is a git repository that was not built by "
                    "pyhf-bench; give an empty or new directory, or a history built by pyhf-bench"
                )
            return path
    if path.is_dir() and any(path.iterdir()):
        raise UserError(
            f"{path} is not a git repository; give an empty or new "
            "directory, or a history built by pyhf-bench"
        )
    if not create:
        raise UserError(
            f"{path} holds no pyhf history; build one first with "
            f"pyhf-bench history build {path}"
        )
    return None


@dataclass
class HistoryState:
    main: str | None  # tip of main, None for an empty repository
    tags: list[str]  # release tags on main, oldest first


def read_history(repo: Path) -> HistoryState:
    main = rev(repo, "refs/heads/main")
    if main is None:
        if git_out(repo, "for-each-ref", "--count=1"):
            raise UserError(
                f"{repo} is a git repository without a pyhf-bench 'main' branch; give an empty "
                "or new directory, or a history built by pyhf-bench"
            )
        return HistoryState(None, [])
    chain = git_out(repo, "rev-list", "--first-parent", "--reverse", "refs/heads/main").split()
    root_email = git_out(repo, "log", "-1", "--format=%ae", chain[0])
    if root_email != AUTHOR_EMAIL:
        raise UserError(
            f"{repo} is a git repository that was not built by pyhf-bench; give an empty or "
            "new directory, or a history built by pyhf-bench"
        )
    by_commit: dict[str, list[str]] = {}
    refs = git_out(
        repo, "for-each-ref", "refs/tags", "--format=%(refname:strip=2) %(objectname) %(*objectname)"
    )
    for line in refs.splitlines():
        parts = line.split()
        if len(parts) < 2 or not TAG_RE.match(parts[0]):
            continue
        commit = parts[2] if len(parts) > 2 else parts[1]
        by_commit.setdefault(commit, []).append(parts[0])
    tags: list[str] = []
    for commit in chain:
        tags.extend(sorted(by_commit.get(commit, []), key=lambda t: version_key(t[1:])))
    if chain[-1] not in by_commit:
        last = tags[-1] if tags else "(none)"
        raise UserError(
            f"branch main of {repo} has commits after its last release tag {last}; "
            "it is append-only, so build the history into a new directory"
        )
    return HistoryState(main, tags)


def release_tags(path: str | os.PathLike) -> list[str]:
    """The release tags (``vX.Y.Z``) on ``main`` of the history at *path*, oldest first."""
    repo = open_repo(Path(path).expanduser().absolute(), create=False)
    assert repo is not None
    return read_history(repo).tags


def _is_dirty(repo: Path) -> bool:
    return bool(git_out(repo, "status", "--porcelain", "--untracked-files=no"))


def on_main(repo: Path) -> bool:
    return git_out(repo, "symbolic-ref", "-q", "HEAD", check=False) == "refs/heads/main"


def sync_worktree(repo: Path) -> None:
    """Check out ``main`` (HEAD on main, index and tracked files matching it)."""
    git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    if rev(repo, "refs/heads/main") is not None:
        git(repo, "reset", "-q", "--hard", "refs/heads/main")


def require_clean(repo: Path) -> None:
    if rev(repo, "HEAD") is not None and _is_dirty(repo):
        raise UserError(
            f"{repo} has uncommitted changes to tracked files; discard them "
            f"(git -C {repo} reset --hard) and rerun"
        )

