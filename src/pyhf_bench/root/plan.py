"""The mapping of a pyhf workspace spec onto HistFactory, checked before ROOT is touched (pure Python, no ROOT).

Whatever cannot be expressed in HistFactory raises :class:`pyhf_bench.UserError`
naming the modifier and the reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from pyhf_bench import UserError
from pyhf_bench.root.interpolation import nonpositive_interval, resolve_interpolation

#: The modifier types HistFactory can express.
SUPPORTED_MODIFIERS = ("normfactor", "normsys", "histosys", "shapesys", "staterror", "shapefactor", "lumi")

#: A shapesys bin's Poisson constraint with tau = 1/rel_err^2 is evaluated from terms of
#: size ~tau*ln(tau) (n*ln(lambda), lambda, lgamma(n+1) with n = tau) that cancel to O(1),
#: so double precision leaves ~eps*tau*ln(tau) of rounding in every NLL value, in pyhf and
#: ROOT alike, each its own.  Above this tau the rounding (eps*tau*ln(tau) > 1e-8) reaches
#: the check's resolution; 3L eRJR's diboson3LISR in CRISR (0.001 events of uncertainty on
#: 435, tau = 1.9e11) leaves ~1e-3 in each NLL and moves pyhf's and ROOT's NLL apart by 4e-4.
POISSON_UNRESOLVED_TAU = 2.5e6


#: HistFactory's stat-error constraint types (StatErrorConfig ConstraintType).
STAT_ERROR_CONSTRAINTS = ("Gaussian", "Poisson")
#: HistFactory's StatErrorConfig where an XML channel gives none (RooStats::HistFactory::StatErrorConfig()).
HISTFACTORY_STAT_ERROR_DEFAULT = ("Poisson", 0.05)


def find_measurement(spec: dict, measurement: str | None) -> dict:
    measurements = spec.get("measurements") or []
    if not measurements:
        raise UserError("the workspace spec has no measurements; ROOT needs one (POI, lumi, parameter configs)")
    if measurement is None:
        return measurements[0]
    for candidate in measurements:
        if candidate["name"] == measurement:
            return candidate
    raise UserError(f"no measurement {measurement!r} in the spec; choose one of: {', '.join(m['name'] for m in measurements)}")



@dataclass
class SamplePlan:
    name: str
    data: list[float]
    normalize_by_theory: bool = False
    normfactors: list[str] = field(default_factory=list)
    normsys: list[tuple[str, float, float]] = field(default_factory=list)  # (name, lo, hi)
    histosys: list[tuple[str, list[float], list[float]]] = field(default_factory=list)  # (name, lo, hi)
    staterror: list[float] | None = None  # absolute uncertainties per bin
    shapesys: list[tuple[str, list[float]]] = field(default_factory=list)  # (name, relative uncertainties)
    shapefactors: list[str] = field(default_factory=list)


@dataclass
class ChannelPlan:
    name: str
    observed: list[float]
    samples: list[SamplePlan]
    #: HistFactory's StatErrorConfig of the channel: pyhf's staterror is Gaussian with no bin pruned
    stat_constraint: str = "Gaussian"
    stat_threshold: float = 0.0


@dataclass
class HistFactoryPlan:
    """Everything ROOT needs, checked before ROOT is touched."""

    measurement: str
    poi: str | None  # None: background-only (the measurement's POI is not in the model)
    declared_poi: str
    channels: list[ChannelPlan]
    lumi: float
    lumi_rel_err: float
    interpolation: dict[str, tuple[str, int]]
    #: pyhf parameter name -> the ROOT variable for each of its components
    root_names: dict[str, list[str]]
    modifier_settings: dict | None
    #: normsys parameters whose code4 factor goes <= 0 for some |alpha| < 1 in pyhf
    #: (ROOT clips there): parameter -> (alpha interval, "channel/sample")
    clipped_normsys: dict[str, tuple[tuple[float, float], str]] = field(default_factory=dict)
    #: shapesys bins whose Poisson constraint double precision cannot resolve
    #: (tau > POISSON_UNRESOLVED_TAU): ROOT name -> (tau, "channel/sample")
    unresolved_gammas: dict[str, tuple[float, str]] = field(default_factory=dict)
    #: channel -> (constraint type, relative-error threshold) where it is not pyhf's (Gaussian, 0):
    #: an XML's StatErrorConfig, honoured on both sides (see pyhf_spec)
    stat_errors: dict[str, tuple[str, float]] = field(default_factory=dict)


def _modifier_error(mod: dict, sample: str, channel: str, reason: str) -> UserError:
    return UserError(f"modifier {mod.get('name')!r} ({mod.get('type')}) of sample {sample!r} in channel {channel!r} cannot be mapped to ROOT HistFactory: {reason}")



class _Planner:
    """The parameters one :func:`plan_histfactory` has met so far: their ROOT names, first owners and flags."""

    def __init__(self, interpolation: dict[str, tuple[str, int]]):
        self.interpolation = interpolation
        #: pyhf parameter name -> the ROOT variable for each of its components
        self.root_names: dict[str, list[str]] = {}
        #: parameter -> (type, channel, sample) of its first use
        self.owners: dict[str, tuple[str, str, str]] = {}
        self.clipped: dict[str, tuple[tuple[float, float], str]] = {}
        self.unresolved: dict[str, tuple[float, str]] = {}
        #: the staterror names of the channel being planned (ROOT has one set per channel)
        self.staterror_names: set[str] = set()

    def claim(self, name: str, mtype: str, channel: str, sample: str, names: list[str], mod: dict) -> None:
        """Record the ROOT names of parameter *name*; a name shared in a way ROOT cannot share is an error."""
        previous = self.owners.get(name)
        if previous is None:
            self.owners[name] = (mtype, channel, sample)
            self.root_names[name] = names
            return
        ptype, pchannel, psample = previous
        compatible = {ptype, mtype} <= {"normsys", "histosys"} or ptype == mtype
        if not compatible:
            raise _modifier_error(mod, sample, channel, f"its name is also used by a {ptype} modifier (channel {pchannel!r})")
        if mtype == "shapesys":
            raise _modifier_error(mod, sample, channel, f"shapesys {name!r} is also used by sample {psample!r} in channel {pchannel!r}; ROOT would build two constraint terms for one parameter set")
        if mtype == "staterror" and pchannel != channel:
            raise _modifier_error(mod, sample, channel, f"staterror {name!r} spans channels {pchannel!r} and {channel!r}; ROOT's stat errors are per channel")
        if self.root_names[name] != names:
            raise _modifier_error(mod, sample, channel, f"it has {len(names)} bins here but {len(self.root_names[name])} in channel {pchannel!r}")

    def channel(self, channel: dict, observed: list, stat_errors: dict[str, tuple[str, float]]) -> ChannelPlan:
        cname = channel["name"]
        self.staterror_names = set()
        samples = [self.sample(sample, cname, len(observed)) for sample in channel["samples"]]
        constraint, threshold = stat_errors.get(cname, ("Gaussian", 0.0))
        return ChannelPlan(cname, [float(x) for x in observed], samples, constraint, threshold)

    def sample(self, sample: dict, cname: str, n_bins: int) -> SamplePlan:
        sname = sample["name"]
        nominal = [float(x) for x in sample["data"]]
        if len(nominal) != n_bins:
            raise UserError(f"sample {sname!r} in channel {cname!r} has {len(nominal)} bins, the observations {n_bins}")
        plan = SamplePlan(sname, nominal)
        for mod in sample.get("modifiers", []):
            mtype = mod.get("type")
            if mtype not in SUPPORTED_MODIFIERS:
                raise _modifier_error(mod, sname, cname, f"HistFactory has no modifier type {mtype!r} (supported: {', '.join(SUPPORTED_MODIFIERS)})")
            # Each supported modifier type has a method of its name here.
            getattr(self, mtype)(plan, mod, cname, n_bins)
        return plan

    def normfactor(self, plan: SamplePlan, mod: dict, cname: str, n_bins: int) -> None:
        self.claim(mod.get("name"), "normfactor", cname, plan.name, [mod.get("name")], mod)
        plan.normfactors.append(mod.get("name"))

    def lumi(self, plan: SamplePlan, mod: dict, cname: str, n_bins: int) -> None:
        if mod.get("name") != "lumi":
            raise _modifier_error(mod, plan.name, cname, "HistFactory has a single luminosity parameter; pyhf names it 'lumi'")
        self.claim(mod.get("name"), "lumi", cname, plan.name, ["Lumi"], mod)
        plan.normalize_by_theory = True

    def normsys(self, plan: SamplePlan, mod: dict, cname: str, n_bins: int) -> None:
        name, data = mod.get("name"), mod.get("data")
        hi, lo = float(data["hi"]), float(data["lo"])
        code, _ = self.interpolation["normsys"]
        if hi <= 0 or lo <= 0:
            raise _modifier_error(mod, plan.name, cname, f"hi={hi:g}, lo={lo:g}: {code} is multiplicative and needs hi > 0 and lo > 0")
        self.claim(name, "normsys", cname, plan.name, [f"alpha_{name}"], mod)
        plan.normsys.append((name, lo, hi))
        interval = nonpositive_interval(lo, hi) if code == "code4" else None
        if interval is not None:
            self.clipped[name] = (interval, f"{cname}/{plan.name}")

    def histosys(self, plan: SamplePlan, mod: dict, cname: str, n_bins: int) -> None:
        name, data = mod.get("name"), mod.get("data")
        lo_data, hi_data = [float(x) for x in data["lo_data"]], [float(x) for x in data["hi_data"]]
        if len(lo_data) != n_bins or len(hi_data) != n_bins:
            raise _modifier_error(mod, plan.name, cname, f"lo_data/hi_data have {len(lo_data)}/{len(hi_data)} bins, the sample {n_bins}")
        self.claim(name, "histosys", cname, plan.name, [f"alpha_{name}"], mod)
        plan.histosys.append((name, lo_data, hi_data))

    def staterror(self, plan: SamplePlan, mod: dict, cname: str, n_bins: int) -> None:
        name, data = mod.get("name"), mod.get("data")
        if len(data) != n_bins:
            raise _modifier_error(mod, plan.name, cname, f"{len(data)} uncertainties for {n_bins} bins")
        self.staterror_names.add(name)
        if len(self.staterror_names) > 1:
            raise _modifier_error(mod, plan.name, cname, f"channel has staterror modifiers {sorted(self.staterror_names)}; ROOT has one stat-error set per channel")
        if plan.staterror is not None:
            raise _modifier_error(mod, plan.name, cname, "a second staterror on the same sample")
        if any(x < 0 for x in data):
            raise _modifier_error(mod, plan.name, cname, "negative uncertainty")
        self.claim(name, "staterror", cname, plan.name, [f"gamma_stat_{cname}_bin_{i}" for i in range(n_bins)], mod)
        plan.staterror = [float(x) for x in data]

    def shapesys(self, plan: SamplePlan, mod: dict, cname: str, n_bins: int) -> None:
        name, data = mod.get("name"), mod.get("data")
        if len(data) != n_bins:
            raise _modifier_error(mod, plan.name, cname, f"{len(data)} uncertainties for {n_bins} bins")
        # pyhf fixes (and ROOT makes constant, without a constraint) the
        # bins with no yield or no uncertainty: relative uncertainty 0.
        relative = [float(u) / nom if (nom > 0 and u > 0) else 0.0 for u, nom in zip(data, plan.data)]
        self.claim(name, "shapesys", cname, plan.name, [f"gamma_{name}_bin_{i}" for i in range(n_bins)], mod)
        plan.shapesys.append((name, relative))
        for i, rel in enumerate(relative):
            if rel > 0 and rel**-2 > POISSON_UNRESOLVED_TAU:
                self.unresolved[f"gamma_{name}_bin_{i}"] = (rel**-2, f"{cname}/{plan.name}")

    def shapefactor(self, plan: SamplePlan, mod: dict, cname: str, n_bins: int) -> None:
        name = mod.get("name")
        self.claim(name, "shapefactor", cname, plan.name, [f"gamma_{name}_bin_{i}" for i in range(n_bins)], mod)
        plan.shapefactors.append(name)


def plan_histfactory(spec: dict, measurement: str | None = None, modifier_settings: dict | None = None,
                     stat_errors: dict[str, tuple[str, float]] | None = None) -> HistFactoryPlan:
    """Map a pyhf workspace spec onto HistFactory, or raise UserError for what cannot be mapped.

    *stat_errors*: channel -> (``"Gaussian"`` or ``"Poisson"``, RelErrorThreshold), the
    StatErrorConfig of an XML likelihood (:func:`read_stat_error_configs`); channels
    not named have pyhf's Gaussian staterror with no bin pruned.

    ROOT parameter names: normfactor ``n`` -> ``n``; normsys/histosys ``n`` ->
    ``alpha_n``; staterror of channel ``c`` -> ``gamma_stat_c_bin_i``;
    shapesys/shapefactor ``n`` -> ``gamma_n_bin_i``; lumi -> ``Lumi``.
    """
    meas = find_measurement(spec, measurement)
    config = meas.get("config", {})
    planner = _Planner(resolve_interpolation(modifier_settings))
    observations = {obs["name"]: obs["data"] for obs in spec.get("observations", [])}
    param_configs = {p["name"]: p for p in config.get("parameters", [])}
    channels: list[ChannelPlan] = []
    for channel in spec.get("channels", []):
        if channel["name"] not in observations:
            raise UserError(f"channel {channel['name']!r} has no observations in the spec; ROOT needs observed data for every channel")
        channels.append(planner.channel(channel, observations[channel["name"]], stat_errors or {}))
    if not channels:
        raise UserError("the workspace spec has no channels")
    chosen_stat_errors = _check_stat_errors(spec, channels, stat_errors or {}, planner.unresolved)
    declared_poi, poi = _poi(meas, config, planner.owners)
    lumi, lumi_rel_err = _lumi(meas, param_configs, planner.root_names)
    _check_parameter_configs(param_configs, planner.owners)
    return HistFactoryPlan(
        measurement=meas["name"],
        poi=poi,
        declared_poi=declared_poi,
        channels=channels,
        lumi=lumi,
        lumi_rel_err=lumi_rel_err,
        interpolation=planner.interpolation,
        root_names=planner.root_names,
        modifier_settings=modifier_settings,
        clipped_normsys=planner.clipped,
        unresolved_gammas=planner.unresolved,
        stat_errors=chosen_stat_errors,
    )


def _check_stat_errors(spec: dict, channels: list[ChannelPlan], stat_errors: dict[str, tuple[str, float]],
                       unresolved: dict[str, tuple[float, str]]) -> dict[str, tuple[str, float]]:
    """The StatErrorConfigs that are not pyhf's (Gaussian, 0), checked; Poisson gammas too tight to resolve go to *unresolved*."""
    chosen = {}
    for cname, (constraint, threshold) in stat_errors.items():
        if constraint not in STAT_ERROR_CONSTRAINTS:
            raise UserError(
                f"channel {cname!r} asks for StatErrorConfig ConstraintType={constraint!r}; HistFactory's stat errors are "
                f"{' or '.join(STAT_ERROR_CONSTRAINTS)}: set one of those in the channel's XML"
            )
        if not 0.0 <= threshold < 1.0:
            raise UserError(f"channel {cname!r} has StatErrorConfig RelErrorThreshold={threshold:g}; it must be in [0, 1)")
        if (constraint, threshold) != ("Gaussian", 0.0):
            chosen[cname] = (constraint, float(threshold))
        if constraint == "Poisson":
            carriers = [s.name for c in channels if c.name == cname for s in c.samples if s.staterror is not None]
            if len(carriers) > 1:
                raise UserError(
                    f"channel {cname!r} has Poisson stat errors (its XML's StatErrorConfig, or HistFactory's default without one) on {len(carriers)} samples ({', '.join(carriers)}), "
                    "one Poisson-constrained gamma per bin shared by them, which pyhf cannot express (a shapesys belongs to one sample); "
                    "set <StatErrorConfig ConstraintType=\"Gaussian\" RelErrorThreshold=\"0\"/> in that channel's XML to compare pyhf's Gaussian stat errors"
                )
            for i, rel in enumerate(stat_error_relative(spec, cname) or []):
                if rel >= threshold and rel > 0 and rel**-2 > POISSON_UNRESOLVED_TAU:
                    unresolved[f"gamma_stat_{cname}_bin_{i}"] = (rel**-2, f"{cname}/stat errors")
    return chosen


def _poi(meas: dict, config: dict, owners: dict[str, tuple[str, str, str]]) -> tuple[str, str | None]:
    """(the measurement's POI, the POI of the model: None where the model does not have it, background-only)."""
    declared_poi = config.get("poi")
    if not declared_poi:
        raise UserError(f"measurement {meas['name']!r} declares no POI")
    poi = declared_poi if declared_poi in owners else None
    if poi is not None and owners[poi][0] != "normfactor":
        raise UserError(f"the POI {poi!r} is a {owners[poi][0]} parameter; HistFactory's POI must be a normfactor")
    return declared_poi, poi


def _lumi(meas: dict, param_configs: dict[str, dict], root_names: dict[str, list[str]]) -> tuple[float, float]:
    """(luminosity, its relative uncertainty) from the lumi parameter's config; (1, 0) without a lumi modifier."""
    if "lumi" not in root_names:
        return 1.0, 0.0
    lumi_config = param_configs.get("lumi")
    if not lumi_config or not lumi_config.get("auxdata") or not lumi_config.get("sigmas"):
        raise UserError(f"the model has a lumi modifier but measurement {meas['name']!r} gives no lumi auxdata/sigmas")
    lumi = float(lumi_config["auxdata"][0])
    if lumi <= 0:
        raise UserError(f"lumi auxdata {lumi:g} must be positive (ROOT's luminosity is a scale factor)")
    return lumi, float(lumi_config["sigmas"][0]) / lumi


def _check_parameter_configs(param_configs: dict[str, dict], owners: dict[str, tuple[str, str, str]]) -> None:
    """Refuse parameter configs that change a constraint HistFactory fixes (alpha widths, gamma constraints)."""
    for name, pconf in param_configs.items():
        if name not in owners:
            continue
        mtype = owners[name][0]
        if mtype in ("normsys", "histosys") and any(float(s) != 1.0 for s in pconf.get("sigmas", [1.0])):
            raise UserError(f"parameter config of {name!r} ({mtype}) sets sigmas {pconf['sigmas']}; HistFactory's alpha constraints have width 1")
        if mtype in ("staterror", "shapesys") and ("sigmas" in pconf or "auxdata" in pconf and mtype == "shapesys"):
            raise UserError(f"parameter config of {name!r} ({mtype}) overrides its constraint; HistFactory derives it from the histograms")


def stat_error_relative(spec: dict, channel: str) -> list[float] | None:
    """The relative stat error of each bin of *channel* as HistFactory computes it, or None without staterror.

    sqrt(sum of squared absolute errors) / sum of nominal yields, over the
    samples carrying the channel's staterror; 0 where that sum is not positive.
    """
    for chan in spec.get("channels", []):
        if chan["name"] != channel:
            continue
        squares, nominal, found = None, None, False
        for sample in chan["samples"]:
            for mod in sample.get("modifiers", []):
                if mod.get("type") == "staterror":
                    found = True
                    squares = [0.0] * len(sample["data"]) if squares is None else squares
                    nominal = [0.0] * len(sample["data"]) if nominal is None else nominal
                    for i, (err, nom) in enumerate(zip(mod["data"], sample["data"])):
                        squares[i] += float(err) ** 2
                        nominal[i] += float(nom)
        if not found:
            return None
        return [math.sqrt(sq) / nom if nom > 0 else 0.0 for sq, nom in zip(squares, nominal)]
    return None


def pyhf_spec(spec: dict, plan: HistFactoryPlan) -> dict:
    """The spec pyhf builds: *spec* with each channel's StatErrorConfig of *plan* expressed in pyhf.

    pyhf's staterror is Gaussian and never pruned (pyhf's readxml ignores
    StatErrorConfig).  A bin whose relative stat error is below the channel's
    RelErrorThreshold, which HistFactory holds constant, gets uncertainty 0
    (pyhf fixes it).  A Poisson channel's staterror, on its one sample
    (plan_histfactory refuses more: pyhf's shapesys belongs to one sample),
    becomes a shapesys of the same name and uncertainties: a Poisson-constrained
    gamma per bin with tau = (nominal / error)^2, HistFactory's 1/rel^2.
    """
    if not plan.stat_errors:
        return spec
    out = json.loads(json.dumps(spec))
    for chan in out["channels"]:
        if chan["name"] not in plan.stat_errors:
            continue
        constraint, threshold = plan.stat_errors[chan["name"]]
        relative = stat_error_relative(spec, chan["name"]) or []
        kept = [rel >= threshold and rel > 0 for rel in relative]
        for sample in chan["samples"]:
            for mod in sample.get("modifiers", []):
                if mod.get("type") != "staterror":
                    continue
                if constraint == "Gaussian":
                    mod["data"] = [float(err) if keep else 0.0 for err, keep in zip(mod["data"], kept)]
                    continue
                mod["type"] = "shapesys"
                mod["data"] = [float(err) if keep else 0.0 for err, keep in zip(mod["data"], kept)]
    return out
