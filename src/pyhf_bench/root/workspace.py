"""The RooWorkspace of a spec: PyROOT's HistFactory API or hist2workspace, then pyhf's configuration applied.

ROOT is imported inside functions only (through :func:`pyhf_bench.root.backends.import_root`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.root.backends import import_root, quiet_stdout
from pyhf_bench.root.equivalence import check_model_equivalence
from pyhf_bench.root.histfactory_xml import export_xml
from pyhf_bench.root.model import RootModel
from pyhf_bench.root.plan import HistFactoryPlan, plan_histfactory
from pyhf_bench.root.pyhf_side import pyhf_model

#: Name of the HistFactory function 1/Lumi that undoes ROOT's Lumi on samples without pyhf's lumi.
INVERSE_LUMI = "pyhf_bench_inverse_Lumi"


def _histogram(ROOT, name: str, values, errors=None, keep: list | None = None):
    hist = ROOT.TH1D(name, name, len(values), 0.0, float(len(values)))
    for i, value in enumerate(values):
        hist.SetBinContent(i + 1, float(value))
        if errors is not None:
            hist.SetBinError(i + 1, float(errors[i]))
    # HistFactory's HistRef takes ownership (a std::unique_ptr) of every
    # histogram handed to it, so Python must not delete it; the reference kept
    # here stops PyROOT from garbage-collecting the proxy while ROOT uses it.
    ROOT.SetOwnership(hist, False)
    if keep is not None:
        keep.append(hist)
    return hist


def _measurement_via_api(ROOT, plan: HistFactoryPlan, keep: list):
    hf = ROOT.RooStats.HistFactory
    # Histograms stay out of ROOT's current directory: repeated builds reuse the names.
    ROOT.TH1.AddDirectory(False)
    meas = hf.Measurement(plan.measurement, plan.measurement)
    keep.append(meas)
    meas.SetPOI(plan.poi or _stand_in_poi(plan))
    meas.SetLumi(plan.lumi)
    # Without a lumi parameter in pyhf, ROOT's Lumi is held constant (see _configure);
    # any positive width keeps its (then constant) constraint term finite.
    meas.SetLumiRelErr(plan.lumi_rel_err if plan.lumi_rel_err > 0 else 0.1)
    has_lumi = "lumi" in plan.root_names
    if has_lumi:
        # ROOT 6.40 scales every sample by Lumi, NormalizeByTheory=False or not
        # (measured: such a sample's scale-factor product still depends on Lumi).
        # A sample without pyhf's lumi modifier gets a NormFactor 1/Lumi (a
        # HistFactory preprocess function) that cancels it.
        meas.AddPreprocessFunction(INVERSE_LUMI, "1/Lumi", f"Lumi[{plan.lumi!r},0,{10 * plan.lumi!r}]")
    for channel in plan.channels:
        chan = hf.Channel(channel.name)
        keep.append(chan)
        # pyhf's staterror: Gaussian constraint, no bin pruned (ROOT's default: Poisson, 5%),
        # unless an XML's StatErrorConfig says otherwise (plan.stat_errors, honoured in pyhf_spec).
        constraint = hf.Constraint.Poisson if channel.stat_constraint == "Poisson" else hf.Constraint.Gaussian
        chan.SetStatErrorConfig(channel.stat_threshold, constraint)
        chan.SetData(_histogram(ROOT, f"data_{channel.name}", channel.observed, keep=keep))
        for sample in channel.samples:
            prefix = f"{channel.name}_{sample.name}"
            s = hf.Sample(sample.name)
            keep.append(s)
            # Bin errors carry the absolute staterror uncertainties: HistFactory
            # reads them when the stat error is activated without an error histogram.
            s.SetHisto(_histogram(ROOT, f"nominal_{prefix}", sample.data, errors=sample.staterror, keep=keep))
            s.SetNormalizeByTheory(sample.normalize_by_theory)
            if has_lumi and not sample.normalize_by_theory:
                s.AddNormFactor(INVERSE_LUMI, 1.0, 0.0, 10.0)
            for name in sample.normfactors:
                # Initial value and range are set from pyhf's config after the build.
                s.AddNormFactor(name, 1.0, -1e30, 1e30)
            for name, lo, hi in sample.normsys:
                s.AddOverallSys(name, lo, hi)
            for name, lo_data, hi_data in sample.histosys:
                histosys = hf.HistoSys()
                histosys.SetName(name)
                histosys.SetHistoLow(_histogram(ROOT, f"histosys_lo_{prefix}_{name}", lo_data, keep=keep))
                histosys.SetHistoHigh(_histogram(ROOT, f"histosys_hi_{prefix}_{name}", hi_data, keep=keep))
                keep.append(histosys)
                s.AddHistoSys(histosys)
            if sample.staterror is not None:
                s.ActivateStatError()
            for name, relative in sample.shapesys:
                shapesys = hf.ShapeSys()
                shapesys.SetName(name)
                shapesys.SetConstraintType(hf.Constraint.Poisson)
                shapesys.SetErrorHist(_histogram(ROOT, f"shapesys_{prefix}_{name}", relative, keep=keep))
                keep.append(shapesys)
                s.AddShapeSys(shapesys)
            for name in sample.shapefactors:
                s.AddShapeFactor(name)
            chan.AddSample(s)
        meas.AddChannel(chan)
    return meas


def _stand_in_poi(plan: HistFactoryPlan) -> str:
    """A background-only model has no POI, but ROOT's ModelConfig wants one: the first normfactor.

    It only labels the ModelConfig; fits and comparisons of a background-only
    model never treat it differently from any other parameter.
    """
    for channel in plan.channels:
        for sample in channel.samples:
            if sample.normfactors:
                return sample.normfactors[0]
    return "Lumi" if "lumi" in plan.root_names else next(iter(plan.root_names.values()))[0]


def hist2workspace_path() -> str | None:
    return shutil.which("hist2workspace")


def _workspace_via_hist2workspace(ROOT, spec: dict, plan: HistFactoryPlan, directory: Path, keep: list):
    top = export_xml(spec, directory, stat_errors=plan.stat_errors)
    exe = hist2workspace_path()
    if exe is None:
        raise UserError("hist2workspace is not on PATH; use route='pyroot-api'")
    proc = subprocess.run([exe, str(top)], cwd=directory, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"hist2workspace failed on {top} (exit {proc.returncode}): {tail[0]}")
    output = directory / "config" / f"FitConfig_combined_{plan.measurement}_model.root"
    if not output.is_file():
        raise UserError(f"hist2workspace wrote no {output}")
    tfile = ROOT.TFile.Open(str(output))
    keep.append(tfile)
    workspace = tfile.Get("combined")
    if not workspace:
        raise UserError(f"{output} holds no RooWorkspace 'combined'")
    return workspace


def build_workspace(
    spec: dict,
    measurement: str | None = None,
    modifier_settings: dict | None = None,
    route: str = "auto",
    xml_directory: str | os.PathLike | None = None,
    check: bool = True,
    model=None,
    stat_errors: dict[str, tuple[str, float]] | None = None,
) -> RootModel:
    """The RooWorkspace of *spec* with pyhf's parameter configuration and interpolation codes applied.

    *route*: ``"pyroot-api"`` (PyROOT's HistFactory classes), ``"hist2workspace"``
    (XML export + ROOT's command; *xml_directory* keeps the files, a temporary
    directory otherwise) or ``"auto"`` (hist2workspace when on PATH).
    With *check*, both NLLs are compared at a few parameter points and a
    mismatch raises UserError (see :func:`check_model_equivalence`).  *model*:
    the pyhf model of *spec* if already built (the benchmarks time ROOT only).
    """
    if route not in ("auto", "pyroot-api", "hist2workspace"):
        raise UserError(f"unknown workspace route {route!r}; choose auto, pyroot-api or hist2workspace")
    plan = plan_histfactory(spec, measurement, modifier_settings, stat_errors)
    if model is None:  # the pyhf model supplies inits, bounds, fixed flags and auxdata
        model = pyhf_model(spec, plan)
    ROOT = import_root()
    if route == "auto":
        route = "hist2workspace" if hist2workspace_path() else "pyroot-api"
    keep: list = []
    start = time.perf_counter()
    if route == "hist2workspace":
        with contextlib.ExitStack() as stack:
            directory = Path(xml_directory) if xml_directory else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            workspace = _workspace_via_hist2workspace(ROOT, spec, plan, directory.resolve(), keep)
            keep.append(workspace)
    else:
        if xml_directory is not None:
            export_xml(spec, xml_directory, stat_errors=plan.stat_errors)
        measurement_obj = _measurement_via_api(ROOT, plan, keep)
        hf = ROOT.RooStats.HistFactory
        cfg = hf.HistoToWorkspaceFactoryFast.Configuration()
        cfg.createWorkspaceFile = False
        cfg.createPerRegionWorkspaces = False
        with quiet_stdout():
            workspace = hf.MakeModelAndMeasurementFast(measurement_obj, cfg)
        if not workspace:
            raise UserError(f"ROOT's HistFactory could not build measurement {plan.measurement!r}")
        keep.append(workspace)
    root_model = _configure(workspace, plan, model, route, keep)
    root_model.build_seconds = time.perf_counter() - start
    if check:
        check_model_equivalence(root_model, model)
    return root_model



def _configure(workspace, plan: HistFactoryPlan, model, route: str, keep: list) -> RootModel:
    """Apply pyhf's inits, bounds, fixed flags, auxdata and interpolation codes to the built workspace."""
    mc = workspace.obj("ModelConfig")
    pdf = mc.GetPdf()
    data = workspace.data("obsData")
    if not pdf or not data:
        raise UserError("ROOT's workspace has no ModelConfig pdf or obsData")
    _set_interpolation_codes(workspace, plan)
    order, flat_init, flat_bounds, flat_fixed = _apply_pyhf_parameters(workspace, plan, model.config)
    if "lumi" not in plan.root_names:
        # No lumi in the pyhf model: ROOT's Lumi (which scales every sample) stays at its nominal 1.
        lumi = workspace.var("Lumi")
        if lumi:
            lumi.setVal(plan.lumi)
            lumi.setConstant(True)
    return RootModel(
        plan=plan,
        route=route,
        workspace=workspace,
        model_config=mc,
        pdf=pdf,
        data=data,
        pyhf_order=order,
        init=flat_init,
        bounds=flat_bounds,
        fixed=flat_fixed,
        global_observables=mc.GetGlobalObservables(),
        keep_alive=keep,
    )


def _set_interpolation_codes(workspace, plan: HistFactoryPlan) -> None:
    normsys_code, histosys_code = plan.interpolation["normsys"][1], plan.interpolation["histosys"][1]
    for component in workspace.components():
        if component.InheritsFrom("RooStats::HistFactory::FlexibleInterpVar"):
            component.setAllInterpCodes(normsys_code)
        elif component.InheritsFrom("PiecewiseInterpolation"):
            component.setAllInterpCodes(histosys_code)
            # HistFactory clips each sample's interpolated yield at 0 per bin
            # ("positive definite"); pyhf does not, and sbottom's zero-yield bins
            # with a one-sided histosys go negative inside |alpha| < 1.  Same
            # function on both sides: no clipping.
            component.setPositiveDefinite(False)


def _apply_pyhf_parameters(workspace, plan: HistFactoryPlan, config):
    """Each ROOT variable gets its pyhf parameter's init, bounds and fixed flag, each global observable its auxdata.

    Returns (the (pyhf name, index, ROOT name) order, inits, bounds, fixed flags), one entry per ROOT variable.
    """
    init, bounds, fixed = config.suggested_init(), config.suggested_bounds(), config.suggested_fixed()
    auxdata = list(config.auxdata)
    aux_start, aux_position = {}, 0
    for name in config.auxdata_order:
        aux_start[name] = aux_position
        aux_position += config.param_set(name).n_parameters
    order: list[tuple[str, int, str]] = []
    flat_init, flat_bounds, flat_fixed = [], [], []
    for name in config.par_order:
        names = plan.root_names.get(name)
        if names is None:
            raise UserError(f"pyhf parameter {name!r} has no ROOT counterpart")
        sl = config.par_slice(name)
        for i, root_name in enumerate(names):
            var = workspace.var(root_name)
            if not var:
                raise UserError(f"ROOT's HistFactory built no parameter {root_name!r} for pyhf's {name!r}")
            value, (low, high), is_fixed = float(init[sl][i]), bounds[sl][i], bool(fixed[sl][i])
            var.setRange(float(low), float(high))
            var.setVal(value)
            var.setConstant(is_fixed)
            order.append((name, i, root_name))
            flat_init.append(value)
            flat_bounds.append((float(low), float(high)))
            flat_fixed.append(is_fixed)
            if name in aux_start:
                _set_global_observable(workspace, root_name, float(auxdata[aux_start[name] + i]), config.param_set(name).pdf_type)
    return order, flat_init, flat_bounds, flat_fixed


def _set_global_observable(workspace, root_name: str, aux: float, pdf_type: str) -> None:
    glob = workspace.var("nominalLumi" if root_name == "Lumi" else f"nom_{root_name}")
    if not glob:
        return
    if pdf_type == "normal":
        # RooFit normalises a Gaussian constraint over its global
        # observable's range (nominalLumi: [0, 1+10 sigma], nom_alpha:
        # [-10, 10]), a truncation pyhf does not have: at a bound 5 sigma
        # away it shifts the NLL by ~3e-7.  An effectively infinite
        # range removes it.
        glob.setRange(-1e6, 1e6)
    else:
        glob.setRange(min(glob.getMin(), aux), max(glob.getMax(), aux))
    glob.setVal(aux)
