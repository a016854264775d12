"""pyhf and ROOT HistFactory side by side: export, workspace build, fits and comparison.

A pyhf workspace spec (a dict, patch already applied) is turned into the same
likelihood in ROOT, both are fitted, and every quantity a physicist reads off
a hypothesis test is compared: the best-fit POI, NLL differences (q_mu,
q~_mu, q~_mu,A), the asymptotic CLs and the nuisance parameters.

Two ways to the RooWorkspace:

* ``hist2workspace``: the spec is exported to HistFactory XML + ROOT files with
  pyhf's ``writexml`` (pyhf's json2xml) and ROOT's own command builds the
  workspace.  Used when ``hist2workspace`` is on PATH.
* PyROOT's HistFactory API (``Measurement``/``Channel``/``Sample`` and
  ``MakeModelAndMeasurementFast``).  ROOT from PyPI (``root==0.1a12``, ROOT
  6.40) ships libHistFactory but no XML parser, so this is the route used here.

The mapping is written out in :func:`plan_histfactory` (pure Python, no ROOT):
whatever cannot be expressed in HistFactory raises :class:`pyhf_bench.UserError`
naming the modifier and the reason.  After the build, :func:`build_workspace`
evaluates both NLLs at a handful of parameter points and refuses a ROOT model
whose NLL differences do not match pyhf's, so a mapping mistake can never pass
as "ROOT disagrees with pyhf".

ROOT is imported inside functions only: this module imports (and its pure-Python
planning runs) without ROOT.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyhf_bench import UserError

#: RooFit likelihood evaluation backends (``RooFit::EvalBackend``) compared here:
#: ``legacy`` (RooNLLVar), ``cpu`` (the vectorising evaluator, ROOT's default),
#: ``codegen`` (generated C++ with Clad gradients) and ``codegen_no_grad``
#: (generated C++, numerical gradients; needs no Clad).
EVAL_BACKENDS = ("legacy", "cpu", "codegen", "codegen_no_grad")

#: The modifier types HistFactory can express.
SUPPORTED_MODIFIERS = ("normfactor", "normsys", "histosys", "shapesys", "staterror", "shapefactor", "lumi")

#: pyhf interpolation code -> the ROOT code that computes the same function.
#: ROOT 6.40 evaluates FlexibleInterpVar (normsys) and PiecewiseInterpolation
#: (histosys) with one function (RooFit::Detail::MathFuncs::flexibleInterpSingle)
#: whose codes are: 0 additive linear, 1 multiplicative exponential, 2 additive
#: quadratic + linear extrapolation, 4 additive 6th-order polynomial + linear
#: extrapolation, 5 multiplicative 6th-order polynomial + exponential
#: extrapolation, 6 multiplicative polynomial + linear extrapolation.
#: pyhf accepts code1/code4 for normsys and code0/code2/code4p for histosys;
#: tests/test_root.py checks every pair numerically (histosys code2 fails: below).
INTERPOLATION_CODES = {
    "normsys": {"code1": 1, "code4": 5},
    "histosys": {"code0": 0, "code4p": 4},
}
#: pyhf codes whose ROOT namesake computes a different function (measured with
#: tests/test_root.py's one-bin models): the NLLs differ by O(1) for |alpha| <= 2.5.
NO_ROOT_EQUIVALENT = {"histosys": {"code2": "ROOT's PiecewiseInterpolation code 2 differs from pyhf's code2"}}
#: What pyhf.Model uses when no modifier_settings are given ...
PYHF_DEFAULT_MODIFIER_SETTINGS = {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
#: ... and the per-modifier default when modifier_settings are given but omit one.
PYHF_MODIFIER_CLASS_DEFAULTS = {"normsys": "code1", "histosys": "code0"}

#: Name of the HistFactory function 1/Lumi that undoes ROOT's Lumi on samples without pyhf's lumi.
INVERSE_LUMI = "pyhf_bench_inverse_Lumi"

#: The POI value tested by the hypotest (the CLs at mu=1 every SUSY exclusion reports).
MU_TEST = 1.0

#: Model equivalence check after the build: both NLLs are evaluated at the
#: initial parameters and at a few deterministic random points around them; the
#: NLL *differences* must agree to this (relative, absolute below 1).
MODEL_CHECK_POINTS = 3
MODEL_CHECK_TOLERANCE = 1e-7
#: A shapesys bin's Poisson constraint with tau = 1/rel_err^2 is evaluated from terms of
#: size ~tau*ln(tau) (n*ln(lambda), lambda, lgamma(n+1) with n = tau) that cancel to O(1),
#: so double precision leaves ~eps*tau*ln(tau) of rounding in every NLL value, in pyhf and
#: ROOT alike, each its own.  Above this tau the rounding (eps*tau*ln(tau) > 1e-8) reaches
#: the check's resolution; 3L eRJR's diboson3LISR in CRISR (0.001 events of uncertainty on
#: 435, tau = 1.9e11) leaves ~1e-3 in each NLL and moves pyhf's and ROOT's NLL apart by 4e-4.
POISSON_UNRESOLVED_TAU = 2.5e6


@dataclass(frozen=True)
class Tolerances:
    """Pass/fail limits of a pyhf vs ROOT comparison (see README, "pyhf vs ROOT HistFactory")."""

    #: best-fit POI, absolute
    poi_abs: float = 1e-3
    #: NLL differences (q_mu = 2 dNLL, q~_mu, q~_mu,A, 2 dNLL from the initial point), relative
    nll_diff_rel: float = 1e-4
    #: CLs (observed and expected band), relative
    cls_rel: float = 1e-3
    #: best-fit nuisance parameters, absolute
    nuisance_abs: float = 2e-3
    #: below this absolute difference a relative comparison always passes (values near 0)
    abs_floor: float = 1e-6


@dataclass(frozen=True)
class FitOptions:
    """How ROOT minimises: Minuit2's Migrad, strategy 1, tolerance 1e-6, on an offset NLL.

    RooMinimizer's ``setEps(tolerance)`` sets Minuit2's tolerance; Migrad stops
    when the estimated distance to the minimum (EDM) is below
    0.001 * tolerance (1e-9 here), far below the 1e-4 relative agreement asked
    of q_mu.  Without offsetting, an NLL of ~40 limits the EDM Minuit2 can
    resolve to ~2.5e-6 ("machine accuracy") and Migrad reports status 3 at
    this tolerance; ``Offset("initial")`` subtracts the NLL at the start
    point, so the minimiser works on values near 0.  Measured on the 10-bin
    synthetic model: q_mu agrees to 1e-7 relative for tolerances 1e-6 to 1e-4,
    with and without the offset; the POI of that model is so weakly
    constrained that mu-hat moves by 4e-4 over the same range.  Strategy 1 is
    ROOT's default (Hessian only where needed).
    """

    strategy: int = 1
    tolerance: float = 1e-6
    offset: str = "initial"
    minimizer: str = "Minuit2"
    algorithm: str = "Migrad"


# --------------------------------------------------------------------------- ROOT


def import_root():
    """``import ROOT`` in batch mode with RooFit's INFO chatter off, or one clear UserError."""
    try:
        with warnings.catch_warnings():
            # ROOT's PyPI wheel warns on every import that it is an alpha release.
            warnings.simplefilter("ignore")
            import ROOT
    except ImportError as exc:
        raise UserError(
            f"ROOT is not importable here ({exc}); install it with "
            "`python3 -m pip install 'pyhf-bench[root]'` (ROOT 6.40 from PyPI, root==0.1a12)"
        ) from None
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    return ROOT


def root_version() -> str:
    return str(import_root().gROOT.GetVersion())


def check_eval_backend(name: str) -> str:
    if name not in EVAL_BACKENDS:
        raise UserError(f"unknown RooFit evaluation backend {name!r}; choose one of: {', '.join(EVAL_BACKENDS)}")
    return name


def eval_backend_support(name: str) -> str | None:
    """Why this ROOT cannot use evaluation backend *name*, or None when it can.

    ``codegen`` generates C++ for the likelihood and differentiates it with
    Clad; a ROOT built without Clad (the PyPI wheel: ``gROOT.GetConfigFeatures()``
    lacks ``clad``) cannot use it, and RooFit would silently fall back to
    ``cpu``, so it is refused here instead.
    """
    check_eval_backend(name)
    ROOT = import_root()
    if not hasattr(ROOT.RooFit, "EvalBackend"):
        return f"ROOT {ROOT.gROOT.GetVersion()} has no RooFit::EvalBackend (needs ROOT >= 6.30)"
    if name == "codegen" and "clad" not in str(ROOT.gROOT.GetConfigFeatures()).split():
        return f"ROOT {ROOT.gROOT.GetVersion()} was built without Clad, which RooFit's codegen backend needs"
    return None


# --------------------------------------------------------------------------- the mapping (no ROOT)


def resolve_interpolation(modifier_settings: dict | None) -> dict[str, tuple[str, int]]:
    """pyhf's interpolation code for normsys and histosys, and ROOT's equivalent: {type: (pyhf, root)}.

    Mirrors pyhf.Model: no settings -> code4/code4p; settings that omit a
    modifier type -> that type's class default (normsys code1, histosys code0).
    """
    if modifier_settings is not None and not isinstance(modifier_settings, dict):
        raise UserError(f"modifier_settings must be a dict or None, got {type(modifier_settings).__name__}")
    resolved = {}
    for mtype, codes in INTERPOLATION_CODES.items():
        if modifier_settings is None:
            code = PYHF_DEFAULT_MODIFIER_SETTINGS[mtype]["interpcode"]
        else:
            code = (modifier_settings.get(mtype) or {}).get("interpcode", PYHF_MODIFIER_CLASS_DEFAULTS[mtype])
        if code in NO_ROOT_EQUIVALENT.get(mtype, {}):
            raise UserError(f"{mtype} interpolation {code!r} has no ROOT HistFactory equivalent: {NO_ROOT_EQUIVALENT[mtype][code]}")
        if code not in codes:
            raise UserError(
                f"{mtype} interpolation {code!r} has no ROOT HistFactory equivalent here; "
                f"use one of {', '.join(codes)}"
            )
        resolved[mtype] = (code, codes[code])
    unknown = set(modifier_settings or {}) - set(INTERPOLATION_CODES)
    if unknown:
        raise UserError(f"modifier_settings for {', '.join(sorted(unknown))} cannot be mapped to ROOT (only normsys, histosys)")
    return resolved


def interpolation_sources(modifier_settings: dict | None) -> dict[str, str]:
    """Where each interpolation code of :func:`resolve_interpolation` comes from, in words."""
    sources = {}
    for mtype in INTERPOLATION_CODES:
        if modifier_settings is None:
            sources[mtype] = "pyhf.Model's default: no modifier_settings given"
        elif "interpcode" in (modifier_settings.get(mtype) or {}):
            sources[mtype] = "set by modifier_settings"
        else:
            sources[mtype] = f"pyhf's {mtype} default: modifier_settings omit {mtype}"
    return sources


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


def code4_factor(alpha: float, lo: float, hi: float) -> float:
    """pyhf's code4 (= ROOT's code 5) normsys factor at *alpha*: 6th-order polynomial inside |alpha| < 1,
    exponential outside, matching value, first and second derivative at +-1."""
    if alpha >= 1.0:
        return hi**alpha
    if alpha <= -1.0:
        return lo ** (-alpha)
    log_hi, log_lo = math.log(hi), math.log(lo)
    s0, a0 = 0.5 * (hi + lo), 0.5 * (hi - lo)
    s1, a1 = 0.5 * (hi * log_hi - lo * log_lo), 0.5 * (hi * log_hi + lo * log_lo)
    s2, a2 = 0.5 * (hi * log_hi**2 + lo * log_lo**2), 0.5 * (hi * log_hi**2 - lo * log_lo**2)
    coefficients = (
        (15 * a0 - 7 * s1 + a2) / 8,
        (-24 + 24 * s0 - 9 * a1 + s2) / 8,
        (-5 * a0 + 5 * s1 - a2) / 4,
        (12 - 12 * s0 + 7 * a1 - s2) / 4,
        (3 * a0 - 3 * s1 + a2) / 8,
        (-8 + 8 * s0 - 5 * a1 + s2) / 8,
    )
    value, power = 1.0, 1.0
    for c in coefficients:
        power *= alpha
        value += c * power
    return value


def nonpositive_interval(lo: float, hi: float, steps: int = 2000) -> tuple[float, float] | None:
    """Where pyhf's code4 factor of a normsys (lo, hi) is <= 0 inside |alpha| < 1, or None.

    pyhf lets the factor (and the sample's yield) go negative there; ROOT's
    FlexibleInterpVar clips the product of a sample's normsys factors at 0.
    Only extreme asymmetric variations do this (staus: hi=40, lo=0.01).
    """
    bad = [a for a in (-1.0 + 2.0 * k / steps for k in range(steps + 1)) if code4_factor(a, lo, hi) <= 0.0]
    return (min(bad), max(bad)) if bad else None


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
    interpolation = resolve_interpolation(modifier_settings)
    observations = {obs["name"]: obs["data"] for obs in spec.get("observations", [])}
    param_configs = {p["name"]: p for p in config.get("parameters", [])}

    channels: list[ChannelPlan] = []
    root_names: dict[str, list[str]] = {}
    owners: dict[str, tuple[str, str, str]] = {}  # parameter -> (type, channel, sample) of its first use
    n_bins_of: dict[str, int] = {}
    clipped: dict[str, tuple[tuple[float, float], str]] = {}
    unresolved: dict[str, tuple[float, str]] = {}

    def claim(name: str, mtype: str, channel: str, sample: str, names: list[str], mod: dict):
        """Record the ROOT names of parameter *name*; a name shared in a way ROOT cannot share is an error."""
        previous = owners.get(name)
        if previous is None:
            owners[name] = (mtype, channel, sample)
            root_names[name] = names
            return
        ptype, pchannel, psample = previous
        compatible = {ptype, mtype} <= {"normsys", "histosys"} or ptype == mtype
        if not compatible:
            raise _modifier_error(mod, sample, channel, f"its name is also used by a {ptype} modifier (channel {pchannel!r})")
        if mtype == "shapesys":
            raise _modifier_error(mod, sample, channel, f"shapesys {name!r} is also used by sample {psample!r} in channel {pchannel!r}; ROOT would build two constraint terms for one parameter set")
        if mtype == "staterror" and pchannel != channel:
            raise _modifier_error(mod, sample, channel, f"staterror {name!r} spans channels {pchannel!r} and {channel!r}; ROOT's stat errors are per channel")
        if root_names[name] != names:
            raise _modifier_error(mod, sample, channel, f"it has {len(names)} bins here but {len(root_names[name])} in channel {pchannel!r}")

    for channel in spec.get("channels", []):
        cname = channel["name"]
        if cname not in observations:
            raise UserError(f"channel {cname!r} has no observations in the spec; ROOT needs observed data for every channel")
        staterror_names: set[str] = set()
        samples = []
        n_bins = len(observations[cname])
        for sample in channel["samples"]:
            sname = sample["name"]
            nominal = [float(x) for x in sample["data"]]
            if len(nominal) != n_bins:
                raise UserError(f"sample {sname!r} in channel {cname!r} has {len(nominal)} bins, the observations {n_bins}")
            plan = SamplePlan(sname, nominal)
            for mod in sample.get("modifiers", []):
                mtype, name = mod.get("type"), mod.get("name")
                if mtype not in SUPPORTED_MODIFIERS:
                    raise _modifier_error(mod, sname, cname, f"HistFactory has no modifier type {mtype!r} (supported: {', '.join(SUPPORTED_MODIFIERS)})")
                data = mod.get("data")
                if mtype == "normfactor":
                    claim(name, mtype, cname, sname, [name], mod)
                    plan.normfactors.append(name)
                elif mtype == "lumi":
                    if name != "lumi":
                        raise _modifier_error(mod, sname, cname, "HistFactory has a single luminosity parameter; pyhf names it 'lumi'")
                    claim(name, mtype, cname, sname, ["Lumi"], mod)
                    plan.normalize_by_theory = True
                elif mtype == "normsys":
                    hi, lo = float(data["hi"]), float(data["lo"])
                    code, _ = interpolation["normsys"]
                    if hi <= 0 or lo <= 0:
                        raise _modifier_error(mod, sname, cname, f"hi={hi:g}, lo={lo:g}: {code} is multiplicative and needs hi > 0 and lo > 0")
                    claim(name, mtype, cname, sname, [f"alpha_{name}"], mod)
                    plan.normsys.append((name, lo, hi))
                    interval = nonpositive_interval(lo, hi) if code == "code4" else None
                    if interval is not None:
                        clipped[name] = (interval, f"{cname}/{sname}")
                elif mtype == "histosys":
                    lo_data, hi_data = [float(x) for x in data["lo_data"]], [float(x) for x in data["hi_data"]]
                    if len(lo_data) != n_bins or len(hi_data) != n_bins:
                        raise _modifier_error(mod, sname, cname, f"lo_data/hi_data have {len(lo_data)}/{len(hi_data)} bins, the sample {n_bins}")
                    claim(name, mtype, cname, sname, [f"alpha_{name}"], mod)
                    plan.histosys.append((name, lo_data, hi_data))
                elif mtype == "staterror":
                    if len(data) != n_bins:
                        raise _modifier_error(mod, sname, cname, f"{len(data)} uncertainties for {n_bins} bins")
                    staterror_names.add(name)
                    if len(staterror_names) > 1:
                        raise _modifier_error(mod, sname, cname, f"channel has staterror modifiers {sorted(staterror_names)}; ROOT has one stat-error set per channel")
                    if plan.staterror is not None:
                        raise _modifier_error(mod, sname, cname, "a second staterror on the same sample")
                    if any(x < 0 for x in data):
                        raise _modifier_error(mod, sname, cname, "negative uncertainty")
                    claim(name, mtype, cname, sname, [f"gamma_stat_{cname}_bin_{i}" for i in range(n_bins)], mod)
                    plan.staterror = [float(x) for x in data]
                elif mtype == "shapesys":
                    if len(data) != n_bins:
                        raise _modifier_error(mod, sname, cname, f"{len(data)} uncertainties for {n_bins} bins")
                    # pyhf fixes (and ROOT makes constant, without a constraint) the
                    # bins with no yield or no uncertainty: relative uncertainty 0.
                    relative = [float(u) / nom if (nom > 0 and u > 0) else 0.0 for u, nom in zip(data, nominal)]
                    claim(name, mtype, cname, sname, [f"gamma_{name}_bin_{i}" for i in range(n_bins)], mod)
                    plan.shapesys.append((name, relative))
                    for i, rel in enumerate(relative):
                        if rel > 0 and rel**-2 > POISSON_UNRESOLVED_TAU:
                            unresolved[f"gamma_{name}_bin_{i}"] = (rel**-2, f"{cname}/{sname}")
                elif mtype == "shapefactor":
                    claim(name, mtype, cname, sname, [f"gamma_{name}_bin_{i}" for i in range(n_bins)], mod)
                    plan.shapefactors.append(name)
                n_bins_of.setdefault(name, n_bins)
            samples.append(plan)
        constraint, threshold = (stat_errors or {}).get(cname, ("Gaussian", 0.0))
        channels.append(ChannelPlan(cname, [float(x) for x in observations[cname]], samples, constraint, threshold))

    if not channels:
        raise UserError("the workspace spec has no channels")
    chosen_stat_errors = {}
    for cname, (constraint, threshold) in (stat_errors or {}).items():
        if constraint not in STAT_ERROR_CONSTRAINTS:
            raise UserError(
                f"channel {cname!r} asks for StatErrorConfig ConstraintType={constraint!r}; HistFactory's stat errors are "
                f"{' or '.join(STAT_ERROR_CONSTRAINTS)}: set one of those in the channel's XML"
            )
        if not 0.0 <= threshold < 1.0:
            raise UserError(f"channel {cname!r} has StatErrorConfig RelErrorThreshold={threshold:g}; it must be in [0, 1)")
        if (constraint, threshold) != ("Gaussian", 0.0):
            chosen_stat_errors[cname] = (constraint, float(threshold))
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
    declared_poi = config.get("poi")
    if not declared_poi:
        raise UserError(f"measurement {meas['name']!r} declares no POI")
    poi = declared_poi if declared_poi in root_names else None
    if poi is not None and owners[poi][0] != "normfactor":
        raise UserError(f"the POI {poi!r} is a {owners[poi][0]} parameter; HistFactory's POI must be a normfactor")

    lumi, lumi_rel_err = 1.0, 0.0
    lumi_config = param_configs.get("lumi")
    if "lumi" in root_names:
        if not lumi_config or not lumi_config.get("auxdata") or not lumi_config.get("sigmas"):
            raise UserError(f"the model has a lumi modifier but measurement {meas['name']!r} gives no lumi auxdata/sigmas")
        lumi = float(lumi_config["auxdata"][0])
        if lumi <= 0:
            raise UserError(f"lumi auxdata {lumi:g} must be positive (ROOT's luminosity is a scale factor)")
        lumi_rel_err = float(lumi_config["sigmas"][0]) / lumi
    for name, pconf in param_configs.items():
        if name not in root_names:
            continue
        mtype = owners[name][0]
        if mtype in ("normsys", "histosys") and any(float(s) != 1.0 for s in pconf.get("sigmas", [1.0])):
            raise UserError(f"parameter config of {name!r} ({mtype}) sets sigmas {pconf['sigmas']}; HistFactory's alpha constraints have width 1")
        if mtype in ("staterror", "shapesys") and ("sigmas" in pconf or "auxdata" in pconf and mtype == "shapesys"):
            raise UserError(f"parameter config of {name!r} ({mtype}) overrides its constraint; HistFactory derives it from the histograms")
    return HistFactoryPlan(
        measurement=meas["name"],
        poi=poi,
        declared_poi=declared_poi,
        channels=channels,
        lumi=lumi,
        lumi_rel_err=lumi_rel_err,
        interpolation=interpolation,
        root_names=root_names,
        modifier_settings=modifier_settings,
        clipped_normsys=clipped,
        unresolved_gammas=unresolved,
        stat_errors=chosen_stat_errors,
    )


#: HistFactory's stat-error constraint types (StatErrorConfig ConstraintType).
STAT_ERROR_CONSTRAINTS = ("Gaussian", "Poisson")
#: HistFactory's StatErrorConfig where an XML channel gives none (RooStats::HistFactory::StatErrorConfig()).
HISTFACTORY_STAT_ERROR_DEFAULT = ("Poisson", 0.05)


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


# --------------------------------------------------------------------------- XML export / import


def _require_uproot() -> None:
    try:
        import uproot  # noqa: F401
    except ImportError as exc:
        raise UserError(f"HistFactory XML export/import needs uproot ({exc}); install it with `python3 -m pip install 'pyhf-bench[root]'`") from None


def export_xml(spec: dict, directory: str | os.PathLike, resultprefix: str = "FitConfig",
               stat_errors: dict[str, tuple[str, float]] | None = None) -> Path:
    """Write *spec* as HistFactory XML + ROOT files into *directory* (pyhf's json2xml); return the top-level XML.

    Layout (as ``pyhf json2xml``): ``DIR/FitConfig.xml``, ``DIR/config/FitConfig_<channel>.xml``,
    ``DIR/config/HistFactorySchema.dtd`` and ``DIR/data/data.root``.  pyhf's
    writexml leaves ROOT's stat-error defaults in place (Poisson constraint,
    bins under 5% relative error pruned); pyhf's staterror is Gaussian and
    never pruned, so every channel file gets ``<StatErrorConfig
    RelErrorThreshold="0" ConstraintType="Gaussian"/>``, or the channel's own
    from *stat_errors* (channel -> (constraint type, threshold)).
    """
    _require_uproot()
    from pyhf import writexml

    out = Path(directory).resolve()
    specdir, datadir = out / "config", out / "data"
    specdir.mkdir(parents=True, exist_ok=True)
    datadir.mkdir(parents=True, exist_ok=True)
    try:
        xml = writexml.writexml(spec, specdir, datadir, resultprefix)
    except KeyError as exc:
        raise UserError(f"cannot export the spec to HistFactory XML: {exc}") from None
    top = out / f"{resultprefix}.xml"
    top.write_bytes(xml)
    for channel in spec["channels"]:
        path = specdir / f"{resultprefix}_{channel['name']}.xml"
        constraint, threshold = (stat_errors or {}).get(channel["name"], ("Gaussian", 0.0))
        _add_stat_error_config(path, constraint, threshold)
    return top


def _add_stat_error_config(path: Path, constraint: str = "Gaussian", threshold: float = 0.0) -> None:
    text = path.read_text(encoding="utf-8")
    doctype, _, body = text.partition("\n\n")
    root = ET.fromstring(body)
    config = ET.Element("StatErrorConfig", RelErrorThreshold=repr(float(threshold)), ConstraintType=constraint)
    # HistFactorySchema.dtd: Channel (Data*, StatErrorConfig*, Sample+)
    position = sum(1 for child in root if child.tag == "Data")
    root.insert(position, config)
    ET.indent(root)
    path.write_text(doctype + "\n\n" + ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")


def read_stat_error_configs(top_xml: str | os.PathLike, rootdir: str | os.PathLike | None = None) -> dict[str, tuple[str, float]]:
    """Each channel's ``<StatErrorConfig>`` (ConstraintType, RelErrorThreshold) in an XML likelihood; channels with stat errors only.

    pyhf's readxml ignores StatErrorConfig and makes every stat error Gaussian
    and unpruned; ``hist2workspace`` builds what the XML says, and a channel
    without one gets HistFactory's default (Poisson, 0.05).  The comparison
    honours it on both sides (:func:`pyhf_spec`) instead of changing the model.
    """
    top = Path(top_xml)
    base = Path(rootdir) if rootdir is not None else top.parent
    try:
        inputs = [x.text.strip() for x in ET.parse(top).getroot().findall("Input") if x.text and x.text.strip()]
    except (OSError, ET.ParseError) as exc:
        raise UserError(f"cannot read the HistFactory XML {top} ({exc})") from None
    configs: dict[str, tuple[str, float]] = {}
    for name in inputs:
        path = base / name
        try:
            channel = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as exc:
            raise UserError(f"cannot read the channel XML {path} named by {top} ({exc})") from None
        if not any(s.attrib.get("Activate") == "True" for s in channel.iter("StatError")):
            continue
        constraint, threshold = HISTFACTORY_STAT_ERROR_DEFAULT
        config = channel.find("StatErrorConfig")
        if config is not None:
            constraint = config.attrib.get("ConstraintType", constraint)
            try:
                threshold = float(config.attrib.get("RelErrorThreshold", threshold))
            except ValueError:
                raise UserError(f"{path}: StatErrorConfig RelErrorThreshold={config.attrib['RelErrorThreshold']!r} is not a number") from None
        configs[channel.attrib.get("Name", path.stem)] = (constraint, threshold)
    return configs


def import_xml(top_xml: str | os.PathLike, rootdir: str | os.PathLike | None = None) -> dict:
    """HistFactory XML + ROOT files -> pyhf workspace spec (pyhf's readxml)."""
    _require_uproot()
    from pyhf import readxml

    top = Path(top_xml)
    if not top.is_file():
        raise UserError(f"no HistFactory XML at {top}")
    readxml.clear_filecache()
    return readxml.parse(top, Path(rootdir) if rootdir is not None else top.parent)


# --------------------------------------------------------------------------- the ROOT workspace


@dataclass
class RootModel:
    """A HistFactory RooWorkspace with its pdf, data and the pyhf <-> ROOT parameter map."""

    plan: HistFactoryPlan
    route: str  # "pyroot-api" | "hist2workspace"
    workspace: Any
    model_config: Any
    pdf: Any
    data: Any
    #: pyhf parameter order (model.config.par_order) expanded to one ROOT variable per component
    pyhf_order: list[tuple[str, int, str]]  # (pyhf name, index, ROOT name)
    init: list[float]
    bounds: list[tuple[float, float]]
    fixed: list[bool]
    global_observables: Any
    build_seconds: float = 0.0
    #: ROOT objects that must stay alive as long as the workspace is used
    keep_alive: list = field(default_factory=list, repr=False)

    def var(self, root_name: str):
        var = self.workspace.var(root_name)
        if not var:
            raise UserError(f"ROOT's workspace has no parameter {root_name!r}")
        return var

    def set_values(self, values) -> None:
        for (_, _, root_name), value in zip(self.pyhf_order, values):
            self.var(root_name).setVal(float(value))

    def values(self) -> list[float]:
        return [self.var(root_name).getVal() for _, _, root_name in self.pyhf_order]

    def reset(self) -> None:
        """Initial values and pyhf's fixed flags, as pyhf starts every fit."""
        for (_, _, root_name), value, is_fixed in zip(self.pyhf_order, self.init, self.fixed):
            var = self.var(root_name)
            var.setVal(value)
            var.setConstant(is_fixed)

    @property
    def poi_var(self):
        return self.var(self.plan.poi) if self.plan.poi else None


def _histogram(ROOT, name: str, values, errors=None, keep: list | None = None):
    hist = ROOT.TH1D(name, name, len(values), 0.0, float(len(values)))
    for i, value in enumerate(values):
        hist.SetBinContent(i + 1, float(value))
        if errors is not None:
            hist.SetBinError(i + 1, float(errors[i]))
    # HistFactory's HistRef takes ownership (a std::unique_ptr) of every
    # histogram handed to it, so Python must not delete it; the reference kept
    # here stops PyROOT from garbage-collecting the proxy while ROOT uses it.
    ROOT.SetOwnership(hist, False)
    if keep is not None:
        keep.append(hist)
    return hist


def _measurement_via_api(ROOT, plan: HistFactoryPlan, keep: list):
    hf = ROOT.RooStats.HistFactory
    # Histograms stay out of ROOT's current directory: repeated builds reuse the names.
    ROOT.TH1.AddDirectory(False)
    meas = hf.Measurement(plan.measurement, plan.measurement)
    keep.append(meas)
    meas.SetPOI(plan.poi or _stand_in_poi(plan))
    meas.SetLumi(plan.lumi)
    # Without a lumi parameter in pyhf, ROOT's Lumi is held constant (see _configure);
    # any positive width keeps its (then constant) constraint term finite.
    meas.SetLumiRelErr(plan.lumi_rel_err if plan.lumi_rel_err > 0 else 0.1)
    has_lumi = "lumi" in plan.root_names
    if has_lumi:
        # ROOT 6.40 scales every sample by Lumi, NormalizeByTheory=False or not
        # (measured: such a sample's scale-factor product still depends on Lumi).
        # A sample without pyhf's lumi modifier gets a NormFactor 1/Lumi (a
        # HistFactory preprocess function) that cancels it.
        meas.AddPreprocessFunction(INVERSE_LUMI, "1/Lumi", f"Lumi[{plan.lumi!r},0,{10 * plan.lumi!r}]")
    for channel in plan.channels:
        chan = hf.Channel(channel.name)
        keep.append(chan)
        # pyhf's staterror: Gaussian constraint, no bin pruned (ROOT's default: Poisson, 5%),
        # unless an XML's StatErrorConfig says otherwise (plan.stat_errors, honoured in pyhf_spec).
        constraint = hf.Constraint.Poisson if channel.stat_constraint == "Poisson" else hf.Constraint.Gaussian
        chan.SetStatErrorConfig(channel.stat_threshold, constraint)
        chan.SetData(_histogram(ROOT, f"data_{channel.name}", channel.observed, keep=keep))
        for sample in channel.samples:
            prefix = f"{channel.name}_{sample.name}"
            s = hf.Sample(sample.name)
            keep.append(s)
            # Bin errors carry the absolute staterror uncertainties: HistFactory
            # reads them when the stat error is activated without an error histogram.
            s.SetHisto(_histogram(ROOT, f"nominal_{prefix}", sample.data, errors=sample.staterror, keep=keep))
            s.SetNormalizeByTheory(sample.normalize_by_theory)
            if has_lumi and not sample.normalize_by_theory:
                s.AddNormFactor(INVERSE_LUMI, 1.0, 0.0, 10.0)
            for name in sample.normfactors:
                # Initial value and range are set from pyhf's config after the build.
                s.AddNormFactor(name, 1.0, -1e30, 1e30)
            for name, lo, hi in sample.normsys:
                s.AddOverallSys(name, lo, hi)
            for name, lo_data, hi_data in sample.histosys:
                histosys = hf.HistoSys()
                histosys.SetName(name)
                histosys.SetHistoLow(_histogram(ROOT, f"histosys_lo_{prefix}_{name}", lo_data, keep=keep))
                histosys.SetHistoHigh(_histogram(ROOT, f"histosys_hi_{prefix}_{name}", hi_data, keep=keep))
                keep.append(histosys)
                s.AddHistoSys(histosys)
            if sample.staterror is not None:
                s.ActivateStatError()
            for name, relative in sample.shapesys:
                shapesys = hf.ShapeSys()
                shapesys.SetName(name)
                shapesys.SetConstraintType(hf.Constraint.Poisson)
                shapesys.SetErrorHist(_histogram(ROOT, f"shapesys_{prefix}_{name}", relative, keep=keep))
                keep.append(shapesys)
                s.AddShapeSys(shapesys)
            for name in sample.shapefactors:
                s.AddShapeFactor(name)
            chan.AddSample(s)
        meas.AddChannel(chan)
    return meas


def _stand_in_poi(plan: HistFactoryPlan) -> str:
    """A background-only model has no POI, but ROOT's ModelConfig wants one: the first normfactor.

    It only labels the ModelConfig; fits and comparisons of a background-only
    model never treat it differently from any other parameter.
    """
    for channel in plan.channels:
        for sample in channel.samples:
            if sample.normfactors:
                return sample.normfactors[0]
    return "Lumi" if "lumi" in plan.root_names else next(iter(plan.root_names.values()))[0]


def hist2workspace_path() -> str | None:
    return shutil.which("hist2workspace")


def _workspace_via_hist2workspace(ROOT, spec: dict, plan: HistFactoryPlan, directory: Path, keep: list):
    top = export_xml(spec, directory, stat_errors=plan.stat_errors)
    exe = hist2workspace_path()
    if exe is None:
        raise UserError("hist2workspace is not on PATH; use route='pyroot-api'")
    proc = subprocess.run([exe, str(top)], cwd=directory, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"hist2workspace failed on {top} (exit {proc.returncode}): {tail[0]}")
    output = directory / "config" / f"FitConfig_combined_{plan.measurement}_model.root"
    if not output.is_file():
        raise UserError(f"hist2workspace wrote no {output}")
    tfile = ROOT.TFile.Open(str(output))
    keep.append(tfile)
    workspace = tfile.Get("combined")
    if not workspace:
        raise UserError(f"{output} holds no RooWorkspace 'combined'")
    return workspace


def build_workspace(
    spec: dict,
    measurement: str | None = None,
    modifier_settings: dict | None = None,
    route: str = "auto",
    xml_directory: str | os.PathLike | None = None,
    check: bool = True,
    model=None,
    stat_errors: dict[str, tuple[str, float]] | None = None,
) -> RootModel:
    """The RooWorkspace of *spec* with pyhf's parameter configuration and interpolation codes applied.

    *route*: ``"pyroot-api"`` (PyROOT's HistFactory classes), ``"hist2workspace"``
    (XML export + ROOT's command; *xml_directory* keeps the files, a temporary
    directory otherwise) or ``"auto"`` (hist2workspace when on PATH).
    With *check*, both NLLs are compared at a few parameter points and a
    mismatch raises UserError (see :func:`check_model_equivalence`).  *model*:
    the pyhf model of *spec* if already built (the benchmarks time ROOT only).
    """
    if route not in ("auto", "pyroot-api", "hist2workspace"):
        raise UserError(f"unknown workspace route {route!r}; choose auto, pyroot-api or hist2workspace")
    plan = plan_histfactory(spec, measurement, modifier_settings, stat_errors)
    if model is None:  # the pyhf model supplies inits, bounds, fixed flags and auxdata
        model = pyhf_model(spec, plan)
    ROOT = import_root()
    if route == "auto":
        route = "hist2workspace" if hist2workspace_path() else "pyroot-api"
    keep: list = []
    start = time.perf_counter()
    if route == "hist2workspace":
        with contextlib.ExitStack() as stack:
            directory = Path(xml_directory) if xml_directory else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            workspace = _workspace_via_hist2workspace(ROOT, spec, plan, directory.resolve(), keep)
            keep.append(workspace)
    else:
        if xml_directory is not None:
            export_xml(spec, xml_directory, stat_errors=plan.stat_errors)
        measurement_obj = _measurement_via_api(ROOT, plan, keep)
        hf = ROOT.RooStats.HistFactory
        cfg = hf.HistoToWorkspaceFactoryFast.Configuration()
        cfg.createWorkspaceFile = False
        cfg.createPerRegionWorkspaces = False
        with _quiet_stdout():
            workspace = hf.MakeModelAndMeasurementFast(measurement_obj, cfg)
        if not workspace:
            raise UserError(f"ROOT's HistFactory could not build measurement {plan.measurement!r}")
        keep.append(workspace)
    root_model = _configure(ROOT, workspace, plan, model, route, keep)
    root_model.build_seconds = time.perf_counter() - start
    if check:
        check_model_equivalence(root_model, model)
    return root_model


@contextlib.contextmanager
def _quiet_stdout():
    """HistFactory prints its progress with std::cout; send the C-level stdout to /dev/null meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        try:
            import ROOT

            ROOT.gSystem.FlushLogBuffer() if hasattr(ROOT.gSystem, "FlushLogBuffer") else None
        except ImportError:
            pass
        os.dup2(saved, 1)
        os.close(saved)


def _configure(ROOT, workspace, plan: HistFactoryPlan, model, route: str, keep: list) -> RootModel:
    """Apply pyhf's inits, bounds, fixed flags, auxdata and interpolation codes to the built workspace."""
    mc = workspace.obj("ModelConfig")
    pdf = mc.GetPdf()
    data = workspace.data("obsData")
    if not pdf or not data:
        raise UserError("ROOT's workspace has no ModelConfig pdf or obsData")

    normsys_code, histosys_code = plan.interpolation["normsys"][1], plan.interpolation["histosys"][1]
    for component in workspace.components():
        if component.InheritsFrom("RooStats::HistFactory::FlexibleInterpVar"):
            component.setAllInterpCodes(normsys_code)
        elif component.InheritsFrom("PiecewiseInterpolation"):
            component.setAllInterpCodes(histosys_code)
            # HistFactory clips each sample's interpolated yield at 0 per bin
            # ("positive definite"); pyhf does not, and sbottom's zero-yield bins
            # with a one-sided histosys go negative inside |alpha| < 1.  Same
            # function on both sides: no clipping.
            component.setPositiveDefinite(False)

    config = model.config
    init, bounds, fixed = config.suggested_init(), config.suggested_bounds(), config.suggested_fixed()
    auxdata = list(config.auxdata)
    order: list[tuple[str, int, str]] = []
    aux_position = 0
    aux_order = list(config.auxdata_order)
    aux_start = {}
    for name in aux_order:
        aux_start[name] = aux_position
        aux_position += config.param_set(name).n_parameters
    flat_init, flat_bounds, flat_fixed = [], [], []
    for name in config.par_order:
        names = plan.root_names.get(name)
        if names is None:
            raise UserError(f"pyhf parameter {name!r} has no ROOT counterpart")
        sl = config.par_slice(name)
        for i, root_name in enumerate(names):
            var = workspace.var(root_name)
            if not var:
                raise UserError(f"ROOT's HistFactory built no parameter {root_name!r} for pyhf's {name!r}")
            value, (low, high), is_fixed = float(init[sl][i]), bounds[sl][i], bool(fixed[sl][i])
            var.setRange(float(low), float(high))
            var.setVal(value)
            var.setConstant(is_fixed)
            order.append((name, i, root_name))
            flat_init.append(value)
            flat_bounds.append((float(low), float(high)))
            flat_fixed.append(is_fixed)
            if name in aux_start:
                glob_name = "nominalLumi" if root_name == "Lumi" else f"nom_{root_name}"
                glob = workspace.var(glob_name)
                if glob:
                    aux = float(auxdata[aux_start[name] + i])
                    if config.param_set(name).pdf_type == "normal":
                        # RooFit normalises a Gaussian constraint over its global
                        # observable's range (nominalLumi: [0, 1+10 sigma], nom_alpha:
                        # [-10, 10]), a truncation pyhf does not have: at a bound 5 sigma
                        # away it shifts the NLL by ~3e-7.  An effectively infinite
                        # range removes it.
                        glob.setRange(-1e6, 1e6)
                    else:
                        glob.setRange(min(glob.getMin(), aux), max(glob.getMax(), aux))
                    glob.setVal(aux)
    if "lumi" not in plan.root_names:
        # No lumi in the pyhf model: ROOT's Lumi (which scales every sample) stays at its nominal 1.
        lumi = workspace.var("Lumi")
        if lumi:
            lumi.setVal(plan.lumi)
            lumi.setConstant(True)
    return RootModel(
        plan=plan,
        route=route,
        workspace=workspace,
        model_config=mc,
        pdf=pdf,
        data=data,
        pyhf_order=order,
        init=flat_init,
        bounds=flat_bounds,
        fixed=flat_fixed,
        global_observables=mc.GetGlobalObservables(),
        keep_alive=keep,
    )


# --------------------------------------------------------------------------- pyhf side


def pyhf_model(spec: dict, plan: HistFactoryPlan):
    """The pyhf model of *spec* as the comparison uses it (numpy backend must be active)."""
    import pyhf

    workspace = pyhf.Workspace(pyhf_spec(spec, plan))
    kwargs: dict[str, Any] = {"measurement_name": plan.measurement}
    if plan.modifier_settings is not None:
        kwargs["modifier_settings"] = plan.modifier_settings
    if plan.poi is None:
        kwargs["poi_name"] = None
    return workspace.model(**kwargs)


def pyhf_data(spec: dict, model) -> list[float]:
    import pyhf

    return pyhf.Workspace(spec).data(model)


def _numpy_pyhf(fit_settings: dict | None):
    """pyhf on numpy, 64b, scipy optimizer (pyhf's defaults, plus the likelihood's own fit settings)."""
    import pyhf

    try:
        optimizer = pyhf.optimize.scipy_optimizer(**(fit_settings or {}))
    except TypeError as exc:
        raise UserError(f"fit settings {fit_settings} are not scipy_optimizer options: {exc}") from None
    pyhf.set_backend("numpy", optimizer, precision="64b")
    return pyhf


# --------------------------------------------------------------------------- ROOT NLL and fits


class RootNLL:
    """RooFit's NLL of a RootModel on one dataset with one evaluation backend."""

    def __init__(self, root_model: RootModel, eval_backend: str = "cpu", data=None, offset: str = FitOptions.offset):
        reason = eval_backend_support(eval_backend)
        if reason:
            raise UserError(reason)
        ROOT = import_root()
        self.root_model = root_model
        self.eval_backend = eval_backend
        self.data = data if data is not None else root_model.data
        # The constraint terms' global observables are taken from the model (their
        # current values), so an Asimov dataset's observables can be set on the model.
        self.nll = root_model.pdf.createNLL(
            self.data,
            ROOT.RooFit.EvalBackend(eval_backend),
            ROOT.RooFit.GlobalObservables(root_model.global_observables),
            ROOT.RooFit.GlobalObservablesSource("model"),
            ROOT.RooFit.Offset(offset),
        )
        if not self.nll:
            raise UserError(f"RooFit could not create the NLL with the {eval_backend} backend")
        # The ROOT object owns its evaluation graph; keep it with this wrapper.
        self.parameters = self.nll.getParameters(ROOT.RooArgSet())

    def value(self, values=None) -> float:
        if values is not None:
            self.root_model.set_values(values)
        return float(self.nll.getVal())

    def minimize(self, options: FitOptions = FitOptions(), fixed_poi: float | None = None, start=None) -> tuple[float, list[float], int]:
        """Minimise from pyhf's initial point (or *start*, pyhf order); returns (NLL, parameters in pyhf order, Minuit status)."""
        ROOT = import_root()
        rm = self.root_model
        rm.reset()
        if start is not None:
            rm.set_values(start)
        poi = rm.poi_var
        if fixed_poi is not None:
            if poi is None:
                raise UserError("a conditional fit needs a POI; this model is background-only")
            poi.setVal(fixed_poi)
            poi.setConstant(True)
        minimizer = ROOT.RooMinimizer(self.nll)
        minimizer.setPrintLevel(-1)
        minimizer.setStrategy(options.strategy)
        minimizer.setEps(options.tolerance)
        minimizer.setMinimizerType(options.minimizer)
        with _quiet_stdout():
            status = int(minimizer.minimize(options.minimizer, options.algorithm))
        value = float(self.nll.getVal())
        values = rm.values()
        if poi is not None:
            poi.setConstant(False)
        return value, values, status


def root_asimov(root_model: RootModel, nll: RootNLL, options: FitOptions, asimov_mu: float = 0.0):
    """Asimov data and global observables as pyhf builds them for q~_mu: the fit at mu=asimov_mu, then its expectation.

    RooStats' ``AsymptoticCalculator::MakeAsimovData(model, allParamValues,
    globObs)`` makes the expected data at the given parameters and sets each
    global observable to its parameter's fitted value (Gaussian: alpha-hat,
    Poisson: gamma-hat * tau), the same as pyhf's ``expected_auxdata``.
    Returns (dataset, {global observable: value}, (fitted parameters in pyhf order, Minuit status)).
    """
    ROOT = import_root()
    _, values, status = nll.minimize(options, fixed_poi=asimov_mu)
    fit = (values, status)
    root_model.set_values(values)
    poi = root_model.poi_var
    poi.setVal(asimov_mu)
    params = ROOT.RooArgSet(root_model.pdf.getParameters(root_model.data))
    snapshot = params.snapshot()
    globs = ROOT.RooArgSet(root_model.global_observables).snapshot()
    with _quiet_stdout():
        asimov = ROOT.RooStats.AsymptoticCalculator.MakeAsimovData(root_model.model_config, snapshot, globs)
    root_model.keep_alive.extend([snapshot, globs, asimov])
    return asimov, {g.GetName(): g.getVal() for g in globs}, fit


@contextlib.contextmanager
def _global_observables(root_model: RootModel, values: dict[str, float]):
    saved = {g.GetName(): g.getVal() for g in root_model.global_observables}
    try:
        for g in root_model.global_observables:
            if g.GetName() in values:
                g.setVal(values[g.GetName()])
        yield
    finally:
        for g in root_model.global_observables:
            g.setVal(saved[g.GetName()])


def check_model_equivalence(root_model: RootModel, model, eval_backend: str = "legacy", points: int = MODEL_CHECK_POINTS) -> float:
    """Compare NLL differences of ROOT and pyhf at the initial point and *points* random points; return the worst mismatch.

    The points move every free parameter by up to half its constraint width
    (alphas +-0.5, gammas +-0.5 sigma, normfactors and lumi +-10%), inside the
    bounds, with a fixed seed.  Differences, not values, are compared: the
    absolute NLLs of pyhf and RooFit differ by constant terms.
    """
    import numpy as np

    data = np.asarray(pyhf_data_for(root_model, model))
    # No offset: the absolute values are compared, differences taken here.
    nll = RootNLL(root_model, eval_backend, offset="none")
    init = list(root_model.init)
    rng = random.Random(f"pyhf-bench-roobridge-{len(init)}")
    widths = _parameter_widths(model, root_model)
    root_ref = nll.value(init)
    pyhf_ref = -float(model.logpdf(np.asarray(init), data)[0])
    worst, worst_at = 0.0, None
    # Where pyhf's code4 factor goes negative ROOT clips it (see nonpositive_interval):
    # a known, reported difference, so those alphas stay at their initial value here.
    # A gamma whose Poisson constraint rounds away the check's resolution (see
    # POISSON_UNRESOLVED_TAU) stays there too: moved, it compares rounding, not models.
    plan = root_model.plan
    frozen = [name in plan.clipped_normsys or root_name in plan.unresolved_gammas for name, _, root_name in root_model.pyhf_order]
    for k in range(points):
        point = []
        for value, (low, high), is_fixed, width, is_frozen in zip(init, root_model.bounds, root_model.fixed, widths, frozen):
            if is_fixed or is_frozen:
                point.append(value)
                continue
            moved = value + rng.uniform(-0.5, 0.5) * width
            point.append(min(max(moved, low), high))
        d_root = nll.value(point) - root_ref
        d_pyhf = -float(model.logpdf(np.asarray(point), data)[0]) - pyhf_ref
        mismatch = abs(d_root - d_pyhf) / max(1.0, abs(d_pyhf))
        if not math.isfinite(mismatch) or mismatch > worst:
            worst, worst_at = mismatch, (k, d_root, d_pyhf)
    root_model.set_values(init)
    if worst_at is not None and (not math.isfinite(worst) or worst > MODEL_CHECK_TOLERANCE):
        k, d_root, d_pyhf = worst_at
        raise UserError(
            f"ROOT's HistFactory model of measurement {root_model.plan.measurement!r} differs from pyhf's: "
            f"at test point {k} the NLL moves by {d_root:.10g} in ROOT and {d_pyhf:.10g} in pyhf "
            f"(relative mismatch {worst:.2e} > {MODEL_CHECK_TOLERANCE:g}); the mapping is not faithful for this spec"
        )
    return worst


def _parameter_widths(model, root_model: RootModel) -> list[float]:
    widths = []
    config = model.config
    for name, i, _ in root_model.pyhf_order:
        pset = config.param_set(name)
        kind = type(pset).__name__
        if kind == "constrained_by_normal":
            widths.append(float(pset.width()[i]) if hasattr(pset, "width") else float(pset.sigmas[i]))
        elif kind == "constrained_by_poisson":
            factor = float(pset.factors[i])
            widths.append(1.0 / math.sqrt(factor) if factor > 0 else 0.0)
        else:
            widths.append(0.2 * max(abs(float(config.suggested_init()[config.par_slice(name)][i])), 1.0))
    return widths


def pyhf_data_for(root_model: RootModel, model) -> list[float]:
    """Observed main data in pyhf's channel order plus pyhf's auxdata."""
    observed = {c.name: c.observed for c in root_model.plan.channels}
    return [x for channel in model.config.channels for x in observed[channel]] + list(model.config.auxdata)


# --------------------------------------------------------------------------- inference on both sides


def asymptotic_cls(qtilde: float, qtilde_asimov: float) -> tuple[float, list[float]]:
    """Observed CLs and the expected band (-2..+2 sigma) from q~_mu and q~_mu,A, as pyhf computes them.

    pyhf (AsymptoticCalculator, qtilde, ``calc_base_dist="normal"``): with
    sqrt(q) and sqrt(qA), the test statistic is sqrt(q) - sqrt(qA) when
    sqrt(q) <= sqrt(qA), else (q - qA) / (2 sqrt(qA)); CLs+b = Phi(-(t + sqrt(qA))),
    CLb = Phi(-t), CLs = CLs+b / CLb; the expected band evaluates the same at
    t = n for n in (2, 1, 0, -1, -2), pyhf's order (the -2 sigma entry first).
    """
    sqrt_q, sqrt_qa = math.sqrt(max(qtilde, 0.0)), math.sqrt(max(qtilde_asimov, 0.0))

    def phi(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    def cls(t: float) -> float:
        return phi(-(t + sqrt_qa)) / phi(-t)

    if sqrt_q <= sqrt_qa:
        t = sqrt_q - sqrt_qa
    else:
        t = (qtilde - qtilde_asimov) / (2.0 * sqrt_qa)
    return cls(t), [cls(float(n)) for n in (2, 1, 0, -1, -2)]


def root_inference(root_model: RootModel, eval_backend: str = "cpu", options: FitOptions = FitOptions(), mu: float = MU_TEST) -> dict:
    """Best fit, conditional fit at *mu*, q~_mu, q~_mu,A and CLs from ROOT's fits (see :func:`asymptotic_cls`)."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    nll = RootNLL(root_model, eval_backend, offset=options.offset)
    timings["nll_setup"] = time.perf_counter() - start
    nll_init = nll.value(root_model.init)
    start = time.perf_counter()
    nll_free, pars_free, status_free = nll.minimize(options)
    timings["best_fit"] = time.perf_counter() - start
    result: dict[str, Any] = {
        "nll_initial": nll_init,
        "nll_best": nll_free,
        "best_fit": pars_free,
        "minuit_status": {"best_fit": status_free},
        "twice_delta_nll_initial_to_best": 2.0 * (nll_init - nll_free),
    }
    poi = root_model.plan.poi
    if poi is not None:
        poi_index = next(k for k, (name, _, _) in enumerate(root_model.pyhf_order) if name == poi)
        mu_hat = pars_free[poi_index]
        start = time.perf_counter()
        nll_cond, pars_cond, status_cond = nll.minimize(options, fixed_poi=mu)
        timings["conditional_fit"] = time.perf_counter() - start
        q_mu = 2.0 * (nll_cond - nll_free)
        qtilde = 0.0 if mu_hat > mu else max(q_mu, 0.0)
        start = time.perf_counter()
        asimov, asimov_globs, (pars_gen, status_gen) = root_asimov(root_model, nll, options)
        with _global_observables(root_model, asimov_globs):
            asimov_nll = RootNLL(root_model, eval_backend, data=asimov, offset=options.offset)
            a_free, a_pars, a_status_free = asimov_nll.minimize(options)
            a_cond, a_pars_cond, a_status_cond = asimov_nll.minimize(options, fixed_poi=mu)
        timings["asimov"] = time.perf_counter() - start
        qa = 2.0 * (a_cond - a_free)
        mu_hat_a = a_pars[poi_index]
        qtilde_a = 0.0 if mu_hat_a > mu else max(qa, 0.0)
        cls_obs, cls_exp = asymptotic_cls(qtilde, qtilde_a)
        result.update(
            mu_hat=mu_hat,
            nll_conditional=nll_cond,
            conditional_fit=pars_cond,
            asimov_generation_fit=pars_gen,
            asimov_free_fit=a_pars,
            asimov_conditional_fit=a_pars_cond,
            # ROOT objects, for cross_check_minima (not serialised).
            asimov_dataset=(asimov, asimov_globs),
            q_mu=q_mu,
            qtilde_mu=qtilde,
            qtilde_mu_asimov=qtilde_a,
            cls_obs=cls_obs,
            cls_exp=cls_exp,
        )
        result["minuit_status"].update(
            conditional=status_cond, asimov_generation=status_gen, asimov_free=a_status_free, asimov_conditional=a_status_cond
        )
    root_model.reset()
    result["timings"] = timings
    return result


def pyhf_inference(spec: dict, plan: HistFactoryPlan, fit_settings: dict | None = None, mu: float = MU_TEST) -> dict:
    """The same quantities with pyhf: numpy backend, 64b, scipy optimizer (pyhf's defaults + *fit_settings*)."""
    pyhf = _numpy_pyhf(fit_settings)
    import numpy as np

    model = pyhf_model(spec, plan)
    data = np.asarray(pyhf_data(spec, model))
    init = np.asarray(model.config.suggested_init())
    timings: dict[str, float] = {}
    start = time.perf_counter()
    best, twice_nll_best = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    timings["best_fit"] = time.perf_counter() - start
    nll_init = -float(model.logpdf(init, data)[0])
    result: dict[str, Any] = {
        "nll_initial": nll_init,
        "nll_best": float(twice_nll_best) / 2.0,
        "best_fit": [float(x) for x in best],
        "twice_delta_nll_initial_to_best": 2.0 * nll_init - float(twice_nll_best),
        "par_order": [(name, i) for name in model.config.par_order for i in range(model.config.param_set(name).n_parameters)],
    }
    if plan.poi is not None:
        start = time.perf_counter()
        cond, twice_nll_cond = pyhf.infer.mle.fixed_poi_fit(mu, data, model, return_fitted_val=True)
        timings["conditional_fit"] = time.perf_counter() - start
        mu_hat = float(best[model.config.poi_index])
        q_mu = float(twice_nll_cond) - float(twice_nll_best)
        start = time.perf_counter()
        cls_obs, cls_exp, calculator = pyhf.infer.hypotest(
            mu, data, model, test_stat="qtilde", return_expected_set=True, return_calculator=True
        )
        timings["hypotest"] = time.perf_counter() - start
        # pyhf's own q~_mu from the hypotest's fits (identical to the fits above:
        # same start point, bounds and optimizer), and its q~_mu,A.
        fitted = calculator.fitted_pars
        qtilde = 0.0 if mu_hat > mu else max(
            -2.0 * float(model.logpdf(fitted.fixed_poi_fit_to_data, data)[0]) + 2.0 * float(model.logpdf(fitted.free_fit_to_data, data)[0]),
            0.0,
        )
        result.update(
            mu_hat=mu_hat,
            nll_conditional=float(twice_nll_cond) / 2.0,
            conditional_fit=[float(x) for x in cond],
            # The fit at mu=0 whose expectation is pyhf's Asimov data.
            asimov_generation_fit=[float(x) for x in fitted.asimov_pars],
            asimov_free_fit=[float(x) for x in fitted.free_fit_to_asimov],
            asimov_conditional_fit=[float(x) for x in fitted.fixed_poi_fit_to_asimov],
            # pyhf's Asimov data (main + auxdata), as its calculator makes it.
            asimov_data=[float(x) for x in model.expected_data(fitted.asimov_pars)],
            q_mu=q_mu,
            qtilde_mu=qtilde,
            qtilde_mu_asimov=float(calculator.sqrtqmuA_v) ** 2,
            cls_obs=float(cls_obs),
            cls_exp=[float(x) for x in cls_exp],
        )
    result["timings"] = timings
    return result


# --------------------------------------------------------------------------- different minima

#: Two fits of one likelihood whose minima differ by more than this in 2*NLL, with pyhf and
#: ROOT each evaluating both points and agreeing on the difference, ended in different minima
#: (a likelihood with two minima, e.g. a code0 histosys whose variations lie on the same side
#: of the nominal: a kink at alpha=0).  It is 1000x the convergence both minimisers are asked
#: for (ROOT: EDM < 1e-9; pyhf's SLSQP: ftol 1e-6 on the NLL) and 10x the q_mu tolerance at q~1.
MINIMA_GAP = 1e-3
#: Each side's Asimov data come from its own fit at mu=0, and those agree to the fits'
#: convergence, not exactly (measured: Asimov data up to 3e-4 apart, relative, on small
#: code0 models whose every quantity passes), so the gaps of the two Asimov fits are
#: compared to this fraction of the gap plus ASIMOV_GAP_FLOOR (in 2*NLL), not to 1e-7.
ASIMOV_GAP_AGREEMENT = 0.1
ASIMOV_GAP_FLOOR = 1e-4

#: Minuit2 status codes (Minuit2Minimizer::Minimize; -1 is RooMinimizer's "no valid minimum").
MINUIT_STATUS = {
    -1: "no valid minimum: Migrad failed",
    1: "covariance matrix forced positive definite",
    2: "Hesse matrix invalid",
    3: "EDM above the requested maximum",
    4: "call limit reached",
    5: "minimisation failed",
}
#: The statuses of a converged fit: 0, or 1 (converged, covariance forced positive definite).
MINUIT_OK = (0, 1)

#: What each fit is, and the quantities that are read off it.
FIT_LABELS = {
    "best_fit": "best fit",
    "conditional": f"fit at mu={MU_TEST:g}",
    "asimov_generation": "fit at mu=0 (makes the Asimov data)",
    "asimov_free": "Asimov best fit",
    "asimov_conditional": f"Asimov fit at mu={MU_TEST:g}",
}


def cross_check_minima(spec: dict, plan: HistFactoryPlan, root_model: RootModel, pyhf_result: dict, root_result: dict,
                       fit_settings: dict | None, eval_backend: str, options: FitOptions, mu: float = MU_TEST,
                       tolerances: Tolerances = Tolerances()) -> list[dict]:
    """For each fit: both NLLs at both best-fit points, and a refit from the lower one.

    pyhf and ROOT each evaluate their NLL at their own and at the other's
    best-fit point.  When both agree that one point is lower by more than
    :data:`MINIMA_GAP` (in 2*NLL), the two fits ended in different minima of
    the same function: the side with the higher minimum is refitted, started
    from the other's point, to show that its minimiser stays in (or below) the
    lower minimum.  When the two evaluations disagree, the models differ at the
    fitted points (the model check moves parameters by half a width only).
    The two fits to the Asimov data are checked where the fits at mu=0 that
    make it found the same minimum (else each side fits other data): pyhf's
    NLL on pyhf's Asimov data, ROOT's on ROOT's, with its global observables.
    Returns one entry per fit checked; ``different`` is True where the minima differ.
    """
    import numpy as np

    pyhf = _numpy_pyhf(fit_settings)
    model = pyhf_model(spec, plan)
    data = np.asarray(pyhf_data(spec, model))
    nll = RootNLL(root_model, eval_backend, offset="none")
    fits = [("best_fit", "best_fit", None)]
    if plan.poi is not None:
        fits += [("conditional", "conditional_fit", mu), ("asimov_generation", "asimov_generation_fit", 0.0),
                 ("asimov_free", "asimov_free_fit", None), ("asimov_conditional", "asimov_conditional_fit", mu)]
    entries = []
    asimov_nll = None
    for fit, key, fixed in fits:
        if fit.startswith("asimov_") and fit != "asimov_generation":
            # Fits to the Asimov data: each side fits its own, made from its own fit at mu=0.
            # Only where those fits found the same minimum are the two datasets the same.
            generation = next(e for e in entries if e["fit"] == "asimov_generation")
            if generation["different"] or generation["degenerate"] or not generation["same_function"]:
                continue
            asimov, globs = root_result["asimov_dataset"]
            if asimov_nll is None:
                asimov_nll = RootNLL(root_model, eval_backend, data=asimov, offset="none")
            fit_data, fit_nll, root_data = np.asarray(pyhf_result["asimov_data"]), asimov_nll, asimov
        else:
            fit_data, fit_nll, root_data, globs = data, nll, None, {}
        points = {"pyhf": pyhf_result[key], "ROOT": root_result[key]}
        with _global_observables(root_model, globs):
            twice_nll = {
                side: {
                    "pyhf": -2.0 * float(model.logpdf(np.asarray(point), fit_data)[0]),
                    "ROOT": 2.0 * fit_nll.value(point),
                }
                for side, point in points.items()
            }
        # > 0: pyhf's point is lower, as each side sees it.
        gap_pyhf = twice_nll["ROOT"]["pyhf"] - twice_nll["pyhf"]["pyhf"]
        gap_root = twice_nll["ROOT"]["ROOT"] - twice_nll["pyhf"]["ROOT"]
        entry: dict[str, Any] = {
            "fit": fit,
            "label": FIT_LABELS[fit],
            "twice_nll_gap_pyhf": gap_pyhf,
            "twice_nll_gap_root": gap_root,
            "different": False,
            "same_function": abs(gap_pyhf - gap_root) <= (
                ASIMOV_GAP_AGREEMENT * max(abs(gap_pyhf), abs(gap_root)) + ASIMOV_GAP_FLOOR if root_data is not None
                else MODEL_CHECK_TOLERANCE * max(1.0, abs(gap_pyhf))
            ),
            # 2*NLL at {whose best-fit point: {evaluated by: value}}
            "twice_nll": twice_nll,
        }
        # The free parameter whose two fitted values differ most: with the same NLL, a
        # difference beyond the nuisance tolerance is a degenerate (or flat) minimum.
        worst = max(
            ((abs(points["pyhf"][k] - points["ROOT"][k]), k) for k in range(len(root_model.pyhf_order))
             if not root_model.fixed[k] and not (fixed is not None and root_model.pyhf_order[k][0] == plan.poi)),
            default=(0.0, None),
        )
        entry["degenerate"] = False
        if worst[1] is not None:
            name, i, _ = root_model.pyhf_order[worst[1]]
            label = f"{name}[{i}]" if len(plan.root_names[name]) > 1 else name
            entry["largest_point_difference"] = {"parameter": label, "pyhf": points["pyhf"][worst[1]], "ROOT": points["ROOT"][worst[1]]}
            entry["degenerate"] = entry["same_function"] and abs(gap_pyhf) <= MINIMA_GAP and worst[0] > tolerances.nuisance_abs
        if entry["same_function"] and abs(gap_pyhf) > MINIMA_GAP:
            lower = "pyhf" if gap_pyhf > 0 else "ROOT"
            higher = "ROOT" if lower == "pyhf" else "pyhf"
            start = points[lower]
            if higher == "ROOT":
                with _global_observables(root_model, globs):
                    refit_nll = RootNLL(root_model, eval_backend, data=root_data, offset=options.offset)
                    _, refit_point, status = refit_nll.minimize(options, fixed_poi=fixed, start=start)
                    refit_twice_nll = 2.0 * fit_nll.value(refit_point)
                own = twice_nll["ROOT"]["ROOT"]
                root_model.reset()
            else:
                init = np.asarray(start)
                if fixed is None:
                    refit_point = pyhf.infer.mle.fit(fit_data, model, init_pars=init.tolist())
                else:
                    refit_point = pyhf.infer.mle.fixed_poi_fit(fixed, fit_data, model, init_pars=init.tolist())
                refit_point = [float(x) for x in refit_point]
                refit_twice_nll = -2.0 * float(model.logpdf(np.asarray(refit_point), fit_data)[0])
                own, status = twice_nll["pyhf"]["pyhf"], None
            entry.update(
                different=True,
                lower=lower,
                twice_nll_gap=abs(gap_pyhf),
                refit={
                    "side": higher,
                    "started_from": f"{lower}'s {FIT_LABELS[fit]}",
                    # The refit's 2*NLL relative to the side's own first fit (< 0: it found the lower minimum).
                    "twice_nll_change": refit_twice_nll - own,
                    # ... by the gap the refitted side's own NLL sees (on Asimov data the two differ a little).
                    "reaches_lower_minimum": refit_twice_nll - own <= -abs(gap_root if higher == "ROOT" else gap_pyhf) + MINIMA_GAP,
                    "minuit_status": status,
                },
            )
        entries.append(entry)
    return entries


# --------------------------------------------------------------------------- comparison


def _entry(name: str, pyhf_value: float, root_value: float, kind: str, tol: Tolerances, fits: tuple[str, ...] = ("best_fit",)) -> dict:
    diff = abs(root_value - pyhf_value)
    scale = max(abs(pyhf_value), abs(root_value))
    rel = diff / scale if scale > 0 else 0.0
    if kind == "abs":
        limit = tol.poi_abs
        passed = diff <= limit
        tolerance = f"abs {limit:g}"
    elif kind == "nuisance":
        limit = tol.nuisance_abs
        passed = diff <= limit
        tolerance = f"abs {limit:g}"
    else:
        limit = tol.nll_diff_rel if kind == "nll" else tol.cls_rel
        passed = diff <= tol.abs_floor or rel <= limit
        tolerance = f"rel {limit:g} (or abs {tol.abs_floor:g})"
    return {
        "quantity": name,
        "pyhf": pyhf_value,
        "root": root_value,
        "abs_diff": diff,
        "rel_diff": rel,
        "tolerance": tolerance,
        "passed": bool(passed and math.isfinite(diff)),
        # The fits (FIT_LABELS) this quantity is read off.
        "fits": list(fits),
    }


def compare_results(pyhf_result: dict, root_result: dict, root_model: RootModel, tol: Tolerances = Tolerances()) -> list[dict]:
    """Each quantity for pyhf and ROOT with absolute and relative difference and pass/fail."""
    entries = [
        _entry("2*dNLL(initial -> best fit)", pyhf_result["twice_delta_nll_initial_to_best"], root_result["twice_delta_nll_initial_to_best"], "nll", tol)
    ]
    if "mu_hat" in pyhf_result:
        observed = ("best_fit", "conditional")
        asimov = ("asimov_generation", "asimov_free", "asimov_conditional")
        entries += [
            _entry("mu_hat", pyhf_result["mu_hat"], root_result["mu_hat"], "abs", tol),
            _entry(f"q_mu = 2*dNLL(mu={MU_TEST:g})", pyhf_result["q_mu"], root_result["q_mu"], "nll", tol, observed),
            _entry("qtilde_mu", pyhf_result["qtilde_mu"], root_result["qtilde_mu"], "nll", tol, observed),
            _entry("qtilde_mu_asimov", pyhf_result["qtilde_mu_asimov"], root_result["qtilde_mu_asimov"], "nll", tol, asimov),
            _entry("CLs_obs", pyhf_result["cls_obs"], root_result["cls_obs"], "cls", tol, observed + asimov),
        ]
        for n, p, r in zip((-2, -1, 0, 1, 2), pyhf_result["cls_exp"], root_result["cls_exp"]):
            entries.append(_entry(f"CLs_exp({n:+d} sigma)", p, r, "cls", tol, asimov))
    # Nuisance parameters at the best fit: the largest difference, named.
    worst = None
    for k, (name, i, root_name) in enumerate(root_model.pyhf_order):
        if root_model.fixed[k] or name == root_model.plan.poi:
            continue
        diff = abs(pyhf_result["best_fit"][k] - root_result["best_fit"][k])
        if worst is None or diff > worst[0]:
            worst = (diff, k, f"{name}[{i}]" if len(root_model.plan.root_names[name]) > 1 else name)
    if worst is not None:
        _, k, label = worst
        entries.append(_entry(f"nuisance parameter with the largest difference: {label}", pyhf_result["best_fit"][k], root_result["best_fit"][k], "nuisance", tol))
    # The one known difference of the two models (see nonpositive_interval): it must
    # not matter, i.e. no fit may end where pyhf's factor is negative and ROOT's 0.
    for name, ((low, high), where) in root_model.plan.clipped_normsys.items():
        k = next(k for k, (pname, _, _) in enumerate(root_model.pyhf_order) if pname == name)
        fitted = [result[fit][k] for result in (pyhf_result, root_result) for fit in ("best_fit", "conditional_fit") if fit in result]
        entry = _entry(f"{name} at the best fit (pyhf's code4 factor of {where} < 0 for alpha in [{low:.3f}, {high:.3f}], ROOT's 0)", pyhf_result["best_fit"][k], root_result["best_fit"][k], "nuisance", tol,
                       ("best_fit", "conditional") if "conditional_fit" in pyhf_result else ("best_fit",))
        entry["tolerance"] += f"; every fit outside [{low:.3f}, {high:.3f}]"
        entry["passed"] = entry["passed"] and all(not (low <= value <= high) for value in fitted)
        entries.append(entry)
    return entries


def compare(
    spec: dict,
    measurement: str | None = None,
    modifier_settings: dict | None = None,
    fit_settings: dict | None = None,
    eval_backend: str = "cpu",
    label: str = "",
    route: str = "auto",
    export_directory: str | os.PathLike | None = None,
    options: FitOptions = FitOptions(),
    tolerances: Tolerances = Tolerances(),
    root_spec: dict | None = None,
    stat_errors: dict[str, tuple[str, float]] | None = None,
) -> dict:
    """pyhf vs ROOT on one likelihood: the comparison report (JSON-serialisable).

    *root_spec*: the spec ROOT builds, if not *spec* (the tests give ROOT other
    data to see the comparison fail, and say why).  *stat_errors*: an XML
    likelihood's StatErrorConfig per channel (:func:`read_stat_error_configs`),
    honoured on both sides.
    """
    check_eval_backend(eval_backend)
    plan = plan_histfactory(spec, measurement, modifier_settings, stat_errors)
    pyhf = _numpy_pyhf(fit_settings)
    pyhf_result = pyhf_inference(spec, plan, fit_settings)
    root_model = build_workspace(root_spec or spec, plan.measurement, modifier_settings, route=route, xml_directory=export_directory,
                                 stat_errors=stat_errors)
    model_mismatch = check_model_equivalence(root_model, pyhf_model(spec, plan), eval_backend)
    root_result = root_inference(root_model, eval_backend, options)
    entries = compare_results(pyhf_result, root_result, root_model, tolerances)
    minima = cross_check_minima(spec, plan, root_model, pyhf_result, root_result, fit_settings, eval_backend, options, tolerances=tolerances)
    entries += lower_minima_entries(minima, tolerances)
    causes = verdict_causes(entries, minima, root_result["minuit_status"])
    ROOT = import_root()
    return {
        "likelihood": label,
        "measurement": plan.measurement,
        "poi": plan.poi,
        "background_only": plan.poi is None,
        "declared_poi": plan.declared_poi,
        "n_parameters": len(root_model.pyhf_order),
        "interpolation": {
            mtype: f"pyhf {code} = ROOT code {root_code}" for mtype, (code, root_code) in plan.interpolation.items()
        },
        # A result compared with ROOT-referenced values needs these codes: say where they came from.
        "interpolation_source": interpolation_sources(modifier_settings),
        # Every channel with stat errors: its constraint and pruning threshold, on both sides.
        "stat_errors": {
            c.name: {"constraint": c.stat_constraint, "rel_error_threshold": c.stat_threshold,
                     "source": "the XML: its StatErrorConfig, or HistFactory's default without one" if stat_errors and c.name in stat_errors else "pyhf's staterror"}
            for c in plan.channels if any(s.staterror is not None for s in c.samples)
        },
        "pyhf": {
            "version": pyhf.__version__,
            "backend": "numpy 64b",
            "optimizer": f"scipy ({fit_settings or 'pyhf defaults'})",
            "timings_s": pyhf_result["timings"],
        },
        "root": {
            "version": str(ROOT.gROOT.GetVersion()),
            "route": root_model.route,
            "eval_backend": eval_backend,
            "minimizer": f"{options.minimizer} {options.algorithm}, strategy {options.strategy}, tolerance {options.tolerance:g}",
            "minuit_status": root_result["minuit_status"],
            "build_s": root_model.build_seconds,
            "timings_s": root_result["timings"],
        },
        "model_check": {
            "points": MODEL_CHECK_POINTS,
            "worst_relative_mismatch_of_nll_differences": model_mismatch,
            "tolerance": MODEL_CHECK_TOLERANCE,
            # Held at their initial value in the check (see POISSON_UNRESOLVED_TAU).
            "unresolved_gammas": {name: {"tau": tau, "sample": where} for name, (tau, where) in plan.unresolved_gammas.items()},
        },
        "export_directory": str(Path(export_directory).resolve()) if export_directory else None,
        "quantities": entries,
        "minima": minima,
        # Why it failed, most fundamental first (see verdict_causes); empty when it passed.
        "causes": causes,
        "verdict": "passed" if not causes else "FAILED: " + "; ".join(c["text"] for c in causes),
        # Every quantity within tolerance, one minimum per fit, every Minuit2 status 0 or 1.
        "passed": not causes,
    }


def lower_minima_entries(minima: list[dict], tol: Tolerances = Tolerances()) -> list[dict]:
    """Where the observed-data fits ended in different minima: q_mu from the lower minima, each side with its own NLL.

    Both sides evaluated both points (:func:`cross_check_minima`), so q_mu =
    2*NLL(lower conditional minimum) - 2*NLL(lower best fit) is computed by pyhf
    and by ROOT at the same two points: it agrees when the functions do, and is
    the q_mu a global minimiser would give.  Nothing is returned where every fit
    found the same minimum.
    """
    by_fit = {m["fit"]: m for m in minima}
    if not any(by_fit.get(fit, {}).get("different") for fit in ("best_fit", "conditional")) or "conditional" not in by_fit:
        return []

    def lower(fit: str) -> str:
        m = by_fit[fit]
        return m["lower"] if m["different"] else "pyhf"

    best, cond = lower("best_fit"), lower("conditional")
    q = {side: by_fit["conditional"]["twice_nll"][cond][side] - by_fit["best_fit"]["twice_nll"][best][side] for side in ("pyhf", "ROOT")}
    entry = _entry(f"q_mu at the lower minima ({best}'s best fit, {cond}'s fit at mu={MU_TEST:g})", q["pyhf"], q["ROOT"], "nll", tol, ())
    return [entry]


def verdict_causes(entries: list[dict], minima: list[dict], minuit_status: dict[str, int]) -> list[dict]:
    """Why a comparison fails, each cause once, and a ``notes`` list on every quantity it affects.

    In this order: fits that ended in different minima of the same function
    (a finding about the minimisers, not about the models: ``kind`` "minima"),
    fitted points where the two NLLs differ ("model"), ROOT fits whose Minuit2
    status is not 0 or 1 ("minuit"), then quantities outside their tolerance
    that no cause above explains ("disagreement").  Every one is a finding
    (exit status 1); a model that cannot be built or mapped is a UserError
    (exit status 2) before any of this runs.
    """
    causes: list[dict] = []
    notes: dict[str, list[str]] = {}
    for m in minima:
        if m["different"]:
            refit = m["refit"]
            reached = "reaches it" if refit["reaches_lower_minimum"] else "does not reach it"
            text = (f"different minima found in the {m['label']} ({m['lower']}'s is lower by 2*dNLL = {m['twice_nll_gap']:.6g}; "
                    f"both NLLs agree on that to {abs(m['twice_nll_gap_pyhf'] - m['twice_nll_gap_root']):.1e}; "
                    f"{refit['side']} refitted from {refit['started_from']} {reached}: 2*NLL changes by {refit['twice_nll_change']:.6g})")
            causes.append({"kind": "minima", "fit": m["fit"], "text": text})
            notes[m["fit"]] = notes.get(m["fit"], []) + [f"different minima in the {m['label']}, {m['lower']}'s lower by {m['twice_nll_gap']:.3g}"]
        elif m.get("degenerate"):
            point = m["largest_point_difference"]
            text = (f"the {m['label']} ended at different points with the same NLL (2*NLL differs by {abs(m['twice_nll_gap_pyhf']):.1e}; "
                    f"{point['parameter']} is {point['pyhf']:.6g} in pyhf and {point['ROOT']:.6g} in ROOT): a degenerate or flat minimum")
            causes.append({"kind": "minima", "fit": m["fit"], "text": text})
            notes[m["fit"]] = notes.get(m["fit"], []) + [f"degenerate minimum in the {m['label']}"]
        elif not m["same_function"]:
            text = (f"pyhf and ROOT's NLLs differ at the points of the {m['label']}: 2*NLL(ROOT's point) - 2*NLL(pyhf's point) "
                    f"is {m['twice_nll_gap_pyhf']:.6g} in pyhf and {m['twice_nll_gap_root']:.6g} in ROOT; the models are not the same there")
            causes.append({"kind": "model", "fit": m["fit"], "text": text})
            notes[m["fit"]] = notes.get(m["fit"], []) + [f"the NLLs differ at the points of the {m['label']}"]
    remarks: dict[str, str] = {}
    for fit, status in minuit_status.items():
        if status in MINUIT_OK and status != 0:
            # Converged, covariance forced positive definite: said on the rows, not a failure.
            remarks[fit] = f"ROOT's {FIT_LABELS[fit]}: Minuit2 status {status} ({MINUIT_STATUS[status]})"
        elif status not in MINUIT_OK:
            meaning = MINUIT_STATUS.get(status, "unknown status")
            causes.append({"kind": "minuit", "fit": fit, "text": f"ROOT's {FIT_LABELS[fit]} ended with Minuit2 status {status} ({meaning})"})
            notes[fit] = notes.get(fit, []) + [f"ROOT's {FIT_LABELS[fit]}: Minuit2 status {status} ({meaning})"]
    unexplained = []
    for e in entries:
        e["notes"] = [note for fit in e["fits"] for note in notes.get(fit, [])]
        e["remarks"] = [remarks[fit] for fit in e["fits"] if fit in remarks]
        if not e["passed"] and not e["notes"]:
            unexplained.append(e["quantity"])
    if unexplained:
        causes.append({"kind": "disagreement", "fit": None,
                       "text": f"pyhf and ROOT disagree beyond tolerance on {', '.join(unexplained)} (same model, same minima, every fit converged)"})
    return causes


# --------------------------------------------------------------------------- ROOT peer benchmarks


def peer_tier(quick: dict, params: dict, what: str) -> None:
    """Skip a ROOT peer benchmark outside the selected tier (``support.require_tier``), as the pyhf benchmarks do."""
    from pyhf_bench.core.tiers import in_quick_tier, require_tier

    described = ", ".join(f"{name}={params[name]}" for name in quick)
    require_tier(in_quick_tier(quick, params), f"{what} with {described}")


class RootPeer:
    """One likelihood in ROOT for ``benchmarks/root_peer.py``: each method is what one timed call does.

    Raises :class:`pyhf_bench.core.skip.Skip` where ROOT is not importable or
    the evaluation backend is unsupported.  pyhf (numpy) is used once, for
    the parameter configuration; no timed call runs pyhf.
    """

    def __init__(self, spec: dict, measurement: str | None, modifier_settings: dict | None, eval_backend: str, options: FitOptions = FitOptions()):
        from pyhf_bench.core.skip import Skip

        check_eval_backend(eval_backend)
        try:
            import_root()
        except UserError as exc:
            raise Skip(str(exc)) from None
        reason = eval_backend_support(eval_backend)
        if reason:
            raise Skip(reason)
        _numpy_pyhf(None)
        self.spec, self.measurement, self.modifier_settings = spec, measurement, modifier_settings
        self.eval_backend, self.options = eval_backend, options
        self.plan = plan_histfactory(spec, measurement, modifier_settings)
        self.model = pyhf_model(spec, self.plan)
        self.root_model = build_workspace(spec, measurement, modifier_settings, route="pyroot-api", model=self.model)
        self.nll = RootNLL(self.root_model, eval_backend, offset=options.offset)
        # Two parameter points to alternate between, so every timed NLL call
        # evaluates (RooFit caches a value whose parameters did not change).
        params = self.nll.parameters
        self.root_model.reset()
        self._points = [params.snapshot()]
        for var in params:
            if not var.isConstant():
                var.setVal(var.getVal() + 1e-3 * max(abs(var.getVal()), 1e-2))
        self._points.append(params.snapshot())
        self.root_model.reset()
        self._next = 0

    @property
    def has_poi(self) -> bool:
        return self.plan.poi is not None

    @property
    def free_parameters(self) -> int:
        """The parameters a fit of this NLL moves (the non-constant ones)."""
        return sum(1 for var in self.nll.parameters if not var.isConstant())

    def build(self) -> RootModel:
        """Spec -> RooWorkspace with pyhf's configuration applied (HistFactory's MakeModelAndMeasurementFast)."""
        return build_workspace(self.spec, self.measurement, self.modifier_settings, route="pyroot-api", check=False, model=self.model)

    def nll_value(self) -> float:
        self.nll.parameters.assign(self._points[self._next])
        self._next ^= 1
        return float(self.nll.nll.getVal())

    def fit(self):
        return self.nll.minimize(self.options)

    def hypotest(self) -> dict:
        """Best fit, fit at mu=1, Asimov data from the fit at mu=0, both Asimov fits: CLs (as pyhf's hypotest)."""
        return root_inference(self.root_model, self.eval_backend, self.options)


# --------------------------------------------------------------------------- CLI


def _load_likelihood(name: str, region: str | None, patch: str | None) -> dict:
    """(spec, measurement, poi, modifier_settings, fit_settings, label) of a registered likelihood or ``synthetic/<n_bins>``."""
    if name.startswith("synthetic/"):
        from pyhf_bench.core.synthetic import make_workspace

        try:
            n_bins = int(name.split("/", 1)[1])
        except ValueError:
            raise UserError(f"synthetic likelihoods are named synthetic/<n_bins>, e.g. synthetic/10; got {name!r}") from None
        if region or patch:
            raise UserError("synthetic likelihoods have no regions or patches")
        return {"spec": make_workspace(n_bins), "measurement": "meas", "modifier_settings": None, "fit_settings": {}, "label": name, "stat_errors": None}
    if "/" in name and region is None:
        name, region = name.split("/", 1)
    try:
        from pyhf_bench.likelihoods import load
    except ImportError as exc:
        raise UserError(f"the likelihood registry is not available in this checkout ({exc}); try synthetic/<n_bins>") from None
    from pyhf_bench.likelihoods import entry

    lk = load(name, region=region, patch=patch)
    # The registry's scipy_optimizer options for this likelihood (e.g. a tighter tolerance).
    fit_settings = lk.fit_settings("scipy") if callable(lk.fit_settings) else lk.fit_settings
    # An XML likelihood's StatErrorConfig, which pyhf's readxml drops (see read_stat_error_configs).
    registered = entry(lk.name)
    _, region_spec = registered.region(lk.region)
    stat_errors = None
    if "xml" in region_spec:
        root = registered.root()
        stat_errors = read_stat_error_configs(root / region_spec["xml"], root / region_spec.get("rootdir", "."))
    return {
        "stat_errors": stat_errors,
        "spec": lk.spec,
        "measurement": lk.measurement,
        "modifier_settings": lk.modifier_settings,
        "fit_settings": dict(fit_settings or {}),
        "label": lk.label,
    }


def _print_report(report: dict) -> None:
    print(f"{report['likelihood']}: pyhf {report['pyhf']['version']} (numpy, scipy) vs ROOT {report['root']['version']} "
          f"({report['root']['route']}, {report['root']['eval_backend']} backend, {report['root']['minimizer']})")
    if report["background_only"]:
        print(f"background-only (measurement POI {report['declared_poi']!r} is not in the model)")
    sources = report.get("interpolation_source", {})
    print("interpolation: " + "; ".join(f"{mtype} {text} ({sources.get(mtype, '')})" for mtype, text in report["interpolation"].items()))
    if report.get("stat_errors"):
        print("stat errors: " + "; ".join(
            f"{name} {c['constraint']}, RelErrorThreshold {c['rel_error_threshold']:g} ({c['source']})" for name, c in report["stat_errors"].items()))
    width = max(len(e["quantity"]) for e in report["quantities"])
    print(f"{'quantity':<{width}}  {'pyhf':>14}  {'ROOT':>14}  {'abs diff':>9}  {'rel diff':>9}  tolerance")
    for e in report["quantities"]:
        # A value within tolerance read off a failed fit or a local minimum is not an agreement.
        mark = ("ok" if e["passed"] else "FAIL") if not e.get("notes") else ("UNRELIABLE" if e["passed"] else "FAIL") + ": " + "; ".join(e["notes"])
        if e.get("remarks"):
            mark += " (" + "; ".join(e["remarks"]) + ")"
        print(f"{e['quantity']:<{width}}  {e['pyhf']:>14.8g}  {e['root']:>14.8g}  {e['abs_diff']:>9.2e}  {e['rel_diff']:>9.2e}  {e['tolerance']}  {mark}")
    print(report["verdict"])


def run_cli(args: argparse.Namespace) -> int:
    check_eval_backend(args.backend_eval)
    loaded = _load_likelihood(args.name, args.region, args.patch)
    report = compare(
        loaded["spec"],
        loaded["measurement"],
        loaded["modifier_settings"],
        loaded["fit_settings"],
        eval_backend=args.backend_eval,
        label=loaded["label"],
        export_directory=args.export,
        stat_errors=loaded["stat_errors"],
    )
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print_report(report)
    return 0 if report["passed"] else 1


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "roofit",
        help="compare pyhf with ROOT HistFactory/RooFit on one likelihood",
        description=(
            "Build the likelihood in pyhf and in ROOT HistFactory, fit both (best fit, conditional fit at mu=1, "
            "qtilde and asymptotic CLs) and compare. Exit status 1 when a quantity is outside its tolerance."
        ),
    )
    parser.add_argument("name", help="registered likelihood (e.g. sbottom, staus, or sbottom/RegionA) or synthetic/<n_bins>")
    parser.add_argument("--region", help="region of the likelihood (default: the registry's)")
    parser.add_argument("--patch", help="signal patch (default: the registry's; 'bkgonly' for background-only)")
    parser.add_argument("--export", metavar="DIR", help="also write the HistFactory XML + ROOT files to DIR")
    parser.add_argument("--backend-eval", choices=EVAL_BACKENDS, default="cpu", help="RooFit evaluation backend (default: cpu)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(func=run_cli)
