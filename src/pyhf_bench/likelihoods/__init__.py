"""Published likelihoods: the registry, a hash-checked data directory, fetching, and loading.

The registry is data (``likelihoods.json`` beside this module, plus an optional
user file): each likelihood names its HEPData record, the folder its files live
in, every file with the sha256 of its *uncompressed* JSON, its regions, default
signal patches, modifier and fit settings, and reference results.

Where files come from, in order:

* the data directory: ``$PYHF_BENCH_DATA`` if set (CI and the tests point it at
  the offline mirror ``../shared/likelihoods``), else the user cache
  ``$XDG_CACHE_HOME/pyhf-bench/likelihoods``.  A file ``DIR/PATH`` may be stored
  as ``DIR/PATH``, gzipped as ``DIR/PATH.gz``, or as member ``PATH`` of a tar
  archive in ``DIR`` (the HEPData resource as published).  It is read only after
  its sha256 matches the registry;
* HEPData, on demand (:func:`fetch`): the record's resource archive is
  downloaded, extracted safely into a temporary folder, each needed file is
  found by path or by hash, verified, and moved into place atomically.

A user registers their own likelihood with one entry in ``$PYHF_BENCH_REGISTRY``
(default ``$XDG_CONFIG_HOME/pyhf-bench/likelihoods.json``): a pyhf JSON
workspace, a background-only workspace with a patchset, or a HistFactory XML +
ROOT directory; see the README.  It then joins every benchmark.

Only the standard library is imported at module level: asv imports the
benchmark modules (which read the registry for their parameters) under every
pyhf version.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file, sha256_bytes

REGISTRY_FILE = Path(__file__).with_name("likelihoods.json")
BKGONLY = "bkgonly"  # the --patch value that asks for the background-only workspace
DEFAULT_REGION = "all"  # region name of single-region likelihoods
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2")


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


# --------------------------------------------------------------------------- reading files


def _refetch(e: Entry | None) -> str:
    """How to replace a damaged file of *e*: fetch it again by name, or (your own likelihood) restore it."""
    if e is None:
        return "the download is damaged: run the same `pyhf-bench fetch` again"
    if e.user:
        return f"replace it with an intact copy (your own likelihood {e.name!r}; `pyhf-bench fetch` cannot restore it)"
    return f"delete it and run `pyhf-bench fetch {e.name}`"


def _decompress(raw: bytes, where: str, e: Entry | None = None) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise UserError(f"{where} is a damaged or truncated gzip file ({exc}); {_refetch(e)}") from None


def _archives(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_ARCHIVE_SUFFIXES))


def _archive_index(path: str, mtime: float, e: Entry | None = None) -> dict[str, str]:
    try:
        return _archive_index_cached(path, mtime)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UserError(f"archive {path} cannot be read ({exc}); {_refetch(e)}") from None


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
        raise UserError(f"{where} cannot be read ({exc}); {_refetch(e).replace('delete it', f'delete {archive}')}") from None


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
    data = _decompress(raw, where, e)
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


# --------------------------------------------------------------------------- patches


def _pattern_regex(pattern: str) -> re.Pattern:
    before, _, after = pattern.partition("{name}")
    return re.compile(re.escape(before) + r"(?P<name>[^/]+)" + re.escape(after) + r"\Z")


def patch_names(name: str, region: str | None = None) -> list[str]:
    """The signal patches available for a region (empty for background-only likelihoods)."""
    e = entry(name)
    region, spec = e.region(region)
    if "patchset" in spec:
        return [p["metadata"]["name"] for p in read_json(e, spec["patchset"])["patches"]]
    if "patches" in spec:
        regex = _pattern_regex(spec["patches"])
        candidates = list(e.files)
        if e.user:
            root = e.root()
            glob = spec["patches"].replace("{name}", "*")
            candidates = [str(p.relative_to(root)) for p in root.glob(glob)]
        return sorted(m["name"] for m in map(regex.match, candidates) if m)
    return []


def _apply_patch(e: Entry, region: str, spec: dict, workspace: dict, patch: str) -> dict:
    import jsonpatch

    if "patchset" in spec:
        import pyhf

        raw = read_json(e, spec["patchset"])
        try:
            patchset = pyhf.PatchSet(raw)
        except pyhf.exceptions.InvalidSpecification as exc:
            raise UserError(f"the patchset of {e.name}/{region} fails pyhf's schema: {exc}") from None
        try:
            patch_obj = patchset[patch]
        except (KeyError, pyhf.exceptions.InvalidPatchLookup):
            raise UserError(_unknown_patch(e, region, patch)) from None
        ops = patch_obj.patch
    elif "patches" in spec:
        rel = spec["patches"].replace("{name}", patch)
        if not e.user and rel not in e.files:
            raise UserError(_unknown_patch(e, region, patch))
        ops = read_json(e, rel)
        if isinstance(ops, dict) and "patch" in ops:  # a single pyhf Patch object rather than a bare op list
            ops = ops["patch"]
    else:
        raise UserError(f"{e.name}/{region} is background-only: it has no signal patches (use --patch {BKGONLY})")
    try:
        return jsonpatch.apply_patch(workspace, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise UserError(f"patch {patch!r} does not apply to {e.name}/{region}: {exc}") from None


def _unknown_patch(e: Entry, region: str, patch: str) -> str:
    names = patch_names(e.name, region)
    shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
    return f"likelihood {e.name}/{region} has no patch {patch!r}; available: {shown or 'none'}"


# --------------------------------------------------------------------------- loading


@dataclass
class Likelihood:
    """A registered likelihood region with its patch applied: plain data, picklable (asv ``setup_cache``)."""

    name: str
    region: str
    patch: str | None  # None: background-only
    spec: dict  # the patched workspace spec
    measurement: str
    poi: str | None  # None for background-only: the measurement's POI has no signal sample to act on
    modifier_settings: dict | None
    fit: dict  # optimizer name -> constructor options, from the registry; "fixed_parameters": {name: why}
    reference: dict | None
    analysis: str = ""
    #: References from other sources than this suite (kind "root", "published", "analytic").
    independent_references: list = field(default_factory=list)
    #: The registry's hypotest settings (poi_value, test_stat, calculator, ntoys); empty: mu=1, qtilde, asymptotic.
    hypotest: dict = field(default_factory=dict)
    #: Tolerance overrides against the references (cls_rel, cls_abs, twice_nll_abs); empty: pyhf_bench.core.verdict's.
    tolerance: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return key(self.name, self.region)

    @property
    def label(self) -> str:
        # A workspace with its signal already in it has no patch, but is not background-only.
        if self.patch is None and self.poi is not None:
            return self.key
        return f"{self.key}/{self.patch or BKGONLY}"

    def fit_settings(self, optimizer: str = "scipy") -> dict:
        return dict(self.fit.get(optimizer, {}))

    def fixed_parameters(self) -> dict:
        """Parameters the registry holds at their initial value, with the reason (``fit.fixed_parameters``)."""
        return dict(self.fit.get("fixed_parameters") or {})

    def model_spec(self) -> dict:
        """What ``pyhf.Model`` takes: the channels and the measurement's parameter settings.

        Parameters in the registry's ``fit.fixed_parameters`` are marked fixed here,
        so the CLI, the references and the benchmarks all fit the same model.
        """
        measurement = next(m for m in self.spec["measurements"] if m["name"] == self.measurement)
        parameters = copy.deepcopy(measurement["config"].get("parameters", []))
        fixed = self.fixed_parameters()
        for par in parameters:
            if par.get("name") in fixed:
                par["fixed"] = True
        known = {par.get("name") for par in parameters}
        parameters += [{"name": name, "fixed": True} for name in fixed if name not in known]
        return {"channels": self.spec["channels"], "parameters": parameters}

    def model_kwargs(self) -> dict:
        kwargs: dict = {"poi_name": self.poi}
        if self.modifier_settings is not None:  # pyhf takes its defaults only when the key is absent
            kwargs["modifier_settings"] = self.modifier_settings
        return kwargs

    def workspace(self):
        import pyhf

        return pyhf.Workspace(self.spec)

    def model(self, **kwargs):
        import pyhf

        return pyhf.Model(self.model_spec(), **{**self.model_kwargs(), **kwargs})

    def data(self, model) -> list[float]:
        """Observations in the model's channel order, then the auxiliary data (as ``Workspace.data``)."""
        observations = {o["name"]: o["data"] for o in self.spec["observations"]}
        return [x for channel in model.config.channels for x in observations[channel]] + list(model.config.auxdata)


def _validate(workspace: dict, where: str) -> None:
    import pyhf

    try:
        pyhf.Workspace(workspace)
    except pyhf.exceptions.InvalidSpecification as exc:
        message = str(exc).strip().splitlines()[0][:300]
        raise UserError(f"{where} fails pyhf's workspace schema: {message}; check that it is a pyhf JSON workspace") from None


def _read_xml(e: Entry, spec: dict) -> dict:
    try:
        import pyhf.readxml
    except ImportError as exc:
        raise UserError(f"reading HistFactory XML needs uproot ({exc}); pip install uproot") from None
    root = e.root()
    config = root / spec["xml"]
    if not config.is_file():
        raise UserError(f"{config} does not exist; fix 'xml' in {user_registry_file()}")
    rootdir = root / spec.get("rootdir", ".")
    try:
        return pyhf.readxml.parse(str(config), str(rootdir), track_progress=False)
    except Exception as exc:  # noqa: BLE001 - readxml raises many kinds; name the file
        raise UserError(f"pyhf cannot read the HistFactory XML {config} ({type(exc).__name__}: {exc})") from None


def load(name: str, region: str | None = None, patch: str | None = None, validate: bool = True) -> Likelihood:
    """Load likelihood *name* / *region* with *patch* applied (None: the region's default; ``bkgonly``: none).

    Reads and hash-checks the files, validates against pyhf's schema, applies the
    patch.  Imports pyhf (for validation and patchsets) and jsonpatch.
    """
    e = entry(name)
    region, spec = e.region(region)
    if "xml" in spec:
        workspace = _read_xml(e, spec)
    else:
        workspace = read_json(e, spec["workspace"])
    where = f"{e.name}/{region} ({spec.get('workspace') or spec.get('xml')})"
    if not isinstance(workspace, dict):
        raise UserError(
            f"{where} is a JSON {type(workspace).__name__}, not a pyhf workspace (a JSON object with 'channels', "
            "'observations' and 'measurements'); point the registry at the workspace file"
        )
    if validate:
        _validate(workspace, where)
    if patch is None:
        patch = spec.get("default_patch")
    if patch == BKGONLY:
        patch = None
    if patch is not None:
        workspace = _apply_patch(e, region, spec, workspace, patch)
        if validate:
            _validate(workspace, f"{where} with patch {patch!r}")
    measurements = workspace.get("measurements", [])
    measurement = spec.get("measurement") or (measurements[0]["name"] if measurements else None)
    if measurement not in {m["name"] for m in measurements}:
        raise UserError(f"{where} has no measurement {measurement!r}")
    config = next(m for m in measurements if m["name"] == measurement)["config"]
    poi = config.get("poi")
    modifiers = {m["name"] for c in workspace["channels"] for s in c["samples"] for m in s["modifiers"]}
    if poi not in modifiers:
        poi = None  # background-only: the POI is declared but no sample carries it
    reference = spec.get("reference")
    if reference is not None and reference.get("patch") != patch:
        reference = None  # references hold for the default patch only
    independent = [r for r in spec.get("independent_references", []) if r.get("patch") == patch]
    return Likelihood(
        name=e.name,
        region=region,
        patch=patch,
        spec=workspace,
        measurement=measurement,
        poi=poi,
        modifier_settings=copy.deepcopy(e.modifier_settings),
        fit=copy.deepcopy(e.fit),
        reference=copy.deepcopy(reference),
        analysis=e.analysis,
        independent_references=copy.deepcopy(independent),
        hypotest=dict(spec.get("hypotest") or {}),
        tolerance=dict(spec.get("tolerance") or {}),
    )


def load_key(text: str, patch: str | None = None) -> Likelihood:
    name, region = split_key(text)
    return load(name, region, patch)


def cache_loaded(keys: list[str], directory: Path) -> dict[str, tuple[str, str]]:
    """Load, hash-check, validate and patch each of *keys* once, each into its own pickle in *directory*.

    For asv's ``setup_cache``: returns ``{key: ("file", path)}``, or
    ``{key: ("error", message)}`` where the likelihood cannot be loaded (its
    benchmarks skip with the message).  asv unpickles what ``setup_cache``
    returns in every benchmark process, skips included; one pickle per
    likelihood means a process reads only its own likelihood.  Returning the
    likelihoods themselves made every full-tier process unpickle all of them
    (0.3 s each) and hold them in memory: ``PeakMemory`` of staus combined,
    numpy, read 192 MB in the full tier against 125 MB in the quick tier.
    """
    import pickle

    directory = Path(directory).resolve()
    out: dict[str, tuple[str, str]] = {}
    for index, text in enumerate(keys):
        try:
            lk = load_key(text)
        except UserError as exc:
            out[text] = ("error", f"cannot load {text}: {exc}")
            continue
        path = directory / f"likelihood-{index}.pickle"
        with atomic_file(path, "wb") as handle:
            pickle.dump(lk, handle, protocol=pickle.HIGHEST_PROTOCOL)
        out[text] = ("file", str(path))
    return out


def load_cached(cached: tuple[str, str]) -> Likelihood:
    """The likelihood behind one :func:`cache_loaded` entry; an entry that failed to load raises its message."""
    import pickle

    kind, value = cached
    if kind == "error":
        raise UserError(value)
    with open(value, "rb") as handle:
        return pickle.load(handle)


# --------------------------------------------------------------------------- fetching and verifying


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
                        digests[_clean_member(member.name)] = sha256_bytes(_decompress(fh.read(), where, e))
                    except UserError as exc:
                        digests[_clean_member(member.name)] = str(exc)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UserError(f"archive {archive} cannot be read ({exc}); {_refetch(e)}") from None
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


def _download(url: str, dest: Path, data_directory: Path, timeout: float = 60.0) -> None:
    """Download *url* to *dest* atomically (HEPData serves the resource file for this Accept header)."""
    request = urllib.request.Request(url, headers={"Accept": "application/x-tar, application/zip, */*;q=0.1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, atomic_file(dest, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(
            f"cannot download {url} ({reason}), and the data directory {data_directory} lacks the files; "
            "connect to the network or set PYHF_BENCH_DATA to a folder holding them (e.g. ../shared/likelihoods)"
        ) from None


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract *archive* (tar or zip) into *dest*, refusing absolute paths, '..', links and devices."""
    dest = dest.resolve()
    extracted = []

    def target(name: str) -> Path:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or name.startswith(("/", "\\")):
            raise UserError(f"archive {archive.name} has a member outside its folder ({name!r}); refusing to extract it")
        path = (dest / pure).resolve()
        if dest not in path.parents and path != dest:
            raise UserError(f"archive {archive.name} has a member outside its folder ({name!r}); refusing to extract it")
        return path

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = target(info.filename)
                mode = (info.external_attr >> 16) & 0o170000
                if mode == 0o120000:
                    raise UserError(f"archive {archive.name} has a link ({info.filename!r}); refusing to extract it")
                if info.is_dir():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(path, "wb") as out:
                    shutil.copyfileobj(src, out)
                extracted.append(path)
        return extracted
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                path = target(member.name)
                if member.issym() or member.islnk():
                    raise UserError(f"archive {archive.name} has a link ({member.name!r}); refusing to extract it")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise UserError(f"archive {archive.name} has a special file ({member.name!r}); refusing to extract it")
                path.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None
                with src, open(path, "wb") as out:
                    shutil.copyfileobj(src, out)
                extracted.append(path)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise UserError(f"{archive.name} is not a readable tar or zip archive ({exc}); the download is damaged") from None
    return extracted


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
        members = safe_extract(archive, Path(tmp) / "x")
        by_hash: dict[str, Path] = {}
        for path in members:
            if path.suffix in (".json", ".gz"):
                try:
                    by_hash.setdefault(sha256_bytes(_decompress(path.read_bytes(), str(path))), path)
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
                out.write(_decompress(source.read_bytes(), str(source)))
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


# --------------------------------------------------------------------------- CLI


def describe(e: Entry) -> dict:
    return {
        "name": e.name,
        "analysis": e.analysis,
        "doi": e.doi,
        "url": e.url,
        "user": e.user,
        "location": str(e.root()),
        "available": _available(e),
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


def _cmd_likelihoods(args) -> int:
    described = [describe(e) for e in registry().values()]
    if args.json:
        print(json.dumps({"data_dir": str(data_dir()), "likelihoods": described}, indent=1))
        return 0
    print(f"data directory: {data_dir()}")
    for d in described:
        mark = "available" if d["available"] else "not fetched"
        regions = ", ".join(f"{r}[{v['default_patch'] or BKGONLY}]" for r, v in d["regions"].items())
        print(f"{d['name']:14} {mark:12} {d['analysis']}\n{'':14} regions: {regions}")
    return 0


def _cmd_fetch(args) -> int:
    if not args.all and not args.names:
        raise UserError("name a likelihood to fetch, or give --all")
    names = [e.name for e in registry().values() if not e.user] if args.all else args.names
    for name in names:
        result = fetch(name)
        print(f"{name}: {result['fetched']} file(s) fetched, {result['verified']} verified in {entry(name).root()}")
    return 0


def _cmd_verify(args) -> int:
    report = verify(args.names or None)
    bad = 0
    for name, r in report.items():
        state = "ok" if not r["bad"] and not r["missing"] else ("BAD" if r["bad"] else "incomplete")
        print(f"{name:14} {state:10} {r['ok']} ok, {r['missing']} missing, {len(r['bad'])} bad")
        for message in r["bad"].values():
            print(f"    {message}")
        bad += len(r["bad"])
    print(f"data directory: {data_dir()}")
    missing = sum(r["missing"] for r in report.values())
    if missing and not bad:
        print(f"{missing} file(s) missing: run `pyhf-bench fetch NAME` for each incomplete likelihood above")
    # Missing files are a finding too: the data directory cannot serve those likelihoods.
    return 1 if bad or missing else 0


def _cmd_hypotest(args) -> int:
    """``hypotest`` and ``fit``: the result, then one line per finding; the exit status is the verdict's."""
    from pyhf_bench.likelihoods.inference import run_fit, run_hypotest
    from pyhf_bench.core.verdict import print_findings

    common = dict(region=args.region, patch=args.patch, backend=args.backend, device=args.device,
                  precision=args.precision, optimizer=args.optimizer)
    if args.command == "hypotest":
        result = run_hypotest(args.name, **common, poi_value=args.poi_value, test_stat=args.test_stat,
                              calculator=args.calculator, ntoys=args.ntoys)
    else:
        result = run_fit(args.name, **common)
    if args.json:
        print(json.dumps(result, indent=1))
        return result["exit_status"]
    for k, v in result.items():
        if k not in ("findings", "exit_status", "independent_references"):
            print(f"{k:>22}: {v}")
    # One line per reference from outside this suite, with its kind and source.
    for r in result.get("independent_references", []):
        value = r.get("cls_obs", r.get("twice_nll"))
        deviation = r.get("relative_deviation", r.get("absolute_deviation"))
        where = "; ".join(str(x) for x in (r.get("source"), r.get("interpolation")) if x)
        print(f"{'reference (' + str(r.get('kind')) + ')':>22}: {value} (deviation {deviation:.2g}; {where})"
              if deviation is not None else f"{'reference (' + str(r.get('kind')) + ')':>22}: {value} ({where})")
    from pyhf_bench.core.verdict import Finding

    findings = [Finding(**{k: f[k] for k in ("level", "quantity", "value", "cause", "reference", "kind")})
                for f in result["findings"]]
    print_findings(findings)
    if not any(f.level == "WRONG" for f in findings):
        print("verdict: ok" if any(result.get(k) is not None for k in ("reference_cls_obs", "reference_twice_nll"))
              else "verdict: ok (no reference to compare with)")
    return result["exit_status"]


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


def add_parser(sub) -> None:
    p = sub.add_parser("likelihoods", help="list the registered likelihoods and whether their files are here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_likelihoods)

    p = sub.add_parser("fetch", help="download likelihoods from HEPData into the data directory (hash-checked)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", action="store_true", help="every built-in likelihood")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("verify", help="hash-check the likelihood files in the data directory")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.set_defaults(func=_cmd_verify)

    for command, text in (
        ("hypotest", "CLs (default: asymptotic, qtilde, mu=1) with the expected band, against the registry's references"),
        ("fit", "unconditional maximum-likelihood fit: twice the NLL at the minimum, against the reference"),
    ):
        _add_run_parser(sub, command, text)


def _add_run_parser(sub, command: str, text: str) -> None:
    from pyhf_bench.core.axes import BACKENDS, DEVICES, OPTIMIZERS, PRECISIONS

    p = sub.add_parser(command, help=text, description=text + ". Times the second call (the first pays JIT warm-up).")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--region", help="region (default: the first one)")
    p.add_argument("--patch", help=f"signal patch (default: the region's default; '{BKGONLY}' for none)")
    p.add_argument("--backend", default="numpy", choices=BACKENDS)
    p.add_argument("--device", default="cpu", choices=DEVICES)
    p.add_argument("--precision", default="64b", choices=PRECISIONS)
    p.add_argument("--optimizer", default="scipy", choices=OPTIMIZERS)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    if command == "hypotest":
        from pyhf_bench.likelihoods.inference import CALCULATORS, TEST_STATS

        p.add_argument("--poi-value", type=float, default=None,
                       help="POI value to test (default: the registry's, else 1; q0 tests 0)")
        p.add_argument("--test-stat", choices=TEST_STATS, default=None,
                       help="test statistic (default: the registry's, else qtilde); q0 is a discovery test and "
                       "reports p0")
        p.add_argument("--calculator", choices=CALCULATORS, default=None,
                       help="asymptotic formulae or pseudo-experiments (default: the registry's, else asymptotic)")
        p.add_argument("--ntoys", type=int, default=None,
                       help="pseudo-experiments per hypothesis with --calculator toybased (default: the registry's, else 1000)")
    p.set_defaults(func=_cmd_hypotest)

