"""pyhf's jax backend: asynchronous dispatch on every device, jitted autodiff, a disk compilation cache."""

from __future__ import annotations

import contextlib
import os

from pyhf_bench.core.backends.base import Backend, leaves
from pyhf_bench.core.skip import Skip


def platform_devices(jax, device: str):
    """jax's devices for *device* ('gpu' is 'cuda' or 'rocm' in newer jax), or a Skip."""
    platforms = {"cpu": ("cpu",), "gpu": ("cuda", "rocm", "gpu"), "tpu": ("tpu",)}[device]
    for platform in platforms:
        try:
            found = jax.devices(platform)
        except RuntimeError:
            continue
        if found:
            return found
    raise Skip(f"jax sees no {device} device (jax.devices() = {jax.devices()})")


def enable_compilation_cache(jax) -> None:
    """Share compiled XLA executables between benchmark processes through a disk cache.

    asv runs every parameter combination in a new process, and pyhf's eager JAX
    code compiles each primitive for each new shape: ~10 s of setup per process
    without the cache, ~3 s with it.  Timed calls always follow a warm-up call
    in setup, so the cache changes setup time only, never a measurement.
    Set PYHF_BENCH_JAX_CACHE=off to disable; any other value is the directory.
    """
    where = os.environ.get("PYHF_BENCH_JAX_CACHE", "")
    if where.lower() == "off":
        return
    cache_dir = where or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pyhf-bench", f"jax-{jax.__version__}"
    )
    for option, value in (
        ("jax_compilation_cache_dir", cache_dir),
        ("jax_persistent_cache_min_compile_time_secs", 0),
        ("jax_persistent_cache_min_entry_size_bytes", -1),
    ):
        with contextlib.suppress(AttributeError, KeyError, ValueError):  # older jax lacks some options
            jax.config.update(option, value)


class JaxBackend(Backend):
    name = "jax"
    framework = "jax"
    forkserver_modules = ("jax", "jax.numpy", "jax.scipy.special", "jax.scipy.stats")
    has_jit = True

    def prepare(self, device, module):
        enable_compilation_cache(module)
        target = platform_devices(module, device)[0]
        # Every jnp array pyhf creates lands on the default device.
        module.config.update("jax_default_device", target)
        return contextlib.nullcontext

    def synchronize(self, device, result):
        import jax  # heavy: imported by the process that activated jax

        if hasattr(jax, "block_until_ready"):
            return jax.block_until_ready(result)
        for leaf in leaves(result):
            if hasattr(leaf, "block_until_ready"):
                leaf.block_until_ready()
        return result

    def value_and_grad(self, nll):
        import jax  # heavy: imported by the process that activated jax

        # Jitted as pyhf's own optimizer does; call the result once before timing it.
        return jax.jit(jax.value_and_grad(nll))

    def jit(self, function):
        import jax  # heavy: imported by the process that activated jax

        return jax.jit(function)

    def platform(self, tensor):
        devices = tensor.devices() if hasattr(tensor, "devices") else {tensor.device()}
        return next(iter(devices)).platform

    def peak_memory(self, device):
        import jax  # heavy: imported by the process that activated jax

        stats = jax.devices(device)[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else int(peak)
