"""Reading a likelihood's files from the data directory: plain, gzipped or inside a tar archive, hash-checked.

The data directory is ``$PYHF_BENCH_DATA`` if set (CI and the tests point it
at the offline mirror ``../shared/likelihoods``), else the user cache
``$XDG_CACHE_HOME/pyhf-bench/likelihoods`` (:func:`registry.data_dir`).  A file
``DIR/PATH`` may be stored as ``DIR/PATH``, gzipped as ``DIR/PATH.gz``, or as
member ``PATH`` of a tar archive in ``DIR`` (the HEPData resource as
published).  It is read only after its sha256 matches the registry.

Imports only :mod:`pyhf_bench.likelihoods.registry` from this package.
"""

from __future__ import annotations

import gzip
import json
import tarfile
import zlib
from functools import lru_cache
from pathlib import Path, PurePosixPath

from pyhf_bench import UserError
from pyhf_bench.core.files import sha256_bytes
from pyhf_bench.likelihoods.registry import Entry, entry, user_registry_file

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2")


def refetch_hint(e: Entry | None) -> str:
    """How to replace a damaged file of *e*: fetch it again by name, or (your own likelihood) restore it."""
    if e is None:
        return "the download is damaged: run the same `pyhf-bench fetch` again"
    if e.user:
        return f"replace it with an intact copy (your own likelihood {e.name!r}; `pyhf-bench fetch` cannot restore it)"
    return f"delete it and run `pyhf-bench fetch {e.name}`"


def decompress(raw: bytes, where: str, e: Entry | None = None) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise UserError(f"{where} is a damaged or truncated gzip file ({exc}); {refetch_hint(e)}") from None


def _archives(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_ARCHIVE_SUFFIXES))


def _archive_index(path: str, mtime: float, e: Entry | None = None) -> dict[str, str]:
    try:
        return _archive_index_cached(path, mtime)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UserError(f"archive {path} cannot be read ({exc}); {refetch_hint(e)}") from None


@lru_cache(maxsize=32)
def _archive_index_cached(path: str, mtime: float) -> dict[str, str]:
    """Regular-file members of a tar archive, by normalised path."""
    with tarfile.open(path, "r:*") as tar:
        return {_clean_member(m.name): m.name for m in tar.getmembers() if m.isfile()}


def _clean_member(name: str) -> str:
    return str(PurePosixPath(name.lstrip("./") or "."))


def _member(index: dict, rel: str, archive: Path | None = None):
    """*index*'s entry for file *rel*: exact, or under one top folder (HEPData archives may wrap everything).

    Two members that both end in ``/rel`` are ambiguous: refused, naming both, rather than picking one.
    """
    clean = _clean_member(rel)
    if clean in index:
        return index[clean]
    hits = [k for k in index if k.endswith("/" + clean)]
    if len(hits) > 1:
        raise UserError(
            f"archive {archive or ''} holds {len(hits)} members that match {rel!r} ({', '.join(sorted(hits)[:4])}); "
            f"name the one you mean by its full path in the registry"
        )
    return index[hits[0]] if hits else None


def _read_member(archive: Path, member: str, where: str, e: Entry | None = None) -> bytes:
    try:
        with tarfile.open(archive, "r:*") as tar:
            fh = tar.extractfile(member)
            assert fh is not None
            return fh.read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UserError(f"{where} cannot be read ({exc}); {refetch_hint(e).replace('delete it', f'delete {archive}')}") from None


def _locate(e: Entry, rel: str) -> tuple[str, bytes] | None:
    """The stored bytes of file *rel* of *e* (possibly gzipped) and where they came from, or None."""
    root = e.root()
    plain = root / rel
    for candidate in (plain, plain.with_name(plain.name + ".gz")):
        if candidate.is_file():
            return str(candidate), candidate.read_bytes()
    for archive in _archives(root):
        member = _member(_archive_index(str(archive), archive.stat().st_mtime, e), rel, archive)
        if member is not None:
            where = f"{archive}::{member}"
            return where, _read_member(archive, member, where, e)
    return None


def _missing_message(e: Entry, rel: str) -> str:
    if e.user:
        return f"{e.root() / rel} does not exist; fix the path in {user_registry_file()}"
    return (
        f"{rel} of likelihood {e.name!r} is not in the data directory {e.root()}; run "
        f"`pyhf-bench fetch {e.name}` (downloads {e.url}) or set PYHF_BENCH_DATA to a folder that holds it"
    )


def read_bytes(e: Entry, rel: str) -> bytes:
    """The uncompressed, hash-verified bytes of file *rel* of likelihood *e*."""
    found = _locate(e, rel)
    if found is None:
        raise UserError(_missing_message(e, rel))
    where, raw = found
    data = decompress(raw, where, e)
    expected = e.files.get(rel)
    if expected is None and not e.user:
        raise UserError(f"{rel} is not a file of likelihood {e.name!r} in the registry")
    if expected:
        actual = sha256_bytes(data)
        if actual != expected and e.user:
            # `fetch` refuses your own likelihoods: the fix is the file or the hash you registered.
            raise UserError(
                f"{where} has sha256 {actual[:16]}..., but {user_registry_file()} registers {expected[:16]}... for "
                f"{rel}: the file changed since you registered it; restore the file, or put its new sha256 there"
            )
        if actual != expected:
            raise UserError(
                f"{where} has sha256 {actual[:16]}..., the registry expects {expected[:16]}...: the file is "
                f"corrupt or a different version; delete it and run `pyhf-bench fetch {e.name}`"
            )
    return data


def read_json(e: Entry, rel: str):
    data = read_bytes(e, rel)
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{e.root() / rel} is not valid JSON ({exc}); replace it with the published file") from None



# --------------------------------------------------------------------------- what is there


def _archive_digests(archive: Path, e: Entry | None = None) -> dict[str, str]:
    """sha256 of every (uncompressed) regular member of *archive*, in one pass over it."""
    digests = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isfile():
                    fh = tar.extractfile(member)
                    assert fh is not None
                    where = f"{archive}::{member.name}"
                    try:
                        digests[_clean_member(member.name)] = sha256_bytes(decompress(fh.read(), where, e))
                    except UserError as exc:
                        digests[_clean_member(member.name)] = str(exc)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UserError(f"archive {archive} cannot be read ({exc}); {refetch_hint(e)}") from None
    return digests


def status(e: Entry) -> dict:
    """Which of *e*'s files are present and valid in the data directory: {'ok': [...], 'missing': [...], 'bad': {...}}.

    Archives are read once each (not once per member: sbottom has 650 members).
    """
    result: dict = {"ok": [], "missing": [], "bad": {}}
    root = e.root()
    in_archives: dict[str, tuple[Path, str]] = {}
    for archive in _archives(root):
        for member, digest in _archive_digests(archive, e).items():
            in_archives.setdefault(member, (archive, digest))
    for rel, expected in e.files.items():
        plain = root / rel
        if plain.is_file() or plain.with_name(plain.name + ".gz").is_file():
            try:
                read_bytes(e, rel)
            except UserError as exc:
                result["bad"][rel] = str(exc)
            else:
                result["ok"].append(rel)
            continue
        hit = _member(in_archives, rel, root)
        if hit is None:
            result["missing"].append(rel)
        elif hit[1] == expected:
            result["ok"].append(rel)
        else:
            digest = hit[1]
            result["bad"][rel] = (
                f"{hit[0]}::{rel} has sha256 {digest[:16]}..., the registry expects {expected[:16]}...: corrupt or "
                f"a different version; delete it and run `pyhf-bench fetch {e.name}`"
                if len(digest) == 64
                else digest
            )
    return result


def available(name: str) -> bool:
    """Whether the files of likelihood *name* are in the data directory (present, not hash-checked)."""
    return _available(entry(name))


def _available(e: Entry) -> bool:
    """Cheap availability (files present, not hash-checked): for listings."""
    if e.user:
        return all((e.root() / (s.get("workspace") or s.get("xml"))).exists() for s in e.regions.values())
    return all(_locate_exists(e, s["workspace"]) for s in e.regions.values())


def _locate_exists(e: Entry, rel: str) -> bool:
    root = e.root()
    if (root / rel).is_file() or (root / (rel + ".gz")).is_file():
        return True
    for archive in _archives(root):
        if _member(_archive_index(str(archive), archive.stat().st_mtime, e), rel, archive) is not None:
            return True
    return False

