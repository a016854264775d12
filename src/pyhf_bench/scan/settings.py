"""What a scan scans: its settings (plain data sent with every task), its patches, and their masses."""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass

from pyhf_bench import UserError
from pyhf_bench.core.axes import check_choice
from pyhf_bench import likelihoods

#: CLs threshold of a 95% CL exclusion.
EXCLUSION_CLS = 0.05
#: Seconds to wait for a user-given Dask scheduler before giving up.
CONNECT_TIMEOUT = 10.0
#: Attempts per point: the first, and one retry (a flaky worker, a lost worker).
ATTEMPTS = 2
#: Parts of a point's time, in the order they happen.
PHASES = ("setup", "load", "build", "jit", "fit")

#: Mass axes of the built-in grids whose patch names end in the masses (GeV).
#: Patchsets name their axes themselves (``metadata.labels``).
MASS_AXES = {
    "sbottom": ("m_sbottom", "m_chi02", "m_chi01"),  # sbottom_<m(b1)>_<m(chi2_0)>_<m(chi1_0)>
    "1Lbb": ("m_chi1pm_chi02", "m_chi01"),  # C1N2_Wh_hbb_<m(chi1+-/chi2_0)>_<m(chi1_0)>
}
#: How an axis is written on the plot (matplotlib mathtext), by axis name.
AXIS_TEX = {
    "m_sbottom": r"m(\tilde{b}_1)",
    "m_chi02": r"m(\tilde{\chi}^0_2)",
    "mn2": r"m(\tilde{\chi}^0_2)",
    "m_chi01": r"m(\tilde{\chi}^0_1)",
    "mn1": r"m(\tilde{\chi}^0_1)",
    "m_chi1pm_chi02": r"m(\tilde{\chi}^\pm_1/\tilde{\chi}^0_2)",
}



@dataclass(frozen=True)
class ScanSettings:
    """Everything a worker needs to compute a point; plain data, sent with every task."""

    name: str
    region: str
    backend: str = "numpy"
    device: str = "cpu"
    precision: str = "64b"
    optimizer: str = "scipy"
    #: The client's PYHF_BENCH_DATA / PYHF_BENCH_REGISTRY, so workers read the same files
    #: (a LocalCluster inherits them anyway; remote workers need a shared filesystem).
    data_dir: str | None = None
    registry: str | None = None
    #: Whether JAX may reuse compiled models from its persistent disk cache
    #: (``core.backends.jax_backend``; ``PYHF_BENCH_JAX_CACHE``).  The benchmarks turn it off: every
    #: grid point is a new model whose compilation is part of the point, and with the
    #: cache on a scan of a grid scanned before (another worker count, the other commit
    #: of ``asv continuous``) would time cache reads instead.
    compile_cache: bool = True

    @classmethod
    def create(cls, name, region=None, backend="numpy", device="cpu", precision="64b", optimizer="scipy",
               compile_cache=True):

        for kind, value in (("backend", backend), ("device", device), ("precision", precision), ("optimizer", optimizer)):
            check_choice(kind, value)
        region, _ = likelihoods.entry(name).region(region)
        return cls(
            name, region, backend, device, precision, optimizer,
            data_dir=os.environ.get("PYHF_BENCH_DATA"), registry=os.environ.get("PYHF_BENCH_REGISTRY"),
            compile_cache=compile_cache,
        )

    @property
    def key(self) -> str:
        return f"{self.name}/{self.region}"


def select_patches(names: list[str], subset: str | None) -> list[str]:
    """The patches *subset* names, in grid order: None (all), ``first:N``, or comma-separated names / glob patterns."""
    if not names:
        raise UserError("this region has no signal patches (it is background-only): there is no grid to scan")
    if subset is None or subset.strip() == "":
        return list(names)
    subset = subset.strip()
    if subset.startswith("first:"):
        count = subset[len("first:"):]
        if not count.isdigit() or int(count) < 1:
            raise UserError(f"--patches {subset!r}: 'first:N' needs a positive whole number N")
        return list(names[: int(count)])
    chosen: set[str] = set()
    for item in (part.strip() for part in subset.split(",")):
        if not item:
            continue
        matched = fnmatch.filter(names, item) if any(c in item for c in "*?[") else [n for n in names if n == item]
        if not matched:
            shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
            raise UserError(f"--patches: {item!r} matches no patch of this region; patches are: {shown}")
        chosen.update(matched)
    return [n for n in names if n in chosen]


def grid_patches(name: str, region: str | None, subset: str | None = None) -> list[str]:
    return select_patches(likelihoods.patch_names(name, region), subset)


def mass_points(name: str, region: str | None, patches: list[str]) -> tuple[list[str], dict[str, list[float]]]:
    """(axis names, {patch: masses}) from patchset metadata, else from the numbers that end each patch name.

    A patch whose name ends in no numbers gets no masses: it is kept in the
    tables under its name, and left out of the plot.
    """

    e = likelihoods.entry(name)
    region, spec = e.region(region)
    masses: dict[str, list[float]] = {}
    axes: list[str] = list(MASS_AXES.get(name, ()))
    if "patchset" in spec:
        raw = likelihoods.read_json(e, spec["patchset"])
        axes = list(raw.get("metadata", {}).get("labels") or axes)
        for patch in raw.get("patches", []):
            values = patch.get("metadata", {}).get("values")
            if isinstance(values, list) and values and all(isinstance(v, (int, float)) for v in values):
                masses[patch["metadata"]["name"]] = [float(v) for v in values]
    for patch in patches:
        if patch in masses:
            continue
        tail = []
        for token in reversed(patch.split("_")):
            if not re.fullmatch(r"\d+(p\d+)?", token):  # 3L eRJR style: 500p0 = 500.0
                break
            tail.insert(0, float(token.replace("p", ".")))
        if tail:
            masses[patch] = tail
    width = max((len(masses[p]) for p in patches if p in masses), default=0)
    axes = (axes + [f"m{i + 1}" for i in range(len(axes), width)])[:width]
    return axes, {p: masses[p] for p in patches if p in masses and len(masses[p]) == width}


