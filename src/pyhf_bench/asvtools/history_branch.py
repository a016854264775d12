"""Branch ("pull request") commits on the offline pyhf history: a release with some files replaced or deleted.

For regression-review tests: ``pyhf-bench history build PATH --branch NAME
--replace src/pyhf/x.py=FILE --delete src/pyhf/y.py``.  The commit is dated
:data:`BRANCH_COMMIT_DELAY_S` after its parent, so its sha is reproducible.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

from pyhf_bench import UserError
from pyhf_bench.asvtools.history_git import (
    BRANCH_AUTHOR_NAME,
    TAG_RE,
    ZERO_SHA,
    commit_time,
    commit_tree,
    git,
    git_out,
    on_main,
    open_repo,
    read_history,
    require_clean,
    rev,
    sync_worktree,
)
from pyhf_bench.asvtools.history_pypi import Log

#: Seconds a branch commit is dated after its parent (keeps shas reproducible).
BRANCH_COMMIT_DELAY_S = 3600


def _repo_path(p: str) -> str:
    raw = p
    p = p.strip()
    if "\\" in p or not p or p.startswith("/") or re.match(r"^[A-Za-z]:", p):
        raise UserError(
            f"bad path {raw!r}; give a path relative to the pyhf repository root, like src/pyhf/pdf.py"
        )
    parts = [x for x in p.split("/") if x not in ("", ".")]
    if not parts or ".." in parts or ".git" in parts:
        raise UserError(
            f"bad path {raw!r}: it escapes the pyhf repository; give a path relative to its root, "
            "like src/pyhf/pdf.py"
        )
    return "/".join(parts)


def _ls_tree(repo: Path, ref: str, path: str) -> tuple[str, str, str] | None:
    out = git_out(repo, "ls-tree", "-z", ref, "--", path).rstrip("\0")
    if not out:
        return None
    meta, _, name = out.partition("\t")
    mode, typ, sha = meta.split()
    return mode, typ, sha


def add_branch_commit(
    path: str | os.PathLike,
    branch: str,
    replace: Mapping[str, str | os.PathLike] | None = None,
    delete: Iterable[str] | None = None,
    base: str | None = None,
    message: str | None = None,
    *,
    log: Log | None = print,
) -> str:
    """Add a commit to *branch* of the history at *path*; return its sha.

    *replace* maps repository paths (relative to pyhf's root) to local files
    whose contents they get (added if new); *delete* lists repository paths to
    remove.  A new branch starts at *base* (default: the newest release tag);
    an existing one gets the commit on top.  ``main`` stays checked out.  When
    the changes are already on the branch nothing is committed and the tip is
    returned.
    """
    say: Log = log or (lambda _msg: None)
    replace = dict(replace or {})
    delete = list(delete or [])
    if not replace and not delete:
        raise UserError(
            f"--branch {branch} needs changes; give --replace PATH=FILE and/or --delete PATH"
        )
    repo = open_repo(Path(path).expanduser().absolute(), create=False)
    assert repo is not None
    hist = read_history(repo)
    if not hist.tags:
        raise UserError(f"{repo} has no release history yet; build it first with pyhf-bench history build {repo}")

    tip, parent = _branch_parent(repo, hist.tags[-1], branch, base)
    updates, changes = _index_updates(repo, parent, branch, replace, delete)
    tree = _tree_with(repo, parent, updates)
    parent_tree = git_out(repo, "rev-parse", f"{parent}^{{tree}}")
    if tree == parent_tree:
        if tip is not None:
            say(f"branch {branch} already has these changes at {tip}")
            return tip
        raise UserError(f"the changes leave {base or hist.tags[-1]} unchanged; give files that differ")

    if message is None:
        message = "pyhf-bench branch commit: " + "; ".join(changes)
    message = message.rstrip("\n") + "\n"
    epoch = commit_time(repo, parent) + BRANCH_COMMIT_DELAY_S
    commit = commit_tree(repo, tree, [parent], message, epoch, name=BRANCH_AUTHOR_NAME)
    git(repo, "update-ref", f"refs/heads/{branch}", commit, tip or ZERO_SHA)
    if not on_main(repo):
        require_clean(repo)
        sync_worktree(repo)
    say(f"branch {branch}: committed {commit} on top of {parent[:12]} ({'; '.join(changes)})")
    return commit


def _branch_parent(repo: Path, newest_tag: str, branch: str, base: str | None) -> tuple[str | None, str]:
    """(the branch's tip, None for a new branch; the commit the new one goes on), after checking the names."""
    if not branch or git(repo, "check-ref-format", "--branch", branch, check=False).returncode != 0 \
            or branch.startswith("-"):
        raise UserError(f"bad branch name {branch!r}; give a git branch name like pr-faster-code4")
    if branch == "main" or TAG_RE.match(branch):
        raise UserError(f"branch name {branch!r} is reserved for the release history; choose another name")

    tip = rev(repo, f"refs/heads/{branch}")
    if base is not None:
        base_sha = rev(repo, base)
        if base_sha is None:
            raise UserError(f"--base {base} is not a commit in {repo}; give a release tag like {newest_tag}")
    else:
        base_sha = rev(repo, f"refs/tags/{newest_tag}")
    if tip is not None:
        if base is not None and git(repo, "merge-base", "--is-ancestor", base_sha, tip, check=False).returncode != 0:
            raise UserError(
                f"branch {branch} already exists and does not contain --base {base}; "
                "drop --base or choose another branch name"
            )
        parent = tip
    else:
        parent = base_sha  # type: ignore[assignment]
    return tip, parent


def _index_updates(repo: Path, parent: str, branch: str, replace: Mapping, delete: list) -> tuple[list[str], list[str]]:
    """(``git update-index --index-info`` lines, one description per change) for *replace* and *delete*."""
    changes: list[str] = []
    updates: list[str] = []
    seen: set[str] = set()
    for repo_p, local in replace.items():
        rp = _repo_path(str(repo_p))
        if rp in seen:
            raise UserError(f"{rp} is given twice; give each path once")
        seen.add(rp)
        local_p = Path(local).expanduser()
        if not local_p.is_file():
            raise UserError(
                f"--replace {repo_p}={local}: {local} does not exist or is not a file; give an existing file"
            )
        parts = rp.split("/")
        for i in range(1, len(parts)):
            hit = _ls_tree(repo, parent, "/".join(parts[:i]))
            if hit is not None and hit[1] != "tree":
                raise UserError(f"--replace {rp}: {'/'.join(parts[:i])} is a file in {branch}'s base; fix the path")
        current = _ls_tree(repo, parent, rp)
        if current is not None and current[1] == "tree":
            raise UserError(f"--replace {rp}: that is a directory in the pyhf repository; give a file path")
        if current is not None and current[0] in ("100644", "100755"):
            mode = current[0]
        else:
            mode = "100755" if os.stat(local_p).st_mode & stat.S_IXUSR else "100644"
        sha = git_out(repo, "hash-object", "-w", "--no-filters", "--", str(local_p.absolute()))
        updates.append(f"{mode} {sha}\t{rp}\0")
        changes.append(("add " if current is None else "replace ") + rp)
    for repo_p in delete:
        rp = _repo_path(str(repo_p))
        if rp in seen:
            raise UserError(f"{rp} is given twice; give each path once")
        seen.add(rp)
        current = _ls_tree(repo, parent, rp)
        if current is None:
            raise UserError(f"--delete {rp}: no such file in the pyhf repository at {parent[:12]}; check the path")
        if current[1] == "tree":
            raise UserError(f"--delete {rp}: that is a directory; give the files to delete one by one")
        updates.append(f"0 {ZERO_SHA}\t{rp}\0")
        changes.append("delete " + rp)
    return updates, changes


def _tree_with(repo: Path, parent: str, updates: list[str]) -> str:
    """The tree of *parent* with *updates* applied, written through a temporary index (the worktree untouched)."""
    with tempfile.TemporaryDirectory(prefix="pyhf-bench-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git(repo, "read-tree", parent, env=env)
        git(repo, "update-index", "-z", "--index-info", input="".join(updates).encode(), env=env)
        return git_out(repo, "write-tree", env=env)
