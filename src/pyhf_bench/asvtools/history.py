"""An offline git history of pyhf, built from its PyPI source distributions.

asv normally clones https://github.com/scikit-hep/pyhf.git.  Where GitHub is
out of reach, ``pyhf-bench history build PATH`` makes a local repository that
asv can clone instead: one commit per pyhf release on branch ``main``, in
release order, each tagged ``vX.Y.Z``, whose tree is exactly the contents of
``pyhf-X.Y.Z.tar.gz`` from PyPI (top folder stripped), less the build outputs
an sdist carries (``PKG-INFO``, ``*.egg-info/``, ``src/pyhf/_version.py``; see
:func:`is_build_output`).  Because the tags are real git tags and those files
are untracked (as upstream), setuptools_scm (pyhf 0.6.3, 0.7.0) and hatch-vcs
(0.7.1 and later) resolve pyhf's version from the tags when asv builds a commit.

Commits are reproducible: author and committer are fixed, the date is the
sdist's PyPI upload time and the trees are written with git's plumbing, so two
builds of the same releases give the same commit hashes.

The same command can also add "pull request" commits on a branch
(:func:`add_branch_commit`) for regression-review tests.

The work is split by concern, each module importing only those after it:
this module (:func:`build_history`, and the public API re-exported), then
:mod:`~pyhf_bench.asvtools.history_branch` (branch commits),
:mod:`~pyhf_bench.asvtools.history_tree` (sdist to tree and commit),
:mod:`~pyhf_bench.asvtools.history_pypi` (PyPI and the sdist cache),
:mod:`~pyhf_bench.asvtools.history_git` (git plumbing, the repository at PATH).
The command line is :mod:`pyhf_bench.cli.history`.  Only the standard library
is imported; git runs as a subprocess.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from pyhf_bench import UserError
from pyhf_bench.asvtools.history_branch import BRANCH_COMMIT_DELAY_S, add_branch_commit
from pyhf_bench.asvtools.history_git import (
    AUTHOR_EMAIL,
    AUTHOR_NAME,
    BRANCH_AUTHOR_NAME,
    HistoryState,
    init_repo,
    on_main,
    open_repo,
    read_history,
    release_tags,
    require_clean,
    rev,
    sync_worktree,
    version_key,
)
from pyhf_bench.asvtools.history_pypi import (
    DEFAULT_VERSIONS,
    PYPI_JSON_URL,
    Log,
    Offline,
    Release,
    default_sdist_dir,
    fetch_json,
    fetch_sdist,
    offline_release,
    parse_versions,
    pypi_url,
    releases_from_pypi,
)
from pyhf_bench.asvtools.history_tree import add_releases, is_build_output

__all__ = [
    "DEFAULT_VERSIONS",
    "PYPI_JSON_URL",
    "AUTHOR_NAME",
    "AUTHOR_EMAIL",
    "BRANCH_AUTHOR_NAME",
    "BRANCH_COMMIT_DELAY_S",
    "Release",
    "build_history",
    "add_branch_commit",
    "release_tags",
    "is_build_output",
    "default_sdist_dir",
    "parse_versions",
]


def build_history(
    path: str | os.PathLike,
    versions: str | Iterable[str] | None = None,
    sdist_dir: str | os.PathLike | None = None,
    *,
    expected_sha256: Mapping[str, str] | None = None,
    log: Log | None = print,
) -> list[str]:
    """Build or extend the pyhf release history at *path*; return its release tags, oldest first.

    *versions* (default :data:`DEFAULT_VERSIONS`) are sorted into release order;
    those already tagged are skipped and the rest must come after the newest
    existing tag (the history is append-only).  Nothing is downloaded when the
    history is already up to date.  *sdist_dir* caches the sdists (default
    :func:`default_sdist_dir`).  *expected_sha256* (version -> digest) overrides
    PyPI's digests, e.g. to pin them.  *log* gets one progress line per release
    (``None`` for silence).  Bad input raises :class:`pyhf_bench.UserError`.
    """
    say: Log = log or (lambda _msg: None)
    wanted = parse_versions(versions)
    target = Path(path).expanduser().absolute()
    opened = open_repo(target, create=True)
    repo = opened or target  # a new repository is made once the sdists are in hand
    hist = read_history(opened) if opened else HistoryState(None, [])
    have = {t[1:] for t in hist.tags}
    new = [v for v in wanted if v not in have]
    if not new:
        if not on_main(repo):
            require_clean(repo)
            sync_worktree(repo)
        say(f"pyhf history at {repo} is up to date ({', '.join(hist.tags)})")
        return hist.tags
    _check_appendable(repo, opened is not None, hist, new)
    cache = Path(sdist_dir).expanduser().absolute() if sdist_dir is not None else default_sdist_dir()
    if cache.exists() and not cache.is_dir():
        raise UserError(f"sdist cache {cache} is a file; give a directory with --sdist-dir")
    cache.mkdir(parents=True, exist_ok=True)
    fetched = _fetch_all(new, cache, expected_sha256, say)  # everything fetched and checked before any write
    if not opened:
        init_repo(repo)
    tags = list(hist.tags)
    try:
        add_releases(repo, fetched, hist.main, tags, say)
    finally:
        sync_worktree(repo)
    return tags


def _check_appendable(repo: Path, opened: bool, hist: HistoryState, new: Sequence[str]) -> None:
    """The releases *new* go after the newest tag, none of their tags exists off main, the worktree is clean."""
    if hist.tags:
        newest = hist.tags[-1]
        if version_key(new[0]) < version_key(newest[1:]):
            raise UserError(
                f"cannot add pyhf {new[0]} to the history at {repo}: it would go before the "
                f"existing tag {newest} and the history is append-only; build into a new directory"
            )
    if opened:
        for v in new:
            if rev(repo, f"refs/tags/v{v}") is not None:
                raise UserError(
                    f"tag v{v} already exists in {repo} but is not on main; delete it "
                    f"(git -C {repo} tag -d v{v}) and rerun"
                )
        require_clean(repo)


def _fetch_all(new: Sequence[str], cache: Path, expected_sha256: Mapping[str, str] | None,
               say: Log) -> list[tuple[Release, Path, str, str]]:
    """(release, sdist file, sha256, how it was had) for each of *new*: from PyPI, or the cache when offline."""
    try:
        pypi = releases_from_pypi(fetch_json(pypi_url()), new)
        offline_reason = None
    except Offline as exc:
        pypi = {}
        offline_reason = str(exc)
    if expected_sha256:
        for v, digest in expected_sha256.items():
            if v in pypi:
                r = pypi[v]
                pypi[v] = Release(r.version, r.filename, r.url, digest.lower(), r.upload_time)
    fetched: list[tuple[Release, Path, str, str]] = []
    for v in new:
        if offline_reason is None:
            rel = pypi[v]
            if not rel.sha256:
                raise UserError(f"PyPI lists no sha256 for {rel.filename}; cannot verify it, leave {v} out")
            file, digest, how = fetch_sdist(rel, cache, say)
        else:
            rel, file, digest, how = offline_release(v, cache, offline_reason)
            if expected_sha256 and v in expected_sha256 and expected_sha256[v].lower() != digest:
                raise UserError(
                    f"sha256 mismatch for cached {file}: expected {expected_sha256[v].lower()}, "
                    f"the file has {digest}; delete it and rerun with network access"
                )
        fetched.append((rel, file, digest, how))
    return fetched
