"""ROOT itself: the import (batch mode, RooFit quiet), its version, RooFit's evaluation backends, C-level stdout.

ROOT is imported inside functions only (it is heavy and optional): this module
imports without ROOT.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

from pyhf_bench import UserError

#: RooFit likelihood evaluation backends (``RooFit::EvalBackend``) compared here:
#: ``legacy`` (RooNLLVar), ``cpu`` (the vectorising evaluator, ROOT's default),
#: ``codegen`` (generated C++ with Clad gradients) and ``codegen_no_grad``
#: (generated C++, numerical gradients; needs no Clad).
EVAL_BACKENDS = ("legacy", "cpu", "codegen", "codegen_no_grad")


def import_root():
    """``import ROOT`` in batch mode with RooFit's INFO chatter off, or one clear UserError."""
    try:
        with warnings.catch_warnings():
            # ROOT's PyPI wheel warns on every import that it is an alpha release.
            warnings.simplefilter("ignore")
            import ROOT
    except ImportError as exc:
        raise UserError(
            f"ROOT is not importable here ({exc}); install it with "
            "`python3 -m pip install 'pyhf-bench[root]'` (ROOT 6.40 from PyPI, root==0.1a12)"
        ) from None
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    return ROOT


def root_version() -> str:
    return str(import_root().gROOT.GetVersion())


def check_eval_backend(name: str) -> str:
    if name not in EVAL_BACKENDS:
        raise UserError(f"unknown RooFit evaluation backend {name!r}; choose one of: {', '.join(EVAL_BACKENDS)}")
    return name


def eval_backend_support(name: str) -> str | None:
    """Why this ROOT cannot use evaluation backend *name*, or None when it can.

    ``codegen`` generates C++ for the likelihood and differentiates it with
    Clad; a ROOT built without Clad (the PyPI wheel: ``gROOT.GetConfigFeatures()``
    lacks ``clad``) cannot use it, and RooFit would silently fall back to
    ``cpu``, so it is refused here instead.
    """
    check_eval_backend(name)
    ROOT = import_root()
    if not hasattr(ROOT.RooFit, "EvalBackend"):
        return f"ROOT {ROOT.gROOT.GetVersion()} has no RooFit::EvalBackend (needs ROOT >= 6.30)"
    if name == "codegen" and "clad" not in str(ROOT.gROOT.GetConfigFeatures()).split():
        return f"ROOT {ROOT.gROOT.GetVersion()} was built without Clad, which RooFit's codegen backend needs"
    return None


@contextlib.contextmanager
def quiet_stdout():
    """HistFactory prints its progress with std::cout; send the C-level stdout to /dev/null meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        try:
            import ROOT

            ROOT.gSystem.FlushLogBuffer() if hasattr(ROOT.gSystem, "FlushLogBuffer") else None
        except ImportError:
            pass
        os.dup2(saved, 1)
        os.close(saved)
