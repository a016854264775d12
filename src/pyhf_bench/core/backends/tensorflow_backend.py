"""pyhf's tensorflow backend: devices by ``tf.device`` scopes, GradientTape, TPUs through a cluster resolver."""

from __future__ import annotations

import contextlib
import functools
import os

from pyhf_bench.core.backends.base import Backend, leaves
from pyhf_bench.core.skip import Skip


class TensorflowBackend(Backend):
    name = "tensorflow"
    framework = "tensorflow"
    forkserver_modules = ("tensorflow", "tensorflow_probability")

    def prepare(self, device, module):
        tf = module
        if device == "cpu":
            # TensorFlow places ops on a visible GPU by default: hide GPUs for a CPU run.
            with contextlib.suppress(RuntimeError):  # already initialised: nothing visible anyway
                tf.config.set_visible_devices([], "GPU")
            return functools.partial(tf.device, "/CPU:0")
        if device == "gpu":
            if not tf.config.list_physical_devices("GPU"):
                raise Skip("tensorflow lists no physical GPU")
            return functools.partial(tf.device, "/GPU:0")
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as exc:
            raise Skip(f"tensorflow cannot initialise a TPU: {exc}") from None
        return functools.partial(tf.device, "/TPU:0")

    def synchronize(self, device, result):
        if device == "cpu":
            return result
        import tensorflow as tf  # heavy: imported by the process that activated tensorflow

        sync = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
        if sync is not None:
            sync()
        else:  # older TF: reading a value waits for the kernels that produce it
            for leaf in leaves(result):
                if hasattr(leaf, "numpy"):
                    leaf.numpy()
        return result

    def value_and_grad(self, nll):
        import tensorflow as tf  # heavy: imported by the process that activated tensorflow

        def tf_value_and_grad(pars):
            with tf.GradientTape() as tape:
                tape.watch(pars)
                value = nll(pars)
            return value, tape.gradient(value, pars)

        return tf_value_and_grad

    def platform(self, tensor):
        return tensor.device.rsplit("device:", 1)[-1].split(":")[0]

    def peak_memory(self, device):
        import tensorflow as tf  # heavy: imported by the process that activated tensorflow

        return int(tf.config.experimental.get_memory_info(f"{device.upper()}:0")["peak"])

    def seed(self, seed):
        import tensorflow as tf  # heavy: imported by the process that activated tensorflow

        tf.random.set_seed(seed)
