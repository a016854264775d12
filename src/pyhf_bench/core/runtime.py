"""pyhf switched to one backend on one device: :func:`activate` and the :class:`Runtime` it returns.

The asv benchmarks and the ``pyhf-bench`` CLI both go through :func:`activate`.
Every timed call returns through :meth:`Runtime.synchronize`, which blocks
until asynchronous device work is finished.  What differs between backends
lives in :mod:`pyhf_bench.core.backends`; pyhf and the frameworks are imported
inside the functions that need them (heavy, and this module is imported by
every benchmark process, skips included).
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable

from pyhf_bench.core import backends
from pyhf_bench.core.axes import check_runnable
from pyhf_bench.core.pyhfversions import check_era, pyhf_version
from pyhf_bench.core.skip import Skip
from pyhf_bench.core.synthetic import make_data, make_spec


def placement(backend: str, tensor) -> str:
    """Which device ('cpu', 'gpu', 'tpu') *tensor* lives on."""
    platform = backends.get(backend).platform(tensor).lower()
    return {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)


@dataclass
class Runtime:
    """pyhf switched to one backend on one device with one precision and optimizer."""

    backend: str
    device: str
    precision: str
    optimizer: str
    pyhf_version: str
    _scope: Callable[[], Any] = field(default=contextlib.nullcontext, repr=False)

    @property
    def tensorlib(self):
        import pyhf  # heavy: imported by activate() already

        return pyhf.tensorlib

    def scope(self):
        """Context in which pyhf must run so TensorFlow ops land on the device (no-op elsewhere)."""
        return self._scope()

    def synchronize(self, result):
        """Block until all device work behind *result* is finished; return *result*.

        JAX dispatches asynchronously on every device; PyTorch and TensorFlow on
        accelerators.  Without this a timing measures only the kernel launch.
        """
        return backends.get(self.backend).synchronize(self.device, result)

    def placement(self, tensor) -> str:
        return placement(self.backend, tensor)

    def value_and_grad(self, model, data) -> Callable:
        """NLL and its gradient w.r.t. the parameters, by the backend's own autodiff.

        JAX is jitted as pyhf's own optimizer does; call the result once
        before timing so the compilation is not measured.
        """
        data = self.tensorlib.astensor(data)

        def nll(pars):
            return -model.logpdf(pars, data)[0]

        return backends.get(self.backend).value_and_grad(nll)

    def jit(self, function: Callable) -> Callable:
        """*function* compiled by the backend's JIT (a Skip where pyhf runs the backend eagerly); call
        the result once before timing so the compilation is not measured."""
        return backends.get(self.backend).jit(function)


def device_peak_memory(rt: Runtime) -> int | None:
    """Peak bytes allocated on the accelerator so far in this process, where the backend tells; None on the CPU."""
    if rt.device == "cpu":
        return None
    return backends.get(rt.backend).peak_memory(rt.device)


def seed_everything(rt: Runtime, seed: int = 0) -> None:
    """Seed the random generators pyhf's toys draw from (numpy's and the framework's global ones)."""
    import numpy as np  # heavy: only for toys

    np.random.seed(seed)
    backends.get(rt.backend).seed(seed)


def warm_up(rt: Runtime, step: Callable, what: str):
    """Run *step* once before timing it; a fit that cannot work at 32b is a skip, not an error."""
    with skip_32b_failure(rt.backend, rt.precision, rt.optimizer, what):
        return step()


@contextlib.contextmanager
def skip_32b_failure(backend: str, precision: str, optimizer: str, what: str):
    """Turn an exception at 32b into a skip that names it; at 64b a failure is real and propagates.

    At 32b pyhf's fits fail in ways that are properties of pyhf and its
    optimizers, not of the benchmark: scipy >= 1.16's SLSQP accepts only float64
    (pyhf 0.7.6 hands it float32 from torch and TensorFlow), and Minuit's EDM
    criterion is not reached at float32 resolution.  A Dask worker's exception
    arrives here re-raised as it was, so a grid scan's warm-up point skips alike.
    """
    try:
        yield
    except Skip:
        raise
    except Exception as exc:  # noqa: BLE001
        if precision != "32b":
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise Skip(
            f"{what} fails at 32b with {backend}/{optimizer} (pyhf {pyhf_version()}): "
            f"{type(exc).__name__}: {first_line}"
        ) from None


def smoke_test(rt: Runtime) -> None:
    """Build and evaluate a tiny model with every modifier type.

    Environment mismatches (pyhf 0.7.0 calling numpy.product, gone in numpy 2;
    pyhf <= 0.7.4 using jax.numpy.DeviceArray, gone in jax 0.4.14+) surface here
    first.  The eras keep each commit in an environment that runs it, so what
    fails here is a broken backend, and it fails the combination with its error:
    a regression tracker must show it as failed, never as n/a.
    """
    import pyhf  # heavy: imported by activate() already

    with rt.scope():
        model = pyhf.Model(make_spec(n_bins=2, seed=0), poi_name="mu")
        data = rt.tensorlib.astensor(make_data(model))
        rt.synchronize(model.logpdf(rt.tensorlib.astensor(model.config.suggested_init()), data))


def pyhf_has_backend(backend: str) -> bool:
    """Whether the installed pyhf ships the module of *backend* (pyhf main removed tensorflow and pytorch)."""
    return importlib.util.find_spec(f"pyhf.tensor.{backend}_backend") is not None


def set_pyhf_backend(pyhf, backend: str, precision: str, optimizer: str, optimizer_options, scope) -> None:
    """``pyhf.set_backend`` with the optimizer; a Skip only where this pyhf has no such backend or optimizer."""
    version = getattr(pyhf, "__version__", "0")
    if optimizer == "minuit":
        try:
            import iminuit  # noqa: F401 - optional: only to know it is there
        except ImportError as exc:
            raise Skip(f"the minuit optimizer needs iminuit, not installed here ({exc})") from None
    # pyhf's ImportBackendError (raised when a backend module is missing), where this pyhf has it.
    import_backend_error = getattr(pyhf.exceptions, "ImportBackendError", ImportError)
    try:
        opt = getattr(pyhf.optimize, f"{optimizer}_optimizer")(**(optimizer_options or {}))
        with scope():
            pyhf.set_backend(backend, opt, precision=precision)
    except (pyhf.exceptions.InvalidBackend, import_backend_error, ImportError) as exc:
        # Skip only what cannot exist: pyhf main removed tensorflow (Sep 2025) and pytorch
        # (Oct 2025), so this pyhf has no module for it. A backend whose module is there
        # but does not import or set up is broken: that propagates as a failure.
        if isinstance(exc, pyhf.exceptions.InvalidBackend) or not pyhf_has_backend(backend):
            raise Skip(f"pyhf {version} cannot use the {backend} backend here: this pyhf has no "
                       f"{backend} backend ({type(exc).__name__}: {exc})") from None
        raise


def activate(
    backend: str,
    device: str = "cpu",
    precision: str = "64b",
    optimizer: str = "scipy",
    optimizer_options: dict | None = None,
) -> Runtime:
    """Switch pyhf to *backend* on *device* with *precision* and *optimizer*, or raise :class:`Skip`.

    *optimizer_options* go to the optimizer's constructor (e.g. ``tolerance``,
    ``maxiter``): a likelihood's fit settings live in the registry, not in code.

    Call it once per process (asv runs every parameter combination in a fresh
    one): switching frameworks back and forth in one interpreter is fragile.
    """
    check_runnable(backend, device, precision, optimizer)

    import pyhf  # heavy: only once the cheap checks have passed

    version = getattr(pyhf, "__version__", "0")
    check_era(version)
    implementation = backends.get(backend)
    scope = implementation.prepare(device, implementation.import_framework())
    set_pyhf_backend(pyhf, backend, precision, optimizer, optimizer_options, scope)

    rt = Runtime(backend, device, precision, optimizer, version, scope)
    # A tiny model with every modifier type: a backend that is there but broken fails here,
    # once, with the error, before any benchmark builds a large model (a failure, not a skip).
    smoke_test(rt)
    return rt
