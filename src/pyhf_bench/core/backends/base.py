"""What every backend module provides: the interface :mod:`pyhf_bench.core.runtime` calls.

One subclass per pyhf backend (``<name>_backend.py``, named as pyhf names its
``tensor/<name>_backend.py`` and so never shadowing the framework itself).
The defaults here are what a synchronous CPU-only framework needs; a backend
overrides what differs.  Frameworks are imported inside the methods: they are
heavy, and the registry is imported by every benchmark process, skips included.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from typing import Any, Callable

from pyhf_bench.core.skip import Skip


def leaves(obj):
    """The non-container values in nested lists, tuples and dicts (a result's tensors)."""
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from leaves(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from leaves(item)
    else:
        yield obj


class Backend:
    """One pyhf backend: how to put it on a device, wait for it, differentiate with it, ask it for memory."""

    #: pyhf's name for the backend (``pyhf.set_backend(name)``).
    name: str = ""
    #: The framework's top-level module.
    framework: str = ""
    #: The modules pyhf's backend module imports, which asv's forkserver may preload
    #: (:mod:`pyhf_bench.core.forkserver`); empty where pyhf's own import brings them.
    forkserver_modules: tuple[str, ...] = ()
    #: Whether :meth:`value_and_grad` exists (without it, minuit differentiates numerically).
    has_autodiff: bool = True
    #: Whether :meth:`jit` compiles (pyhf itself jits only JAX, inside its optimizer; the others run eagerly).
    has_jit: bool = False
    #: Devices this backend has no path to at all, with the reason (checked before any import).
    no_device_path: dict[str, str] = {}

    def import_framework(self):
        """The framework, imported; a Skip only when it is not installed at all.

        A framework that is installed but fails to import is broken, and that is a
        failure of the combination, never a skip.
        """
        if importlib.util.find_spec(self.framework) is None:
            raise Skip(f"{self.name} backend: {self.framework} is not installed in this environment")
        return importlib.import_module(self.framework)

    def prepare(self, device: str, module) -> Callable[[], Any]:
        """Point the framework *module* at *device* before pyhf creates tensors; return the device-scope factory."""
        return contextlib.nullcontext

    def synchronize(self, device: str, result):
        """Block until all device work behind *result* is finished (nothing to wait for by default)."""
        return result

    def value_and_grad(self, nll: Callable) -> Callable:
        """*nll* and its gradient w.r.t. the parameters, by the framework's own autodiff."""
        raise Skip(f"the {self.name} backend has no automatic differentiation")

    def require_jit(self) -> None:
        """Skip unless :meth:`jit` compiles; cheap (no framework import), so a benchmark asks before activating."""
        if not self.has_jit:
            raise Skip(f"pyhf runs the {self.name} backend eagerly: no JIT to compare with (Logpdf times it)")

    def jit(self, function: Callable) -> Callable:
        """*function* compiled by the framework's JIT (only where :attr:`has_jit`)."""
        self.require_jit()
        raise NotImplementedError(f"{type(self).__name__} sets has_jit but does not override jit")

    def platform(self, tensor) -> str:
        """The framework's name for the platform *tensor* lives on ('cpu', 'cuda', 'tpu', ...)."""
        return "cpu"

    def peak_memory(self, device: str) -> int | None:
        """Peak bytes allocated on accelerator *device* so far in this process, where the framework tells."""
        return None

    def seed(self, seed: int) -> None:
        """Seed the framework's global random generator (numpy's is seeded for every backend)."""
