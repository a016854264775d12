"""Inference on seeded synthetic HistFactory models, over backend x device x precision x size.

Heavy imports (pyhf, frameworks) happen in ``setup`` via ``activate``: asv
starts a new process for every parameter combination, and the suite must
import under every pyhf version.  Each ``setup`` runs the timed step once
first, so JIT compilation and first-call caches are never timed.
"""

from pyhf_bench.likelihoods.inference import Problem
from pyhf_bench.core import backends
from pyhf_bench.core.axes import OPTIMIZERS
from pyhf_bench.core.benchmark import BackendBenchmark
from pyhf_bench.core.budgets import minuit_budget
from pyhf_bench.core.runtime import warm_up
from pyhf_bench.core.synthetic import SIZES, make_spec

#: Fits need many likelihood evaluations (numpy has no autodiff: finite
#: differences over ~2 parameters per bin; a 100-bin numpy fit takes ~15 s
#: here), so fit-based steps stop at 100 bins.
FIT_SIZES = (1, 10, 100)


class _SyntheticBenchmark(BackendBenchmark):
    params = BackendBenchmark.params + [list(SIZES)]
    param_names = BackendBenchmark.param_names + ["n_bins"]
    # Quick: 64b, as the published likelihoods' quick subset; Logpdf keeps 32b (below), so
    # the quick tier still times each backend's float32 path once.
    quick = {"n_bins": (100,), "precision": ("64b",)}

    def setup_problem(self, backend, device, precision, n_bins, optimizer="scipy", axes=None, **model_kwargs):
        """*axes*: the class's other parameters, for the tier check (``quick``)."""
        self.activate(backend, device, precision, optimizer, n_bins=n_bins, **(axes or {}))
        self.spec = make_spec(n_bins)
        self.problem = Problem.from_spec(self.rt, self.spec, **model_kwargs)


class ModelBuild(_SyntheticBenchmark):
    """``pyhf.Model(spec)``: schema validation and tensor setup of every modifier."""

    def setup(self, backend, device, precision, n_bins):
        self.setup_problem(backend, device, precision, n_bins)

    def time_build(self, backend, device, precision, n_bins):
        Problem.from_spec(self.rt, self.spec)


class Logpdf(_SyntheticBenchmark):
    """One ``model.logpdf(pars, data)`` evaluation."""

    # The pull-request check (`asv continuous`, see pyhf-bench review-proof) rests on this
    # benchmark. With asv's defaults (2 rounds of <= 10 samples of ~10 ms) a shared 2-core
    # machine showed same-code ratios up to 1.45; more, interleaved samples (ABBA rounds
    # over a few seconds) average out the bursts of other load. Costs ~2 s per combination.
    rounds = 4
    repeat = (20, 60, 5.0)
    quick = {"n_bins": (100,)}

    def setup(self, backend, device, precision, n_bins):
        self.setup_problem(backend, device, precision, n_bins)
        self.problem.logpdf()  # warm-up

    def time_logpdf(self, backend, device, precision, n_bins):
        self.problem.logpdf()


class JittedLogpdf(_SyntheticBenchmark):
    """``jax.jit(model.logpdf)``: what Logpdf's eager call costs once compiled (JAX only; pyhf runs
    the other backends eagerly, and their Logpdf is their only logpdf)."""

    rounds = Logpdf.rounds
    repeat = Logpdf.repeat
    # Quick: Logpdf's sizes, for the backends that JIT (no process forked only to skip).
    quick = {**Logpdf.quick, "backend": tuple(name for name, b in backends.REGISTRY.items() if b.has_jit)}

    def setup(self, backend, device, precision, n_bins):
        self.precheck(backend, device, precision, n_bins=n_bins)  # the tier's skip first, as every setup
        backends.get(backend).require_jit()
        self.setup_problem(backend, device, precision, n_bins)
        self.function = self.problem.jitted_logpdf_function()
        self.problem.jitted_logpdf(self.function)  # compile / warm-up

    def time_jitted_logpdf(self, backend, device, precision, n_bins):
        self.problem.jitted_logpdf(self.function)


class NLLGradient(_SyntheticBenchmark):
    """NLL value and gradient by the backend's autodiff (jitted for JAX, as pyhf's optimizer does)."""

    def setup(self, backend, device, precision, n_bins):
        self.setup_problem(backend, device, precision, n_bins)
        self.function = self.problem.value_and_grad_function()
        self.problem.value_and_grad(self.function)  # compile / warm-up

    def time_value_and_grad(self, backend, device, precision, n_bins):
        self.problem.value_and_grad(self.function)


class BatchedLogpdf(BackendBenchmark):
    """``logpdf`` of a 100-bin model built with ``batch_size``: many parameter points per call."""

    params = BackendBenchmark.params + [[1, 10, 100, 1000]]
    param_names = BackendBenchmark.param_names + ["batch_size"]
    quick = {"batch_size": (100,), "precision": ("64b",)}
    n_bins = 100

    def setup(self, backend, device, precision, batch_size):
        self.activate(backend, device, precision, batch_size=batch_size)
        self.problem = Problem.from_spec(self.rt, make_spec(self.n_bins), batch_size=batch_size)
        self.problem.logpdf()  # warm-up

    def time_batched_logpdf(self, backend, device, precision, batch_size):
        self.problem.logpdf()


class _FitBenchmark(_SyntheticBenchmark):
    params = BackendBenchmark.params + [list(FIT_SIZES)]
    # TensorFlow's eager fits are slow (a 10-bin hypotest takes ~30 s here), and
    # at 32b most backend/optimizer pairs cannot fit at all (see warm_up): the
    # quick tier fits the 1-bin model at 64b only.
    quick = {"n_bins": (1,), "precision": ("64b",)}
    number = 1
    repeat = (2, 10, 30.0)
    timeout = 900


class Fit(_FitBenchmark):
    """Unconditional maximum-likelihood fit (``pyhf.infer.mle.fit``) with each optimizer."""

    params = _FitBenchmark.params + [list(OPTIMIZERS)]
    param_names = _FitBenchmark.param_names + ["optimizer"]
    # The timed call is unchanged since this hash; setup gained the minuit prediction, which only
    # turns a combination that ran into the timeout (and recorded nothing) into a skip. Pinned so
    # results taken before keep their history.
    version = "4676c6dea58815121b6b9934edb9549ee43b236a3634ff68db27dde8f1cb8272"

    def setup(self, backend, device, precision, n_bins, optimizer):
        self.setup_problem(backend, device, precision, n_bins, optimizer)
        # As for the published likelihoods: minuit on eager TensorFlow fits the 100-bin model
        # (205 parameters) in about half an hour, past the 15 min timeout (measured: killed at 900 s).
        what = f"fit of the {n_bins}-bin synthetic model"
        warm_up(self.rt, lambda: minuit_budget(self.problem, 1, self.timeout, what), what)
        warm_up(self.rt, self.problem.fit, "the fit")  # JAX compiles the objective here

    def time_fit(self, backend, device, precision, n_bins, optimizer):
        self.problem.fit()


class PeakMemory(_SyntheticBenchmark):
    """Peak resident memory of a process that builds a model (``build``) or builds and fits it (``fit``).

    asv's ``peakmem_`` is the maximum RSS of the whole benchmark process, so the
    framework's own footprint (imports, device context) is part of the number.
    """

    params = BackendBenchmark.params + [list(FIT_SIZES), ["build", "fit"]]
    param_names = BackendBenchmark.param_names + ["n_bins", "step"]
    # The fit's process only in the quick tier: it builds the model first (see published_likelihoods).
    quick = {"n_bins": (10,), "precision": ("64b",), "step": ("fit",)}

    def setup(self, backend, device, precision, n_bins, step):
        self.setup_problem(backend, device, precision, n_bins, axes={"step": step})
        if step == "fit":
            # Skips 32b combinations that cannot fit; the peak is the same fit's anyway.
            warm_up(self.rt, self.problem.fit, "the fit")

    def peakmem_step(self, backend, device, precision, n_bins, step):
        problem = Problem.from_spec(self.rt, self.spec)
        if step == "fit":
            problem.fit()


class Hypotest(_FitBenchmark):
    """Asymptotic CLs at mu=1 with the qtilde test statistic and the expected band (four fits)."""

    def setup(self, backend, device, precision, n_bins):
        self.setup_problem(backend, device, precision, n_bins)
        warm_up(self.rt, self.problem.hypotest, "the hypotest")

    def time_hypotest(self, backend, device, precision, n_bins):
        self.problem.hypotest()


class UpperLimit(_FitBenchmark):
    """95% CL upper limit on mu from a fixed 11-point scan (a hypotest per point)."""

    def setup(self, backend, device, precision, n_bins):
        self.setup_problem(backend, device, precision, n_bins)
        warm_up(self.rt, self.problem.upper_limit, "the upper-limit scan")

    def time_upper_limit(self, backend, device, precision, n_bins):
        self.problem.upper_limit()


class ImportPyhf:
    """Cold ``import pyhf`` plus switching to the backend, in a fresh interpreter each time."""
    # Pinned: the package moved into layers (pyhf_bench.asvtools/core/...); the measured call is unchanged.
    version = "bdb735b71c2a80bf5197eab11e84df1c7c3dc4f27d97e8e0659654d201383095"

    params = [["numpy", "jax", "pytorch", "tensorflow"]]
    param_names = ["backend"]
    repeat = (3, 5, 60.0)
    timeout = 300

    def setup(self, backend):
        from pyhf_bench.core.runtime import activate

        activate(backend)  # skip here when this pyhf/environment cannot use the backend

    def timeraw_import_and_set_backend(self, backend):
        return f"import pyhf; pyhf.set_backend({backend!r})"
