"""The pyhf backends the suite benchmarks, one module each, behind one interface (:class:`Backend`).

Adding a backend means adding its ``<name>_backend.py`` and one line here.
The order is the order of the asv parameter lists: it never changes, so
results stay comparable.
"""

from __future__ import annotations

from pyhf_bench import UserError
from pyhf_bench.core.backends.base import Backend
from pyhf_bench.core.backends.jax_backend import JaxBackend
from pyhf_bench.core.backends.numpy_backend import NumpyBackend
from pyhf_bench.core.backends.pytorch_backend import PytorchBackend
from pyhf_bench.core.backends.tensorflow_backend import TensorflowBackend

REGISTRY: dict[str, Backend] = {
    backend.name: backend for backend in (NumpyBackend(), JaxBackend(), PytorchBackend(), TensorflowBackend())
}


def get(name: str) -> Backend:
    """The backend called *name* (pyhf's name), or one clear UserError."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown backend {name!r}; choose one of: {', '.join(REGISTRY)}") from None
