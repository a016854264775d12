"""Build a model and run one inference step: the code path shared by the benchmarks and the CLI.

A :class:`Problem` holds a pyhf model, its data and parameters as tensors of the
active backend (see :func:`pyhf_bench.core.runtime.activate`).  Every step returns
through ``Runtime.synchronize``, so a timing of a step includes the device work.

It takes a loaded likelihood as plain data (:class:`pyhf_bench.likelihoods.loading.Likelihood`)
and imports nothing else from :mod:`pyhf_bench.likelihoods`.  pyhf and numpy are
imported inside the steps: heavy, and asv imports the benchmarks under every pyhf version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyhf_bench import UserError
from pyhf_bench.core.pyhfversions import upper_limit
from pyhf_bench.core.runtime import Runtime, activate
from pyhf_bench.core.skip import Skip
from pyhf_bench.core.synthetic import make_data

#: POI values for the fixed upper-limit scan (CLs at each, then interpolated to 0.05).
UPPER_LIMIT_SCAN = (0.0, 5.0, 11)


#: Test statistic for hypotests: qtilde, the LHC's choice for a POI bounded at zero.
TEST_STAT = "qtilde"


TEST_STATS = ("qtilde", "q", "q0")


CALCULATORS = ("asymptotic", "toybased")


#: Pseudo-experiments per hypothesis of a toy-based hypotest when neither the registry nor --ntoys sets it.
DEFAULT_NTOYS = 1000


@dataclass(frozen=True)
class HypotestSettings:
    """What a hypotest tests: the POI value, the test statistic and the calculator (with its toys).

    ``q0`` is a discovery test: pyhf tests the background-only hypothesis, the
    POI at 0, and returns the p-value p0 (not CLs).
    """

    poi_value: float = 1.0
    test_stat: str = TEST_STAT
    calculator: str = "asymptotic"
    ntoys: int | None = None  # toybased only

    @classmethod
    def build(cls, defaults: dict | None = None, poi_value=None, test_stat=None, calculator=None, ntoys=None,
              where: str = "") -> "HypotestSettings":
        """Command-line values over the registry's *defaults* over pyhf-bench's; checked."""

        defaults = dict(defaults or {})
        unknown = set(defaults) - {"poi_value", "test_stat", "calculator", "ntoys"}
        if unknown:
            raise UserError(f"{where}: unknown 'hypotest' settings {sorted(unknown)}; allowed: poi_value, test_stat, calculator, ntoys")
        test_stat = test_stat or defaults.get("test_stat") or TEST_STAT
        calculator = calculator or defaults.get("calculator") or "asymptotic"
        if test_stat not in TEST_STATS:
            raise UserError(f"{where}: test statistic {test_stat!r} is not one of {', '.join(TEST_STATS)}")
        if calculator not in CALCULATORS:
            raise UserError(f"{where}: calculator {calculator!r} is not one of {', '.join(CALCULATORS)}")
        if poi_value is None and not (test_stat == "q0" and defaults.get("test_stat") != "q0"):
            # A registry POI value belongs to the registry's test statistic: a q0 asked for here tests 0.
            poi_value = defaults.get("poi_value")
        if test_stat == "q0":
            if poi_value not in (None, 0, 0.0):
                raise UserError(f"--test-stat q0 is a discovery test of the background-only hypothesis (POI = 0), "
                                f"not of POI = {poi_value:g}; drop --poi-value or give --poi-value 0")
            poi_value = 0.0
        poi_value = 1.0 if poi_value is None else float(poi_value)
        if ntoys is None:
            ntoys = defaults.get("ntoys")
        if calculator == "asymptotic":
            if ntoys is not None and ntoys != defaults.get("ntoys"):
                raise UserError("--ntoys needs --calculator toybased (the asymptotic calculator throws no toys)")
            ntoys = None
        else:
            ntoys = int(ntoys if ntoys is not None else DEFAULT_NTOYS)
            if ntoys < 1:
                raise UserError(f"--ntoys must be at least 1, not {ntoys}")
        return cls(poi_value, test_stat, calculator, ntoys)

    @property
    def quantity(self) -> str:
        """What the hypotest returns: CLs, or p0 for the discovery test."""
        return "p0" if self.test_stat == "q0" else "CLs"

    def as_dict(self) -> dict:
        return {"poi_value": self.poi_value, "test_stat": self.test_stat, "calculator": self.calculator,
                "ntoys": self.ntoys}


def build_model(
    rt: Runtime,
    spec: dict,
    batch_size: int | None = None,
    modifier_settings: dict | None = None,
    poi_name: str | None = "mu",
):
    """``pyhf.Model`` of *spec* on the active backend; schema validation included.

    *poi_name* None builds a background-only model (no parameter of interest).
    """
    import pyhf  # heavy: imported where used, not when asv lists the benchmarks

    kwargs: dict[str, Any] = {"poi_name": poi_name}
    if batch_size is not None:
        kwargs["batch_size"] = batch_size
    if modifier_settings is not None:
        kwargs["modifier_settings"] = modifier_settings
    with rt.scope():
        return pyhf.Model(spec, **kwargs)


@dataclass
class Problem:
    """A model with its data and parameters, ready for inference steps."""

    rt: Runtime
    model: Any
    data: Any  # observed main data + auxdata, as a backend tensor
    pars: Any  # suggested initial parameters, as a backend tensor
    #: What :meth:`hypotest` tests: the registry's settings for a likelihood, else mu=1 with qtilde.
    test: HypotestSettings = HypotestSettings()

    @classmethod
    def from_spec(
        cls, rt: Runtime, spec: dict, data: list[float] | None = None, _model=None, **model_kwargs
    ) -> "Problem":

        model = _model if _model is not None else build_model(rt, spec, **model_kwargs)
        if data is None:
            data = make_data(model, spec)
        with rt.scope():
            tensorlib = rt.tensorlib
            init = model.config.suggested_init()
            batch = model.batch_size
            pars = tensorlib.astensor([init] * batch if batch else init)
            return cls(rt, model, tensorlib.astensor(data), pars)

    @classmethod
    def from_likelihood(cls, rt: Runtime, lk, batch_size: int | None = None) -> "Problem":
        """A published (or user-registered) likelihood, as loaded by :func:`pyhf_bench.likelihoods.load`."""
        model = build_model(rt, lk.model_spec(), batch_size, lk.modifier_settings, poi_name=lk.poi)
        problem = cls.from_spec(rt, lk.model_spec(), data=lk.data(model), _model=model)
        problem.test = HypotestSettings.build(getattr(lk, "hypotest", None), where=lk.label)
        return problem

    # Each step below is what one asv timing call measures.

    def logpdf(self):
        with self.rt.scope():
            return self.rt.synchronize(self.model.logpdf(self.pars, self.data))

    def jitted_logpdf_function(self):
        """``model.logpdf`` compiled by the backend's JIT; call :meth:`jitted_logpdf` to evaluate it."""
        with self.rt.scope():
            return self.rt.jit(self.model.logpdf)

    def jitted_logpdf(self, function):
        with self.rt.scope():
            return self.rt.synchronize(function(self.pars, self.data))

    def value_and_grad_function(self):
        """The jitted/autodiff NLL-and-gradient function; call :meth:`value_and_grad` to evaluate it."""
        with self.rt.scope():
            return self.rt.value_and_grad(self.model, self.data)

    def value_and_grad(self, function):
        with self.rt.scope():
            return self.rt.synchronize(function(self.pars))

    def fit(self):
        """Unconditional maximum-likelihood fit; returns (best-fit parameters, twice the NLL)."""
        import pyhf  # heavy: imported where used, not when asv lists the benchmarks

        with self.rt.scope():
            return self.rt.synchronize(pyhf.infer.mle.fit(self.data, self.model, return_fitted_val=True))

    def fixed_poi_fit(self, poi: float = 1.0):
        import pyhf  # heavy: imported where used, not when asv lists the benchmarks

        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.mle.fixed_poi_fit(poi, self.data, self.model, return_fitted_val=True)
            )

    def hypotest(self, poi: float | None = None, test: HypotestSettings | None = None):
        """CLs (p0 for q0) at the POI value of *test* (default: :attr:`test`; *poi* overrides its value)
        with the expected band: (observed, [expected for -2..+2 sigma]).
        """
        import pyhf  # heavy: imported where used, not when asv lists the benchmarks

        test = test or self.test
        poi = test.poi_value if poi is None else poi
        extra = {}
        if test.calculator == "toybased":
            extra = {"calctype": "toybased", "ntoys": test.ntoys, "track_progress": False}
        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.hypotest(
                    poi, self.data, self.model, test_stat=test.test_stat, return_expected_set=True, **extra
                )
            )

    def toy_hypotest(self, ntoys: int, poi: float | None = None):
        """Toy-based CLs at *poi* (default: the test settings' value): 2 x *ntoys* pseudo-experiments, each with two fits."""
        import pyhf  # heavy: imported where used, not when asv lists the benchmarks

        poi = self.test.poi_value if poi is None else poi
        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.hypotest(
                    poi, self.data, self.model, test_stat=self.test.test_stat, calctype="toybased", ntoys=ntoys,
                    track_progress=False,
                )
            )

    def upper_limit(self):
        """Observed and expected 95% CL upper limits on mu from a fixed scan."""
        import numpy as np  # heavy enough to keep out of import time, like pyhf

        scan = np.linspace(*UPPER_LIMIT_SCAN)
        with self.rt.scope():
            return self.rt.synchronize(upper_limit(self.data, self.model, scan, level=0.05))


def activate_for(lk, backend, device, precision, optimizer) -> Runtime:

    try:
        return activate(backend, device, precision, optimizer, lk.fit_settings(optimizer))
    except Skip as exc:
        raise UserError(f"cannot run {backend}/{device}/{precision}/{optimizer} here: {exc}") from None


def as_float(x) -> float:
    import numpy as np  # heavy enough to keep out of import time, like pyhf

    return float(np.asarray(x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else x, dtype=float).reshape(-1)[0])

