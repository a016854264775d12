"""Exit status and verdicts: the one place that decides whether a printed number may be trusted.

Every command ends with one of these exit statuses:

* ``0`` (:data:`OK`): the command ran and every result it checked is within tolerance;
* ``1`` (:data:`FINDING`): it ran and found something wrong (a ``WRONG:`` line): a
  result that misses its registered reference beyond tolerance, a fit that ends
  at a parameter bound or does not converge, a degenerate expected CLs band, a
  confirmed regression, a comparison that failed;
* ``2`` (:data:`CANNOT_RUN`): it could not run (bad input, missing files,
  infrastructure): one line ``pyhf-bench: error: <problem>; <fix>``;
* ``130`` (:data:`INTERRUPTED`): stopped by Ctrl-C (SIGINT), one line.

A finding is one line, ``WRONG: <quantity> = <value>, reference <ref> (<kind of
reference>): <likely cause>``; ``WARNING:`` lines say what deserves a look but
does not make the number wrong (exit 0); ``NOTE:`` lines explain a number that
looks odd but is right.  Tolerances live here too, so the CLI, the report and
the tests judge alike.  Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OK = 0
FINDING = 1
CANNOT_RUN = 2
INTERRUPTED = 130

#: Relative tolerance on CLs against a reference, and an absolute floor for tiny CLs
#: (1Lbb's -2 sigma expected CLs is 1e-6: its relative deviation says nothing), per precision.
#: 64b: the backends agree with each other and with ROOT to <= 2e-5 on every signal region
#: registered (3L eRJR with its tau = 1.9e11 gamma held; left free, numpy's 0.6059 against
#: ROOT's 0.6047 is 2e-3 off, and is flagged). 32b: float32 resolution through four fits,
#: measured 1e-4 to 6e-4 relative on sbottom.
CLS_TOLERANCE = {"64b": (1e-3, 1e-5), "32b": (1e-2, 1e-4)}
#: Absolute tolerance on twice the NLL at the best fit (all backends agree to 1e-6 relative at 64b).
TWICE_NLL_TOLERANCE = {"64b": 1e-2, "32b": 0.5}
#: A band whose five expected CLs all exceed this is degenerate: the signal changes nothing.
DEGENERATE_CLS = 0.999
#: A parameter within this fraction of its range from a bound "ends at the bound".
AT_BOUND = 1e-6

LEVELS = ("WRONG", "WARNING", "NOTE")


@dataclass(frozen=True)
class Finding:
    level: str  # WRONG (exit 1), WARNING or NOTE (exit 0)
    quantity: str
    value: object
    cause: str
    reference: object = None
    kind: str | None = None  # the kind of reference: self-snapshot, root, published, analytic

    def line(self) -> str:
        text = f"{self.level}: {self.quantity} = {_fmt(self.value)}"
        if self.reference is not None:
            text += f", reference {_fmt(self.reference)} ({self.kind or 'unknown kind'})"
        return f"{text}: {self.cause}"

    def as_dict(self) -> dict:
        return {"level": self.level, "quantity": self.quantity, "value": self.value, "reference": self.reference,
                "kind": self.kind, "cause": self.cause, "line": self.line()}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def exit_status(findings: list[Finding]) -> int:
    """1 if any finding is WRONG, else 0."""
    return FINDING if any(f.level == "WRONG" for f in findings) else OK


def cls_tolerance(precision: str) -> tuple[float, float]:
    return CLS_TOLERANCE.get(precision, CLS_TOLERANCE["32b"])


def within(value: float, reference: float, rel: float, floor: float = 0.0) -> bool:
    if not math.isfinite(value):
        return False
    return abs(value - reference) <= max(rel * abs(reference), floor)


def check_cls(cls_obs: float, band: list[float], reference: dict | None, precision: str, cause: str,
              tolerance: dict | None = None) -> list[Finding]:
    """CLs_obs and the expected band against *reference* (``cls_obs``, ``cls_exp``, ``kind``).

    *cause* is what to blame when they miss (the caller knows the backend and the fits).
    *tolerance* (``{"cls_rel": ..., "cls_abs": ...}``) overrides the default, from the registry.
    """
    if not reference or reference.get("cls_obs") is None:
        return []
    rel, floor = cls_tolerance(precision)
    if tolerance:
        rel, floor = tolerance.get("cls_rel", rel), tolerance.get("cls_abs", floor)
    kind = reference.get("kind")
    out = []
    if not within(cls_obs, reference["cls_obs"], rel, floor):
        out.append(Finding("WRONG", "CLs_obs", cls_obs, f"{cause} (tolerance {rel:g} relative)", reference["cls_obs"], kind))
    ref_band = reference.get("cls_exp")
    if ref_band:
        labels = ("-2", "-1", "0", "+1", "+2")
        off = [label for label, got, want in zip(labels, band, ref_band) if not within(got, want, rel, floor)]
        if off:
            # One line for the band, naming the sigmas that miss.
            out.append(Finding("WRONG", "CLs_exp", list(band), f"{cause} (off at {', '.join(off)} sigma; tolerance "
                               f"{rel:g} relative)", list(ref_band), kind))
    return out


def check_twice_nll(twice_nll: float, reference: dict | None, precision: str, cause: str,
                    tolerance: dict | None = None) -> list[Finding]:
    if not reference or reference.get("twice_nll") is None:
        return []
    tol = (tolerance or {}).get("twice_nll_abs", TWICE_NLL_TOLERANCE.get(precision, TWICE_NLL_TOLERANCE["32b"]))
    if within(twice_nll, reference["twice_nll"], 0.0, tol):
        return []
    return [Finding("WRONG", "2*NLL", twice_nll, f"{cause} (tolerance {tol:g} absolute)", reference["twice_nll"],
                    reference.get("kind"))]


def check_band(band: list[float], signal_is_zero: bool) -> list[Finding]:
    """A band of expected CLs all at 1: the signal changes nothing, or the fits never moved."""
    if not band or min(band) < DEGENERATE_CLS:
        return []
    if signal_is_zero:
        return [Finding("NOTE", "CLs_exp", band, "every signal yield is zero, so CLs is 1 by construction: "
                        "the patch adds no signal to test")]
    return [Finding("WRONG", "CLs_exp", band, "every expected CLs is 1 although the signal is not zero: "
                    "the fits stopped where they started (the optimizer's first step failed) or the signal is "
                    "too small to test; compare with another backend or precision")]


def check_bounds(names: list[str], values: list[float], bounds: list[tuple[float, float]], fixed: list[bool],
                 poi: str | None, what: str) -> list[Finding]:
    """Free parameters that end at a bound of their range: the fit is truncated there.

    The POI at a lower bound of 0 is physics (the data prefer no signal), a NOTE;
    any other parameter at a bound is WRONG: the bound decided the result.
    """
    out = []
    rows = sorted(zip(names, values, bounds, fixed), key=lambda row: row[0] != poi)  # the POI first
    for name, value, (lo, hi), is_fixed in rows:
        if is_fixed or not math.isfinite(value):
            continue
        span = (hi - lo) * AT_BOUND
        side = "lower" if value - lo <= span else "upper" if hi - value <= span else None
        if side is None:
            continue
        bound = lo if side == "lower" else hi
        if name == poi and side == "lower" and bound == 0:
            out.append(Finding("NOTE", name, value, f"the {what} ends at the POI's physical lower bound 0: "
                               "the data prefer no signal"))
            continue
        out.append(Finding("WRONG", name, value, f"the {what} ends at the parameter's {side} bound {bound:g}: "
                           "the bound, not the data, decided the result; check the observations and the "
                           "parameter's bounds"))
    wrong = [f for f in out if f.level == "WRONG"]
    if len(wrong) > 3:
        # Three lines name the worst; the rest are one line, not one each.
        rest = wrong[3:]
        names = ", ".join(f.quantity for f in rest[:8]) + (", ..." if len(rest) > 8 else "")
        out = [f for f in out if f not in rest] + [Finding("WRONG", f"{len(rest)} more parameters", "at a bound",
                                                           f"the {what} also ends at the bounds of {names}")]
    return out


def print_findings(findings: list[Finding], file=None) -> None:
    import sys

    for f in findings:
        print(f.line(), file=file or sys.stdout)
