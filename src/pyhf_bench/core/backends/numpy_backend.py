"""pyhf's numpy backend: CPU only, synchronous, no autodiff (the defaults of :class:`Backend`)."""

from pyhf_bench.core.backends.base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    framework = "numpy"
    has_autodiff = False
    no_device_path = {
        "gpu": "pyhf's numpy backend runs on the CPU only",
        "tpu": "pyhf's numpy backend runs on the CPU only",
    }
