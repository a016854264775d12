"""ROOT as a peer of pyhf in ``benchmarks/root_peer.py``: one likelihood in ROOT, each method one timed call."""

from __future__ import annotations

from pyhf_bench import UserError
from pyhf_bench.core.skip import Skip
from pyhf_bench.core.tiers import in_quick_tier, require_tier
from pyhf_bench.root.backends import check_eval_backend, eval_backend_support, import_root
from pyhf_bench.root.inference import root_inference
from pyhf_bench.root.model import RootModel
from pyhf_bench.root.nll import RootNLL
from pyhf_bench.root.plan import plan_histfactory
from pyhf_bench.root.pyhf_side import numpy_pyhf, pyhf_model
from pyhf_bench.root.settings import FitOptions
from pyhf_bench.root.workspace import build_workspace

def peer_tier(quick: dict, params: dict, what: str) -> None:
    """Skip a ROOT peer benchmark outside the selected tier (``tiers.require_tier``), as the pyhf benchmarks do."""
    described = ", ".join(f"{name}={params[name]}" for name in quick)
    require_tier(in_quick_tier(quick, params), f"{what} with {described}")


class RootPeer:
    """One likelihood in ROOT for ``benchmarks/root_peer.py``: each method is what one timed call does.

    Raises :class:`pyhf_bench.core.skip.Skip` where ROOT is not importable or
    the evaluation backend is unsupported.  pyhf (numpy) is used once, for
    the parameter configuration; no timed call runs pyhf.
    """

    def __init__(self, spec: dict, measurement: str | None, modifier_settings: dict | None, eval_backend: str, options: FitOptions = FitOptions()):
        check_eval_backend(eval_backend)
        try:
            import_root()
        except UserError as exc:
            raise Skip(str(exc)) from None
        reason = eval_backend_support(eval_backend)
        if reason:
            raise Skip(reason)
        numpy_pyhf(None)
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
