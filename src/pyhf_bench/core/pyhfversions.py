"""pyhf versions: the pinned environment eras (``eras.json``) they are benchmarked in, and their API differences.

pyhf is imported inside the functions that call it: it is heavy, and this
module is imported by every benchmark process, skips included.
"""

from __future__ import annotations

import functools
import json
import os
import re
from importlib import resources

from pyhf_bench import UserError
from pyhf_bench.core.skip import Skip

ERA_ENV = "PYHF_BENCH_ERA"  # set by asv.conf.json's matrix for each pinned environment era


def version_tuple(version: str) -> tuple[int, ...]:
    """The release part of a version string: '0.7.6' -> (0, 7, 6); '0.7.7.dev3+g1a2b' -> (0, 7, 7)."""
    release = []
    for part in version.split("+")[0].split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        release.append(int(digits))
        if digits != part:  # '6rc1', '7dev3': pre-release marker ends the release part
            break
    return tuple(release)


@functools.lru_cache(maxsize=None)
def eras() -> dict[str, dict]:
    """The pinned environment eras (``eras.json``), keyed by name."""
    text = resources.files("pyhf_bench.core").joinpath("eras.json").read_text()
    return {era["name"]: era for era in json.loads(text)["eras"]}


def era_for_version(version: str) -> str | None:
    """The era whose pyhf range holds *version*, or None."""
    release = version_tuple(version)
    for name, era in eras().items():
        low = version_tuple(era["pyhf_min"])
        high = version_tuple(era["pyhf_max"]) if era.get("pyhf_max") else None
        if release >= low and (high is None or release < high):
            return name
    return None


def check_era(pyhf_version: str) -> None:
    """Skip when asv runs this pyhf *release* in an era environment not meant for it.

    Outside asv's era environments (``--python=same``, the CLI) nothing is checked.
    A development version (``0.7.1.dev412``) is not checked: on pyhf's main its
    version names a release long before its code, so its era comes from its date
    and declared requirements, which only the planner sees (``eraplan``).
    """
    era = os.environ.get(ERA_ENV)
    if not era:
        return
    if era not in eras():
        raise UserError(f"{ERA_ENV}={era!r} is not an era in eras.json; choose one of: {', '.join(eras())}")
    if not re.fullmatch(r"\d+(\.\d+)*", pyhf_version.split("+")[0]):
        return
    wanted = era_for_version(pyhf_version)
    if wanted != era:
        raise Skip(
            f"pyhf {pyhf_version} is benchmarked in the {wanted!r} era, not in {era!r} "
            f"(see eras.json; `pyhf-bench run` picks the era per commit)"
        )


def pyhf_version() -> str:
    import pyhf  # heavy: only when asked

    return getattr(pyhf, "__version__", "0")


def upper_limit(data, model, scan, level=0.05):
    """Observed and expected upper limits on the POI from a fixed scan, for every pyhf version.

    pyhf 0.7 moved ``pyhf.infer.intervals.upperlimit`` to
    ``pyhf.infer.intervals.upper_limits.upper_limit`` (and deprecated the old name).
    """
    import pyhf  # heavy: only when asked

    intervals = pyhf.infer.intervals
    function = getattr(getattr(intervals, "upper_limits", None), "upper_limit", None) or intervals.upperlimit
    try:
        return function(data, model, scan, level=level)
    except (ValueError, AttributeError, TypeError) as exc:
        backend = pyhf.tensorlib.name
        if backend not in ("pytorch", "tensorflow"):
            raise
        # pyhf (0.7.6 at least) post-processes the scan with numpy idioms that torch
        # and TF tensors reject (e.g. reversed slicing `[::-1]`): a pyhf limitation on
        # these backends, not an error of the benchmark.
        raise Skip(
            f"pyhf {getattr(pyhf, '__version__', '?')}'s upper-limit scan fails on the {backend} backend: "
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        ) from None


def interpolator(code, histogramssets):
    """pyhf's tensorised interpolator for *code* (0, 1, 2, 4 or '4p') built on *histogramssets*."""
    import pyhf  # heavy: only when asked

    return pyhf.interpolators.get(code)(histogramssets)
