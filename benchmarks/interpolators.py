"""pyhf's tensorised interpolators (codes 0, 1, 2, 4, 4p) over the number of systematics and bins.

This is the measurement in which Colab TPUs once showed a zig-zag with size
and ran slower than GPUs (pyhf issue #301); the size axes are kept fine
enough to see such effects.
"""

import random

from pyhf_bench.support import BackendBenchmark, interpolator


def make_histogramssets(n_sys, n_bins, seed=0):
    """(n_sys, 1 sample, [down, nominal, up], n_bins) histograms, seeded and append-only."""
    rng = random.Random(f"pyhf-bench-interp-{n_sys}-{n_bins}-{seed}")
    sets = []
    for _ in range(n_sys):
        nominal = [rng.uniform(10.0, 100.0) for _ in range(n_bins)]
        down = [x * rng.uniform(0.85, 0.98) for x in nominal]
        up = [x * rng.uniform(1.02, 1.15) for x in nominal]
        sets.append([[down, nominal, up]])
    return sets


class Interpolators(BackendBenchmark):
    params = BackendBenchmark.params + [[0, 1, 2, 4, "4p"], [1, 10, 100], [1, 10, 100, 1000]]
    param_names = BackendBenchmark.param_names + ["code", "n_sys", "n_bins"]
    quick = {"code": (0, "4p"), "n_sys": (10,), "n_bins": (100,), "precision": ("64b",)}

    def setup(self, backend, device, precision, code, n_sys, n_bins):
        rt = self.activate(backend, device, precision, code=code, n_sys=n_sys, n_bins=n_bins)
        with rt.scope():
            self.interpolate = interpolator(code, make_histogramssets(n_sys, n_bins))
            rng = random.Random(f"pyhf-bench-alphas-{n_sys}")
            self.alphasets = rt.tensorlib.astensor([[rng.uniform(-2.0, 2.0)] for _ in range(n_sys)])
        self.time_interpolate(backend, device, precision, code, n_sys, n_bins)  # warm-up

    def time_interpolate(self, backend, device, precision, code, n_sys, n_bins):
        with self.rt.scope():
            self.rt.synchronize(self.interpolate(self.alphasets))
