"""RooFit's NLL of a RootModel, its minimisation, and ROOT's Asimov data."""

from __future__ import annotations

import contextlib

from pyhf_bench import UserError
from pyhf_bench.root.backends import eval_backend_support, import_root, quiet_stdout
from pyhf_bench.root.model import RootModel
from pyhf_bench.root.settings import FitOptions

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
        with quiet_stdout():
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
    with quiet_stdout():
        asimov = ROOT.RooStats.AsymptoticCalculator.MakeAsimovData(root_model.model_config, snapshot, globs)
    root_model.keep_alive.extend([snapshot, globs, asimov])
    return asimov, {g.GetName(): g.getVal() for g in globs}, fit


@contextlib.contextmanager
def with_global_observables(root_model: RootModel, values: dict[str, float]):
    saved = {g.GetName(): g.getVal() for g in root_model.global_observables}
    try:
        for g in root_model.global_observables:
            if g.GetName() in values:
                g.setVal(values[g.GetName()])
        yield
    finally:
        for g in root_model.global_observables:
            g.setVal(saved[g.GetName()])
