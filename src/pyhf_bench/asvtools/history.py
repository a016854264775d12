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
sdist's PyPI upload time and the trees are written with git's plumbing (no
ignore rules, attributes, hooks or user configuration apply), so two builds of
the same releases give the same commit hashes.

The same command can also add "pull request" commits on a branch
(``--branch NAME --replace src/pyhf/x.py=FILE --delete src/pyhf/y.py``) for
regression-review tests.

Only the standard library is imported here; git runs as a subprocess.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping, Sequence

from pyhf_bench import UserError

__all__ = [
    "DEFAULT_VERSIONS",
    "PYPI_JSON_URL",
    "AUTHOR_NAME",
    "AUTHOR_EMAIL",
    "Release",
    "build_history",
    "add_branch_commit",
    "release_tags",
    "is_build_output",
    "default_sdist_dir",
    "parse_versions",
    "add_parser",
]

#: The releases a history holds unless ``--versions`` says otherwise.
DEFAULT_VERSIONS: tuple[str, ...] = (
    "0.6.3",
    "0.7.0",
    "0.7.1",
    "0.7.2",
    "0.7.3",
    "0.7.4",
    "0.7.5",
    "0.7.6",
)

#: PyPI's JSON API for pyhf; ``$PYHF_BENCH_PYPI_JSON`` overrides it.
PYPI_JSON_URL = "https://pypi.org/pypi/pyhf/json"

AUTHOR_NAME = "pyhf release (from PyPI sdist)"
AUTHOR_EMAIL = "pyhf-bench@localhost"
#: Author of the "pull request" commits added with ``--branch``.
BRANCH_AUTHOR_NAME = "pyhf-bench branch commit"

#: Seconds a branch commit is dated after its parent (keeps shas reproducible).
BRANCH_COMMIT_DELAY_S = 3600

_NETWORK_TIMEOUT_S = 60
_VERSION_RE = re.compile(r"^\d+(\.\d+)*$")
_TAG_RE = re.compile(r"^v(\d+(?:\.\d+)*)$")
_ZERO_SHA = "0" * 40

Log = Callable[[str], None]


# --------------------------------------------------------------------------- #
# versions


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def parse_versions(versions: str | Iterable[str] | None) -> list[str]:
    """Normalise a version selection into release order (numeric sort, no duplicates).

    Accepts a comma-separated string or an iterable; a leading ``v`` is dropped.
    ``None`` means :data:`DEFAULT_VERSIONS`.
    """
    if versions is None:
        versions = DEFAULT_VERSIONS
    if isinstance(versions, str):
        items = versions.split(",")
    else:
        items = list(versions)
    out: set[str] = set()
    for item in items:
        v = str(item).strip()
        if v[:1] in ("v", "V"):
            v = v[1:]
        if not v:
            continue
        if not _VERSION_RE.match(v):
            raise UserError(
                f"bad pyhf version {str(item).strip()!r}; give final release numbers "
                "like --versions 0.7.5,0.7.6"
            )
        out.add(v)
    if not out:
        raise UserError("no pyhf versions given; give release numbers like --versions 0.7.5,0.7.6")
    return sorted(out, key=_vkey)


def default_sdist_dir() -> Path:
    """``$XDG_CACHE_HOME/pyhf-bench/sdists``, else ``~/.cache/pyhf-bench/sdists``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "pyhf-bench" / "sdists"


# --------------------------------------------------------------------------- #
# git


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


# Settings that would change what we write (or stop us writing) if a user's
# config had them; given on every call so ~/.gitconfig does not matter.
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


def _git(
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


def _git_out(repo: Path | str | None, *args: str, **kw) -> str:
    return _git(repo, *args, **kw).stdout.strip()


def _rev(repo: Path, ref: str) -> str | None:
    proc = _git(repo, "rev-parse", "--verify", "--quiet", ref + "^{commit}", check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def _commit_time(repo: Path, rev: str) -> int:
    return int(_git_out(repo, "log", "-1", "--format=%ct", rev))


def _commit_tree(
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
    return _git_out(repo, *args, input=message, env=env)


# --------------------------------------------------------------------------- #
# the repository at PATH


def _init_repo(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _git(None, "init", "-q", str(path))
    _git(path, "symbolic-ref", "HEAD", "refs/heads/main")


def _open_repo(path: Path, create: bool) -> Path | None:
    """Return PATH when it is a git repository's root, None when it is new or an
    empty directory and *create* is true; raise UserError otherwise."""
    if path.exists() and not path.is_dir():
        raise UserError(
            f"{path} is a file, not a directory; give an empty or new "
            "directory, or a history built by pyhf-bench"
        )
    if path.is_dir() and (path / ".git").exists():
        proc = _git(path, "rev-parse", "--show-toplevel", check=False)
        top = proc.stdout.strip()
        if proc.returncode == 0 and top and os.path.samefile(top, path):
            if _rev(path, "HEAD") is None and _git_out(path, "for-each-ref", "--count=1"):
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
class _History:
    main: str | None  # tip of main, None for an empty repository
    tags: list[str]  # release tags on main, oldest first


def _read_history(repo: Path) -> _History:
    main = _rev(repo, "refs/heads/main")
    if main is None:
        if _git_out(repo, "for-each-ref", "--count=1"):
            raise UserError(
                f"{repo} is a git repository without a pyhf-bench 'main' branch; give an empty "
                "or new directory, or a history built by pyhf-bench"
            )
        return _History(None, [])
    chain = _git_out(repo, "rev-list", "--first-parent", "--reverse", "refs/heads/main").split()
    root_email = _git_out(repo, "log", "-1", "--format=%ae", chain[0])
    if root_email != AUTHOR_EMAIL:
        raise UserError(
            f"{repo} is a git repository that was not built by pyhf-bench; give an empty or "
            "new directory, or a history built by pyhf-bench"
        )
    by_commit: dict[str, list[str]] = {}
    refs = _git_out(
        repo, "for-each-ref", "refs/tags", "--format=%(refname:strip=2) %(objectname) %(*objectname)"
    )
    for line in refs.splitlines():
        parts = line.split()
        if len(parts) < 2 or not _TAG_RE.match(parts[0]):
            continue
        commit = parts[2] if len(parts) > 2 else parts[1]
        by_commit.setdefault(commit, []).append(parts[0])
    tags: list[str] = []
    for commit in chain:
        tags.extend(sorted(by_commit.get(commit, []), key=lambda t: _vkey(t[1:])))
    if chain[-1] not in by_commit:
        last = tags[-1] if tags else "(none)"
        raise UserError(
            f"branch main of {repo} has commits after its last release tag {last}; "
            "it is append-only, so build the history into a new directory"
        )
    return _History(main, tags)


def release_tags(path: str | os.PathLike) -> list[str]:
    """The release tags (``vX.Y.Z``) on ``main`` of the history at *path*, oldest first."""
    repo = _open_repo(Path(path).expanduser().absolute(), create=False)
    assert repo is not None
    return _read_history(repo).tags


def _is_dirty(repo: Path) -> bool:
    return bool(_git_out(repo, "status", "--porcelain", "--untracked-files=no"))


def _on_main(repo: Path) -> bool:
    return _git_out(repo, "symbolic-ref", "-q", "HEAD", check=False) == "refs/heads/main"


def _sync_worktree(repo: Path) -> None:
    """Check out ``main`` (HEAD on main, index and tracked files matching it)."""
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    if _rev(repo, "refs/heads/main") is not None:
        _git(repo, "reset", "-q", "--hard", "refs/heads/main")


def _require_clean(repo: Path) -> None:
    if _rev(repo, "HEAD") is not None and _is_dirty(repo):
        raise UserError(
            f"{repo} has uncommitted changes to tracked files; discard them "
            f"(git -C {repo} reset --hard) and rerun"
        )


# --------------------------------------------------------------------------- #
# PyPI and the sdist cache


@dataclass(frozen=True)
class Release:
    """One pyhf sdist as listed on PyPI (or recovered from the cache)."""

    version: str
    filename: str
    url: str | None
    sha256: str | None
    upload_time: str | None  # ISO 8601, UTC

    @property
    def tag(self) -> str:
        return f"v{self.version}"


class _Offline(Exception):
    pass


def _pypi_url() -> str:
    return os.environ.get("PYHF_BENCH_PYPI_JSON") or PYPI_JSON_URL


def _fetch_json(url: str) -> dict:
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "pyhf-bench"})
    try:
        with urllib.request.urlopen(req, timeout=_NETWORK_TIMEOUT_S) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = " ".join(str(getattr(exc, "reason", exc)).split())
        raise _Offline(f"{url}: {reason}") from None


def _is_final(v: str) -> bool:
    return bool(_VERSION_RE.match(v))


def _releases_from_pypi(data: dict, versions: Sequence[str]) -> dict[str, Release]:
    releases = data.get("releases") or {}
    out: dict[str, Release] = {}
    known = sorted((v for v in releases if _is_final(v)), key=_vkey)
    for v in versions:
        files = releases.get(v)
        if files is None:
            shown = ", ".join(known[-10:])
            more = "..., " if len(known) > 10 else ""
            latest = known[-1] if known else "none"
            raise UserError(
                f"pyhf {v} is not on PyPI; choose releases that exist with --versions "
                f"(known releases: {more}{shown}, latest {latest})"
            )
        sdists = [f for f in files if f.get("packagetype") == "sdist" and not f.get("yanked", False)]
        sdists = sdists or [f for f in files if f.get("packagetype") == "sdist"]
        if not sdists:
            raise UserError(
                f"pyhf {v} has no source distribution on PyPI (only "
                f"{', '.join(f.get('filename', '?') for f in files) or 'no files'}); "
                "leave it out of --versions"
            )
        # Prefer the .tar.gz (old releases may also have a .zip).
        sdists.sort(key=lambda f: (not f.get("filename", "").endswith(".tar.gz"), f.get("filename", "")))
        f = sdists[0]
        out[v] = Release(
            version=v,
            filename=f["filename"],
            url=f["url"],
            sha256=(f.get("digests") or {}).get("sha256"),
            upload_time=f.get("upload_time_iso_8601") or f.get("upload_time"),
        )
    return out


from pyhf_bench.core.files import atomic_file as _atomic_file  # noqa: E402
from pyhf_bench.core.files import sha256_file as _sha256_file  # noqa: E402


def _atomic_write_text(path: Path, text: str) -> None:
    with _atomic_file(path) as fh:
        fh.write(text)


def _sidecars(cache: Path, filename: str) -> tuple[Path, Path]:
    return cache / f"{filename}.sha256", cache / f"{filename}.json"


def _write_sidecars(cache: Path, rel: Release, digest: str) -> None:
    sha_path, meta_path = _sidecars(cache, rel.filename)
    _atomic_write_text(sha_path, f"{digest}  {rel.filename}\n")
    meta = {"version": rel.version, "filename": rel.filename, "url": rel.url, "sha256": digest,
            "upload_time_iso_8601": rel.upload_time}
    _atomic_write_text(meta_path, json.dumps(meta, indent=1, sort_keys=True) + "\n")


def _download(rel: Release, cache: Path) -> Path:
    assert rel.url and rel.sha256
    dest = cache / rel.filename
    h = hashlib.sha256()
    with _atomic_file(dest, "wb") as out:
        req = urllib.request.Request(rel.url, headers={"User-Agent": "pyhf-bench"})
        try:
            with urllib.request.urlopen(req, timeout=_NETWORK_TIMEOUT_S) as resp:
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    h.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as exc:
            raise UserError(
                f"could not download {rel.url} ({' '.join(str(getattr(exc, 'reason', exc)).split())}); check the "
                f"network, or put {rel.filename} into {cache} and rerun"
            ) from None
        digest = h.hexdigest()
        if digest != rel.sha256.lower():
            raise UserError(
                f"sha256 mismatch for {rel.filename} downloaded from {rel.url}: expected "
                f"{rel.sha256}, got {digest}; rerun later, or check what sits between you and PyPI"
            )
    _write_sidecars(cache, rel, digest)
    return dest


def _fetch_sdist(rel: Release, cache: Path, log: Log) -> tuple[Path, str, str]:
    """Return (file, sha256, how) for an online release; *how* is 'cached' or 'downloaded'."""
    path = cache / rel.filename
    if path.is_file():
        digest = _sha256_file(path)
        if digest == (rel.sha256 or "").lower():
            sha_path, meta_path = _sidecars(cache, rel.filename)
            if not sha_path.is_file() or not meta_path.is_file():
                _write_sidecars(cache, rel, digest)
            return path, digest, "cached"
        log(f"pyhf {rel.version}: cached {path} does not match PyPI's sha256; downloading it again")
    path = _download(rel, cache)
    return path, rel.sha256.lower(), "downloaded"  # type: ignore[union-attr]


def _offline_release(version: str, cache: Path, reason: str) -> tuple[Release, Path, str, str]:
    filename = f"pyhf-{version}.tar.gz"
    path = cache / filename
    if not path.is_file():
        raise UserError(
            f"cannot reach PyPI ({reason}) and there is no cached {filename} in {cache}; "
            "connect to the network, or put the sdist there and rerun"
        )
    digest = _sha256_file(path)
    sha_path, meta_path = _sidecars(cache, filename)
    how = "cached, PyPI unreachable"
    if sha_path.is_file():
        expected = (sha_path.read_text(encoding="utf-8").split() or [""])[0].lower()
        if digest != expected:
            raise UserError(
                f"sha256 mismatch for cached {path}: its sidecar {sha_path.name} says {expected}, "
                f"the file has {digest}; delete both and rerun with network access"
            )
        how += ", sha256 matches sidecar"
    else:
        how += ", no sha256 sidecar to check"
    upload_time = None
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("sha256", digest) == digest:
                upload_time = meta.get("upload_time_iso_8601")
        except ValueError:
            upload_time = None
    rel = Release(version, filename, None, digest, upload_time)
    return rel, path, digest, how


def _epoch(iso: str) -> int:
    s = iso.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


# --------------------------------------------------------------------------- #
# sdist -> git tree


def _safe_extract(archive: Path, version: str, dest: Path) -> tuple[Path, int]:
    """Extract *archive* under *dest*; return (top folder, newest member mtime)."""
    top = f"pyhf-{version}"
    newest = 0
    try:
        tf = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise UserError(f"{archive} is not a readable tar archive ({exc}); delete it and rerun") from None
    with tf:
        members = tf.getmembers()
        for m in members:
            name = m.name
            parts = PurePosixPath(name).parts
            if (
                name.startswith(("/", "\\"))
                or ".." in parts
                or (parts and parts[0] != top)
                or re.match(r"^[A-Za-z]:", name)
            ):
                raise UserError(
                    f"{archive.name} has an unsafe or unexpected member {name!r} (expected "
                    f"everything under {top}/); delete it and rerun"
                )
            if m.issym() or m.islnk():
                target = PurePosixPath(m.linkname)
                base = PurePosixPath(name).parent if m.issym() else PurePosixPath()
                resolved = os.path.normpath(str(base / target))
                if target.is_absolute() or resolved.startswith("..") or resolved.split("/")[0] != top:
                    raise UserError(
                        f"{archive.name} has a link {name!r} -> {m.linkname!r} pointing outside "
                        f"the archive; delete it and rerun"
                    )
            elif not (m.isfile() or m.isdir()):
                raise UserError(f"{archive.name} has a special file {name!r}; delete it and rerun")
            newest = max(newest, int(m.mtime))
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python without PEP 706 backports
            tf.extractall(dest, members=members)
    root = dest / top
    if not root.is_dir():
        raise UserError(f"{archive.name} has no {top}/ folder; delete it and rerun")
    return root, newest


def is_build_output(rel: str, head: bytes = b"") -> bool:
    """Whether sdist member *rel* (top folder stripped) is a build output left out of the history.

    An sdist carries files that building it generates: the root ``PKG-INFO``,
    ``*.egg-info/`` folders (setuptools) and the version file that
    setuptools_scm / hatch-vcs write (``src/pyhf/_version.py``, whose first
    lines say "don't track in version control"; *head* is the file's first
    bytes).  pyhf's own git repository tracks none of them, and committing
    them breaks version resolution from the tags: hatchling takes the version
    from a ``PKG-INFO`` it finds (every commit would build as the sdist's
    version) and a build rewriting a tracked file makes setuptools_scm see a
    dirty tree (v0.6.3 would build as 0.6.4.dev0).
    """
    parts = rel.split("/")
    if rel == "PKG-INFO":
        return True
    if any(part.endswith(".egg-info") for part in parts[:-1]):
        return True
    if parts[-1].endswith(".py") and b"generated by setuptools_scm" in head and b"track in version control" in head:
        return True
    return False


def _wrap_list(items: Sequence[str]) -> str:
    return "\n".join(f"  {item}" for item in items) if items else "  (none)"


def _tree_entries(root: Path, dropped: list[str] | None = None) -> list[tuple[str, str]]:
    """(mode, relative posix path) for every file and symlink under *root* but build outputs, sorted."""
    entries: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in list(dirnames):
            p = Path(dirpath) / name
            if p.is_symlink():
                filenames.append(name)
                dirnames.remove(name)
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if ".git" in rel.split("/"):
                raise UserError(f"the sdist contains {rel!r}, which git cannot store; leave this release out")
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                mode = "120000"
            elif stat.S_ISREG(st.st_mode):
                mode = "100755" if st.st_mode & stat.S_IXUSR else "100644"
            else:  # pragma: no cover - the data filter rejects these
                continue
            head = b""
            if mode != "120000" and rel.endswith(".py"):
                with open(p, "rb") as fh:
                    head = fh.read(512)
            if is_build_output(rel, head):
                if dropped is not None:
                    dropped.append(rel)
                continue
            entries.append((mode, rel))
    return entries


def _write_tree_from_dir(repo: Path, root: Path, dropped: list[str] | None = None) -> str:
    entries = _tree_entries(root, dropped)
    files = [rel for mode, rel in entries if mode != "120000"]
    shas: dict[str, str] = {}
    if files:
        out = _git_out(
            repo, "hash-object", "-w", "--no-filters", "--stdin-paths",
            input="".join(str(root / rel) + "\n" for rel in files),
        ).split()
        shas.update(zip(files, out))
    for mode, rel in entries:
        if mode == "120000":
            shas[rel] = _git_out(repo, "hash-object", "-w", "--stdin", input=os.readlink(root / rel).encode())
    index_info = "".join(f"{mode} {shas[rel]}\t{rel}\0" for mode, rel in entries)
    with tempfile.TemporaryDirectory(prefix="pyhf-bench-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        _git(repo, "update-index", "-z", "--index-info", input=index_info.encode(), env=env)
        return _git_out(repo, "write-tree", env=env)


# --------------------------------------------------------------------------- #
# build_history


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
    opened = _open_repo(target, create=True)
    repo = opened or target  # a new repository is made once the sdists are in hand
    hist = _read_history(opened) if opened else _History(None, [])
    have = {t[1:] for t in hist.tags}
    new = [v for v in wanted if v not in have]
    if not new:
        if not _on_main(repo):
            _require_clean(repo)
            _sync_worktree(repo)
        say(f"pyhf history at {repo} is up to date ({', '.join(hist.tags)})")
        return hist.tags
    if hist.tags:
        newest = hist.tags[-1]
        if _vkey(new[0]) < _vkey(newest[1:]):
            raise UserError(
                f"cannot add pyhf {new[0]} to the history at {repo}: it would go before the "
                f"existing tag {newest} and the history is append-only; build into a new directory"
            )
    if opened:
        for v in new:
            if _rev(repo, f"refs/tags/v{v}") is not None:
                raise UserError(
                    f"tag v{v} already exists in {repo} but is not on main; delete it "
                    f"(git -C {repo} tag -d v{v}) and rerun"
                )
        _require_clean(repo)

    cache = Path(sdist_dir).expanduser().absolute() if sdist_dir is not None else default_sdist_dir()
    if cache.exists() and not cache.is_dir():
        raise UserError(f"sdist cache {cache} is a file; give a directory with --sdist-dir")
    cache.mkdir(parents=True, exist_ok=True)

    try:
        pypi = _releases_from_pypi(_fetch_json(_pypi_url()), new)
        offline_reason = None
    except _Offline as exc:
        pypi = {}
        offline_reason = str(exc)
    if expected_sha256:
        for v, digest in expected_sha256.items():
            if v in pypi:
                r = pypi[v]
                pypi[v] = Release(r.version, r.filename, r.url, digest.lower(), r.upload_time)

    # Fetch and check everything before writing anything.
    fetched: list[tuple[Release, Path, str, str]] = []
    for v in new:
        if offline_reason is None:
            rel = pypi[v]
            if not rel.sha256:
                raise UserError(f"PyPI lists no sha256 for {rel.filename}; cannot verify it, leave {v} out")
            file, digest, how = _fetch_sdist(rel, cache, say)
        else:
            rel, file, digest, how = _offline_release(v, cache, offline_reason)
            if expected_sha256 and v in expected_sha256 and expected_sha256[v].lower() != digest:
                raise UserError(
                    f"sha256 mismatch for cached {file}: expected {expected_sha256[v].lower()}, "
                    f"the file has {digest}; delete it and rerun with network access"
                )
        fetched.append((rel, file, digest, how))

    if not opened:
        _init_repo(repo)
    parent = hist.main
    tags = list(hist.tags)
    try:
        _add_releases(repo, fetched, parent, tags, say)
    finally:
        _sync_worktree(repo)
    return tags


def _add_releases(
    repo: Path, fetched: Sequence[tuple[Release, Path, str, str]], parent: str | None, tags: list[str], say: Log
) -> None:
    with tempfile.TemporaryDirectory(prefix="pyhf-bench-sdist-") as tmp:
        for rel, file, digest, how in fetched:
            work = Path(tmp) / rel.version
            work.mkdir()
            root, newest_mtime = _safe_extract(file, rel.version, work)
            dropped: list[str] = []
            tree = _write_tree_from_dir(repo, root, dropped)
            shutil.rmtree(work, ignore_errors=True)
            if rel.upload_time:
                epoch = _epoch(rel.upload_time)
            else:
                epoch = newest_mtime
                how += ", upload time unknown: dated by the archive's newest file"
            message = (
                f"pyhf v{rel.version} from PyPI sdist {rel.filename} (sha256 {digest})\n\n"
                f"Tree: the contents of {rel.filename} with the top folder pyhf-{rel.version}/ "
                f"stripped, less the build outputs\n{_wrap_list(dropped)}\n"
                "(untracked upstream too; tracked, they would stop the build taking the version\n"
                "from the tag).\nDate: the sdist's PyPI upload time.\nMade by pyhf-bench history build.\n"
            )
            commit = _commit_tree(repo, tree, [parent] if parent else [], message, epoch)
            _git(repo, "update-ref", "refs/heads/main", commit, parent or _ZERO_SHA)
            tag = f"v{rel.version}"
            _git(repo, "update-ref", f"refs/tags/{tag}", commit, _ZERO_SHA)
            parent = commit
            tags.append(tag)
            say(f"pyhf {rel.version}: {how} {rel.filename}, committed {commit[:12]}, tagged {tag}")


# --------------------------------------------------------------------------- #
# branch ("pull request") commits


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


def _ls_tree(repo: Path, rev: str, path: str) -> tuple[str, str, str] | None:
    out = _git_out(repo, "ls-tree", "-z", rev, "--", path).rstrip("\0")
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
    repo = _open_repo(Path(path).expanduser().absolute(), create=False)
    assert repo is not None
    hist = _read_history(repo)
    if not hist.tags:
        raise UserError(f"{repo} has no release history yet; build it first with pyhf-bench history build {repo}")

    if not branch or _git(repo, "check-ref-format", "--branch", branch, check=False).returncode != 0 \
            or branch.startswith("-"):
        raise UserError(f"bad branch name {branch!r}; give a git branch name like pr-faster-code4")
    if branch == "main" or _TAG_RE.match(branch):
        raise UserError(f"branch name {branch!r} is reserved for the release history; choose another name")

    tip = _rev(repo, f"refs/heads/{branch}")
    if base is not None:
        base_sha = _rev(repo, base)
        if base_sha is None:
            raise UserError(f"--base {base} is not a commit in {repo}; give a release tag like {hist.tags[-1]}")
    else:
        base_sha = _rev(repo, f"refs/tags/{hist.tags[-1]}")
    if tip is not None:
        if base is not None and _git(repo, "merge-base", "--is-ancestor", base_sha, tip, check=False).returncode != 0:
            raise UserError(
                f"branch {branch} already exists and does not contain --base {base}; "
                "drop --base or choose another branch name"
            )
        parent = tip
    else:
        parent = base_sha  # type: ignore[assignment]

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
        sha = _git_out(repo, "hash-object", "-w", "--no-filters", "--", str(local_p.absolute()))
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
        updates.append(f"0 {_ZERO_SHA}\t{rp}\0")
        changes.append("delete " + rp)

    with tempfile.TemporaryDirectory(prefix="pyhf-bench-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        _git(repo, "read-tree", parent, env=env)
        _git(repo, "update-index", "-z", "--index-info", input="".join(updates).encode(), env=env)
        tree = _git_out(repo, "write-tree", env=env)
    parent_tree = _git_out(repo, "rev-parse", f"{parent}^{{tree}}")
    if tree == parent_tree:
        if tip is not None:
            say(f"branch {branch} already has these changes at {tip}")
            return tip
        raise UserError(f"the changes leave {base or hist.tags[-1]} unchanged; give files that differ")

    if message is None:
        message = "pyhf-bench branch commit: " + "; ".join(changes)
    message = message.rstrip("\n") + "\n"
    epoch = _commit_time(repo, parent) + BRANCH_COMMIT_DELAY_S
    commit = _commit_tree(repo, tree, [parent], message, epoch, name=BRANCH_AUTHOR_NAME)
    _git(repo, "update-ref", f"refs/heads/{branch}", commit, tip or _ZERO_SHA)
    if not _on_main(repo):
        _require_clean(repo)
        _sync_worktree(repo)
    say(f"branch {branch}: committed {commit} on top of {parent[:12]} ({'; '.join(changes)})")
    return commit


# --------------------------------------------------------------------------- #
# command line


def _parse_replace(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        repo_p, sep, local = item.partition("=")
        if not sep or not repo_p.strip() or not local.strip():
            raise UserError(f"bad --replace {item!r}; give it as REPO_PATH=LOCAL_FILE, like src/pyhf/pdf.py=./pdf.py")
        key = repo_p.strip()
        if key in out:
            raise UserError(f"--replace {key} is given twice; give each path once")
        out[key] = local.strip()
    return out


def _cmd_build(args: argparse.Namespace) -> int:
    branch_only = [
        name
        for name, value in (("--base", args.base), ("--replace", args.replace), ("--delete", args.delete),
                            ("--message", args.message))
        if value
    ]
    if args.branch is None and branch_only:
        verb = "needs" if len(branch_only) == 1 else "need"
        raise UserError(f"{', '.join(branch_only)} {verb} --branch NAME; add it, or drop them")
    if args.branch is not None and not (args.replace or args.delete):
        raise UserError(f"--branch {args.branch} needs changes; give --replace PATH=FILE and/or --delete PATH")
    replace = _parse_replace(args.replace or [])
    build_history(args.path, versions=args.versions, sdist_dir=args.sdist_dir)
    if args.branch is not None:
        sha = add_branch_commit(
            args.path, args.branch, replace=replace, delete=args.delete or [], base=args.base,
            message=args.message, log=lambda m: print(m, file=sys.stderr),
        )
        print(sha)
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``history`` (with ``build``) to the ``pyhf-bench`` subcommands."""
    hist = sub.add_parser(
        "history",
        help="build an offline git history of pyhf from its PyPI sdists (for asv)",
        description="An offline git history of pyhf made from its PyPI source distributions, "
        "for asv to clone instead of GitHub.",
    )
    hsub = hist.add_subparsers(dest="history_command", required=True, metavar="ACTION")
    b = hsub.add_parser(
        "build",
        help="build or extend the history at PATH (optionally add a branch commit)",
        description="Build or extend a git repository at PATH with one commit per pyhf release "
        "(tree = the PyPI sdist, tag vX.Y.Z, dated at upload) on branch main. With --branch, "
        "also add a commit changing pyhf files on that branch and print its sha.",
    )
    b.add_argument("path", metavar="PATH", help="the repository to build or extend (empty or new directory, "
                   "or a history built by pyhf-bench)")
    b.add_argument("--versions", metavar="V,V,...", default=None,
                   help=f"pyhf releases to hold (default: {','.join(DEFAULT_VERSIONS)})")
    b.add_argument("--sdist-dir", metavar="DIR", default=None,
                   help="download cache for the sdists (default: $XDG_CACHE_HOME/pyhf-bench/sdists "
                   "or ~/.cache/pyhf-bench/sdists)")
    b.add_argument("--branch", metavar="NAME", default=None, help="add a commit on this branch")
    b.add_argument("--base", metavar="REF", default=None,
                   help="where a new branch starts (default: the newest release tag)")
    b.add_argument("--replace", metavar="REPO_PATH=LOCAL_FILE", action="append", default=[],
                   help="give REPO_PATH (relative to pyhf's root) LOCAL_FILE's contents; repeatable")
    b.add_argument("--delete", metavar="REPO_PATH", action="append", default=[],
                   help="delete REPO_PATH from the branch; repeatable")
    b.add_argument("--message", metavar="MSG", default=None, help="commit message for the branch commit")
    b.set_defaults(func=_cmd_build)
    return hist
