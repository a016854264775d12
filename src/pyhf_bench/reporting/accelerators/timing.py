"""Measured times for the accelerator model: this CPU's figures, and the cost table's steps timed on a device.

:func:`measure_cpu` is ``accelerators cpu-figures``; :func:`measure` times the predicted
steps in a fresh interpreter per precision (pyhf switches backends globally) and writes
them beside the predictions; :func:`zigzag` sweeps the interpolators repeatedly (pyhf #301).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

from pyhf_bench import UserError
from pyhf_bench.asvtools.costs import models as models_of
from pyhf_bench.asvtools.costs import step_functions
from pyhf_bench.asvtools.envinfo import machine_description
from pyhf_bench.core.support import Skip, activate
from pyhf_bench.reporting.accelerators import FORMAT, JITTED, check_predictions, merge


def _best(fn, repeat: int = 5, number: int = 1) -> float:
    """Best of *repeat* timings of *number* calls, per call (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def measure_cpu() -> dict:
    """This CPU's figures for the model: matmul peak, memory bandwidth, exp rate, dispatch latencies.

    Single-process, with whatever threads ``OMP_NUM_THREADS`` allows (the
    benchmarks' setting).  Best-of timings: the model wants what the machine
    can do, not what a neighbour's load leaves of it.
    """
    import numpy as np  # heavy: kept out of the command line's import

    figures: dict = {}
    for precision, dtype in (("64b", np.float64), ("32b", np.float32)):
        n = 1024
        a = np.random.default_rng(0).random((n, n)).astype(dtype)
        seconds = _best(lambda: a @ a, repeat=5)
        figures.setdefault("peak_flops", {})[precision] = 2 * n**3 / seconds
        x = np.random.default_rng(1).random(1 << 20).astype(dtype) * 0.1
        out = np.empty_like(x)
        seconds = _best(lambda: np.exp(x, out=out), repeat=7)
        figures.setdefault("exp_per_second", {})[precision] = x.size / seconds
    big = np.ones(1 << 25)  # 256 MiB: far past every cache
    dest = np.empty_like(big)
    seconds = _best(lambda: np.copyto(dest, big), repeat=5)
    figures["bandwidth"] = 2 * big.nbytes / seconds  # read + write
    del big, dest
    small = np.ones(10)
    figures["numpy_dispatch"] = _best(lambda: np.add(small, small), repeat=7, number=2000)

    import jax  # heavy, and optional (the backends extra)
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    xs = jnp.ones(10)
    jnp.add(xs, xs).block_until_ready()
    figures["eager_dispatch"] = _best(lambda: jnp.add(xs, xs).block_until_ready(), repeat=7, number=500)
    step = jax.jit(lambda v: v * 2.0 + 1.0)
    step(xs).block_until_ready()
    figures["jit_call"] = _best(lambda: step(xs).block_until_ready(), repeat=7, number=500)

    import torch  # heavy, and optional (the backends extra)

    ts = torch.ones(10, dtype=torch.float64)
    figures["torch_dispatch"] = _best(lambda: torch.add(ts, ts), repeat=7, number=2000)

    return {
        "format": FORMAT,
        "about": (
            "This CPU's figures for the accelerator model (pyhf-bench accelerators cpu-figures): peak_flops from "
            "a 1024x1024 matmul, bandwidth from a 256 MiB copy (read + write), exp_per_second from numpy.exp over "
            "1M values, eager_dispatch = one jnp.add of 10 values with block_until_ready, jit_call = one call of a "
            "jitted 10-value function, numpy_dispatch / torch_dispatch = one add of 10 values; seconds, best of "
            "several runs."
        ),
        "machine": machine_description(),
        "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "versions": {"numpy": np.__version__, "jax": jax.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "figures": figures,
    }


# --------------------------------------------------------------------------- measuring on a device

_TIMER = r"""
import json, time, warnings
warnings.simplefilter("ignore")
from pyhf_bench.reporting.accelerators.timing import time_steps
print("@@" + json.dumps(time_steps(DEVICE, PRECISION, SIZES, BATCHES, LIKELIHOODS, INTERP, BUDGET)))
"""


def time_steps(device: str, precision: str, sizes, batches, likelihoods, interp_bins, budget: float) -> dict:
    """Seconds per call of each step, JAX on *device*, for the models of the cost table (in this process).

    The steps are the cost table's (:func:`pyhf_bench.asvtools.costs.step_functions`),
    called as the benchmarks call them: ``logpdf`` eagerly, the gradient
    jitted, a fit step from a host vector with the result read back to the
    host (what scipy does).  Each is called once first (compilation), then the
    best of a few repeats is kept.  Stops starting new models after *budget*
    seconds; what was left out is listed.
    """
    import numpy as np  # heavy: kept out of the command line's import

    start = time.monotonic()
    try:
        rt = activate("jax", device, precision)
    except Skip as exc:
        return {"device": device, "precision": precision, "skipped": str(exc), "rows": []}
    rows, left_out = [], []
    for label, kind, size, build in models_of(sizes, batches, likelihoods, interp_bins):
        if time.monotonic() - start > budget:
            left_out.append(label)
            continue
        try:
            problem = build(rt)
        except UserError as exc:
            left_out.append(f"{label} ({exc})")
            continue
        steps = dict(step_functions(problem))
        if kind == "interpolator":
            # pyhf #301: the interpolator also jitted, one program instead of its eager primitives.
            import jax  # heavy; this process runs JAX only

            (name, eager), = steps.items()
            steps[f"{name}_jit"] = jax.jit(eager)
        for operation, function in steps.items():
            if operation == "fit_step":
                host = np.asarray(problem.model.config.suggested_init(), dtype="float64" if precision == "64b" else "float32")

                def call(function=function, host=host):
                    value, grad = function(host)
                    return np.asarray(value), np.asarray(grad)  # what scipy reads back each step
            elif operation in JITTED:
                def call(function=function):
                    return rt.synchronize(function(problem.pars))
            else:
                def call(function=function):
                    with rt.scope():
                        return rt.synchronize(function(problem.pars))
            call()  # compile / warm up
            once = _best(call, repeat=1)
            number = max(1, min(200, int(0.05 / max(once, 1e-9))))
            seconds = _best(call, repeat=5, number=number)
            row = {"operation": operation, "precision": precision, "model": label, "kind": kind, "seconds": seconds}
            if size is not None:
                row["size"] = size
            rows.append(row)
    return {"device": device, "precision": precision, "rows": rows, "left_out": left_out}


def measure(device: str, predictions: dict, spec: str, precisions=("64b", "32b"), max_bins: int | None = None,
            budget: float = 400.0, timeout: float = 900.0) -> dict:
    """Time the predicted steps on *device* (fresh interpreter per precision); merge beside the predictions.

    *spec*: the device of the predictions the times are compared with
    (``cpu`` for this CPU, or a name in ``accelerators.json``).
    """
    check_predictions(predictions)
    rows = predictions["rows"]
    if spec != "cpu" and spec not in predictions["inputs"]["devices"]:
        raise UserError(f"unknown spec {spec!r}; choose cpu or one of: {', '.join(predictions['inputs']['devices'])}")
    sizes = sorted({r["size"] for r in rows if r["kind"] == "bins" and (max_bins is None or r["size"] <= max_bins)})
    batches = sorted({r["size"] for r in rows if r["kind"] == "batch"})
    likelihoods = sorted({r["model"] for r in rows if r["kind"] == "likelihood"})
    interp_bins = sorted({r["size"] for r in rows if r["kind"] == "interpolator"})
    measured, notes = [], []
    for precision in precisions:
        code = (_TIMER.replace("DEVICE", repr(device)).replace("PRECISION", repr(precision))
                .replace("SIZES", repr(tuple(sizes))).replace("BATCHES", repr(tuple(batches)))
                .replace("LIKELIHOODS", repr(tuple(likelihoods))).replace("INTERP", repr(tuple(interp_bins)))
                .replace("BUDGET", repr(budget / len(precisions))))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            notes.append(f"{precision}: timed out after {timeout:g} s")
            continue
        result = next((json.loads(line[2:]) for line in proc.stdout.splitlines() if line.startswith("@@")), None)
        if result is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            notes.append(f"{precision}: exit {proc.returncode}: {tail[0]}")
            continue
        if result.get("skipped"):
            notes.append(f"{precision}: skipped: {result['skipped']}")
        if result.get("left_out"):
            notes.append(f"{precision}: left out (time budget or data): {', '.join(result['left_out'])}")
        measured.extend(result["rows"])
    return merge(predictions, measured, device, spec, notes)


# --------------------------------------------------------------------------- the #301 zig-zag

_REPEATS = r"""
import json, warnings
warnings.simplefilter("ignore")
from pyhf_bench.reporting.accelerators.timing import time_steps
runs = [time_steps(DEVICE, PRECISION, (), (), (), BINS, 1e9) for _ in range(REPEATS)]
print("@@" + json.dumps(runs))
"""


def zigzag(device: str, precision: str, bins, repeats: int = 3, timeout: float = 900.0) -> dict:
    """The interpolators (pyhf #301) timed *repeats* times over *bins*: is the shape over size reproducible?

    For each code, the signs of the differences between neighbouring sizes
    are compared between runs: a zig-zag made by the sizes repeats its signs,
    one made by the machine does not.
    """
    code = (_REPEATS.replace("DEVICE", repr(device)).replace("PRECISION", repr(precision))
            .replace("BINS", repr(tuple(bins))).replace("REPEATS", str(int(repeats))))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    runs = next((json.loads(line[2:]) for line in proc.stdout.splitlines() if line.startswith("@@")), None)
    if runs is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"timing the interpolators on {device} failed (exit {proc.returncode}): {tail[0]}; "
                        "run `pyhf-bench gpu-check` to see whether the device works")
    if any(run.get("skipped") for run in runs):
        raise UserError(f"jax cannot use {device} here: {runs[0]['skipped']}")
    series: dict = {}
    for run in runs:
        for row in run["rows"]:
            series.setdefault(row["operation"], {}).setdefault(row["size"], []).append(row["seconds"])
    codes = {}
    for operation, by_size in sorted(series.items()):
        sizes = sorted(by_size)
        signs = [[(by_size[b][i] > by_size[a][i]) - (by_size[b][i] < by_size[a][i]) for a, b in zip(sizes, sizes[1:])]
                 for i in range(repeats)]
        agree = sum(1 for k in range(len(sizes) - 1) if len({run[k] for run in signs}) == 1)
        spread = [max(v) / min(v) for v in by_size.values()]
        codes[operation] = {
            "sizes": sizes,
            "seconds": [by_size[n] for n in sizes],
            "neighbour_steps": len(sizes) - 1,
            "neighbour_steps_same_sign_in_every_run": agree,
            "median_max_over_min_per_size": sorted(spread)[len(spread) // 2],
        }
    return {
        "format": FORMAT,
        "about": ("pyhf's interpolators (10 systematics) timed repeatedly over bins (pyhf-bench accelerators zigzag, "
                  "pyhf #301): seconds per call per run; a shape over size that the sizes make repeats its "
                  "neighbour-to-neighbour signs in every run."),
        "device": device,
        "precision": precision,
        "repeats": repeats,
        "operations": codes,
    }


