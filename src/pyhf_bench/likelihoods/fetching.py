"""Fetching likelihoods from HEPData into the data directory, verifying what is there, describing the registry.

:func:`fetch` downloads a record's resource archive (:func:`pyhf_bench.core.files.download`),
extracts it safely into a temporary folder (:func:`pyhf_bench.core.files.safe_extract`),
finds each needed file by path or by hash, verifies it, and moves it into
place atomically.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.files import DownloadError, atomic_file, download, safe_extract, sha256_bytes
from pyhf_bench.likelihoods.archive import available, decompress, status
from pyhf_bench.likelihoods.registry import Entry, entry, has_signal, registry

#: The end of every refusal of a downloaded archive (damaged, or a member that would land outside its folder).
_UNSAFE_FIX = ("the download is damaged or unsafe; nothing was kept: run the same `pyhf-bench fetch` again, or set "
               "PYHF_BENCH_DATA to a mirror that holds the files")
#: HEPData serves a record's resource file (not its landing page) for this Accept header.
HEPDATA_ACCEPT = "application/x-tar, application/zip, */*;q=0.1"


def _download(url: str, dest: Path, data_directory: Path) -> None:
    try:
        download(url, dest, accept=HEPDATA_ACCEPT)
    except DownloadError as exc:
        raise UserError(
            f"cannot download {url} ({exc.reason}), and the data directory {data_directory} lacks the files; "
            "connect to the network or set PYHF_BENCH_DATA to a folder holding them (e.g. ../shared/likelihoods)"
        ) from None


def fetch(name: str, url: str | None = None, log=print) -> dict:
    """Make every file of likelihood *name* present and valid in the data directory.

    Files already there are only verified.  Otherwise the HEPData resource is
    downloaded and extracted into a temporary folder; each missing file is found
    there by path (or, as HEPData archives differ in layout, by its sha256),
    verified, and moved into the data directory atomically.
    """
    e = entry(name)
    if e.user:
        raise UserError(f"{name!r} is your own likelihood, read from {e.root()}; there is nothing to fetch")
    before = status(e)
    if not before["missing"] and not before["bad"]:
        return {"name": name, "fetched": 0, "verified": len(before["ok"])}
    for rel in before["bad"]:
        raise UserError(before["bad"][rel])
    root = e.root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the data directory {root} ({exc}); set PYHF_BENCH_DATA to a writable folder") from None
    url = url or e.url
    if not url:
        raise UserError(f"likelihood {name!r} has no download URL in the registry")
    log(f"fetching {name} from {url} ...")
    wanted = {rel: e.files[rel] for rel in before["missing"]}
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=root) as tmp:
        archive = Path(tmp) / "resource"
        _download(url, archive, root)
        members = safe_extract(archive, Path(tmp) / "x", fix=_UNSAFE_FIX).files
        by_hash: dict[str, Path] = {}
        for path in members:
            if path.suffix in (".json", ".gz"):
                try:
                    by_hash.setdefault(sha256_bytes(decompress(path.read_bytes(), str(path))), path)
                except UserError:
                    continue
        placed = 0
        for rel, digest in wanted.items():
            source = by_hash.get(digest)
            if source is None:
                raise UserError(
                    f"{url} does not contain {rel} with the registered sha256 {digest[:16]}...; "
                    "HEPData may have a new version of the record: report it, or use a mirror via PYHF_BENCH_DATA"
                )
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(dest, "wb") as out:
                out.write(decompress(source.read_bytes(), str(source)))
            placed += 1
    after = status(e)
    if after["missing"] or after["bad"]:
        raise UserError(f"fetching {name} left files missing or invalid: {after['missing'] or list(after['bad'])}")
    return {"name": name, "fetched": placed, "verified": len(after["ok"])}


def verify(names: list[str] | None = None) -> dict:
    """Hash-check every registered file present in the data directory."""
    report = {}
    for e in registry().values():
        if names and e.name not in names:
            continue
        if e.user:
            continue
        st = status(e)
        report[e.name] = {"ok": len(st["ok"]), "missing": len(st["missing"]), "bad": st["bad"]}
    return report


def describe(e: Entry) -> dict:
    return {
        "name": e.name,
        "analysis": e.analysis,
        "doi": e.doi,
        "url": e.url,
        "user": e.user,
        "location": str(e.root()),
        "available": available(e.name),
        "modifier_settings": e.modifier_settings,
        "fit": e.fit,
        "regions": {
            region: {
                "default_patch": spec.get("default_patch"),
                "reference": spec.get("reference"),
                "signal": has_signal(e, region),
            }
            for region, spec in e.regions.items()
        },
        "files": len(e.files),
    }

