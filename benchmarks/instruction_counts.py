"""Executed-instruction counts of the timed benchmarks that matter for review (``unit = "instructions"``).

Each ``track_instructions`` runs the timed benchmark's own ``setup`` and method in a
child process under valgrind's callgrind and returns the instructions per call
(:mod:`pyhf_bench.asvtools.instructions`).  Unlike wall time on a shared machine, the count
repeats to a fraction of a percent, so ``pyhf-bench review`` judges it at a tight
factor; it does not see memory stalls, SIMD width or threading (docs/instruction-counts.md).
The parameters are the timed benchmark's, CPU and 64b only (a subset of its values),
so each count pairs with its timing by name.  Without valgrind every combination skips.
"""

from pyhf_bench.asvtools.instructions import MIRRORS
from pyhf_bench import UserError
from pyhf_bench.likelihoods import all_keys, load_key
from pyhf_bench.core.axes import BACKENDS
from pyhf_bench.core.benchmark import BackendBenchmark
from pyhf_bench.core.skip import Skip


class _Instructions(BackendBenchmark):
    unit = "instructions"
    # One count per combination: it repeats to ~0.2 % (docs/instruction-counts.md), so more
    # rounds only cost minutes under valgrind.
    rounds = 1
    repeat = 1
    number = 1
    timeout = 1800
    params = [list(BACKENDS), ["cpu"], ["64b"]]
    #: The quick tier: numpy only (SyntheticNLLGradient: PyTorch). A JAX count costs ~3-4 min here (importing JAX and compiling
    #: under valgrind, uninstrumented but still slow) against ~10-80 s for numpy; JAX, PyTorch and
    #: TensorFlow are counted in the full tier.
    quick = {"backend": ("numpy",)}

    def setup(self, *params):
        from pyhf_bench.asvtools.instructions import valgrind_path

        self.precheck(*params[:3], **self.axes(params))
        if valgrind_path() is None:
            raise Skip("valgrind is not installed (Debian: apt-get install valgrind)")

    def axes(self, params) -> dict:
        return dict(zip(self.param_names[3:], params[3:]))

    def child_env(self, params) -> dict:
        # The tier is decided here; the timed benchmark's setup must not skip on it again.
        return {"PYHF_BENCH_TIER": "full"}

    def track_instructions(self, *params):
        import os

        from pyhf_bench.asvtools.instructions import count

        module, cls, method = MIRRORS[type(self).__name__]
        file = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{module}.py")
        result = count(file, cls, method, list(params), env=self.child_env(params), timeout=self.timeout)
        if "skip" in result:
            raise Skip(result["skip"])
        return result["instructions"]


class SyntheticLogpdf(_Instructions):
    """Instructions of one ``model.logpdf`` (synthetic_models.Logpdf)."""
    # Pinned: the package moved into layers (pyhf_bench.asvtools/core/...); the measured call is unchanged.
    version = "37831c3f145ae91206d529cfee2364b69f104edb0f4f734babdfda28fe41272d"

    params = _Instructions.params + [[1, 10, 100, 1000]]
    param_names = ["backend", "device", "precision", "n_bins"]
    quick = {**_Instructions.quick, "n_bins": (100,)}


class SyntheticNLLGradient(SyntheticLogpdf):
    """Instructions of one NLL value and gradient (synthetic_models.NLLGradient)."""
    # Pinned: the package moved into layers (pyhf_bench.asvtools/core/...); the measured call is unchanged.
    version = "973dd5b9c43204461a2738503cd781512d5e82123a3ba2376e72cfdc7a228918"

    # numpy has no autodiff. Quick: PyTorch's gradient (~30 s a count here, and its counts repeat to
    # 0.1 %; JAX's do not, docs/instruction-counts.md), shown by review but not gated (GATED_BACKENDS).
    quick = {**SyntheticLogpdf.quick, "backend": ("pytorch",)}

    def setup(self, backend, *params):
        super().setup(backend, *params)
        if backend == "numpy":
            # The timed benchmark's setup skips so too (support.Runtime.value_and_grad), but only
            # after ~30 s of imports under valgrind.
            raise Skip("the numpy backend has no automatic differentiation")


class SyntheticFit(_Instructions):
    """Instructions of one maximum-likelihood fit with scipy (synthetic_models.Fit)."""
    # Pinned: the package moved into layers (pyhf_bench.asvtools/core/...); the measured call is unchanged.
    version = "37831c3f145ae91206d529cfee2364b69f104edb0f4f734babdfda28fe41272d"

    # Fits under callgrind run ~50x slower than natively: the 100-bin numpy fit (~15 s) would take ~1 h.
    params = _Instructions.params + [[1, 10], ["scipy"]]
    param_names = ["backend", "device", "precision", "n_bins", "optimizer"]
    quick = {**_Instructions.quick, "n_bins": (1,)}


class SyntheticHypotest(_Instructions):
    """Instructions of one asymptotic CLs hypotest (synthetic_models.Hypotest)."""
    # Pinned: the package moved into layers (pyhf_bench.asvtools/core/...); the measured call is unchanged.
    version = "37831c3f145ae91206d529cfee2364b69f104edb0f4f734babdfda28fe41272d"

    params = _Instructions.params + [[1, 10]]
    param_names = ["backend", "device", "precision", "n_bins"]
    quick = {**_Instructions.quick, "n_bins": (1,)}


class PublishedLogpdf(_Instructions):
    """Instructions of one ``model.logpdf`` of a published likelihood (published_likelihoods.Logpdf)."""
    # Pinned: the package moved into layers (pyhf_bench.asvtools/core/...); the measured call is unchanged.
    version = "4e70fc35cf6bd4ee5905d3953ad064811ecfbd197b8d73e4d5eba030be18137a"

    params = [all_keys()] + _Instructions.params
    param_names = ["likelihood", "backend", "device", "precision"]
    # Quick: sbottom RegionA only (the registry's quick signal region, 160 parameters); the
    # background-only staus model's logpdf adds little the synthetic counts do not cover.
    quick = {**_Instructions.quick, "likelihood": ("sbottom/RegionA",)}

    def setup(self, likelihood, *params):
        self.precheck(*params, likelihood=likelihood)
        from pyhf_bench.asvtools.instructions import valgrind_path

        if valgrind_path() is None:
            raise Skip("valgrind is not installed (Debian: apt-get install valgrind)")
        # Missing data skips here, as the timed benchmark's setup does: found only in the counted
        # child, it would surface in track_instructions, where asv records a failure, not a skip.
        try:
            load_key(likelihood)
        except UserError as exc:
            raise Skip(f"cannot load {likelihood}: {exc}") from None

    def child_env(self, params) -> dict:
        # The timed benchmark's setup_cache reads only the quick tier's likelihoods: make this one the quick tier.
        return {"PYHF_BENCH_TIER": "quick", "PYHF_BENCH_QUICK": params[0]}
