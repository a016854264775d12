"""A built HistFactory RooWorkspace with its pdf, data and the pyhf <-> ROOT parameter map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyhf_bench import UserError
from pyhf_bench.root.plan import HistFactoryPlan

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
