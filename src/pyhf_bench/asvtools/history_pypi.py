"""PyPI access for the offline pyhf history: which releases exist, their sdists, and the verified sdist cache.

An sdist is downloaded once (:func:`pyhf_bench.core.files.download`, checked
against PyPI's sha256) into the cache, with two sidecars: ``FILE.sha256`` and
``FILE.json`` (PyPI's upload time).  Without network the cache alone serves,
checked against its sidecars.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

from pyhf_bench import UserError
from pyhf_bench.core.files import DownloadError, atomic_file, download, read_url, sha256_file
from pyhf_bench.asvtools.history_git import version_key

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

_VERSION_RE = re.compile(r"^\d+(\.\d+)*$")

Log = Callable[[str], None]


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
    return sorted(out, key=version_key)


def default_sdist_dir() -> Path:
    """``$XDG_CACHE_HOME/pyhf-bench/sdists``, else ``~/.cache/pyhf-bench/sdists``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "pyhf-bench" / "sdists"


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


class Offline(Exception):
    pass


def pypi_url() -> str:
    return os.environ.get("PYHF_BENCH_PYPI_JSON") or PYPI_JSON_URL


def fetch_json(url: str) -> dict:
    """PyPI's JSON about pyhf; :class:`Offline` (with the reason) when it cannot be had, so the cache may serve."""
    try:
        return json.loads(read_url(url, accept="application/json").decode("utf-8"))
    except (DownloadError, ValueError) as exc:
        raise Offline(f"{url}: {getattr(exc, 'reason', exc)}") from None


def _is_final(v: str) -> bool:
    return bool(_VERSION_RE.match(v))


def releases_from_pypi(data: dict, versions: Sequence[str]) -> dict[str, Release]:
    releases = data.get("releases") or {}
    out: dict[str, Release] = {}
    known = sorted((v for v in releases if _is_final(v)), key=version_key)
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


def _atomic_write_text(path: Path, text: str) -> None:
    with atomic_file(path) as fh:
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
    digest = download(rel.url, dest, sha256=rel.sha256,
                      fix=f"check the network, or put {rel.filename} into {cache} and rerun",
                      mismatch_fix="rerun later, or check what sits between you and PyPI")
    _write_sidecars(cache, rel, digest)
    return dest


def fetch_sdist(rel: Release, cache: Path, log: Log) -> tuple[Path, str, str]:
    """Return (file, sha256, how) for an online release; *how* is 'cached' or 'downloaded'."""
    path = cache / rel.filename
    if path.is_file():
        digest = sha256_file(path)
        if digest == (rel.sha256 or "").lower():
            sha_path, meta_path = _sidecars(cache, rel.filename)
            if not sha_path.is_file() or not meta_path.is_file():
                _write_sidecars(cache, rel, digest)
            return path, digest, "cached"
        log(f"pyhf {rel.version}: cached {path} does not match PyPI's sha256; downloading it again")
    path = _download(rel, cache)
    return path, rel.sha256.lower(), "downloaded"  # type: ignore[union-attr]


def offline_release(version: str, cache: Path, reason: str) -> tuple[Release, Path, str, str]:
    filename = f"pyhf-{version}.tar.gz"
    path = cache / filename
    if not path.is_file():
        raise UserError(
            f"cannot reach PyPI ({reason}) and there is no cached {filename} in {cache}; "
            "connect to the network, or put the sdist there and rerun"
        )
    digest = sha256_file(path)
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


def upload_epoch(iso: str) -> int:
    s = iso.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())

