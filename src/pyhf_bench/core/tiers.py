"""The benchmark tiers: ``PYHF_BENCH_TIER`` and the one quick-tier rule every benchmark declares."""

from __future__ import annotations

import os

from pyhf_bench import UserError
from pyhf_bench.core.axes import check_choice
from pyhf_bench.core.skip import Skip

TIER_ENV = "PYHF_BENCH_TIER"  # quick (default) | full


def tier() -> str:
    """The benchmark tier selected by ``PYHF_BENCH_TIER`` (default ``quick``)."""
    value = os.environ.get(TIER_ENV, "quick").strip().lower() or "quick"
    try:
        return check_choice("tier", value)
    except UserError as exc:
        raise UserError(f"{TIER_ENV}={value!r}: {exc}") from None


def in_quick_tier(quick: dict, params: dict) -> bool:
    """Whether a combination (*params*: name -> value) is in the quick tier a class declares.

    *quick* maps parameter names to the values that belong to the quick tier; a
    combination is quick when every listed parameter has a listed value (an empty
    declaration: every combination).  The one rule: each benchmark's ``setup``
    skips by it and ``pyhf-bench asv-run`` selects by it (:mod:`pyhf_bench.asvtools.selection`).
    """
    return all(params[name] in values for name, values in quick.items())


def require_tier(in_quick_tier: bool, what: str) -> None:
    """Skip *what* unless it belongs to the selected tier (the full tier runs everything)."""
    if not in_quick_tier and tier() == "quick":
        raise Skip(f"{what} is in the full tier only; set {TIER_ENV}=full to run it")
