"""The likelihood registry: which published likelihoods exist, where their files live, and their settings.

The registry is data (``likelihoods.json`` beside this module, plus an optional
user file): each likelihood names its HEPData record, the folder its files live
in, every file with the sha256 of its *uncompressed* JSON, its regions, default
signal patches, modifier and fit settings, and reference results.

A user registers their own likelihood with one entry in ``$PYHF_BENCH_REGISTRY``
(default ``$XDG_CONFIG_HOME/pyhf-bench/likelihoods.json``): a pyhf JSON
workspace, a background-only workspace with a patchset, or a HistFactory XML +
ROOT directory; see the README.  It then joins every benchmark.

The bottom of :mod:`pyhf_bench.likelihoods`: it imports no other module of the
package.  Only the standard library is imported: asv imports the benchmark
modules (which read the registry for their parameters) under every pyhf version.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file

REGISTRY_FILE = Path(__file__).with_name("likelihoods.json")
BKGONLY = "bkgonly"  # the --patch value that asks for the background-only workspace
DEFAULT_REGION = "all"  # region name of single-region likelihoods


# --------------------------------------------------------------------------- locations


def data_dir() -> Path:
    """Where likelihood files are looked up and fetched to."""
    env = os.environ.get("PYHF_BENCH_DATA")
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "pyhf-bench" / "likelihoods"


def user_registry_file() -> Path:
    env = os.environ.get("PYHF_BENCH_REGISTRY")
    if env:
        return Path(env).expanduser()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "pyhf-bench" / "likelihoods.json"



# --------------------------------------------------------------------------- the registry


@dataclass
class Entry:
    """One registered likelihood (see ``likelihoods.json`` for the fields)."""

    name: str
    analysis: str
    regions: dict
    files: dict  # relative path -> sha256 of the uncompressed JSON ("" = not hash-checked)
    doi: str | None = None
    url: str | None = None
    directory: str = ""
    modifier_settings: dict | None = None
    fit: dict = field(default_factory=dict)
    notes: str = ""
    #: For user entries: the folder their files are read from directly (no cache, no download).
    local_root: Path | None = None

    @property
    def user(self) -> bool:
        return self.local_root is not None

    def root(self) -> Path:
        return self.local_root if self.local_root is not None else data_dir() / self.directory

    def region(self, region: str | None) -> tuple[str, dict]:
        if region is None:
            region = next(iter(self.regions))
        if region not in self.regions:
            raise UserError(
                f"likelihood {self.name!r} has no region {region!r}; choose one of: {', '.join(self.regions)}"
            )
        return region, self.regions[region]


def _read_registry_file(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"registry file {path} is not valid JSON ({exc}); fix the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("likelihoods"), dict):
        raise UserError(f'registry file {path} needs a top-level object {{"likelihoods": {{NAME: ENTRY, ...}}}}')
    return data


_REGION_KEYS = {"workspace", "xml", "rootdir", "patches", "patchset", "default_patch", "reference", "measurement",
                "independent_references", "hypotest", "tolerance"}


#: What a reference's "kind" says about where its numbers come from (shown beside every comparison).
REFERENCE_KINDS = {
    "self-snapshot": "this suite's own numpy output, stored by `pyhf-bench references --update`: catches change, not error",
    "root": "ROOT's HistFactory and Minuit2 on the same model (`pyhf-bench roofit`): an independent implementation",
    "published": "the analysis' published value (HEPData)",
    "analytic": "a closed-form result",
}


def _entry(name: str, raw: dict, origin: Path, user: bool) -> Entry:
    where = f"likelihood {name!r} in {origin}"
    if not isinstance(raw, dict):
        raise UserError(f"{where} must be an object")
    if "/" in name or not name:
        raise UserError(f"{where}: a likelihood name must be non-empty and contain no '/'")
    regions = raw.get("regions")
    if regions is None and user:
        # The one-region shorthand for user entries: the region keys at the top level.
        regions = {DEFAULT_REGION: {k: v for k, v in raw.items() if k in _REGION_KEYS}}
    if not isinstance(regions, dict) or not regions:
        raise UserError(f"{where} needs 'regions' (or, for your own likelihood, a 'workspace' or 'xml' file)")
    for region, spec in regions.items():
        if "/" in region:
            raise UserError(f"{where}: region name {region!r} must not contain '/'")
        unknown = set(spec) - _REGION_KEYS
        if unknown:
            raise UserError(f"{where}, region {region!r}: unknown keys {sorted(unknown)}; allowed: {sorted(_REGION_KEYS)}")
        if ("workspace" in spec) == ("xml" in spec):
            raise UserError(f"{where}, region {region!r}: give exactly one of 'workspace' (pyhf JSON) or 'xml'")
        if "patches" in spec and "patchset" in spec:
            raise UserError(f"{where}, region {region!r}: give 'patches' (a file pattern) or 'patchset', not both")
    local_root = None
    if user:
        directory = Path(raw.get("directory", ".")).expanduser()
        local_root = directory if directory.is_absolute() else (origin.parent / directory).resolve()
    return Entry(
        name=name,
        analysis=raw.get("analysis", name),
        regions=regions,
        files=dict(raw.get("files", {})),
        doi=raw.get("doi"),
        url=raw.get("url"),
        directory=raw.get("directory", ""),
        modifier_settings=raw.get("modifier_settings"),
        fit=dict(raw.get("fit") or {}),
        notes=raw.get("notes", ""),
        local_root=local_root,
    )


@lru_cache(maxsize=None)
def _registry(user_file: str, user_mtime: float) -> tuple[dict, list]:
    builtin = _read_registry_file(REGISTRY_FILE)
    entries = {name: _entry(name, raw, REGISTRY_FILE, user=False) for name, raw in builtin["likelihoods"].items()}
    path = Path(user_file)
    if user_mtime >= 0:
        for name, raw in _read_registry_file(path)["likelihoods"].items():
            if name in entries and not entries[name].user:
                raise UserError(f"{path} registers {name!r}, which is a built-in likelihood; choose another name")
            entries[name] = _entry(name, raw, path, user=True)
    return entries, list(builtin.get("quick", []))


def _registry_state() -> tuple[dict, list]:
    path = user_registry_file()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    return _registry(str(path), mtime)


def registry() -> dict[str, Entry]:
    """Every registered likelihood: the built-in ones and the user's."""
    return _registry_state()[0]


def entry(name: str) -> Entry:
    entries = registry()
    if name not in entries:
        raise UserError(
            f"unknown likelihood {name!r}; registered: {', '.join(entries)} "
            f"(register your own in {user_registry_file()})"
        )
    return entries[name]


def key(name: str, region: str) -> str:
    return f"{name}/{region}"


def split_key(text: str) -> tuple[str, str | None]:
    name, _, region = text.partition("/")
    return name, region or None


def all_keys() -> list[str]:
    """``name/region`` for every registered region: the benchmarks' ``likelihood`` axis."""
    return [key(e.name, region) for e in registry().values() for region in e.regions]


def user_keys() -> list[str]:
    """``name/region`` of every user-registered region."""
    return [key(e.name, r) for e in registry().values() if e.user for r in e.regions]


QUICK_ENV = "PYHF_BENCH_QUICK"


def quick_keys() -> list[str]:
    """The regions of the quick tier, plus every user-registered region (you registered it to benchmark it).

    ``PYHF_BENCH_QUICK`` (comma-separated ``name/region``; empty: none) replaces
    the registry's list, e.g. for a smoke run on a small likelihood of your own.
    """
    env = os.environ.get(QUICK_ENV)
    if env is None:
        base = list(_registry_state()[1])
    else:
        base = [k.strip() for k in env.split(",") if k.strip()]
        unknown = sorted(set(base) - set(all_keys()))
        if unknown:
            raise UserError(f"{QUICK_ENV} names unknown regions {unknown}; see `pyhf-bench likelihoods`")
    return base + [k for k in user_keys() if k not in base]


def has_signal(e: Entry, region: str) -> bool:
    spec = e.regions[region]
    return bool(spec.get("default_patch")) or (e.user and "patches" not in spec and "patchset" not in spec)



# --------------------------------------------------------------------------- writing references


def reference_targets(names: list[str], region: str | None) -> list[tuple[str, str]]:
    """``[(name, region)]`` of the built-in registry matching *names* (empty: all) and *region* (None: all)."""
    targets = []
    for e in registry().values():
        if e.user or (names and e.name not in names):
            continue
        targets += [(e.name, r) for r in e.regions if region in (None, r)]
    if not targets:
        raise UserError(f"no built-in likelihood region matches {', '.join(names) or 'all'} "
                        f"{region or ''}; see `pyhf-bench likelihoods`")
    return targets


def store_reference(name: str, region: str, reference: dict) -> None:
    """Write *reference* into the built-in registry file: kind ``root`` joins ``independent_references``
    (replacing one of the same patch), any other kind replaces the region's ``reference``."""
    # Re-read the file each time: references of slow fits land one by one.
    data = _read_registry_file(REGISTRY_FILE)
    spec = data["likelihoods"][name]["regions"][region]
    if reference.get("kind") == "root":
        others = [r for r in spec.get("independent_references", [])
                  if (r.get("kind"), r.get("patch")) != ("root", reference["patch"])]
        spec["independent_references"] = others + [reference]
    else:
        spec["reference"] = reference
    with atomic_file(REGISTRY_FILE) as out:
        out.write(json.dumps(data, indent=1) + "\n")
    _registry.cache_clear()

