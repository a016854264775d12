"""ROOT HistFactory/RooFit as a peer of pyhf: the same likelihoods and steps, timed in ROOT.

Each class mirrors a pyhf benchmark (``synthetic_models`` and
``published_likelihoods``) with RooFit's likelihood evaluation backend as an
axis instead of pyhf's backend x device x precision, so the report can put
ROOT beside each pyhf backend.  ROOT's fits use Minuit2 (Migrad, strategy 1,
tolerance 1e-6, offset NLL: ``roobridge.FitOptions``); pyhf's use scipy.

Combinations skip with the reason where ROOT is not importable, the backend
is not supported by this ROOT (``codegen`` needs Clad), or the tier excludes
them.  ROOT and pyhf are imported in ``setup`` only (through ``roobridge``).
"""

from pyhf_bench.likelihoods import all_keys, quick_keys
from pyhf_bench.root import EVAL_BACKENDS, RootPeer, peer_tier
from pyhf_bench.core.budgets import root_fit_budget
from pyhf_bench.core.skip import Skip
from pyhf_bench.core.synthetic import SIZES, make_workspace

#: As benchmarks/synthetic_models.py: fit-based steps stop at 100 bins.
FIT_SIZES = (1, 10, 100)
LIKELIHOODS = all_keys()
QUICK = quick_keys()
#: The quick tier times ROOT with RooFit's default backend only: ROOT's times do not change
#: with the pyhf commit a pull request compares, and each combination builds a RooWorkspace
#: in a process of its own (three backends were ~160 s of a 2-core quick tier). The full
#: tier compares every backend.
QUICK_EVAL_BACKENDS = ("cpu",)


class _RootSynthetic:
    # Beyond pyhf: ROOT from PyPI, not in the era environments (`pyhf-bench run` leaves these out there).
    requires = ("root", "uproot")
    params = [list(EVAL_BACKENDS), list(SIZES)]
    param_names = ["eval_backend", "n_bins"]
    quick = {"eval_backend": QUICK_EVAL_BACKENDS, "n_bins": (100,)}
    warmup_time = 0.0
    timeout = 900

    def setup_peer(self, eval_backend, n_bins):
        peer_tier(self.quick, {"eval_backend": eval_backend, "n_bins": n_bins}, type(self).__name__)
        self.peer = RootPeer(make_workspace(n_bins), "meas", None, eval_backend)


class _RootSyntheticFit(_RootSynthetic):
    params = [list(EVAL_BACKENDS), list(FIT_SIZES)]
    quick = {"eval_backend": QUICK_EVAL_BACKENDS, "n_bins": (1,)}
    number = 1
    repeat = (2, 10, 30.0)


class SyntheticModelBuild(_RootSynthetic):
    """Spec -> RooWorkspace (HistFactory), as ``synthetic_models.ModelBuild``."""

    def setup(self, eval_backend, n_bins):
        self.setup_peer(eval_backend, n_bins)
        self.peer.build()  # warm-up: libraries, dictionaries

    def time_build(self, eval_backend, n_bins):
        self.peer.build()


class SyntheticNLL(_RootSynthetic):
    """One NLL evaluation at a changed parameter point, as ``synthetic_models.Logpdf``."""

    def setup(self, eval_backend, n_bins):
        self.setup_peer(eval_backend, n_bins)
        self.peer.nll_value()

    def time_nll(self, eval_backend, n_bins):
        self.peer.nll_value()


class SyntheticFit(_RootSyntheticFit):
    """Unconditional Minuit2 fit from pyhf's initial point, as ``synthetic_models.Fit``."""

    def setup(self, eval_backend, n_bins):
        self.setup_peer(eval_backend, n_bins)
        self.peer.fit()

    def time_fit(self, eval_backend, n_bins):
        self.peer.fit()


class SyntheticHypotest(_RootSyntheticFit):
    """Asymptotic CLs at mu=1 with q~ (five fits), as ``synthetic_models.Hypotest``."""

    def setup(self, eval_backend, n_bins):
        self.setup_peer(eval_backend, n_bins)
        self.peer.hypotest()

    def time_hypotest(self, eval_backend, n_bins):
        self.peer.hypotest()


class _RootPublished:
    requires = ("root", "uproot")  # as _RootSynthetic
    params = [LIKELIHOODS, list(EVAL_BACKENDS)]
    param_names = ["likelihood", "eval_backend"]
    quick = {"likelihood": QUICK, "eval_backend": QUICK_EVAL_BACKENDS}
    warmup_time = 0.0
    number = 1
    repeat = (1, 5, 60.0)
    timeout = 1800
    needs_signal = False
    #: Minuit2 fits per timed call, for the cost prediction (``budgets.root_fit_budget``).
    fits = 0

    def setup_peer(self, likelihood, eval_backend):
        from pyhf_bench import UserError
        from pyhf_bench.likelihoods import load_key

        peer_tier(self.quick, {"likelihood": likelihood, "eval_backend": eval_backend}, type(self).__name__)
        try:
            lk = load_key(likelihood)
        except UserError as exc:
            raise Skip(f"cannot load {likelihood}: {exc}") from None
        if self.needs_signal and lk.poi is None:
            raise Skip(f"{likelihood} is background-only: no parameter of interest to test")
        self.peer = RootPeer(lk.spec, lk.measurement, lk.modifier_settings, eval_backend)
        if self.fits:
            root_fit_budget(self.peer, self.fits, self.timeout, f"{type(self).__name__} of {likelihood}")


class PublishedModelBuild(_RootPublished):
    """Patched workspace -> RooWorkspace, as ``published_likelihoods.ModelBuild``."""

    number = 0  # asv decides; a build takes ~1 s

    def setup(self, likelihood, eval_backend):
        self.setup_peer(likelihood, eval_backend)
        self.peer.build()

    def time_build(self, likelihood, eval_backend):
        self.peer.build()


class PublishedNLL(_RootPublished):
    """One NLL evaluation at a changed parameter point, as ``published_likelihoods.Logpdf``."""

    number = 0
    repeat = 0

    def setup(self, likelihood, eval_backend):
        self.setup_peer(likelihood, eval_backend)
        self.peer.nll_value()

    def time_nll(self, likelihood, eval_backend):
        self.peer.nll_value()


class PublishedFit(_RootPublished):
    """Unconditional Minuit2 fit, as ``published_likelihoods.Fit``."""

    fits = 1

    def setup(self, likelihood, eval_backend):
        self.setup_peer(likelihood, eval_backend)
        self.peer.fit()

    def time_fit(self, likelihood, eval_backend):
        self.peer.fit()


class PublishedHypotest(_RootPublished):
    """Asymptotic CLs at mu=1 with q~, as ``published_likelihoods.Hypotest``."""

    needs_signal = True
    fits = 5  # best fit, fit at mu=1, the fit at mu=0 for the Asimov data, both Asimov fits

    def setup(self, likelihood, eval_backend):
        self.setup_peer(likelihood, eval_backend)
        self.peer.hypotest()

    def time_hypotest(self, likelihood, eval_backend):
        self.peer.hypotest()
