"""``pyhf-bench accelerators``: GPUs and TPUs on paper, until one is lent, and the check when it is.

The time model, for one call of one step (counts from :mod:`pyhf_bench.asvtools.costs`,
device figures from ``accelerators.json``, this CPU's from ``cpu-figures``)::

    roofline = max(flops / peak_flops, bytes / bandwidth)
    jitted step (value_and_grad, fit_step), on a device:
        t = jit_call + kernels x launch + roofline + transfers
    eager step (pyhf's logpdf is not jitted: each primitive is its own dispatch), on a device:
        t = max(dispatches x eager_dispatch, dispatches x launch + roofline(unfused bytes))
    on this CPU (the host runs the work itself, nothing overlaps):
        t = jit_call + roofline              (jitted)
        t = dispatches x eager_dispatch + roofline(unfused bytes)   (eager)
    transfers = copies x transfer_latency + copied bytes / host_link_bandwidth   (a fit's optimizer
        runs on the host: pars go to the device and the value and gradient come back every step)

``jit_call`` and ``eager_dispatch`` are the host's costs of one jitted call
and of one eagerly dispatched primitive; a device's host pays them too.
``cpu-figures`` measures them with micro-benchmarks; ``calibrate`` fits
``eager_dispatch`` (per step) and XLA:CPU's per-kernel cost to this CPU's
measured step times at the smallest sizes, where the work is negligible.  A
TPU runs a jitted step as one program (as does a GPU replaying a CUDA graph):
one launch, plus a minimum time per kernel.  On a TPU, 64b is emulated: the
flops are multiplied by the device's ``f64_emulation_factor`` (the bytes are
the 64b bytes).

Subcommands: ``cpu-figures`` (measure this CPU), ``predict`` (predictions
from the cost table), ``measure`` (time the same steps on a device and write
the times beside the predictions), ``calibrate`` and ``merge`` (fit the host
costs; put earlier times beside newer predictions), ``zigzag`` (pyhf #301:
the interpolators swept repeatedly), ``plot`` and ``docs`` (the page).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file
from pyhf_bench.reporting.report import save_figure

FORMAT = 1
JITTED = ("value_and_grad", "fit_step")
EAGER = ("logpdf", "batched_logpdf", "interpolate_0", "interpolate_4p")
#: Which axis each operation's crossover is read along.
AXIS = {"logpdf": "bins", "value_and_grad": "bins", "fit_step": "bins", "batched_logpdf": "batch",
        "interpolate_0": "interpolator", "interpolate_4p": "interpolator"}


def device_specs() -> dict:
    """The device inputs (``accelerators.json``), keyed by device name."""
    return json.loads(resources.files("pyhf_bench.reporting").joinpath("accelerators.json").read_text())["devices"]


def _read_json(path, what: str, command: str) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; write the {what} with `{command}`") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not JSON ({exc}); regenerate the {what} with `{command}`") from None


def _write_json(path: Path, data: dict) -> None:
    if not path.parent.is_dir():
        raise UserError(f"{path.parent} does not exist; create it or choose another output path")
    with atomic_file(path) as fh:
        fh.write(json.dumps(data, indent=1) + "\n")


# --------------------------------------------------------------------------- this CPU


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
    import numpy as np

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

    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    xs = jnp.ones(10)
    jnp.add(xs, xs).block_until_ready()
    figures["eager_dispatch"] = _best(lambda: jnp.add(xs, xs).block_until_ready(), repeat=7, number=500)
    step = jax.jit(lambda v: v * 2.0 + 1.0)
    step(xs).block_until_ready()
    figures["jit_call"] = _best(lambda: step(xs).block_until_ready(), repeat=7, number=500)

    import torch

    ts = torch.ones(10, dtype=torch.float64)
    figures["torch_dispatch"] = _best(lambda: torch.add(ts, ts), repeat=7, number=2000)

    import platform

    from pyhf_bench.asvtools.envinfo import machine_description

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


# --------------------------------------------------------------------------- the model


def roofline(flops: float, bytes_: float, peak: float, bandwidth: float) -> float:
    return max(flops / peak, bytes_ / bandwidth)


def eager_dispatch(row: dict, host: dict) -> float:
    """The host's cost per eager primitive of *row*'s step: calibrated where known, else the micro-benchmark."""
    return host.get("calibration", {}).get("eager_dispatch", {}).get(row["operation"], host["eager_dispatch"])


def device_seconds(row: dict, device: dict, host: dict) -> dict:
    """Predicted seconds of one cost-table row (jax counts) on *device*, with its parts."""
    precision = row["precision"]
    flops = row["flops"] + row["transcendentals"]
    if precision == "64b" and device.get("f64_emulation_factor"):
        flops *= device["f64_emulation_factor"]
    peak, bandwidth = device["peak_flops"][precision], device["bandwidth"]
    transfers = row["host_transfers"] * device["transfer_latency"] + row["host_transfer_bytes"] / device["host_link_bandwidth"]
    if row["operation"] in JITTED:
        work = roofline(flops, row["bytes_accessed"], peak, bandwidth)
        if device.get("kernel_launches", True):
            launches = row["kernels"] * device["launch_latency"]
        else:  # one program: one launch, and each kernel still takes its minimum time in it
            launches = device["launch_latency"] + row["kernels"] * device.get("kernel_in_program_latency", 0.0)
        latency = host["jit_call"] + launches
        seconds = latency + work + transfers
    else:
        work = roofline(flops, row["unfused_bytes_accessed"], peak, bandwidth)
        dispatches = row["eager_dispatches"]
        host_side = dispatches * eager_dispatch(row, host)
        device_side = dispatches * device["launch_latency"] + work
        seconds = max(host_side, device_side) + transfers
    return {"seconds": seconds, "work_seconds": work, "bound": _bound(seconds, work, transfers, flops / peak)}


def cpu_seconds(row: dict, cpu: dict) -> dict:
    """Predicted seconds of one cost-table row on this CPU (its measured figures)."""
    precision = row["precision"]
    compute = row["flops"] / cpu["peak_flops"][precision] + row["transcendentals"] / cpu["exp_per_second"][precision]
    if row["operation"] in JITTED:
        work = max(compute, row["bytes_accessed"] / cpu["bandwidth"])
        seconds = cpu["jit_call"] + row["kernels"] * cpu.get("calibration", {}).get("cpu_kernel", 0.0) + work
    else:
        work = max(compute, row["unfused_bytes_accessed"] / cpu["bandwidth"])
        seconds = row["eager_dispatches"] * eager_dispatch(row, cpu) + work
    return {"seconds": seconds, "work_seconds": work, "bound": _bound(seconds, work, 0.0, compute)}


def _bound(seconds: float, work: float, transfers: float, compute: float) -> str:
    """What dominates a prediction: 'bandwidth' or 'compute' (the roofline's larger term), 'transfers'
    or 'latency' (launches and dispatches)."""
    parts = {"work": work, "transfers": transfers, "latency": max(seconds - work - transfers, 0.0)}
    bound = max(parts, key=parts.get)
    if bound == "work":
        return "compute" if compute >= work else "bandwidth"
    return bound


#: The device "beats" the CPU where it is predicted at least this much faster: a model of
#: latencies cannot tell apart two times closer than that (an eager step on a device and on
#: the CPU both pay the same host dispatches, so at small sizes they tie).
MARGIN = 1.25


def crossover(points: list[tuple[float, float, float]], margin: float = MARGIN) -> dict:
    """Where the device starts to beat the CPU along one axis: points (size, t_cpu, t_device), ascending.

    Beating means ``t_cpu / t_device >= margin``.  ``size``: log-log
    interpolated between the last grid size below the margin and the first at
    or above it; None when the device never gets there in the table, the
    smallest size when it is there from the start.
    """
    points = sorted(points)
    for i, (size, t_cpu, t_dev) in enumerate(points):
        if t_cpu / t_dev >= margin:
            if i == 0:
                return {"size": size, "status": "device faster from the smallest size"}
            s0, c0, d0 = points[i - 1]
            r0, r1 = math.log(c0 / d0 / margin), math.log(t_cpu / t_dev / margin)
            frac = r0 / (r0 - r1) if r0 != r1 else 1.0
            estimate = math.exp(math.log(s0) + frac * (math.log(size) - math.log(s0)))
            return {"size": estimate, "status": f"between {s0:g} and {size:g}", "first_grid_size": size}
    status = f"device not {margin:g}x faster up to the largest size ({points[-1][0]:g})" if points else "no data"
    return {"size": None, "status": status}


def predict(costs: dict, cpu: dict, specs: dict | None = None, calibration: dict | None = None) -> dict:
    """Predictions for every JAX row of the cost table on this CPU and on every device of *specs*.

    *calibration* (:func:`calibrate`): host costs fitted to this CPU's measured times; without it the
    micro-benchmarks of ``cpu-figures`` stand for them.
    """
    specs = device_specs() if specs is None else specs
    figures = dict(cpu["figures"])
    if calibration is not None:
        figures["calibration"] = calibration
    rows = []
    for row in costs["rows"]:
        if row.get("backend") != "jax" or "operation" not in row:
            continue
        key = {k: row[k] for k in ("operation", "precision", "model", "kind", "n_bins", "batch_size", "n_parameters",
                                   "kernels", "eager_dispatches")}
        if "size" in row:
            key["size"] = row["size"]
        out = {**key, "cpu": cpu_seconds(row, figures)}
        for name, device in specs.items():
            out[name] = device_seconds(row, device, figures)
        rows.append(out)
    summary = []
    for name in specs:
        for operation in AXIS:
            for precision in ("64b", "32b"):
                along = [r for r in rows if r["operation"] == operation and r["precision"] == precision
                         and r["kind"] == AXIS[operation] and "size" in r]
                if not along:
                    continue
                points = [(r["size"], r["cpu"]["seconds"], r[name]["seconds"]) for r in along]
                largest = max(along, key=lambda r: r["size"])
                smallest = min(along, key=lambda r: r["size"])
                summary.append({
                    "device": name, "operation": operation, "precision": precision, "axis": AXIS[operation],
                    "crossover": crossover(points),
                    "largest_size": largest["size"],
                    "speedup_at_largest": largest["cpu"]["seconds"] / largest[name]["seconds"],
                    "speedup_at_smallest": smallest["cpu"]["seconds"] / smallest[name]["seconds"],
                    "bound_at_largest": largest[name]["bound"],
                    "bound_at_smallest": smallest[name]["bound"],
                })
    for item in summary:
        other = next((s for s in summary if s["device"] == item["device"] and s["operation"] == item["operation"]
                      and s["precision"] != item["precision"]), None)
        if item["precision"] == "64b" and other is not None:
            d64 = next(r for r in rows if r["operation"] == item["operation"] and r["precision"] == "64b"
                       and r.get("size") == item["largest_size"] and r["kind"] == item["axis"])
            d32 = next(r for r in rows if r["operation"] == item["operation"] and r["precision"] == "32b"
                       and r.get("size") == item["largest_size"] and r["kind"] == item["axis"])
            item["cost_of_64b_at_largest"] = d64[item["device"]]["seconds"] / d32[item["device"]]["seconds"]
    return {
        "format": FORMAT,
        "about": (
            "Predicted seconds per call (pyhf-bench accelerators predict) of each JAX step of the cost table on this "
            "CPU and on each device, from the model in pyhf_bench/accelerators.py; 'summary': per device, operation "
            "and precision, the crossover size from which the device is predicted at least 'margin' times faster "
            "than this CPU, the speed-ups at the smallest and largest sizes, "
            "what bounds the device's time there, and what 64b costs against 32b at the largest size."
        ),
        "model": {
            "roofline": "max(flops / peak_flops, bytes / bandwidth)",
            "jitted_device": "jit_call + kernels * launch_latency + roofline + transfers",
            "eager_device": "max(dispatches * eager_dispatch, dispatches * launch_latency + roofline(unfused bytes)) + transfers",
            "jitted_cpu": "jit_call + kernels * cpu_kernel + max(flops / peak_flops + transcendentals / exp_per_second, bytes / bandwidth)",
            "eager_dispatch": "per operation, fitted to this CPU's measured times at the smallest sizes (calibration); else one jnp.add",
            "eager_cpu": "dispatches * eager_dispatch + max(flops / peak_flops + transcendentals / exp_per_second, unfused bytes / bandwidth)",
            "transfers": "host_transfers * transfer_latency + host_transfer_bytes / host_link_bandwidth",
            "one_program": "devices with kernel_launches false (a TPU; an H100 replaying a CUDA graph): kernels * launch_latency "
                           "becomes launch_latency + kernels * kernel_in_program_latency",
            "tpu": "64b flops x f64_emulation_factor",
        },
        "inputs": {"cpu": cpu, "devices": specs, "calibration": calibration, "costs_versions": costs.get("versions", {})},
        "margin": MARGIN,
        "rows": rows,
        "summary": summary,
    }


def check_predictions(predictions: dict) -> None:
    """Raise UserError unless *predictions* is a well-formed predictions file."""
    if not isinstance(predictions, dict) or predictions.get("format") != FORMAT:
        raise UserError(f"not an accelerator predictions file of format {FORMAT}; regenerate it with `pyhf-bench accelerators predict`")
    for key in ("rows", "summary", "inputs"):
        if key not in predictions:
            raise UserError(f"the predictions file lacks {key!r}; regenerate it with `pyhf-bench accelerators predict`")


# --------------------------------------------------------------------------- calibration on this CPU


def calibrate(measured: dict, costs: dict, cpu: dict, smallest: int = 2) -> dict:
    """Host costs fitted to this CPU's measured times (a ``measure --device cpu`` file), at small sizes.

    The micro-benchmarks of ``cpu-figures`` (one ``jnp.add``, one tiny jitted
    call) understate what pyhf's steps pay per primitive: its eager
    primitives are einsums, wheres and conversions with their own Python.
    Where the work is negligible (the *smallest* sizes of each axis, and the
    published likelihoods), a step's time is its latency alone:

    * ``eager_dispatch[op]``: measured seconds / eager dispatches, median per
      operation (both precisions) -- the host's cost per primitive, which a
      device's host pays too;
    * ``cpu_kernel``: (measured - jit_call) / kernels of the jitted steps,
      median -- what XLA:CPU spends per kernel beyond the work (the CPU's
      counterpart of a launch).

    The sizes above the smallest are left for the check: there the model's
    work terms, not the fit, meet the measurements.
    """
    from statistics import median

    rows = [r for r in measured["rows"] if r.get("measured_seconds")]
    if measured.get("device") != "cpu" or not rows:
        raise UserError("calibration needs a `pyhf-bench accelerators measure --device cpu` file with measured rows")
    by_axis: dict = {}
    for r in rows:
        if "size" in r:
            by_axis.setdefault((r["operation"], r["kind"]), set()).add(r["size"])
    small = {key: sorted(sizes)[:smallest] for key, sizes in by_axis.items()}
    used = [r for r in rows if r["kind"] == "likelihood" or r.get("size") in small.get((r["operation"], r["kind"]), ())]
    counts = {(r["operation"], r["precision"], r["model"]): r for r in costs["rows"]
              if r.get("backend") == "jax" and "operation" in r}
    jit_call = cpu["figures"]["jit_call"]
    eager: dict = {}
    kernel = []
    for r in used:
        c = counts.get((r["operation"], r["precision"], r["model"]))
        if c is None:
            continue
        if r["operation"] in JITTED:
            kernel.append((r["measured_seconds"] - jit_call) / c["kernels"])
        else:
            eager.setdefault(r["operation"], []).append(r["measured_seconds"] / c["eager_dispatches"])
    if not kernel or not eager:
        raise UserError("the cost table has none of the measured steps; measure with predictions made from it")
    return {
        "format": FORMAT,
        "about": "Host costs fitted to this CPU's measured step times at the smallest sizes (pyhf-bench accelerators calibrate).",
        "eager_dispatch": {op: median(values) for op, values in sorted(eager.items())},
        "cpu_kernel": max(median(kernel), 0.0),
        "rows_used": len(used),
        "smallest_sizes_used": smallest,
    }


# --------------------------------------------------------------------------- measuring on a device

_TIMER = r"""
import json, time, warnings
warnings.simplefilter("ignore")
from pyhf_bench.reporting.accelerators import time_steps
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
    import numpy as np

    from pyhf_bench.asvtools.costs import models as models_of
    from pyhf_bench.asvtools.costs import step_functions
    from pyhf_bench.core.runtime import activate
    from pyhf_bench.core.skip import Skip

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
            import jax

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


def merge(predictions: dict, measured: list[dict], device: str, spec: str, notes: list[str] | None = None) -> dict:
    """The predictions of *spec* with the measured seconds beside them (ratio measured / predicted)."""
    index = {(m["operation"], m["precision"], m["model"]): m["seconds"] for m in measured}
    # Variants of the same device (h100-sxm-graphs for h100-sxm: the other end of the bracket).
    variants = [name for name in predictions["inputs"]["devices"] if name.startswith(f"{spec}-")]
    rows = []
    for row in predictions["rows"]:
        predicted = row[spec]["seconds"]
        got = index.get((row["operation"], row["precision"], row["model"]))
        out = {k: row[k] for k in ("operation", "precision", "model", "kind", "n_bins", "batch_size") if k in row}
        if "size" in row:
            out["size"] = row["size"]
        out.update(predicted_seconds=predicted, cpu_predicted_seconds=row["cpu"]["seconds"], measured_seconds=got,
                   ratio=None if got is None else got / predicted)
        if variants:
            out["variants_predicted_seconds"] = {name: row[name]["seconds"] for name in variants}
        rows.append(out)
    done = [r for r in rows if r["ratio"] is not None]
    ratios = sorted(r["ratio"] for r in done)
    return {
        "format": FORMAT,
        "about": "Measured seconds per call beside the predicted ones (pyhf-bench accelerators measure); ratio = measured / predicted.",
        "device": device,
        "spec": spec,
        "measured": len(done),
        "predicted": len(rows),
        "median_ratio": ratios[len(ratios) // 2] if ratios else None,
        "notes": notes or [],
        "calibrated": predictions["inputs"].get("calibration") is not None,
        "rows": rows,
    }


# --------------------------------------------------------------------------- the #301 zig-zag

_REPEATS = r"""
import json, warnings
warnings.simplefilter("ignore")
from pyhf_bench.reporting.accelerators import time_steps
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


# --------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "font.size": 9, "axes.grid": True,
                         "grid.alpha": 0.3, "svg.hashsalt": "pyhf-bench", "svg.fonttype": "none"})
    return plt


PANELS = (("logpdf", "bins"), ("value_and_grad", "bins"), ("fit_step", "bins"), ("batched_logpdf", "batch"),
          ("interpolate_4p", "interpolator"))
XLABEL = {"bins": "model size (bins)", "batch": "batch (points per call, 100-bin model)",
          "interpolator": "bins (10 systematics)"}


def plot_costs(costs: dict, out: Path) -> list[Path]:
    """Work vs size, log-log: flops, bytes and kernels of each JAX step, per precision."""
    plt = _pyplot()
    metrics = (("flops", "flops"), ("bytes_accessed", "bytes accessed"), ("kernels", "kernels (optimised HLO)"))
    fig, axes = plt.subplots(len(metrics), len(PANELS), figsize=(18, 9), squeeze=False)
    for col, (operation, axis) in enumerate(PANELS):
        for row_i, (metric, label) in enumerate(metrics):
            ax = axes[row_i][col]
            for precision, style in (("64b", "-o"), ("32b", "--s")):
                pts = sorted((r["size"], r[metric]) for r in costs["rows"] if r.get("backend") == "jax"
                             and r.get("operation") == operation and r["precision"] == precision and r["kind"] == axis)
                if pts:
                    ax.plot(*zip(*pts), style, label=f"jax {precision}", ms=4)
            ax.set_xscale("log")
            ax.set_yscale("linear" if metric == "kernels" else "log")
            if row_i == 0:
                ax.set_title(operation)
            if row_i == len(metrics) - 1:
                ax.set_xlabel(XLABEL[axis])
            if col == 0:
                ax.set_ylabel(label)
            ax.legend(fontsize=7)
    fig.suptitle("Work per call as XLA counts it (CPU compiler), pyhf synthetic models")
    return save_figure(fig, out, "costs")


def plot_predictions(predictions: dict, out: Path, measured: list[dict] | None = None, stem: str = "predictions") -> list[Path]:
    """Predicted seconds per call vs size, log-log (lines), one panel per step; measured points where given."""
    plt = _pyplot()
    devices = ["cpu", *predictions["inputs"]["devices"]]
    palette = {"cpu": "#444444", "h100-sxm": "#3b75af", "h100-sxm-graphs": "#3b75af", "h100-pcie": "#86b4d8",
               "tpu-v5e": "#c0504d", "tpu-v5p": "#e6a04d"}
    colors = {name: palette.get(name, "#7f7f7f") for name in devices}
    fig, axes = plt.subplots(2, len(PANELS), figsize=(18, 7), squeeze=False)
    for col, (operation, axis) in enumerate(PANELS):
        for row_i, precision in enumerate(("64b", "32b")):
            ax = axes[row_i][col]
            along = sorted((r for r in predictions["rows"] if r["operation"] == operation and r["precision"] == precision
                            and r["kind"] == axis), key=lambda r: r["size"])
            for name in devices:
                if along:
                    ax.plot([r["size"] for r in along], [r[name]["seconds"] for r in along],
                            ":" if name.endswith("-graphs") else "-", color=colors[name], label=f"{name} (predicted)", lw=1.4)
            for merged in measured or []:
                pts = sorted((r["size"], r["measured_seconds"]) for r in merged["rows"] if r["operation"] == operation
                             and r["precision"] == precision and r["kind"] == axis and r.get("measured_seconds"))
                if pts:
                    ax.plot(*zip(*pts), "o", color=colors.get(merged["spec"], "black"), ms=5,
                            label=f"{merged['spec']} measured ({merged['device']})")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{operation}, {precision}")
            if row_i == 1:
                ax.set_xlabel(XLABEL[axis])
            if col == 0:
                ax.set_ylabel("seconds per call")
            if row_i == 0 and col == 0:
                ax.legend(fontsize=6)
    fig.suptitle("Predicted time per call (lines) and measured (points); JAX")
    return save_figure(fig, out, stem)


def plot_zigzag(result: dict, out: Path, stem: str = "zigzag") -> list[Path]:
    """Seconds per call over bins, one line per run, one panel per interpolator code."""
    plt = _pyplot()
    operations = result["operations"]
    fig, axes = plt.subplots(1, len(operations), figsize=(5.5 * len(operations), 3.6), squeeze=False)
    for ax, (operation, r) in zip(axes[0], operations.items()):
        for i in range(result["repeats"]):
            ax.plot(r["sizes"], [s[i] for s in r["seconds"]], "-o", ms=3, lw=1, label=f"run {i + 1}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("bins (10 systematics)")
        ax.set_ylabel("seconds per call (eager)")
        ax.set_title(f"{operation}, {result['precision']}, {result['device']}: "
                     f"{r['neighbour_steps_same_sign_in_every_run']}/{r['neighbour_steps']} steps repeat")
        ax.legend(fontsize=7)
    return save_figure(fig, out, stem)


# --------------------------------------------------------------------------- CLI


def _cmd_cpu_figures(args) -> int:
    result = measure_cpu()
    if args.out:
        _write_json(Path(args.out), result)
    print(json.dumps(result["figures"], indent=1))
    return 0


def _cmd_predict(args) -> int:
    from pyhf_bench.asvtools.costs import load_table

    costs = load_table(args.costs)
    cpu = _read_json(args.cpu_figures, "CPU figures", f"pyhf-bench accelerators cpu-figures --out {args.cpu_figures}")
    if "figures" not in cpu:
        raise UserError(f"{args.cpu_figures} holds no 'figures'; regenerate it with `pyhf-bench accelerators cpu-figures`")
    calibration = None
    if args.calibration:
        calibration = _read_json(args.calibration, "calibration", "pyhf-bench accelerators calibrate")
        if "eager_dispatch" not in calibration:
            raise UserError(f"{args.calibration} is not a calibration; write it with `pyhf-bench accelerators calibrate`")
    result = predict(costs, cpu, calibration=calibration)
    _write_json(Path(args.out), result)
    print(f"{len(result['rows'])} rows, {len(result['summary'])} summaries -> {args.out}")
    return 0


def _cmd_measure(args) -> int:
    predictions = _read_json(args.predictions, "predictions", "pyhf-bench accelerators predict")
    check_predictions(predictions)
    spec = args.spec or ("cpu" if args.device == "cpu" else None)
    if spec is None:
        raise UserError(f"--spec is needed for --device {args.device}: the device of accelerators.json the times are "
                        f"compared with, one of: {', '.join(predictions['inputs']['devices'])}")
    result = measure(args.device, predictions, spec, tuple(args.precision or ("64b", "32b")), args.max_bins, args.budget)
    _write_json(Path(args.out), result)
    print(f"{result['measured']} of {result['predicted']} predictions measured on {args.device}; median measured/"
          f"predicted {result['median_ratio']}" + "".join(f"\n  note: {n}" for n in result["notes"]))
    if result["measured"] == 0:
        raise UserError(f"nothing was measured on {args.device} ({'; '.join(result['notes']) or 'no rows'}); see the notes")
    return 0


def _cmd_calibrate(args) -> int:
    from pyhf_bench.asvtools.costs import load_table

    measured = _read_json(args.measured, "CPU measurement", "pyhf-bench accelerators measure --device cpu")
    cpu = _read_json(args.cpu_figures, "CPU figures", "pyhf-bench accelerators cpu-figures")
    result = calibrate(measured, load_table(args.costs), cpu, args.smallest)
    _write_json(Path(args.out), result)
    print(json.dumps({k: result[k] for k in ("eager_dispatch", "cpu_kernel", "rows_used")}, indent=1))
    return 0


def _cmd_merge(args) -> int:
    """Measured times of an earlier ``measure`` beside newer predictions (e.g. after calibrating)."""
    predictions = _read_json(args.predictions, "predictions", "pyhf-bench accelerators predict")
    check_predictions(predictions)
    old = _read_json(args.measured, "measured times", "pyhf-bench accelerators measure")
    measured = [{k: r[k] for k in ("operation", "precision", "model")} | {"seconds": r["measured_seconds"]}
                for r in old.get("rows", []) if r.get("measured_seconds")]
    if not measured:
        raise UserError(f"{args.measured} holds no measured times; write it with `pyhf-bench accelerators measure`")
    result = merge(predictions, measured, old["device"], old["spec"], old.get("notes"))
    _write_json(Path(args.out), result)
    print(f"{result['measured']} measured beside {result['predicted']} predictions; median measured/predicted "
          f"{result['median_ratio']}")
    return 0


def _cmd_zigzag(args) -> int:
    from pyhf_bench.asvtools.costs import INTERP_BINS

    result = zigzag(args.device, args.precision, INTERP_BINS, args.repeats)
    _write_json(Path(args.out), result)
    for operation, r in result["operations"].items():
        print(f"{operation}: {r['neighbour_steps_same_sign_in_every_run']} of {r['neighbour_steps']} neighbour steps "
              f"repeat their sign in all {result['repeats']} runs; median max/min per size {r['median_max_over_min_per_size']:.2f}")
    return 0


def _cmd_plot(args) -> int:
    from pyhf_bench.asvtools.costs import load_table

    out = Path(args.out)
    if not out.is_dir():
        raise UserError(f"{out} is not a directory; create it or choose another --out")
    paths = plot_costs(load_table(args.costs), out)
    predictions = _read_json(args.predictions, "predictions", "pyhf-bench accelerators predict")
    check_predictions(predictions)
    measured = [_read_json(m, "measured times", "pyhf-bench accelerators measure") for m in args.measured or ()]
    paths += plot_predictions(predictions, out, measured)
    for path in args.zigzag or ():
        result = _read_json(path, "interpolator repeats", "pyhf-bench accelerators zigzag")
        paths += plot_zigzag(result, out, f"zigzag-{result['device']}")
    for path in paths:
        print(path)
    return 0


def _cmd_docs(args) -> int:
    from pyhf_bench.asvtools.costs import load_table
    from pyhf_bench.reporting.acceleratorsdoc import render

    predictions = _read_json(args.predictions, "predictions", "pyhf-bench accelerators predict")
    check_predictions(predictions)
    measured = [(m, _read_json(m, "measured times", "pyhf-bench accelerators measure")) for m in args.measured or ()]
    zigzags = [_read_json(z, "interpolator repeats", "pyhf-bench accelerators zigzag") for z in args.zigzag or ()]
    uncalibrated = _read_json(args.uncalibrated, "measured times", "pyhf-bench accelerators merge") if args.uncalibrated else None
    text = render(load_table(args.costs), predictions, measured, args, zigzags, uncalibrated, crossover)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UserError(f"{out.parent} does not exist; create it or choose another --out")
    with atomic_file(out) as fh:
        fh.write(text)
    print(out)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("accelerators", help="GPU/TPU time model: CPU figures, predictions, device measurements, plots, docs")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("cpu-figures", help="measure this CPU's peak flops, bandwidth and dispatch latencies")
    a.add_argument("--out", help="write the JSON here")
    a.set_defaults(func=_cmd_cpu_figures)
    a = actions.add_parser("predict", help="predicted seconds per step on this CPU and each device, from the cost table")
    a.add_argument("--costs", default="docs/costs-cpu.json")
    a.add_argument("--cpu-figures", default="docs/cpu-figures-epyc-2core.json")
    a.add_argument("--calibration", help="host costs fitted to this CPU's times (`accelerators calibrate`)")
    a.add_argument("--out", default="docs/accelerator-predictions.json")
    a.set_defaults(func=_cmd_predict)
    a = actions.add_parser("calibrate", help="fit the host's per-primitive and per-kernel costs to a CPU measurement")
    a.add_argument("--measured", default="docs/accelerator-measured-cpu.json")
    a.add_argument("--costs", default="docs/costs-cpu.json")
    a.add_argument("--cpu-figures", default="docs/cpu-figures-epyc-2core.json")
    a.add_argument("--smallest", type=int, default=2, help="how many of each axis' smallest sizes to fit on")
    a.add_argument("--out", default="docs/cpu-calibration-epyc-2core.json")
    a.set_defaults(func=_cmd_calibrate)
    a = actions.add_parser("merge", help="an earlier measurement's times beside (newer) predictions")
    a.add_argument("--measured", required=True)
    a.add_argument("--predictions", default="docs/accelerator-predictions.json")
    a.add_argument("--out", required=True)
    a.set_defaults(func=_cmd_merge)
    a = actions.add_parser("measure", help="time the predicted steps (JAX) on a device; write them beside the predictions")
    a.add_argument("--device", default="gpu", choices=("cpu", "gpu", "tpu"))
    a.add_argument("--spec", help="the predicted device to compare with (default: cpu for --device cpu)")
    a.add_argument("--predictions", default="docs/accelerator-predictions.json")
    a.add_argument("--precision", action="append", choices=("64b", "32b"), help="repeatable (default: both)")
    a.add_argument("--max-bins", type=int, help="leave out synthetic models above this many bins")
    a.add_argument("--budget", type=float, default=400.0, help="seconds after which no new model is started")
    a.add_argument("--out", required=True)
    a.set_defaults(func=_cmd_measure)
    a = actions.add_parser("zigzag", help="time the interpolators repeatedly over bins (pyhf #301): does the shape repeat?")
    a.add_argument("--device", default="cpu", choices=("cpu", "gpu", "tpu"))
    a.add_argument("--precision", default="32b", choices=("64b", "32b"))
    a.add_argument("--repeats", type=int, default=3)
    a.add_argument("--out", required=True)
    a.set_defaults(func=_cmd_zigzag)
    a = actions.add_parser("plot", help="work vs size and predicted (lines) vs measured (points) times, PNG + SVG")
    a.add_argument("--costs", default="docs/costs-cpu.json")
    a.add_argument("--predictions", default="docs/accelerator-predictions.json")
    a.add_argument("--measured", action="append", help="a file of `accelerators measure`, repeatable")
    a.add_argument("--zigzag", action="append", help="a file of `accelerators zigzag`, repeatable")
    a.add_argument("--out", default="docs/accelerators")
    a.set_defaults(func=_cmd_plot)
    a = actions.add_parser("docs", help="write docs/accelerators.md from the committed JSON")
    a.add_argument("--costs", default="docs/costs-cpu.json")
    a.add_argument("--predictions", default="docs/accelerator-predictions.json")
    a.add_argument("--measured", action="append", help="a file of `accelerators measure`, repeatable")
    a.add_argument("--zigzag", action="append", help="a file of `accelerators zigzag`, repeatable")
    a.add_argument("--uncalibrated", help="a CPU measurement beside the uncalibrated predictions (`accelerators merge`)")
    a.add_argument("--figures", default="accelerators", help="the plots' folder, relative to the page")
    a.add_argument("--out", default="docs/accelerators.md")
    a.set_defaults(func=_cmd_docs)
