"""The pyhf side of the comparison: the model and data of a spec, on numpy with the likelihood's fit settings.

pyhf is imported inside functions: it is heavy.
"""

from __future__ import annotations

from typing import Any

from pyhf_bench import UserError
from pyhf_bench.root.plan import HistFactoryPlan, pyhf_spec

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


def numpy_pyhf(fit_settings: dict | None):
    """pyhf on numpy, 64b, scipy optimizer (pyhf's defaults, plus the likelihood's own fit settings)."""
    import pyhf

    try:
        optimizer = pyhf.optimize.scipy_optimizer(**(fit_settings or {}))
    except TypeError as exc:
        raise UserError(f"fit settings {fit_settings} are not scipy_optimizer options: {exc}") from None
    pyhf.set_backend("numpy", optimizer, precision="64b")
    return pyhf
