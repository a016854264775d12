"""The likelihood a ``pyhf-bench roofit`` names: a registered one (with an XML's StatErrorConfig) or ``synthetic/<n_bins>``."""

from __future__ import annotations

import copy

from pyhf_bench import UserError
from pyhf_bench.core.synthetic import make_workspace
from pyhf_bench.likelihoods import entry, load
from pyhf_bench.root.histfactory_xml import read_stat_error_configs

def load_likelihood(name: str, region: str | None, patch: str | None) -> dict:
    """(spec, measurement, modifier_settings, fit_settings, label, stat_errors, fixed_parameters) of a likelihood.

    A registered likelihood or ``synthetic/<n_bins>``.  The registry's
    ``fit.fixed_parameters`` (name -> why) are marked fixed in the spec's
    measurement, as :meth:`pyhf_bench.likelihoods.Likelihood.model_spec` does for
    pyhf's fits: pyhf's model then holds them at their initial value and
    ROOT's workspace takes its fixed flags from that model.
    """
    if name.startswith("synthetic/"):
        try:
            n_bins = int(name.split("/", 1)[1])
        except ValueError:
            raise UserError(f"synthetic likelihoods are named synthetic/<n_bins>, e.g. synthetic/10; got {name!r}") from None
        if region or patch:
            raise UserError("synthetic likelihoods have no regions or patches")
        return {"spec": make_workspace(n_bins), "measurement": "meas", "modifier_settings": None, "fit_settings": {}, "label": name, "stat_errors": None,
                "fixed_parameters": {}}
    if "/" in name and region is None:
        name, region = name.split("/", 1)
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
    spec = lk.spec
    if lk.fixed_parameters():
        spec = copy.deepcopy(lk.spec)
        measurement = next(m for m in spec["measurements"] if m["name"] == lk.measurement)
        measurement.setdefault("config", {})["parameters"] = lk.model_spec()["parameters"]
    return {
        "stat_errors": stat_errors,
        "fixed_parameters": lk.fixed_parameters(),
        "spec": spec,
        "measurement": lk.measurement,
        "modifier_settings": lk.modifier_settings,
        "fit_settings": dict(fit_settings or {}),
        "label": lk.label,
    }
