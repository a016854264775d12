"""The page ``docs/accelerators.md``, written from the committed JSON (``pyhf-bench accelerators docs``).

Every number on the page comes from the cost table, the CPU figures, the
device inputs or the predictions (and measured times, where given); the prose
around them is fixed text whose claims the numbers decide (e.g. which bound a
step hits is read from the predictions, not written in).
"""

from __future__ import annotations

from pathlib import Path

AXIS_KIND = {"logpdf": "bins", "value_and_grad": "bins", "fit_step": "bins", "batched_logpdf": "batch",
             "interpolate_0": "interpolator", "interpolate_4p": "interpolator"}

OPERATION_TEXT = {
    "logpdf": "`model.logpdf(pars, data)`, eager (pyhf does not jit it; `Logpdf` benchmarks)",
    "value_and_grad": "NLL and gradient, jitted (`NLLGradient`)",
    "fit_step": "one objective-and-gradient call of a fit, as pyhf's optimizer makes it (jitted; pars from and results to the host)",
    "batched_logpdf": "`logpdf` of the 100-bin model built with `batch_size` (`BatchedLogpdf`), eager",
    "interpolate_0": "pyhf's code-0 interpolator alone, 10 systematics (`Interpolators`), eager",
    "interpolate_4p": "pyhf's code-4p interpolator alone, 10 systematics (`Interpolators`), eager",
}


def _si(value: float | None, unit: str = "") -> str:
    """Engineering notation: 1.23 k, 45.6 M; seconds as us/ms/s."""
    if value is None:
        return "—"
    if unit == "s":
        for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if abs(value) >= scale or scale == 1e-9:
                return f"{value / scale:.3g} {name}"
    for scale, name in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {name}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def _rows(costs, backend, operation=None, kind=None, precision=None):
    return [r for r in costs["rows"] if r.get("backend") == backend and "missing" not in r
            and (operation is None or r.get("operation") == operation) and (kind is None or r["kind"] == kind)
            and (precision is None or r["precision"] == precision)]


def _find(costs, backend, operation, precision, model):
    for r in _rows(costs, backend, operation, precision=precision):
        if r["model"] == model:
            return r
    return None


def _size_label(row) -> str:
    if row["kind"] == "bins":
        return f"{row['size']:,} bins"
    if row["kind"] == "batch":
        return f"batch {row['size']:,}"
    if row["kind"] == "interpolator":
        return f"{row['size']:,} bins"
    return row["model"]


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def _cost_section(costs) -> list[str]:
    out = []
    for operation in OPERATION_TEXT:
        body = []
        for r64 in sorted(_rows(costs, "jax", operation, precision="64b"), key=lambda r: (r["kind"] != "bins", r["kind"], r.get("size") or 0, r["model"])):
            r32 = _find(costs, "jax", operation, "32b", r64["model"])
            t64 = _find(costs, "pytorch", operation, "64b", r64["model"])
            body.append([
                _size_label(r64), f"{r64['n_parameters']:,}", _si(r64["flops"]), _si(r64["transcendentals"]),
                _si(r64["bytes_accessed"], "B"), _si(r32["bytes_accessed"], "B") if r32 else "—",
                _si(r64["unfused_bytes_accessed"], "B"), str(r64["kernels"]), str(r64["fusions"]),
                str(r64["eager_dispatches"]),
                _si(t64["matmul_flops"]) if t64 else "—", str(t64["torch_calls"]) if t64 else "—",
            ])
        out += [f"### {operation}: {OPERATION_TEXT[operation]}", ""]
        if operation == "fit_step":
            rows = _rows(costs, "jax", "fit_step")
            grads = [_find(costs, "jax", "value_and_grad", r["precision"], r["model"]) for r in rows]
            same = all(g is not None and (r["flops"], r["kernels"]) == (g["flops"], g["kernels"]) for r, g in zip(rows, grads))
            big = max(rows, key=lambda r: r["host_transfer_bytes"]) if rows else None
            if rows:
                out += [("The same XLA program as `value_and_grad` (equal flops and kernels at every size)"
                         if same else "Not always the same XLA program as `value_and_grad`")
                        + f", plus {rows[0]['host_transfers']} host↔device copies per call (up to "
                        f"{_si(big['host_transfer_bytes'], 'B')}, {big['model']} at {big['precision']}).", ""]
        out += _table(["model", "parameters", "flops", "transc.", "bytes 64b", "bytes 32b", "unfused bytes 64b",
                       "kernels", "fusions", "eager dispatches", "torch matmul flops", "torch calls"], body)
        out.append("")
    return out


def _intensity(costs) -> tuple[float, float, str]:
    """The highest arithmetic intensity (flops per byte, 64b) of any JAX row, and where."""
    best = max(_rows(costs, "jax", precision="64b"), key=lambda r: (r["flops"] + r["transcendentals"]) / max(r["bytes_accessed"], 1))
    return (best["flops"] + best["transcendentals"]) / best["bytes_accessed"], best["bytes_accessed"], f"{best['operation']} of {best['model']}"


def _summary(predictions, device, operation, precision):
    return next((s for s in predictions["summary"] if s["device"] == device and s["operation"] == operation
                 and s["precision"] == precision), None)


def _crossover_text(summary) -> str:
    c = summary["crossover"]
    unit = "points per call" if summary["axis"] == "batch" else "bins"
    if c["size"] is None:
        return f"not by the margin up to {summary['largest_size']:,} {unit}"
    if c.get("first_grid_size") is None:
        return f"from the smallest size ({c['size']:,} {unit})"
    return f"≈ {c['size']:,.0f} {unit}"


def _ratios_by_step(merged: dict, skip_smallest: int = 0) -> dict:
    """(operation, precision) -> sorted measured/predicted ratios; *skip_smallest*: leave out each axis' smallest sizes."""
    sizes: dict = {}
    for r in merged["rows"]:
        if r.get("measured_seconds") and "size" in r:
            sizes.setdefault((r["operation"], r["kind"]), set()).add(r["size"])
    skipped = {key: sorted(v)[:skip_smallest] for key, v in sizes.items()}
    out: dict = {}
    for r in merged["rows"]:
        if not r.get("measured_seconds"):
            continue
        if r["kind"] == "likelihood" and skip_smallest or r.get("size") in skipped.get((r["operation"], r["kind"]), ()):
            continue
        out.setdefault((r["operation"], r["precision"]), []).append(r["ratio"])
    return {k: sorted(v) for k, v in out.items()}


def _median(values):
    return values[len(values) // 2] if values else None


def render(costs: dict, predictions: dict, measured: list[tuple[str, dict]], args, zigzags=(), uncalibrated=None,
           crossover=None) -> str:
    """The page's Markdown. *crossover*: :func:`pyhf_bench.reporting.accelerators.crossover` (passed in, so this
    module imports nothing of the command that calls it)."""
    cpu = predictions["inputs"]["cpu"]
    fig = cpu["figures"]
    devices = predictions["inputs"]["devices"]
    versions = costs.get("versions", {})
    figures_dir = args.figures

    def eager_cost(operation):
        """The host's cost per eager primitive of *operation*: calibrated, else the jnp.add micro-benchmark."""
        return (predictions["inputs"].get("calibration") or {}).get("eager_dispatch", {}).get(operation, fig["eager_dispatch"])

    lines: list[str] = []
    add = lines.append

    add("# pyhf on GPUs and TPUs, on paper until one is lent")
    add("")
    add("<!-- Generated by `pyhf-bench accelerators docs` from docs/costs-cpu.json, "
        f"{Path(args.predictions).name} and the device inputs in src/pyhf_bench/reporting/accelerators.json; do not edit by hand. -->")
    add("")
    devices_measured = sorted({m["device"] for _, m in measured if m.get("device") != "cpu"})
    add(("Measured so far on: " + ", ".join(devices_measured) + ". " if devices_measured else
         "No GPU or TPU has run this suite yet. ") + "This page says what the compilers count as the work of each "
        "benchmarked step, what that work should cost on a current datacentre GPU (NVIDIA H100) and TPU "
        "(Google Cloud TPU v5e/v5p) by a launch-and-roofline model, and how the first device run checks it: "
        "`tools/gpu-validation.sh` times the same steps on the device and writes the times beside these predictions.")
    add("")
    add(f"Counted with pyhf {versions.get('pyhf', '?')}, jax {versions.get('jax', '?')} (jaxlib {versions.get('jaxlib', '?')}), "
        f"torch {versions.get('torch', '?')}; this CPU: {cpu['machine']} (OMP_NUM_THREADS={cpu['threads']}).")
    add("")
    add("Regenerate everything on this page:")
    add("")
    add("```")
    for command in (
        "pyhf-bench costs --out docs/costs-cpu.json                      # the work (minutes)",
        "pyhf-bench accelerators cpu-figures --out docs/cpu-figures-epyc-2core.json",
        "pyhf-bench accelerators predict --out /tmp/uncalibrated.json    # micro-benchmark host costs",
        "pyhf-bench accelerators measure --device cpu --spec cpu --predictions /tmp/uncalibrated.json \\",
        "    --max-bins 10000 --out docs/accelerator-measured-cpu-uncalibrated.json",
        "pyhf-bench accelerators calibrate --measured docs/accelerator-measured-cpu-uncalibrated.json",
        "pyhf-bench accelerators predict --calibration docs/cpu-calibration-epyc-2core.json",
        "pyhf-bench accelerators merge --measured docs/accelerator-measured-cpu-uncalibrated.json \\",
        "    --out docs/accelerator-measured-cpu.json",
        "pyhf-bench accelerators zigzag --device cpu --out docs/zigzag-cpu-epyc-2core.json",
        "pyhf-bench accelerators plot --measured docs/accelerator-measured-cpu.json --zigzag docs/zigzag-cpu-epyc-2core.json",
        "pyhf-bench accelerators docs --measured docs/accelerator-measured-cpu.json --zigzag docs/zigzag-cpu-epyc-2core.json \\",
        "    --uncalibrated docs/accelerator-measured-cpu-uncalibrated.json",
    ):
        add(command)
    add("```")
    add("")

    # ------------------------------------------------------------------ the answer first
    add("## In short, for someone deciding whether to ask for GPU or TPU time")
    add("")
    h, hg = "h100-sxm", "h100-sxm-graphs"
    intensity, _, where = _intensity(costs)
    r1e2 = _find(costs, "jax", "value_and_grad", "64b", "synthetic:100")
    compute_bound = sum(1 for r in predictions["rows"] for name in devices if r[name]["bound"] == "compute")
    bandwidth_from = sorted(r["size"] for r in predictions["rows"] if r["operation"] == "value_and_grad"
                            and r["precision"] == "64b" and r["kind"] == "bins" and r[h]["bound"] == "bandwidth")
    add(f"* **pyhf's work is small and memory-bound.** The 100-bin synthetic model's NLL and gradient is "
        f"{_si(r1e2['flops'])} flops over {_si(r1e2['bytes_accessed'], 'B')} in {r1e2['kernels']} kernels; the highest "
        f"arithmetic intensity in the whole table is {intensity:.2f} flops per byte ({where}), far below the "
        f"{devices[h]['peak_flops']['64b'] / devices[h]['bandwidth']:.0f} flops/byte where an H100 stops being "
        f"bandwidth-bound at 64b. "
        + ("No prediction on this page is compute-bound" if compute_bound == 0 else
           f"{compute_bound} of {len(predictions['rows']) * len(devices)} predictions are compute-bound")
        + "; on the H100 the NLL and gradient is bandwidth-bound "
        + (f"from {bandwidth_from[0]:,} bins" if bandwidth_from else "at no size in the table")
        + ", launch and dispatch latency decide below.")
    calibration = predictions["inputs"].get("calibration")
    if calibration:
        lp = _find(costs, "jax", "logpdf", "64b", "synthetic:100")
        add(f"* **pyhf's eager `logpdf` costs what the host's dispatching costs, on any device.** Fitted to this "
            f"CPU's measured times, one of its primitives costs {_si(calibration['eager_dispatch']['logpdf'], 's')} of "
            f"host time (einsums, wheres, conversions: not the {_si(fig['eager_dispatch'], 's')} of a bare `jnp.add`), "
            f"so its {lp['eager_dispatches']} primitives are a floor of "
            f"{_si(lp['eager_dispatches'] * calibration['eager_dispatch']['logpdf'], 's')} per call that no device lowers; "
            "the jitted steps (gradient, fit step) are where a device can win, and `jax.jit(model.logpdf)` "
            "would move `logpdf` there.")
    for op, what in (("value_and_grad", "The NLL and gradient (jitted)"), ("fit_step", "A fit's inner step"),
                     ("logpdf", "An eager `logpdf`"), ("batched_logpdf", "A batched `logpdf`")):
        s, g = _summary(predictions, h, op, "64b"), _summary(predictions, hg, op, "64b")
        if s is None:
            continue
        text = (f"* **{what}**, H100 SXM against this CPU at 64b: at least {predictions['margin']:g}× faster "
                f"{_crossover_text(s)} with one launch per kernel")
        if g is not None and op in ("value_and_grad", "fit_step"):
            text += f", {_crossover_text(g)} if XLA's CUDA graphs make the step one launch"
        smallest = min(r["size"] for r in predictions["rows"] if r["operation"] == op and r["kind"] == s["axis"])
        text += (f"; {s['speedup_at_largest']:.2g}× at the largest size ({s['largest_size']:,}, "
                 f"{s['bound_at_largest']}-bound), {s['speedup_at_smallest']:.2g}× at the smallest ({smallest:,}).")
        add(text)
    s64, s32 = _summary(predictions, h, "value_and_grad", "64b"), _summary(predictions, h, "value_and_grad", "32b")
    if s64 and s32 and s64["crossover"]["size"] and s32["crossover"]["size"]:
        direction = "up" if s32["crossover"]["size"] > s64["crossover"]["size"] else "down"
        add(f"* **32b moves the crossover {direction}** (NLL and gradient: {_crossover_text(s32)} against "
            f"{_crossover_text(s64)} at 64b): halving the bytes speeds the CPU as much as the device, and the "
            "device's latency floor does not shrink.")
    fits = [r for r in predictions["rows"] if r["kind"] == "likelihood" and r["operation"] == "fit_step" and r["precision"] == "64b"]
    cpu_times = {(r["operation"], r["precision"], r["model"]): r["measured_seconds"]
                 for path, m in measured if m.get("device") == "cpu" for r in m["rows"] if r.get("measured_seconds")}

    def cpu_step(r):
        """This CPU's time of a step: measured where it was, else predicted."""
        return cpu_times.get((r["operation"], r["precision"], r["model"]), r["cpu"]["seconds"])

    def cpu_step_text(r):
        got = cpu_times.get((r["operation"], r["precision"], r["model"]))
        if got is None:
            return f"{_si(r['cpu']['seconds'], 's')} predicted"
        return f"{_si(got, 's')} measured ({_si(r['cpu']['seconds'], 's')} predicted)"

    if fits:
        add("* **A fit is a sequence of such steps**, each waiting for the last (the optimizer runs on the host), so "
            "a fit on a device costs about its iterations × the fit-step time. For the published likelihoods "
            "here, one step is " + "; ".join(
                f"{r['model']}: {cpu_step_text(r)} on this CPU, {_si(r[h]['seconds'], 's')} predicted on an H100 "
                f"({_si(r[hg]['seconds'], 's')} as one CUDA graph), {_si(r['tpu-v5e']['seconds'], 's')} on a TPU v5e"
                for r in fits) +
            ". For such small models the H100 bracket spans " + ", ".join(
                f"{cpu_step(r) / r[h]['seconds']:.2g}× to {cpu_step(r) / r[hg]['seconds']:.2g}× "
                f"this CPU's speed ({r['model']})" for r in fits) +
            ": whether a GPU speeds up one fit at all is the first thing the device run settles. Many "
            "independent fits (toys, scans, signal grids) batched into one model (`batch_size`) are where a "
            "device's bandwidth pays for certain.")
    tl = _find(costs, "pytorch", "logpdf", "64b", "synthetic:100")
    tg = _find(costs, "pytorch", "value_and_grad", "64b", "synthetic:100")
    if tl and tg:
        add(f"* **PyTorch** is eager throughout: its `logpdf` is {tl['torch_calls']} calls into torch at every size "
            f"and its gradient {tg['torch_calls']} plus the backward pass; some calls (views, attribute reads) "
            "launch nothing, most launch a kernel: at one launch per call on a GPU the floor is "
            f"{_si(tl['torch_calls'] * devices[h]['launch_latency'], 's')} per `logpdf` at "
            f"{_si(devices[h]['launch_latency'], 's')} a launch (against {_si(fig['torch_dispatch'], 's')} per "
            "call on this CPU's host for a bare `torch.add`). The model's predictions are JAX's; PyTorch's device "
            "run times the same steps through the asv benchmarks.")
    add("* **64b:** on an H100 float64 costs what its bytes cost (up to 2× float32 where bandwidth-bound, "
        "nothing where latency-bound). A TPU has no float64 hardware: see below before asking for TPU time "
        "for 64b fits.")
    add(f"* **The device latencies are inputs, not measurements** ({_si(devices[h]['launch_latency'], 's')} per launch, "
        "this CPU's host costs for the device's host): the first device run's job is to replace them, and the "
        "page's numbers move with them.")
    add("")

    # ------------------------------------------------------------------ the work
    add("## The work, as the compilers count it")
    add("")
    add("From `jax.jit(step).lower(pars).compile().cost_analysis()` (flops, transcendentals, bytes accessed), "
        "the optimised HLO's entry computation (kernels: instructions that run code, of which fusions), the "
        "lowered module's `cost_analysis()` before fusion (unfused bytes: what op-by-op execution moves), the "
        "top level of the jaxpr (eager dispatches: what an unjitted call dispatches one by one), and for "
        "PyTorch `torch.utils.flop_counter.FlopCounterMode` (it counts matrix products only: pyhf's "
        "`einsum` calls) and the calls into torch per step (`TorchFunctionMode`; a gradient's backward "
        "kernels are not among them). The HLO is the CPU compiler's: a GPU's XLA fuses by other rules, so "
        "its kernel count is what the device run measures. The counts depend only on shapes: two runs give "
        "the same table (`tests/test_costs.py`). The asv suite tracks the JAX counts as `track_` benchmarks "
        "(`benchmarks/compiler_costs.py`: flops, transcendentals, bytes, kernels, dispatches), so the "
        "dashboard shows when a pyhf commit changes the work itself.")
    add("")
    add(f"![work vs size]({figures_dir}/costs.svg)")
    add("")
    lines += _cost_section(costs)
    missing = [r for r in costs["rows"] if "missing" in r]
    if missing:
        add("Left out (data absent when the table was built): " + ", ".join(sorted({r["model"] for r in missing})) + ".")
        add("")

    # ------------------------------------------------------------------ the model
    add("## The model")
    add("")
    model = predictions["model"]
    add("For one call of one step (all times in seconds):")
    add("")
    add("```")
    for key, text in model.items():
        add(f"{key:14s} = {text}")
    add("```")
    add("")
    add("A jitted step is one executable: the host pays one call, the device one launch per kernel (a TPU runs "
        "the whole step as one program; on a GPU, XLA's command buffers replay fusions as CUDA graphs, so "
        "`h100-sxm-graphs` charges one launch per step plus a minimum time per kernel: the two H100 rows "
        "bracket the truth; on a device the roofline's flops include the transcendentals). An eager step dispatches each primitive from Python: on a device the "
        "host's dispatching and the device's kernels overlap, so the slower of the two sets the pace; on the "
        "CPU they add. A fit's optimizer (scipy) works on host vectors: every step copies the parameters to the "
        "device and the value and gradient back.")
    add("")
    add("### Device inputs")
    add("")
    body = []
    for name, d in devices.items():
        body.append([f"{name}: {d['name']}", _si(d["peak_flops"]["64b"], "flop/s"), _si(d["peak_flops"]["32b"], "flop/s"),
                     _si(d["bandwidth"], "B/s"), _si(d["launch_latency"], "s"), _si(d["host_link_bandwidth"], "B/s"),
                     str(d.get("f64_emulation_factor", "native"))])
    lines += _table(["device", "peak 64b", "peak 32b", "memory bandwidth", "launch", "host link", "64b"], body)
    add("")
    add("Sources:")
    add("")
    for name, d in devices.items():
        for key in ("peak_flops_source", "bandwidth_source", "host_link_source", "launch_latency_source",
                    "transfer_latency_source", "kernel_launches_source", "kernel_in_program_latency_source",
                    "f64_emulation_source"):
            if key in d:
                add(f"* {name}, {key.replace('_source', '').replace('_', ' ')}: {d[key]}")
    add("")
    add("### This CPU, measured (`pyhf-bench accelerators cpu-figures`)")
    add("")
    lines += _table(["figure", "value"], [
        ["peak flops 64b / 32b (1024² matmul)", f"{_si(fig['peak_flops']['64b'], 'flop/s')} / {_si(fig['peak_flops']['32b'], 'flop/s')}"],
        ["exp() 64b / 32b", f"{_si(fig['exp_per_second']['64b'], '/s')} / {_si(fig['exp_per_second']['32b'], '/s')}"],
        ["memory bandwidth (256 MiB copy)", _si(fig["bandwidth"], "B/s")],
        ["JAX eager dispatch (one jnp.add, synchronised)", _si(fig["eager_dispatch"], "s")],
        ["JAX jitted call (tiny function)", _si(fig["jit_call"], "s")],
        ["numpy dispatch (one np.add)", _si(fig["numpy_dispatch"], "s")],
        ["torch dispatch (one torch.add)", _si(fig["torch_dispatch"], "s")],
    ])
    add("")
    if calibration:
        add("### Calibration on this CPU (`pyhf-bench accelerators calibrate`)")
        add("")
        add(f"The micro-benchmarks above understate what pyhf's steps pay per primitive. Fitted to this CPU's "
            f"measured times at each axis' {calibration['smallest_sizes_used']} smallest sizes and the published "
            f"likelihoods ({calibration['rows_used']} measured steps), where the work is negligible:")
        add("")
        body = [[f"eager primitive of `{op}`", _si(v, "s"), f"{v / fig['eager_dispatch']:.3g}× one jnp.add"]
                for op, v in calibration["eager_dispatch"].items()]
        body.append(["XLA:CPU per kernel of a jitted step (beyond its work)", _si(calibration["cpu_kernel"], "s"), ""])
        lines += _table(["host cost", "fitted", ""], body)
        add("")
        cal = dict(measured).get("docs/accelerator-measured-cpu.json") or (measured[0][1] if measured else None)
        if cal is not None and uncalibrated is not None:
            before = _ratios_by_step(uncalibrated)
            after_out = _ratios_by_step(cal, calibration["smallest_sizes_used"])
            body = []
            for key in sorted(before):
                b, a = before[key], after_out.get(key, [])
                body.append([key[0], key[1], f"{_median(b):.2g}", f"{_median(a):.2g}" if a else "—",
                             f"{a[0]:.2g} – {a[-1]:.2g}" if a else "—"])
            add("Measured / predicted on this CPU, before calibration (every measured step) and after it (only the "
                "sizes the fit did not see):")
            add("")
            lines += _table(["step", "precision", "median before", "median after (unseen sizes)", "range after"], body)
            add("")
        add(f"The device's host is taken to pay these host costs too (and {_si(fig['jit_call'], 's')} per jitted "
            "call): a faster host lowers every latency-bound prediction on this page in proportion.")
    else:
        add(f"The device's host is taken to pay the same JAX dispatch costs as this CPU "
            f"({_si(fig['eager_dispatch'], 's')} per eager primitive, {_si(fig['jit_call'], 's')} per jitted call).")
    add("")

    # ------------------------------------------------------------------ predictions
    add("## Predictions")
    add("")
    add(f"![predicted and measured time per call]({figures_dir}/predictions.svg)")
    add("")
    add("Crossover: the model size (bins; for the batched step, parameter points per call) from which the "
        "device is predicted to beat this CPU, log-log interpolated between the table's sizes; speed-up = CPU "
        "time / device time at the table's largest size; bound = what dominates the device's time there; "
        "64b cost = device time at 64b / at 32b, largest size.")
    add("")
    body = []
    for s in predictions["summary"]:
        body.append([s["device"], s["operation"], s["precision"], _crossover_text(s),
                     f"{s['speedup_at_largest']:.3g}×", s["bound_at_smallest"], s["bound_at_largest"],
                     f"{s['cost_of_64b_at_largest']:.2g}×" if "cost_of_64b_at_largest" in s else ""])
    lines += _table(["device", "step", "precision", "device faster", "speed-up at largest", "bound (smallest)",
                     "bound (largest)", "64b cost"], body)
    add("")
    cpu_measured = next((m for path, m in measured if m.get("device") == "cpu"), None)
    if cpu_measured is not None and crossover is not None:
        seconds = {(r["operation"], r["precision"], r["model"]): r["measured_seconds"] for r in cpu_measured["rows"]
                   if r.get("measured_seconds")}
        add("Against this CPU's **measured** times instead of its predicted ones (where measured; the CPU "
            "measurement stops at 10⁴ bins), at 64b:")
        add("")
        body = []
        for name in devices:
            # The jitted steps and the batched one: an eager step's small sizes are the host's floor on
            # both sides, where the CPU's run-to-run spread (see the zig-zag below) decides, not the device.
            for operation in ("value_and_grad", "fit_step", "batched_logpdf"):
                rows = [r for r in predictions["rows"] if r["operation"] == operation and r["precision"] == "64b"
                        and r["kind"] == AXIS_KIND.get(operation) and (operation, "64b", r["model"]) in seconds]
                if not rows:
                    continue
                points = [(r["size"], seconds[(operation, "64b", r["model"])], r[name]["seconds"]) for r in rows]
                found = crossover(points)
                big = max(points)
                fake = {"crossover": found, "axis": AXIS_KIND[operation], "largest_size": big[0]}
                body.append([name, operation, _crossover_text(fake), f"{big[1] / big[2]:.3g}× at {big[0]:,}"])
        lines += _table(["device", "step", "device faster than this CPU measured", "speed-up (measured CPU)"], body)
        add("")
        worst = max((r for r in cpu_measured["rows"] if r.get("ratio")), key=lambda r: r["ratio"])
        add(f"The CPU's largest miss is {worst['operation']} of {worst['model']} at {worst['precision']}: "
            f"{_si(worst['measured_seconds'], 's')} measured against {_si(worst['predicted_seconds'], 's')} predicted "
            f"({worst['ratio']:.2g}×): there this CPU moves its bytes at a fraction of its copy bandwidth, and the "
            "speed-up against the measured time stands only if the device does not lose the same factor; it is "
            "the least certain number here.")
        add("")
    add("Published likelihoods (predicted seconds per call, 64b):")
    add("")
    body = []
    for r in predictions["rows"]:
        if r["kind"] == "likelihood" and r["precision"] == "64b":
            body.append([r["model"], r["operation"], _si(r["cpu"]["seconds"], "s"),
                         *[_si(r[name]["seconds"], "s") for name in devices]])
    lines += _table(["likelihood", "step", "this CPU", *devices], body)
    add("")

    # ------------------------------------------------------------------ 64b
    add("## Where 64b hurts")
    add("")
    h64 = [s for s in predictions["summary"] if s["device"] == "h100-sxm" and "cost_of_64b_at_largest" in s]
    t64 = [s for s in predictions["summary"] if s["device"] == "tpu-v5e" and "cost_of_64b_at_largest" in s]
    if h64:
        peaks = devices["h100-sxm"]["peak_flops"]
        add(f"* **H100:** FP64 runs at {peaks['64b'] / peaks['32b']:.2g} of the FP32 rate ({_si(peaks['64b'], 'flop/s')} "
            f"against {_si(peaks['32b'], 'flop/s')}), but "
            + ("no step here is compute-bound" if compute_bound == 0 else "hardly any step here is compute-bound")
            + ", so 64b costs what its bytes cost: at the largest sizes " +
            ", ".join(f"{s['operation']} {s['cost_of_64b_at_largest']:.2g}×" for s in h64) +
            " the 32b time; at small sizes, where latency rules, nothing. 32b is no reason to pick a GPU: "
            "pyhf's 32b fits are fragile (see the README's 32b notes), and the gain is at most the bytes.")
    if t64:
        add("* **TPU:** no float64 hardware. JAX on a TPU with `jax_enable_x64` (which pyhf's JAX backend "
            "sets at import) has XLA rewrite 64-bit types into pairs of float32 (double-double) "
            "([jax#10158](https://github.com/jax-ml/jax/issues/10158)); the rewrite does not cover every "
            "operation ([diffrax#366](https://github.com/patrick-kidger/diffrax/issues/366): \"While rewriting "
            "computation to not contain X64 element types, XLA encountered an HLO for which this rewriting is "
            "not implemented\"), and the older TPU driver refused 64-bit types outright "
            "([jax#9862](https://github.com/jax-ml/jax/issues/9862); for pyhf: "
            "[pyhf#1145](https://github.com/scikit-hep/pyhf/issues/1145), where even `precision=\"32b\"` met "
            "it because pyhf enables x64 globally). The model charges the emulation "
            f"{devices['tpu-v5e']['f64_emulation_factor']}× the flops (an assumption); at the largest sizes 64b "
            "costs " + ", ".join(f"{s['operation']} {s['cost_of_64b_at_largest']:.2g}×" for s in t64) +
            " the 32b time on a v5e. Since Google publishes only a bf16 peak, the TPU's flops term is a lower "
            "bound; a 64b pyhf fit on a TPU is the least predictable cell of this page, and the first thing a "
            "TPU session should measure (and check for correctness against the CPU, as `gpu-check` does).")
    add("")

    # ------------------------------------------------------------------ TPU and #301
    add("## The TPU questions and pyhf #301")
    add("")
    add("[pyhf#301](https://github.com/scikit-hep/pyhf/issues/301) (2018, open): naive timings of pyhf's "
        "interpolators on a Colab TPU showed \"a zig-zag shape\" with size, and TPUs slower than GPUs. "
        "What is known:")
    add("")
    add("* **Dispatch dominates small work.** JAX's per-operation dispatch is far costlier than numpy's and "
        "independent of array size ([jax#427](https://github.com/jax-ml/jax/issues/427), "
        "[jax#193](https://github.com/jax-ml/jax/issues/193): ~70 µs per call in 2019 against 0.5 µs for numpy); "
        f"here today: {_si(fig['eager_dispatch'], 's')} per JAX primitive against {_si(fig['numpy_dispatch'], 's')} "
        "for numpy. GPUs lose to CPUs on small networks for the same reason "
        "([jax#1797](https://github.com/jax-ml/jax/issues/1797)), and timings without `block_until_ready` measure "
        "only the launch ([jax#4474](https://github.com/jax-ml/jax/issues/4474)), which is why every benchmark "
        "here synchronises and `gpu-check` times both.")
    add("* **Colab's TPU of 2018 was remote.** JAX and TensorFlow reached it through the `tpu_driver` over gRPC "
        "(the `grpc://` backend target in [pyhf#1145](https://github.com/scikit-hep/pyhf/issues/1145)); the "
        "later TPU VMs give \"direct access to a VM with TPUs attached, enabling significant performance and "
        "usability improvements\" ([JAX's Cloud TPU Colab notes](https://github.com/jax-ml/jax/blob/main/cloud_tpu_colabs/README.md)). "
        "Every eager dispatch then paid a network round trip: an interpolator benchmark of many small eager "
        "operations measures that round trip, not the TPU.")
    add("* **TPUs tile arrays by 8 × 128.** \"Each TPU core uses two-dimensional 8 X 128 vector registers\", and "
        "XLA pads tensors that do not fill 128 × 8 tiles ([Cloud TPU performance guide](https://cloud.google.com/tpu/docs/performance-guide)). "
        "An array of n bins occupies ceil(n/128) lanes-rows; time per element falls as n approaches a "
        "multiple of 128 and jumps just past it.")
    add("* **float64**: see above; the issue does not say at which precision the 2018 timings ran, and a 64-bit "
        "array on the TPU driver of that time was refused ([jax#9862](https://github.com/jax-ml/jax/issues/9862)).")
    add("")
    i4p = sorted(_rows(costs, "jax", "interpolate_4p", "interpolator", "32b"), key=lambda r: r["size"])
    i0 = sorted(_rows(costs, "jax", "interpolate_0", "interpolator", "32b"), key=lambda r: r["size"])
    edge = [r for r in i4p if r["size"] in (127, 128, 129, 255, 256, 257)]
    p4p = sorted((r for r in predictions["rows"] if r["operation"] == "interpolate_4p" and r["precision"] == "32b"),
                 key=lambda r: r["size"])
    add("**What the compilers say about the interpolators** (the #301 measurement; JAX, 32b, 10 systematics):")
    add("")
    if i4p and i0:
        add(f"* code 4p is {i4p[0]['eager_dispatches']} eager dispatches per call and code 0 "
            f"{i0[0]['eager_dispatches']}, at every size; jitted, each is {i4p[0]['kernels']} fused kernel(s) "
            f"for the CPU. The work is tiny: code 4p at {i4p[-1]['size']:,} bins is {_si(i4p[-1]['flops'])} flops over "
            f"{_si(i4p[-1]['bytes_accessed'], 'B')}.")
    if edge:
        add("* The CPU compiler's bytes accessed grow smoothly across multiples of 128: " + ", ".join(
            f"{r['size']} bins {_si(r['bytes_accessed'], 'B')}" for r in edge) + ". A TPU compiler that pads to "
            "128-lane tiles would not.")
    if p4p:
        first, last = p4p[0], p4p[-1]
        add(f"* Predicted (eager, 32b): {_si(first['tpu-v5e']['seconds'], 's')} per call on a TPU v5e at "
            f"{first['size']} bin and {_si(last['tpu-v5e']['seconds'], 's')} at {last['size']:,} bins; this CPU "
            f"{_si(first['cpu']['seconds'], 's')} and {_si(last['cpu']['seconds'], 's')}: flat, the dispatch floor. "
            "On a device whose every dispatch paid a network round trip, the floor rises by that round trip "
            "per dispatch and the device loses to any local CPU.")
    add("")
    for z in zigzags:
        add(f"**Measured here: a zig-zag without any tiling** (`pyhf-bench accelerators zigzag --device {z['device']} "
            f"--precision {z['precision']} --repeats {z['repeats']}`; {z['repeats']} runs in one process):")
        add("")
        for operation, r in z["operations"].items():
            lo = min(min(v) for v in r["seconds"])
            hi = max(max(v) for v in r["seconds"])
            add(f"* `{operation}`: between {_si(lo, 's')} and {_si(hi, 's')} per call over {r['sizes'][0]:,} to "
                f"{r['sizes'][-1]:,} bins; the same size differs by a median {r['median_max_over_min_per_size']:.2g}× "
                f"between runs, and only {r['neighbour_steps_same_sign_in_every_run']} of the {r['neighbour_steps']} "
                "steps from one size to the next go the same way in every run (coin flips would give "
                f"{r['neighbour_steps'] * 2.0 ** (1 - z['repeats']):.3g}).")
        add("")
        add(f"![interpolators timed repeatedly]({figures_dir}/zigzag-{z['device']}.svg)")
        add("")
        add("On this shared 2-core CPU the eager interpolator's time jumps between levels independently of the "
            "size, and a single sweep over sizes draws a zig-zag that the next sweep does not repeat. Whatever "
            "else the 2018 TPU plot showed, a zig-zag from one sweep of a dispatch-bound step is no evidence of a "
            "size effect: the measurement below repeats the sweep.")
        add("")
    add("**Hypothesis.** The zig-zag is the 8 × 128 tiling seen through a latency floor: an eager interpolator "
        "call costs a constant number of dispatches × the per-dispatch latency (on 2018's Colab TPU a network "
        "round trip), flat in size, plus a work term that steps at every multiple of 128 bins (and of 8 "
        "systematics, the second-minor dimension); sizes that straddle multiples of 128, timed on a shared "
        "remote device, then alternate between the floor and the steps. TPUs were slower than GPUs because "
        "the floor was higher (remote dispatch), not because of the work.")
    visible = [r for r in p4p if r["tpu-v5e"]["work_seconds"] >= devices["tpu-v5e"]["launch_latency"]]
    if p4p:
        add("Sizes: the steps can show only where the work term (bytes ÷ bandwidth) is at least one launch "
            f"latency ({_si(devices['tpu-v5e']['launch_latency'], 's')}) on a v5e: "
            + (f"from about {visible[0]['size']:,} bins for code 4p in this table" if visible else
               f"at no size in this table (up to {p4p[-1]['size']:,} bins) for code 4p")
            + "; below, only the floor, so the zig-zag of small sizes must be the floor's noise or the "
            "remote device's, which the measurement below tells apart.")
    add("")
    add("**The measurement that decides it** (one TPU VM session, JAX, 32b, then 64b; the cost table's "
        "interpolator sizes: `pyhf-bench accelerators zigzag --device tpu --repeats 3` and "
        "`pyhf-bench accelerators measure --device tpu --spec tpu-v5e`):")
    add("")
    sizes = ", ".join(str(r["size"]) for r in i4p) if i4p else "the interpolator sizes"
    add(f"1. Codes 0 and 4p, 10 systematics, at n = {sizes} bins, eager (as pyhf calls them) and jitted, three "
        "sweeps: a step of the jitted time from 128 to 129 and from 256 to 257 bins and none from 127 to 128, "
        "the same in every sweep, confirms the tiling; an eager time flat to within the sweeps' spread up to "
        "10⁴ bins confirms the floor; the floor divided "
        "by the dispatch count is the TPU's per-dispatch latency (the model assumes "
        f"{_si(devices['tpu-v5e']['launch_latency'], 's')} plus the host's "
        f"{_si(eager_cost('interpolate_4p'), 's')} for code 4p).")
    add("2. The same on an H100: no steps at multiples of 128 (a GPU schedules threads in warps of 32, with no "
        "128-lane tiles), the same flat eager floor at the GPU's own dispatch latency.")
    add("3. If the TPU compiler's `cost_analysis()` accounts for its padded layouts, its bytes accessed at 129 "
        "bins equal those at 256; if they do not, the profile's memory viewer shows the padding (the Cloud TPU "
        "performance guide's advice).")
    add("")

    # ------------------------------------------------------------------ measured
    add("## Predicted against measured")
    add("")
    if not measured:
        add("No measurement has been written beside the predictions yet.")
    for path, m in measured:
        rows = [r for r in m["rows"] if r["measured_seconds"] is not None]
        add(f"### {m['device']} against the `{m['spec']}` predictions ({Path(path).name})")
        add("")
        add(f"{m['measured']} of {m['predicted']} predicted steps measured; median measured / predicted "
            f"{m['median_ratio']:.2g}." if m["median_ratio"] is not None else "Nothing measured.")
        for note in m.get("notes", []):
            add(f"Note: {note}.")
        add("")
        groups: dict = {}
        for r in rows:
            groups.setdefault((r["operation"], r["precision"]), []).append(r["ratio"])
        body = []
        for (operation, precision), ratios in groups.items():
            ratios.sort()
            body.append([operation, precision, str(len(ratios)), f"{ratios[0]:.2g}", f"{ratios[len(ratios) // 2]:.2g}",
                         f"{ratios[-1]:.2g}"])
        lines += _table(["step", "precision", "measured", "min measured / predicted", "median", "max"], body)
        add("")
        add("<details><summary>every measured step</summary>")
        add("")
        body = [[r["operation"], r["precision"], r["model"], _si(r["predicted_seconds"], "s"),
                 _si(r["measured_seconds"], "s"), f"{r['ratio']:.2g}"] for r in rows]
        lines += _table(["step", "precision", "model", "predicted", "measured", "measured / predicted"], body)
        add("")
        add("</details>")
        add("")
    add("The CPU's own check is the model's calibration: where measured / predicted strays far from 1 on the "
        "CPU, the same term is suspect on a device. On a device, `tools/gpu-validation.sh` runs "
        "`pyhf-bench accelerators measure --device gpu --spec h100-sxm` (and `--spec h100-pcie` "
        "for a PCIe card) and the plot command draws its points on the predicted lines; on a TPU VM, "
        "`pyhf-bench accelerators measure --device tpu --spec tpu-v5e --out accelerator-measured-tpu.json` "
        "does the same. Then `pyhf-bench accelerators plot` and `docs` with `--measured` for each file "
        "rewrite this page with the device's numbers.")
    add("")
    return "\n".join(lines)
