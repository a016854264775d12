"""What ``docs/accelerators.md`` is written from (:class:`Page`) and the helpers its sections share.

Every number on the page comes from the cost table, the CPU figures, the
device inputs or the predictions (and measured times, where given); the prose
around them is fixed text whose claims the numbers decide (e.g. which bound a
step hits is read from the predictions, not written in).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The H100 of the predictions, and the same card replaying each jitted step as one CUDA graph.
H100, H100_GRAPHS = "h100-sxm", "h100-sxm-graphs"

OPERATION_TEXT = {
    "logpdf": "`model.logpdf(pars, data)`, eager (pyhf does not jit it; `Logpdf` benchmarks)",
    "value_and_grad": "NLL and gradient, jitted (`NLLGradient`)",
    "fit_step": "one objective-and-gradient call of a fit, as pyhf's optimizer makes it (jitted; pars from and results to the host)",
    "batched_logpdf": "`logpdf` of the 100-bin model built with `batch_size` (`BatchedLogpdf`), eager",
    "interpolate_0": "pyhf's code-0 interpolator alone, 10 systematics (`Interpolators`), eager",
    "interpolate_4p": "pyhf's code-4p interpolator alone, 10 systematics (`Interpolators`), eager",
}


def si(value: float | None, unit: str = "") -> str:
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


def cost_rows(costs, backend, operation=None, kind=None, precision=None):
    return [r for r in costs["rows"] if r.get("backend") == backend and "missing" not in r
            and (operation is None or r.get("operation") == operation) and (kind is None or r["kind"] == kind)
            and (precision is None or r["precision"] == precision)]


def find_row(costs, backend, operation, precision, model):
    for r in cost_rows(costs, backend, operation, precision=precision):
        if r["model"] == model:
            return r
    return None


def size_label(row) -> str:
    if row["kind"] == "bins":
        return f"{row['size']:,} bins"
    if row["kind"] == "batch":
        return f"batch {row['size']:,}"
    if row["kind"] == "interpolator":
        return f"{row['size']:,} bins"
    return row["model"]


def table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def cost_section(costs) -> list[str]:
    out = []
    for operation in OPERATION_TEXT:
        body = []
        for r64 in sorted(cost_rows(costs, "jax", operation, precision="64b"), key=lambda r: (r["kind"] != "bins", r["kind"], r.get("size") or 0, r["model"])):
            r32 = find_row(costs, "jax", operation, "32b", r64["model"])
            t64 = find_row(costs, "pytorch", operation, "64b", r64["model"])
            body.append([
                size_label(r64), f"{r64['n_parameters']:,}", si(r64["flops"]), si(r64["transcendentals"]),
                si(r64["bytes_accessed"], "B"), si(r32["bytes_accessed"], "B") if r32 else "—",
                si(r64["unfused_bytes_accessed"], "B"), str(r64["kernels"]), str(r64["fusions"]),
                str(r64["eager_dispatches"]),
                si(t64["matmul_flops"]) if t64 else "—", str(t64["torch_calls"]) if t64 else "—",
            ])
        out += [f"### {operation}: {OPERATION_TEXT[operation]}", ""]
        if operation == "fit_step":
            rows = cost_rows(costs, "jax", "fit_step")
            grads = [find_row(costs, "jax", "value_and_grad", r["precision"], r["model"]) for r in rows]
            same = all(g is not None and (r["flops"], r["kernels"]) == (g["flops"], g["kernels"]) for r, g in zip(rows, grads))
            big = max(rows, key=lambda r: r["host_transfer_bytes"]) if rows else None
            if rows:
                out += [("The same XLA program as `value_and_grad` (equal flops and kernels at every size)"
                         if same else "Not always the same XLA program as `value_and_grad`")
                        + f", plus {rows[0]['host_transfers']} host↔device copies per call (up to "
                        f"{si(big['host_transfer_bytes'], 'B')}, {big['model']} at {big['precision']}).", ""]
        out += table(["model", "parameters", "flops", "transc.", "bytes 64b", "bytes 32b", "unfused bytes 64b",
                       "kernels", "fusions", "eager dispatches", "torch matmul flops", "torch calls"], body)
        out.append("")
    return out


def highest_intensity(costs) -> tuple[float, float, str]:
    """The highest arithmetic intensity (flops per byte, 64b) of any JAX row, and where."""
    best = max(cost_rows(costs, "jax", precision="64b"), key=lambda r: (r["flops"] + r["transcendentals"]) / max(r["bytes_accessed"], 1))
    return (best["flops"] + best["transcendentals"]) / best["bytes_accessed"], best["bytes_accessed"], f"{best['operation']} of {best['model']}"


def summary_for(predictions, device, operation, precision):
    return next((s for s in predictions["summary"] if s["device"] == device and s["operation"] == operation
                 and s["precision"] == precision), None)


def crossover_text(summary) -> str:
    c = summary["crossover"]
    unit = "points per call" if summary["axis"] == "batch" else "bins"
    if c["size"] is None:
        return f"not by the margin up to {summary['largest_size']:,} {unit}"
    if c.get("first_grid_size") is None:
        return f"from the smallest size ({c['size']:,} {unit})"
    return f"≈ {c['size']:,.0f} {unit}"


def ratios_by_step(merged: dict, skip_smallest: int = 0) -> dict:
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


def median(values):
    return values[len(values) // 2] if values else None


@dataclass
class Page:
    """The committed JSON the page is written from, and where the page finds its figures."""

    costs: dict
    predictions: dict
    measured: list[tuple[str, dict]]  # (path, a file of `accelerators measure` or `merge`)
    zigzags: list[dict]
    uncalibrated: dict | None  # a CPU measurement beside the uncalibrated predictions
    predictions_file: str
    figures_dir: str  # the plots' folder, relative to the page

    @property
    def cpu(self) -> dict:
        return self.predictions["inputs"]["cpu"]

    @property
    def fig(self) -> dict:
        """This CPU's measured figures (``cpu-figures``)."""
        return self.cpu["figures"]

    @property
    def devices(self) -> dict:
        return self.predictions["inputs"]["devices"]

    @property
    def versions(self) -> dict:
        return self.costs.get("versions", {})

    @property
    def calibration(self) -> dict | None:
        return self.predictions["inputs"].get("calibration")

    @property
    def compute_bound(self) -> int:
        """How many predictions (rows x devices) are compute-bound."""
        return sum(1 for r in self.predictions["rows"] for name in self.devices if r[name]["bound"] == "compute")

    @property
    def interp_4p(self) -> list[dict]:
        """The cost table's code-4p interpolator rows (JAX, 32b), smallest first."""
        return sorted(cost_rows(self.costs, "jax", "interpolate_4p", "interpolator", "32b"), key=lambda r: r["size"])

    @property
    def interp_0(self) -> list[dict]:
        return sorted(cost_rows(self.costs, "jax", "interpolate_0", "interpolator", "32b"), key=lambda r: r["size"])

    @property
    def predicted_4p(self) -> list[dict]:
        """The predictions of the code-4p interpolator at 32b, smallest first."""
        return sorted((r for r in self.predictions["rows"] if r["operation"] == "interpolate_4p"
                       and r["precision"] == "32b"), key=lambda r: r["size"])

    def eager_cost(self, operation: str) -> float:
        """The host's cost per eager primitive of *operation*: calibrated, else the jnp.add micro-benchmark."""
        return (self.calibration or {}).get("eager_dispatch", {}).get(operation, self.fig["eager_dispatch"])
