"""The benchmark axes (backend x device x precision x optimizer, tiers, grids) and the cheap skip rules.

Only the standard library and the suite's light modules are imported here: the
module is imported by every benchmark process (asv spawns one per parameter
combination) and under every pyhf version from 0.6.3 to main, and the cheap
reasons a combination cannot run (:func:`check_runnable`) are checked before
anything heavy is imported, so skipping costs milliseconds.  An unknown name is
bad input, not a skip: :class:`pyhf_bench.UserError`.
"""

from __future__ import annotations

import glob
import os

from pyhf_bench import UserError
from pyhf_bench.core.backends import REGISTRY
from pyhf_bench.core.skip import Skip

BACKENDS = tuple(REGISTRY)
DEVICES = ("cpu", "gpu", "tpu")
PRECISIONS = ("64b", "32b")
OPTIMIZERS = ("scipy", "minuit")
TIERS = ("quick", "full")
#: The whole signal grids the full tier scans (benchmarks/grid_scans.py), and its Dask worker
#: counts (0: in the benchmark process).  Here, not in the benchmark module, because
#: ``pyhf-bench tier-time`` splits these scans into shards of their own.
WHOLE_GRIDS = ("sbottom/RegionA", "1Lbb/all", "3L-eRJR/all")
GRID_WORKERS = (0, 1, 2, 4, 8)

CHOICES = {
    "backend": BACKENDS,
    "device": DEVICES,
    "precision": PRECISIONS,
    "optimizer": OPTIMIZERS,
    "tier": TIERS,
}

BACKENDS_ENV = "PYHF_BENCH_BACKENDS"


def check_choice(kind: str, value: str) -> str:
    """Return *value* if it is a known *kind* name, else raise one clear UserError."""
    allowed = CHOICES[kind]
    if value not in allowed:
        raise UserError(f"unknown {kind} {value!r}; choose one of: {', '.join(allowed)}")
    return value


def selected_backends() -> tuple[str, ...]:
    """The backends ``PYHF_BENCH_BACKENDS`` (comma-separated) selects; all of them when unset.

    For machines or CI jobs that benchmark a subset: the others skip cheaply,
    before any framework is imported, and the parameter lists stay fixed.
    """
    value = os.environ.get(BACKENDS_ENV, "").strip()
    if not value:
        return BACKENDS
    chosen = tuple(b.strip().lower() for b in value.split(",") if b.strip())
    for backend in chosen:
        try:
            check_choice("backend", backend)
        except UserError as exc:
            raise UserError(f"{BACKENDS_ENV}={value!r}: {exc}") from None
    return chosen


def device_node_present(device: str) -> bool:
    """Cheap first look for an accelerator, before any framework is imported.

    A GPU shows up as NVIDIA (/dev/nvidia0...) or ROCm (/dev/kfd) device nodes,
    a Cloud TPU VM as /dev/accel* or /dev/vfio/* nodes or TPU_NAME/COLAB_TPU_ADDR.
    The framework is still asked afterwards; this only makes "no GPU here" cheap.
    """
    if device == "cpu":
        return True
    if device == "gpu":
        return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")
    if device == "tpu":
        return (
            bool(glob.glob("/dev/accel[0-9]*"))
            or bool(glob.glob("/dev/vfio/[0-9]*"))
            or bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"))
        )
    raise UserError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")


def accelerator_present() -> bool:
    """Whether this machine shows a GPU or TPU device node (cheap; no framework is asked)."""
    return device_node_present("gpu") or device_node_present("tpu")


def check_runnable(backend: str, device: str = "cpu", precision: str = "64b", optimizer: str = "scipy") -> None:
    """The cheap reasons a combination cannot run here, checked before anything heavy is imported or loaded.

    Most of the full tier's combinations skip on a CPU-only machine; each is a
    process of its own, so its skip must cost next to nothing.
    """
    for kind, value in (("backend", backend), ("device", device), ("precision", precision), ("optimizer", optimizer)):
        check_choice(kind, value)
    if backend not in selected_backends():
        raise Skip(f"the {backend} backend is not selected ({BACKENDS_ENV}={os.environ.get(BACKENDS_ENV)})")
    reason = REGISTRY[backend].no_device_path.get(device)
    if reason:
        raise Skip(reason)
    if not device_node_present(device):
        raise Skip(f"no {device} on this machine")
