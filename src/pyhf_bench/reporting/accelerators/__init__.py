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

This module is the model (predictions, crossovers, the calibration, measured times
merged beside predictions); :mod:`.timing` measures this CPU and times the steps on a
device, :mod:`.plots` draws the figures and :mod:`.page` writes ``docs/accelerators.md``.
The subcommands (``cpu-figures``, ``predict``, ``measure``, ``calibrate``, ``merge``,
``zigzag``, ``plot``, ``docs``) are :mod:`pyhf_bench.cli.accelerators`'.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from statistics import median

from pyhf_bench import UserError
from pyhf_bench.core.files import atomic_file

FORMAT = 1
JITTED = ("value_and_grad", "fit_step")
EAGER = ("logpdf", "batched_logpdf", "interpolate_0", "interpolate_4p")
#: Which axis each operation's crossover is read along.
AXIS = {"logpdf": "bins", "value_and_grad": "bins", "fit_step": "bins", "batched_logpdf": "batch",
        "interpolate_0": "interpolator", "interpolate_4p": "interpolator"}


def device_specs() -> dict:
    """The device inputs (``accelerators.json``), keyed by device name."""
    return json.loads(resources.files("pyhf_bench.reporting").joinpath("accelerators.json").read_text())["devices"]


def read_json(path, what: str, command: str) -> dict:
    """The JSON file at *path*; missing or broken, one UserError line naming the *command* that writes the *what*."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; write the {what} with `{command}`") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not JSON ({exc}); regenerate the {what} with `{command}`") from None


def write_json(path: Path, data: dict) -> None:
    """Write *data* to *path* atomically (indented JSON); the folder must exist."""
    if not path.parent.is_dir():
        raise UserError(f"{path.parent} does not exist; create it or choose another output path")
    with atomic_file(path) as fh:
        fh.write(json.dumps(data, indent=1) + "\n")


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


def summarize(rows: list[dict], specs: dict) -> list[dict]:
    """Per device, operation and precision along its axis: the crossover, the speed-ups and bounds at the
    smallest and largest sizes, and (64b rows) what 64b costs against 32b at the largest size."""
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
    return summary


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
    summary = summarize(rows, specs)
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


# --------------------------------------------------------------------------- measured beside predicted


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


