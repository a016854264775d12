"""Build a model and run one inference step: the code path shared by the benchmarks and the CLI.

A :class:`Problem` holds a pyhf model, its data and parameters as tensors of the
active backend (see :func:`pyhf_bench.support.activate`).  Every step returns
through ``Runtime.synchronize``, so a timing of a step includes the device work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .support import Runtime, upper_limit

#: POI values for the fixed upper-limit scan (CLs at each, then interpolated to 0.05).
UPPER_LIMIT_SCAN = (0.0, 5.0, 11)
#: Test statistic for hypotests: qtilde, the LHC's choice for a POI bounded at zero.
TEST_STAT = "qtilde"


def build_model(rt: Runtime, spec: dict, batch_size: int | None = None, modifier_settings: dict | None = None):
    """``pyhf.Model`` of *spec* (POI ``mu``) on the active backend; schema validation included."""
    import pyhf

    kwargs: dict[str, Any] = {"poi_name": "mu"}
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

    @classmethod
    def from_spec(cls, rt: Runtime, spec: dict, data: list[float] | None = None, **model_kwargs) -> "Problem":
        from .synthetic import make_data

        model = build_model(rt, spec, **model_kwargs)
        if data is None:
            data = make_data(model, spec)
        with rt.scope():
            tensorlib = rt.tensorlib
            init = model.config.suggested_init()
            batch = model.batch_size
            pars = tensorlib.astensor([init] * batch if batch else init)
            return cls(rt, model, tensorlib.astensor(data), pars)

    # Each step below is what one asv timing call measures.

    def logpdf(self):
        with self.rt.scope():
            return self.rt.synchronize(self.model.logpdf(self.pars, self.data))

    def value_and_grad_function(self):
        """The jitted/autodiff NLL-and-gradient function; call :meth:`value_and_grad` to evaluate it."""
        with self.rt.scope():
            return self.rt.value_and_grad(self.model, self.data)

    def value_and_grad(self, function):
        with self.rt.scope():
            return self.rt.synchronize(function(self.pars))

    def fit(self):
        """Unconditional maximum-likelihood fit; returns (best-fit parameters, twice the NLL)."""
        import pyhf

        with self.rt.scope():
            return self.rt.synchronize(pyhf.infer.mle.fit(self.data, self.model, return_fitted_val=True))

    def fixed_poi_fit(self, poi: float = 1.0):
        import pyhf

        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.mle.fixed_poi_fit(poi, self.data, self.model, return_fitted_val=True)
            )

    def hypotest(self, poi: float = 1.0):
        """Asymptotic CLs at *poi* with the expected band: (CLs_obs, [CLs_exp for -2..+2 sigma])."""
        import pyhf

        with self.rt.scope():
            return self.rt.synchronize(
                pyhf.infer.hypotest(poi, self.data, self.model, test_stat=TEST_STAT, return_expected_set=True)
            )

    def upper_limit(self):
        """Observed and expected 95% CL upper limits on mu from a fixed scan."""
        import numpy as np

        scan = np.linspace(*UPPER_LIMIT_SCAN)
        with self.rt.scope():
            return self.rt.synchronize(upper_limit(self.data, self.model, scan, level=0.05))
