"""``pyhf-bench dashboard-offline HTML_DIR``: make asv's published dashboard work without internet access.

asv 0.6.6's ``index.html`` loads jQuery, flot, bootstrap and a few plugins from
public CDNs; without them it shows only "One or more external (JavaScript)
dependencies of airspeed velocity failed to load".  Machines that reach the npm
registry but not the CDNs (such as the ones this suite is developed on) can
still show it: this command fetches the same libraries with ``npm pack`` into
a cache, copies the files into ``HTML_DIR/vendor/`` and points ``index.html``
at them.

The CDN files are not always byte-identical to the npm ones (cdnjs minifies flot
itself; stupidtable 1.0.1 is not on npm, 1.1.3 is, with the same API).  Each
``integrity`` (subresource-integrity) hash is kept where the vendored file
matches it and dropped where it does not: the file then comes from the same
origin as the page, fetched from npm by package name and version.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file

#: CDN URL in asv's index.html -> (npm package@version, file inside the package).
CDN_FILES = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": ("flot@0.8.3", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": ("flot@0.8.3", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot@0.8.3", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot@0.8.3", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin@1.1.3", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": ("blueimp-md5@2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": ("bootstrap@3.1.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap@3.1.1", "dist/css/bootstrap.min.css"),
}

_TAG_RE = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)=\"(https?://[^\"]+)\"[^>]*>", re.S)


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "pyhf-bench" / "npm"


def npm_available() -> bool:
    return shutil.which("npm") is not None


def _npm_pack(spec: str, cache: Path) -> Path:
    """The npm tarball of *spec* (package@version), fetched once with ``npm pack`` into *cache*."""
    name, version = spec.rsplit("@", 1)
    tarball = cache / f"{name}-{version}.tgz"
    if tarball.is_file():
        return tarball
    if not npm_available():
        raise UserError("npm is not installed; install Node.js/npm (apt-get install npm) to vendor the dashboard's libraries")
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f".staging-{os.getpid()}"
    staging.mkdir(exist_ok=True)
    try:
        proc = subprocess.run(["npm", "pack", spec, "--silent"], cwd=staging, capture_output=True, text=True, timeout=300)
        packed = list(staging.glob("*.tgz"))
        if proc.returncode != 0 or len(packed) != 1:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise UserError(f"npm pack {spec} failed ({last}); check that the npm registry is reachable")
        os.replace(packed[0], tarball)  # appears whole or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tarball


def _sri_matches(data: bytes, integrity: str) -> bool:
    for token in integrity.split():
        algo, _, digest = token.partition("-")
        if algo in ("sha256", "sha384", "sha512"):
            if base64.b64encode(hashlib.new(algo, data).digest()).decode() == digest:
                return True
    return False


def vendor(html_dir: str | os.PathLike, cache: Path | None = None) -> dict[str, str]:
    """Copy the dashboard's CDN libraries into HTML_DIR/vendor and point index.html at them.

    Returns {CDN URL: local path}.  Running it again on a vendored dashboard changes nothing.
    """
    html = Path(html_dir)
    index = html / "index.html"
    if not index.is_file():
        raise UserError(f"{index} not found; run `asv publish` first (it writes html/)")
    text = index.read_text(encoding="utf-8")
    cache = cache or default_cache()
    unknown = sorted({url for _, url in _TAG_RE.findall(text) if url not in CDN_FILES})
    if unknown:
        raise UserError(f"{index} loads CDN files this command does not know ({', '.join(unknown)}); "
                        "it knows asv 0.6.6's dashboard")
    done: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        tag, url = match.group(0), match.group(2)
        spec, member = CDN_FILES[url]
        with tarfile.open(_npm_pack(spec, cache)) as tar:
            data = tar.extractfile(f"package/{member}").read()  # type: ignore[union-attr]
        local = Path("vendor") / spec.replace("@", "-") / member
        target = html / local
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(target, "wb") as fh:
            fh.write(data)
        done[url] = local.as_posix()
        tag = tag.replace(url, local.as_posix())
        integrity = re.search(r'\sintegrity="([^"]*)"', tag)
        if integrity and not _sri_matches(data, integrity.group(1)):
            tag = tag.replace(integrity.group(0), "")
        # Same-origin files need no CORS mode; a leftover crossorigin breaks file:// pages.
        tag = re.sub(r'\s(crossorigin|referrerpolicy)="[^"]*"', "", tag)
        return tag

    new = _TAG_RE.sub(replace, text)
    if new != text:
        with atomic_file(index) as fh:
            fh.write(new)
    return done

