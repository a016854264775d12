"""The accelerator page's figures (PNG and SVG): work vs size, predicted and measured times, the #301 sweeps."""

from __future__ import annotations

from pathlib import Path

from pyhf_bench.reporting.report import save_figure


def _pyplot():
    import matplotlib  # heavy, and optional (the report extra)

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


