"""The asv base class every pyhf benchmark derives from: fixed axes, the quick tier, setup once per process."""

from __future__ import annotations

import functools
from typing import Callable

from pyhf_bench.core.axes import BACKENDS, DEVICES, PRECISIONS, check_runnable
from pyhf_bench.core.runtime import Runtime, activate
from pyhf_bench.core.tiers import in_quick_tier, require_tier

def setup_once_per_process(setup: Callable) -> Callable:
    """Run a benchmark's ``setup`` once per process and parameter combination.

    asv re-runs ``setup`` before every sample, not once per process (asv #579), and
    asv_runner 0.3 then times one call per sample (asv #966).  Re-running our setup
    (activation, model build, warm-up) before each call made every sample the
    second call on a freshly built model: for the 0.5 ms ``Logpdf`` the samples
    of one run spread 0.3-0.8 ms and an unchanged commit measured 1.31x its base
    under ``asv continuous``.  The timed calls do not change what setup built (the
    model, compiled functions), so keeping the first setup's state times the same
    work on warm state, as a fit's many evaluations of one model do.  (Random
    state is the exception: ``ToyHypotest`` seeds once, so later samples throw
    other toys of the same model: the same work, other numbers.)  Classes with a ``teardown`` (which
    would undo the state between samples) are left alone.
    """

    @functools.wraps(setup)
    def wrapper(self, *params):
        if self.__dict__.get("_set_up_for") == params:
            return
        setup(self, *params)
        self._set_up_for = params

    return wrapper


class BackendBenchmark:
    """Base for asv benchmark classes parameterised over backend x device x precision.

    Subclasses append their own axes to ``params``/``param_names`` and call
    :meth:`activate` first thing in ``setup``.  The parameter lists are fixed
    (never derived from what is installed) so results stay comparable across
    pyhf commits and machines; what cannot run is skipped in ``setup``.
    """

    params = [list(BACKENDS), list(DEVICES), list(PRECISIONS)]
    param_names = ["backend", "device", "precision"]
    # We warm up explicitly in setup (JIT compilation, first-call caches), so asv's
    # own warm-up loop would only burn time.
    warmup_time = 0.0

    #: The quick tier: for each listed parameter, the values that belong to it
    #: (a combination is quick when every listed parameter has a listed value).
    #: The full tier runs every combination.
    quick: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "setup" in cls.__dict__ and not hasattr(cls, "teardown"):
            cls.setup = setup_once_per_process(cls.__dict__["setup"])

    def precheck(self, backend, device, precision, optimizer="scipy", **axes) -> None:
        """Skip combinations outside the selected tier or impossible here, cheaply (see :func:`check_runnable`)."""
        params = dict(backend=backend, device=device, precision=precision, optimizer=optimizer, **axes)
        in_quick = in_quick_tier(self.quick, params)
        described = ", ".join(f"{name}={params[name]}" for name in self.quick)
        require_tier(in_quick, f"{type(self).__name__} with {described}")
        check_runnable(backend, device, precision, optimizer)

    def activate(self, backend, device, precision, optimizer="scipy", optimizer_options=None, **axes) -> Runtime:
        """Skip combinations outside the selected tier, then :func:`activate` the backend."""
        self.precheck(backend, device, precision, optimizer, **axes)
        self.rt = activate(backend, device, precision, optimizer, optimizer_options)
        return self.rt
