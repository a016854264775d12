"""Files for the history builder and the likelihood loader: atomic writes, hashes, the one downloader, the one
safe extractor.

Nothing half-written may ever pass as valid: files are written to a temporary
name beside the target and renamed into place only when complete.  Archives
come from the network (HEPData records, PyPI sdists) and are untrusted: they
are checked member by member before anything is written, and written only
inside their destination.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from pyhf_bench import UserError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w"):
    """Write *path* through a temporary file beside it: it appears whole or not at all.

    Raising inside the block (a failed download, a hash mismatch) removes the
    temporary file and leaves *path* untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give the file the usual permissions.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- the one downloader

#: Seconds a download waits for the server before it gives up.
NETWORK_TIMEOUT_S = 60.0


class DownloadError(UserError):
    """A download that did not complete (no network, refused, HTTP error); *reason* says why in one line."""

    def __init__(self, url: str, reason: str, fix: str):
        self.url, self.reason = url, reason
        super().__init__(f"cannot download {url} ({reason}); {fix}")


def _open_url(url: str, accept: str | None, timeout: float):
    headers = {"User-Agent": "pyhf-bench"}
    if accept:
        headers["Accept"] = accept
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _reason(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "reason", exc)).split())


def read_url(url: str, *, accept: str | None = None, timeout: float = NETWORK_TIMEOUT_S,
             fix: str = "check the network and rerun") -> bytes:
    """The body of *url* (small documents, e.g. an index's JSON); :class:`DownloadError` when it cannot be had."""
    try:
        with _open_url(url, accept, timeout) as response:
            return response.read()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DownloadError(url, _reason(exc), fix) from None


def download(url: str, dest: Path, *, accept: str | None = None, timeout: float = NETWORK_TIMEOUT_S,
             sha256: str | None = None, fix: str = "check the network and rerun",
             mismatch_fix: str = "rerun later, or check what sits between you and the server") -> str:
    """Stream *url* into *dest* atomically and return the sha256 of what arrived.

    Nothing is left at *dest* unless the whole body arrived and, with *sha256*,
    its digest matches: a failed download raises :class:`DownloadError` (its
    message ends with *fix*), a digest mismatch a :class:`UserError`.
    """
    dest = Path(dest)
    digest = hashlib.sha256()
    with atomic_file(dest, "wb") as out:
        try:
            with _open_url(url, accept, timeout) as response:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DownloadError(url, _reason(exc), fix) from None
        got = digest.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise UserError(f"sha256 mismatch for {dest.name} downloaded from {url}: expected {sha256}, got {got}; "
                            f"{mismatch_fix}")
    return got


# --------------------------------------------------------------------------- the one safe extractor

#: The most bytes one archive may unpack to: far above any HEPData record or sdist (a few hundred MB), far
#: below what fills a disk (an archive of repeated zeros compresses 1000:1).
MAX_EXTRACT_BYTES = 4 << 30
#: The most members one archive may hold (sbottom's HEPData record has 650).
MAX_EXTRACT_MEMBERS = 200_000


@dataclass
class Extraction:
    """What :func:`safe_extract` wrote."""

    root: Path  # the destination, or its top folder when one was required
    files: list[Path]  # the regular files written, in archive order
    newest_mtime: int  # the newest member's modification time (seconds since the epoch; 0 for an empty archive)


@dataclass(frozen=True)
class _Member:
    """One archive member, whatever the format: what the checks and the writer need."""

    name: str
    kind: str  # "file", "dir", "symlink", "hardlink" or "special"
    size: int
    mode: int
    mtime: int
    linkname: str = ""
    handle: Any = None  # the format's own member object, to read it by


class _Tar:
    def __init__(self, path: Path):
        self.archive = tarfile.open(path, "r:*")

    def members(self) -> list[_Member]:
        out = []
        for m in self.archive.getmembers():
            kind = ("file" if m.isfile() else "dir" if m.isdir() else "symlink" if m.issym()
                    else "hardlink" if m.islnk() else "special")
            out.append(_Member(m.name, kind, m.size if kind == "file" else 0, m.mode, int(m.mtime), m.linkname, m))
        return out

    def open(self, member: _Member):
        return self.archive.extractfile(member.handle)

    def close(self) -> None:
        self.archive.close()


class _Zip:
    def __init__(self, path: Path):
        self.archive = zipfile.ZipFile(path)

    def members(self) -> list[_Member]:
        out = []
        for info in self.archive.infolist():
            mode = info.external_attr >> 16
            try:
                mtime = int(datetime(*info.date_time, tzinfo=timezone.utc).timestamp())
            except ValueError:  # a zip may store an impossible date (month 0)
                mtime = 0
            if info.is_dir():
                out.append(_Member(info.filename, "dir", 0, mode, mtime, "", info))
            elif stat.S_ISLNK(mode):  # a zip stores a link's target as its contents
                with self.archive.open(info) as fh:  # only the start: a hostile "link" may be huge
                    target = fh.read(4096).decode("utf-8", "replace")
                out.append(_Member(info.filename, "symlink", 0, mode, mtime, target, info))
            elif stat.S_IFMT(mode) in (0, stat.S_IFREG):  # 0: made where files have no Unix mode
                out.append(_Member(info.filename, "file", info.file_size, mode or 0o644, mtime, "", info))
            else:
                out.append(_Member(info.filename, "special", 0, mode, mtime, "", info))
        return out

    def open(self, member: _Member):
        return self.archive.open(member.handle)

    def close(self) -> None:
        self.archive.close()


#: What a damaged archive raises while it is read (a truncated gzip stream, a bad zip directory).
_UNREADABLE = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile)


def safe_extract(archive: Path, dest: Path, *, top: str | None = None, links: bool = False,
                 fix: str = "delete it and rerun", max_bytes: int = MAX_EXTRACT_BYTES,
                 max_members: int = MAX_EXTRACT_MEMBERS) -> Extraction:
    """Extract *archive* (tar, compressed or not, or zip) into *dest*, refusing anything that could write elsewhere.

    Every member is checked before anything is written: no absolute path, no
    ``..``, no drive letter, no device or fifo, no more than *max_members*
    members or *max_bytes* bytes (counted again while writing: a zip's sizes
    are only declared).  With *top*, every member must lie in the folder *top*.
    Links are refused unless *links*; then a link must point inside the archive
    (inside *top* when given), and a hard link becomes a copy of its target.
    Files get their owner's permissions and execute bits, never group/other
    write or set-id bits.  Any refusal is one :class:`UserError` line that ends
    with *fix*.
    """
    archive, dest = Path(archive), Path(dest)

    def refuse(problem: str):
        raise UserError(f"archive {archive.name} {problem}; {fix}")

    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    try:
        reader = _Zip(archive) if zipfile.is_zipfile(archive) else _Tar(archive)
    except (*_UNREADABLE, OSError) as exc:
        refuse(f"is not a readable tar or zip archive ({exc})")
    try:
        members = reader.members()
        _check_members(members, top, links, max_bytes, max_members, refuse)
        budget = [max_bytes]
        files = [path for m in members if (path := _write_member(reader, m, dest, budget, refuse)) is not None]
        # A link that pointed inside when it was made can point outside once a later link exists: check them all.
        for m in members:
            if m.kind == "symlink" and not _inside(dest.joinpath(*(_parts(m.name) or ())).resolve(), dest):
                refuse(f"has a link {m.name!r} -> {m.linkname!r} pointing outside its folder (through another link)")
    except _UNREADABLE as exc:
        refuse(f"is not a readable tar or zip archive ({exc})")
    finally:
        reader.close()
    root = dest / top if top else dest
    if top and not root.is_dir():
        refuse(f"has no {top}/ folder")
    return Extraction(root, files, max((m.mtime for m in members), default=0))


def _parts(name: str) -> tuple[str, ...] | None:
    """The path parts of member *name*, or None when it could reach outside the destination."""
    pure = PurePosixPath(name)
    if name.startswith(("/", "\\")) or pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
        return None
    return pure.parts


def _check_members(members: list[_Member], top: str | None, links: bool, max_bytes: int, max_members: int,
                   refuse) -> None:
    if len(members) > max_members:
        refuse(f"has {len(members)} members, more than the {max_members} allowed")
    total = sum(m.size for m in members)
    if total > max_bytes:
        refuse(f"unpacks to {total} bytes, more than the {max_bytes} allowed")
    for m in members:
        parts = _parts(m.name)
        if parts is None:
            refuse(f"has a member outside its folder ({m.name!r})")
        if top and parts and parts[0] != top:
            refuse(f"has a member outside its top folder {top}/ ({m.name!r})")
        if m.kind == "special":
            refuse(f"has a special file ({m.name!r})")
        if m.kind in ("symlink", "hardlink"):
            if not links:
                refuse(f"has a link ({m.name!r})")
            # A symbolic link is relative to its folder, a tar hard link to the archive's root.
            base = PurePosixPath(m.name).parent if m.kind == "symlink" else PurePosixPath()
            resolved = os.path.normpath(str(base / m.linkname))
            target_parts = PurePosixPath(resolved).parts
            if (PurePosixPath(m.linkname).is_absolute() or resolved.startswith("..")
                    or (top and (not target_parts or target_parts[0] != top))):
                refuse(f"has a link {m.name!r} -> {m.linkname!r} pointing outside its folder")


def _inside(path: Path, dest: Path) -> bool:
    return path == dest or dest in path.parents


def _write_member(reader, m: _Member, dest: Path, budget: list, refuse) -> Path | None:
    """Write one checked member under *dest*; return its path when it is a regular file."""
    parts = _parts(m.name) or ()
    if not parts:
        return None  # the archive's own root folder
    path = dest.joinpath(*parts)
    # Resolved before anything is created: a folder reached through an earlier link must still lie inside.
    if not _inside(path.parent.resolve(), dest) or (m.kind == "dir" and not _inside(path.resolve(), dest)):
        refuse(f"has a member outside its folder ({m.name!r}, through a link)")
    if m.kind == "dir":
        path.mkdir(parents=True, exist_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(path) and not path.is_dir():
        os.unlink(path)  # a later member replaces an earlier one; never write through a link
    if m.kind == "symlink":
        if not _inside((path.parent / m.linkname).resolve(), dest):
            refuse(f"has a link {m.name!r} -> {m.linkname!r} pointing outside its folder")
        os.symlink(m.linkname, path)
        return None
    if m.kind == "hardlink":
        source = dest.joinpath(*PurePosixPath(os.path.normpath(m.linkname)).parts)
        if source.is_symlink() or not source.is_file() or not _inside(source.resolve(), dest):
            refuse(f"has a hard link {m.name!r} to {m.linkname!r}, which is not a file before it")
        with open(source, "rb") as src, open(path, "xb") as out:
            _copy(src, out, budget, m, refuse)
        os.chmod(path, stat.S_IMODE(os.stat(source).st_mode))
        return path
    with reader.open(m) as src, open(path, "xb") as out:
        _copy(src, out, budget, m, refuse)
    # The owner's bits (execute included: git records it), never group/other write or set-id bits.
    os.chmod(path, (m.mode & 0o755) | 0o600)
    return path


def _copy(src, out, budget: list, m: _Member, refuse) -> None:
    for chunk in iter(lambda: src.read(1 << 20), b""):
        budget[0] -= len(chunk)
        if budget[0] < 0:
            refuse(f"unpacks to more bytes than allowed (at member {m.name!r})")
        out.write(chunk)
