"""pyhf's interpolation codes for normsys and histosys and the ROOT codes that compute the same functions (no ROOT)."""

from __future__ import annotations

import math

from pyhf_bench import UserError

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
