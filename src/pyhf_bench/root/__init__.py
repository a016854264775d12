"""pyhf and ROOT HistFactory side by side: export, workspace build, fits and comparison.

A pyhf workspace spec (a dict, patch already applied) is turned into the same
likelihood in ROOT, both are fitted, and every quantity a physicist reads off
a hypothesis test is compared: the best-fit POI, NLL differences (q_mu,
q~_mu, q~_mu,A), the asymptotic CLs and the nuisance parameters.

The modules, in the order the work runs:

* :mod:`~pyhf_bench.root.plan` (with :mod:`~pyhf_bench.root.interpolation`):
  the mapping onto HistFactory, pure Python; whatever cannot be expressed
  raises :class:`pyhf_bench.UserError` naming the modifier and the reason.
* :mod:`~pyhf_bench.root.histfactory_xml`: HistFactory XML + ROOT files (pyhf's
  json2xml/xml2json) and an XML's StatErrorConfig.
* :mod:`~pyhf_bench.root.workspace`: the RooWorkspace, through ``hist2workspace``
  when it is on PATH, else PyROOT's HistFactory API (ROOT from PyPI,
  ``root==0.1a12``, ships libHistFactory but no XML parser); pyhf's inits,
  bounds, fixed flags, auxdata and interpolation codes applied
  (:mod:`~pyhf_bench.root.model` holds the result).
* :mod:`~pyhf_bench.root.equivalence`: after every build both NLLs are compared
  at a handful of parameter points, so a mapping mistake can never pass as
  "ROOT disagrees with pyhf".
* :mod:`~pyhf_bench.root.nll`, :mod:`~pyhf_bench.root.inference`: RooFit's NLL and
  fits, and the hypothesis test on both sides (:mod:`~pyhf_bench.root.pyhf_side`
  is pyhf's model and data).
* :mod:`~pyhf_bench.root.minima`, :mod:`~pyhf_bench.root.compare`: whether the fits
  found the same minima, the quantities side by side and the verdict.
* :mod:`~pyhf_bench.root.peer`: ROOT's timed calls for ``benchmarks/root_peer.py``;
  :mod:`~pyhf_bench.root.loading`: the likelihood ``pyhf-bench roofit`` names
  (its command line is :mod:`pyhf_bench.cli.root`).

ROOT, pyhf and uproot are imported inside functions only: the package imports
(and its pure-Python planning runs) without them.  The names below are the
package's public interface, re-exported so callers need not know the modules.
"""

from pyhf_bench.root.backends import EVAL_BACKENDS, check_eval_backend, eval_backend_support, import_root, root_version
from pyhf_bench.root.compare import compare, compare_results, lower_minima_entries, verdict_causes
from pyhf_bench.root.equivalence import check_model_equivalence, pyhf_data_for
from pyhf_bench.root.histfactory_xml import export_xml, import_xml, read_stat_error_configs
from pyhf_bench.root.inference import asymptotic_cls, pyhf_inference, root_inference
from pyhf_bench.root.interpolation import code4_factor, interpolation_sources, nonpositive_interval, resolve_interpolation
from pyhf_bench.root.model import RootModel
from pyhf_bench.root.nll import RootNLL
from pyhf_bench.root.peer import RootPeer, peer_tier
from pyhf_bench.root.plan import HistFactoryPlan, plan_histfactory, pyhf_spec
from pyhf_bench.root.pyhf_side import pyhf_model
from pyhf_bench.root.settings import MU_TEST, FitOptions, Tolerances
from pyhf_bench.root.workspace import build_workspace, hist2workspace_path

__all__ = [
    "EVAL_BACKENDS", "MU_TEST", "FitOptions", "HistFactoryPlan", "RootModel", "RootNLL", "RootPeer", "Tolerances",
    "asymptotic_cls", "build_workspace", "check_eval_backend", "check_model_equivalence", "code4_factor", "compare",
    "compare_results", "eval_backend_support", "export_xml", "hist2workspace_path", "import_root", "import_xml",
    "interpolation_sources", "lower_minima_entries", "nonpositive_interval", "peer_tier", "plan_histfactory",
    "pyhf_data_for", "pyhf_inference", "pyhf_model", "pyhf_spec", "read_stat_error_configs", "resolve_interpolation",
    "root_inference", "root_version", "verdict_causes",
]
