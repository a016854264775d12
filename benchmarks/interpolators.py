"""pyhf's tensorised interpolators (codes 0, 1, 2, 4, 4p) over the number of systematics and bins.

This is the measurement in which Colab TPUs once showed a zig-zag with size
and ran slower than GPUs (pyhf issue #301); the size axes are kept fine
enough to see such effects.
"""

from pyhf_bench.core.benchmark import BackendBenchmark
from pyhf_bench.core.pyhfversions import interpolator
from pyhf_bench.core.synthetic import make_alphasets, make_histogramssets


class Interpolators(BackendBenchmark):
    params = BackendBenchmark.params + [[0, 1, 2, 4, "4p"], [1, 10, 100], [1, 10, 100, 1000]]
    param_names = BackendBenchmark.param_names + ["code", "n_sys", "n_bins"]
    quick = {"code": (0, "4p"), "n_sys": (10,), "n_bins": (100,), "precision": ("64b",)}
    # The histograms' and alphas' generators moved to pyhf_bench.core.synthetic (same seeds, same values:
    # tests/test_costs.py) so that `pyhf-bench costs` counts what this times. Pinned so the
    # results taken before keep their history.
    version = "2f5ca431a2082a9378f8433e5823720943676b21f3c1cec5f1206e7028d24caa"

    def setup(self, backend, device, precision, code, n_sys, n_bins):
        rt = self.activate(backend, device, precision, code=code, n_sys=n_sys, n_bins=n_bins)
        with rt.scope():
            self.interpolate = interpolator(code, make_histogramssets(n_sys, n_bins))
            self.alphasets = rt.tensorlib.astensor(make_alphasets(n_sys))
        self.time_interpolate(backend, device, precision, code, n_sys, n_bins)  # warm-up

    def time_interpolate(self, backend, device, precision, code, n_sys, n_bins):
        with self.rt.scope():
            self.rt.synchronize(self.interpolate(self.alphasets))
