"""The work of each benchmarked step as the compilers count it: deterministic ``track_`` values.

Timings change with the machine; these do not: flops, transcendentals and
bytes accessed from XLA's ``cost_analysis()``, kernels of the optimised HLO,
and the primitives an eager call dispatches (see :mod:`pyhf_bench.asvtools.costs`).  A
pyhf commit that changes them changed the work itself; the dashboard shows it
without a device.  On a GPU or TPU, JAX's counts are that device compiler's
(its fusions differ from the CPU's).  PyTorch's counts (FlopCounterMode's
matrix-product flops, calls into torch) are in ``pyhf-bench costs`` only: the
suite keeps every method reachable with numpy and jax (tests/test_asv.py).
Heavy imports happen in ``setup`` via ``activate``.
"""

from pyhf_bench.asvtools.costs import BATCHED_BINS
from pyhf_bench.likelihoods.inference import Problem
from pyhf_bench.likelihoods import all_keys, quick_keys
from pyhf_bench.core.axes import DEVICES, PRECISIONS
from pyhf_bench.core.benchmark import BackendBenchmark
from pyhf_bench.core.skip import Skip
from pyhf_bench.core.synthetic import make_spec

#: Model sizes of the cost benchmarks; the 10^5-bin model (build ~40 s) only in `pyhf-bench costs`.
COST_SIZES = (10, 100, 1000, 10_000)
COST_BATCHES = (1, 10, 100, 1000, 10_000)
OPERATIONS = ("logpdf", "value_and_grad", "fit_step")


class _CostBenchmark(BackendBenchmark):
    """One backend's counts for one step; each ``track_`` method returns one of them."""

    backend = "jax"
    # Compilation is deterministic: one sample is the value.
    rounds = 1
    timeout = 600

    def count(self, device, precision, build, step, **axes):
        """Activate (tier and device checks first), build the problem, count *step*."""
        from pyhf_bench.asvtools.costs import step_counts

        self.activate(self.backend, device, precision, **axes)
        problem = build(self.rt)
        with self.rt.scope():
            self.counts = step_counts(self.backend, problem, step)

    def value(self, name):
        return self.counts[name]


class _XlaCounts:
    """The ``track_`` methods for JAX's counts (mixed into the classes below)."""

    def track_flops(self, *params):
        return self.value("flops")

    track_flops.unit = "flops"

    def track_transcendentals(self, *params):
        return self.value("transcendentals")

    track_transcendentals.unit = "transcendentals"

    def track_bytes_accessed(self, *params):
        return self.value("bytes_accessed")

    track_bytes_accessed.unit = "bytes"

    def track_kernels(self, *params):
        return self.value("kernels")

    track_kernels.unit = "kernels"

    def track_eager_dispatches(self, *params):
        return self.value("eager_dispatches")

    track_eager_dispatches.unit = "dispatches"


class _Synthetic(_CostBenchmark):
    params = [list(DEVICES), list(PRECISIONS), list(OPERATIONS), list(COST_SIZES)]
    param_names = ["device", "precision", "operation", "n_bins"]
    # Quick: the 100-bin model's eager logpdf and jitted gradient at 64b (a fit step compiles to the
    # gradient's program: the same counts, see pyhf-bench costs); every combination starts a process
    # that builds and compiles (~4 s here), so the quick tier keeps few.
    quick = {"device": ("cpu",), "precision": ("64b",), "operation": ("logpdf", "value_and_grad"), "n_bins": (100,)}

    def setup(self, device, precision, operation, n_bins):
        build = lambda rt: Problem.from_spec(rt, make_spec(n_bins))  # noqa: E731 - after the tier check
        self.count(device, precision, build, operation, operation=operation, n_bins=n_bins)


class _Batched(_CostBenchmark):
    params = [list(DEVICES), list(PRECISIONS), list(COST_BATCHES)]
    param_names = ["device", "precision", "batch_size"]
    quick = {"device": ("cpu",), "precision": ("64b",), "batch_size": (100,)}

    def setup(self, device, precision, batch_size):
        build = lambda rt: Problem.from_spec(rt, make_spec(BATCHED_BINS), batch_size=batch_size)  # noqa: E731
        self.count(device, precision, build, "batched_logpdf", batch_size=batch_size)


class _Published(_CostBenchmark):
    # Every registered region, as published_likelihoods; quick: the registry's quick regions (and yours).
    params = [all_keys(), list(DEVICES), list(PRECISIONS), list(OPERATIONS)]
    param_names = ["likelihood", "device", "precision", "operation"]
    quick = {"likelihood": quick_keys(), "device": ("cpu",), "precision": ("64b",), "operation": ("value_and_grad",)}

    def setup(self, likelihood, device, precision, operation):
        from pyhf_bench import UserError
        from pyhf_bench.likelihoods import load_key

        self.precheck(self.backend, device, precision, likelihood=likelihood, operation=operation)
        try:
            lk = load_key(likelihood)
        except UserError as exc:  # the files are not fetched here
            raise Skip(str(exc)) from None
        self.count(device, precision, lambda rt: Problem.from_likelihood(rt, lk), operation,
                   likelihood=likelihood, operation=operation)


class SyntheticXla(_XlaCounts, _Synthetic):
    """JAX/XLA counts of logpdf, value-and-grad and a fit step on the synthetic models."""


class BatchedXla(_XlaCounts, _Batched):
    """JAX/XLA counts of the batched logpdf of the 100-bin model."""


class PublishedXla(_XlaCounts, _Published):
    """JAX/XLA counts of each step on the published likelihoods (and yours)."""
