"""``pyhf-bench profile NAME --backend B --step S --out DIR``: where one inference step spends its time.

The step runs exactly as the asv benchmarks run it (``pyhf_bench.core.support.activate``,
then :class:`pyhf_bench.likelihoods.inference.Problem`): once as a warm-up (JIT compilation,
first-call caches), once more timed without the profiler, then under ``cProfile``,
so the profile shows the steady state the benchmarks time.  A step shorter than
:data:`MIN_PROFILED_S` (a sub-millisecond logpdf) is profiled over as many calls
as fill that time, since cProfile's clock cannot resolve a single one; the
per-call figures divide by the number of calls.
Writes into DIR:

* ``profile.pstats``: the raw cProfile data (``python -m pstats``, snakeviz, ...);
* ``profile.txt``: pstats listings sorted by cumulative and by own time;
* ``flamegraph.svg``: a flame graph drawn by ``flameprof`` from the same data
  (skipped with a note if flameprof is not installed: ``pip install flameprof``);
* ``profile.json``: what was profiled and the top functions by cumulative time
  (``pyhf-bench report`` puts these into the case study).

NAME is ``synthetic:N`` (the seeded synthetic model with N bins, as in the
benchmarks) or a registered likelihood, ``name`` or ``name/region``
(``pyhf-bench likelihoods`` lists them).
"""

from __future__ import annotations

import cProfile
import io
import json
import marshal
import pstats
import time
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench import likelihoods
from pyhf_bench.core import support
from pyhf_bench.core.files import atomic_file
from pyhf_bench.core.synthetic import make_spec
from pyhf_bench.likelihoods.inference import Problem

STEPS = ("logpdf", "value_and_grad", "fit", "fixed_poi_fit", "hypotest", "upper_limit")
TOP_N = 25
#: Profile at least this long (repeating a short step), so cProfile's timings resolve it.
MIN_PROFILED_S = 0.3
MAX_CALLS = 10_000


def _problem(name: str, rt_args: dict, patch: str | None):
    """Activate the backend and build the Problem for NAME; returns (runtime, problem, label)."""
    if name.startswith("synthetic:"):
        size = name.split(":", 1)[1]
        if not size.isdigit() or int(size) < 1:
            raise UserError(f"bad model {name!r}; give synthetic:N with N bins, e.g. synthetic:100")
        rt = _activate(**rt_args)
        return rt, Problem.from_spec(rt, make_spec(int(size))), f"synthetic model, {size} bins"
    lk_name, region = likelihoods.split_key(name)
    lk = likelihoods.load(lk_name, region, patch)
    settings = lk.fit_settings(rt_args["optimizer"]) if hasattr(lk, "fit_settings") else None
    rt = _activate(**rt_args, **({"optimizer_options": settings} if settings else {}))
    return rt, Problem.from_likelihood(rt, lk), lk.label


def _activate(backend, device, precision, optimizer, optimizer_options=None):
    try:
        if optimizer_options:
            return support.activate(backend, device, precision, optimizer, optimizer_options)
        return support.activate(backend, device, precision, optimizer)
    except support.Skip as exc:
        raise UserError(f"cannot run {backend}/{device}/{precision} here: {exc}") from None


def _step(problem, step: str):
    if step == "value_and_grad":
        function = problem.value_and_grad_function()
        return lambda: problem.value_and_grad(function)
    if step in ("hypotest", "upper_limit", "fixed_poi_fit") and problem.model.config.poi_index is None:
        raise UserError(f"--step {step} needs a parameter of interest; this model is background-only")
    return getattr(problem, step)


def _function_name(func: tuple) -> str:
    filename, line, name = func
    if filename == "~":
        return name  # a builtin such as <built-in method numpy...>
    parts = Path(filename).parts
    # Shorten site-packages paths to the package-relative part (pyhf/pdf.py).
    for marker in ("site-packages", "dist-packages", "src"):
        if marker in parts:
            parts = parts[len(parts) - parts[::-1].index(marker):]
            break
    return f"{'/'.join(parts)}:{line}({name})"


def profile_step(name: str, backend: str, device: str, precision: str, step: str, out: Path,
                 optimizer: str = "scipy", patch: str | None = None, calls: int | None = None) -> dict:
    """Profile the second call of *step* and write the files listed in the module docstring into *out*."""
    if step not in STEPS:
        raise UserError(f"unknown step {step!r}; choose one of: {', '.join(STEPS)}")
    for kind, value in (("backend", backend), ("device", device), ("precision", precision), ("optimizer", optimizer)):
        support.check_choice(kind, value)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory")
    out.mkdir(parents=True, exist_ok=True)
    rt_args = dict(backend=backend, device=device, precision=precision, optimizer=optimizer)
    rt, problem, label = _problem(name, rt_args, patch)
    call = _step(problem, step)

    try:
        support.warm_up(rt, call, f"the {step}")  # compilation and caches: never profiled
    except support.Skip as exc:
        raise UserError(str(exc)) from None
    start = time.perf_counter()
    call()
    unprofiled = time.perf_counter() - start
    if calls is None:
        calls = min(MAX_CALLS, max(1, int(MIN_PROFILED_S / max(unprofiled, 1e-9)) + 1))
    elif calls < 1:
        raise UserError(f"--calls {calls}: give at least 1")
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    profiled = (time.perf_counter() - start) / calls

    with atomic_file(out / "profile.pstats", "wb") as fh:
        profiler.create_stats()
        marshal.dump(profiler.stats, fh)  # the format pstats.Stats(path) reads
    stats = pstats.Stats(profiler)
    listing = io.StringIO()
    header = (f"{label}: {step} with {backend}/{device}/{precision}/{optimizer}, pyhf {rt.pyhf_version}\n"
              f"{calls} call(s) after a warm-up call: {profiled * 1e3:.3f} ms per call under cProfile, "
              f"{unprofiled * 1e3:.3f} ms without; the times below are totals over the {calls} call(s)\n\n")
    listing.write(header)
    stats.stream = listing
    stats.sort_stats("cumulative").print_stats(60)
    listing.write("\n")
    stats.sort_stats("tottime").print_stats(30)
    with atomic_file(out / "profile.txt") as fh:
        fh.write(listing.getvalue())

    flame_note = _flamegraph(out / "profile.pstats", out / "flamegraph.svg")
    rows = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)
    # Per profiled step call, so the numbers compare with the benchmarks' per-call times.
    top = [{"function": _function_name(func), "ncalls_per_call": round(nc / calls, 2),
            "cumtime_s": ct / calls, "tottime_s": tt / calls} for func, (cc, nc, tt, ct, _) in rows[:TOP_N]]
    summary = {
        "name": name, "label": label, "step": step, "backend": backend, "device": device, "precision": precision,
        "optimizer": optimizer, "pyhf_version": rt.pyhf_version, "profiled_wall_s": profiled,
        "unprofiled_wall_s": unprofiled, "profiled_calls": calls, "top_cumulative": top, "flamegraph": flame_note,
    }
    with atomic_file(out / "profile.json") as fh:
        json.dump(summary, fh, indent=2)
    return summary


def _flamegraph(pstats_file: Path, path: Path) -> str:
    try:
        import flameprof  # optional (the report extra)
    except ImportError:
        return "not drawn: flameprof is not installed (pip install flameprof)"
    text = io.StringIO()
    try:
        flameprof.render(pstats.Stats(str(pstats_file)).stats, text, width=1400)
    except (ZeroDivisionError, ValueError, KeyError) as exc:  # flameprof's root finding on odd profiles
        return f"not drawn: flameprof failed ({type(exc).__name__}: {exc})"
    with atomic_file(path) as fh:
        fh.write(text.getvalue())
    return path.name
