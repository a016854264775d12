"""Loading a likelihood region: its workspace read and hash-checked, validated, patched, as plain data.

:class:`Likelihood` is what the benchmarks, the CLI and the references use;
:func:`cache_loaded` / :func:`load_cached` hand it to asv's benchmark processes.
pyhf is imported inside the functions that need it (heavy; asv imports the
benchmarks, which list the registry, under every pyhf version).
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass, field
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file
from pyhf_bench.likelihoods.archive import read_json
from pyhf_bench.likelihoods.patching import apply_patch
from pyhf_bench.likelihoods.registry import BKGONLY, Entry, entry, key, split_key, user_registry_file


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
        import pyhf  # heavy: imported where used, not when asv lists the benchmarks

        return pyhf.Workspace(self.spec)

    def model(self, **kwargs):
        import pyhf  # heavy: imported where used, not when asv lists the benchmarks

        return pyhf.Model(self.model_spec(), **{**self.model_kwargs(), **kwargs})

    def data(self, model) -> list[float]:
        """Observations in the model's channel order, then the auxiliary data (as ``Workspace.data``)."""
        observations = {o["name"]: o["data"] for o in self.spec["observations"]}
        return [x for channel in model.config.channels for x in observations[channel]] + list(model.config.auxdata)


def _validate(workspace: dict, where: str) -> None:
    import pyhf  # heavy: imported where used, not when asv lists the benchmarks

    try:
        pyhf.Workspace(workspace)
    except pyhf.exceptions.InvalidSpecification as exc:
        message = str(exc).strip().splitlines()[0][:300]
        raise UserError(f"{where} fails pyhf's workspace schema: {message}; check that it is a pyhf JSON workspace") from None


def _read_xml(e: Entry, spec: dict) -> dict:
    try:
        import pyhf.readxml  # optional: needs uproot, and heavy
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
        workspace = apply_patch(e, region, spec, workspace, patch)
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

    kind, value = cached
    if kind == "error":
        raise UserError(value)
    with open(value, "rb") as handle:
        return pickle.load(handle)

