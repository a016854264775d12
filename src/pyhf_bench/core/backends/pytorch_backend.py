"""pyhf's pytorch backend: CUDA through torch's default device, autograd, no TPU path."""

from __future__ import annotations

import contextlib

from pyhf_bench.core.backends.base import Backend
from pyhf_bench.core.skip import Skip


class PytorchBackend(Backend):
    name = "pytorch"
    framework = "torch"
    forkserver_modules = ("torch", "torch.distributions")
    no_device_path = {"tpu": "pyhf's pytorch backend has no TPU path (it would need torch_xla)"}

    def prepare(self, device, module):
        torch = module
        if device == "gpu":
            if not torch.cuda.is_available():
                raise Skip("torch.cuda.is_available() is False: no usable CUDA GPU for pytorch")
            # pyhf's pytorch backend builds tensors with torch.as_tensor & co., which
            # follow the default device.
            torch.set_default_device("cuda")
        return contextlib.nullcontext

    def synchronize(self, device, result):
        if device == "gpu":  # CPU execution is synchronous: nothing to wait for
            import torch  # heavy: imported by the process that activated pytorch

            torch.cuda.synchronize()
        return result

    def value_and_grad(self, nll):
        import torch  # heavy: imported by the process that activated pytorch

        def torch_value_and_grad(pars):
            pars = pars.detach().requires_grad_(True)
            value = nll(pars)
            (grad,) = torch.autograd.grad(value, pars)
            return value.detach(), grad

        return torch_value_and_grad

    def platform(self, tensor):
        return tensor.device.type

    def peak_memory(self, device):
        import torch  # heavy: imported by the process that activated pytorch

        return int(torch.cuda.max_memory_allocated())

    def seed(self, seed):
        import torch  # heavy: imported by the process that activated pytorch

        torch.manual_seed(seed)
