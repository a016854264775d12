"""Signal patches: which a likelihood region offers, and applying one to its background-only workspace.

A region names its patches either as a file pattern (``patches``, e.g.
``patch_{name}.json``) or as one pyhf patchset file (``patchset``).
jsonpatch and pyhf are imported inside :func:`apply_patch` only: heavy, and
asv imports the benchmarks (which list the registry) under every pyhf version.
"""

from __future__ import annotations

import re

from pyhf_bench import UserError
from pyhf_bench.likelihoods.archive import read_json
from pyhf_bench.likelihoods.registry import BKGONLY, Entry, entry


def _pattern_regex(pattern: str) -> re.Pattern:
    before, _, after = pattern.partition("{name}")
    return re.compile(re.escape(before) + r"(?P<name>[^/]+)" + re.escape(after) + r"\Z")


def patch_names(name: str, region: str | None = None) -> list[str]:
    """The signal patches available for a region (empty for background-only likelihoods)."""
    e = entry(name)
    region, spec = e.region(region)
    if "patchset" in spec:
        return [p["metadata"]["name"] for p in read_json(e, spec["patchset"])["patches"]]
    if "patches" in spec:
        regex = _pattern_regex(spec["patches"])
        candidates = list(e.files)
        if e.user:
            root = e.root()
            glob = spec["patches"].replace("{name}", "*")
            candidates = [str(p.relative_to(root)) for p in root.glob(glob)]
        return sorted(m["name"] for m in map(regex.match, candidates) if m)
    return []


def apply_patch(e: Entry, region: str, spec: dict, workspace: dict, patch: str) -> dict:
    import jsonpatch  # only where a patch is applied

    if "patchset" in spec:
        import pyhf  # heavy: imported where used, not when asv lists the benchmarks

        raw = read_json(e, spec["patchset"])
        try:
            patchset = pyhf.PatchSet(raw)
        except pyhf.exceptions.InvalidSpecification as exc:
            raise UserError(f"the patchset of {e.name}/{region} fails pyhf's schema: {exc}") from None
        try:
            patch_obj = patchset[patch]
        except (KeyError, pyhf.exceptions.InvalidPatchLookup):
            raise UserError(_unknown_patch(e, region, patch)) from None
        ops = patch_obj.patch
    elif "patches" in spec:
        rel = spec["patches"].replace("{name}", patch)
        if not e.user and rel not in e.files:
            raise UserError(_unknown_patch(e, region, patch))
        ops = read_json(e, rel)
        if isinstance(ops, dict) and "patch" in ops:  # a single pyhf Patch object rather than a bare op list
            ops = ops["patch"]
    else:
        raise UserError(f"{e.name}/{region} is background-only: it has no signal patches (use --patch {BKGONLY})")
    try:
        return jsonpatch.apply_patch(workspace, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise UserError(f"patch {patch!r} does not apply to {e.name}/{region}: {exc}") from None


def _unknown_patch(e: Entry, region: str, patch: str) -> str:
    names = patch_names(e.name, region)
    shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
    return f"likelihood {e.name}/{region} has no patch {patch!r}; available: {shown or 'none'}"

