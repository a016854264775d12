"""Seeded synthetic HistFactory models: the suite's embedded default (no download needed).

Append-only: a (n_bins, seed) pair must keep producing the same model forever,
or benchmark histories stop being comparable.  Change the recipe only by
adding a new keyword whose default keeps the old output.  The standard
library's ``random.Random`` is used because its stream is stable across Python
versions, unlike numpy's ``Generator`` (and numpy differs between eras).

Every model exercises the modifiers real likelihoods use: normfactor (the POI
``mu``), lumi, normsys, histosys, shapesys (Poisson) and staterror (Gaussian).
"""

from __future__ import annotations

import math
import random

#: Model sizes (total number of bins) the benchmarks sweep.
SIZES = (1, 10, 100, 1000)

LUMI = {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017], "bounds": [[0.915, 1.085]], "inits": [1.0]}


def channel_layout(n_bins: int) -> list[int]:
    """Bins per channel: one channel up to 100 bins, then up to 4 channels of equal size."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    n_channels = max(1, min(4, n_bins // 100))
    base, extra = divmod(n_bins, n_channels)
    return [base + (1 if i < extra else 0) for i in range(n_channels)]


def make_spec(n_bins: int, seed: int = 0) -> dict:
    """A pyhf model spec (``channels`` + ``parameters``) with *n_bins* bins in total."""
    rng = random.Random(f"pyhf-bench-synthetic-{n_bins}-{seed}")
    channels = []
    for c, bins in enumerate(channel_layout(n_bins)):
        # A falling background and a signal peaking mid-channel, so bins differ.
        bkg1 = [rng.uniform(80.0, 120.0) * math.exp(-1.5 * i / max(bins, 1)) for i in range(bins)]
        bkg2 = [rng.uniform(20.0, 40.0) for _ in range(bins)]
        centre = (bins - 1) / 2
        signal = [rng.uniform(4.0, 6.0) * math.exp(-(((i - centre) / max(bins / 4, 1)) ** 2)) + 0.5 for i in range(bins)]
        shape = [rng.uniform(0.02, 0.08) for _ in range(bins)]
        channels.append(
            {
                "name": f"SR{c}",
                "samples": [
                    {
                        "name": "signal",
                        "data": signal,
                        "modifiers": [
                            {"name": "mu", "type": "normfactor", "data": None},
                            {"name": "lumi", "type": "lumi", "data": None},
                        ],
                    },
                    {
                        "name": "bkg1",
                        "data": bkg1,
                        "modifiers": [
                            {"name": "bkg1_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.94}},
                            {
                                "name": "bkg1_shape",
                                "type": "histosys",
                                "data": {
                                    "hi_data": [b * (1 + s) for b, s in zip(bkg1, shape)],
                                    "lo_data": [b * (1 - 0.8 * s) for b, s in zip(bkg1, shape)],
                                },
                            },
                            {"name": f"staterror_SR{c}", "type": "staterror", "data": [0.05 * b for b in bkg1]},
                            {"name": "lumi", "type": "lumi", "data": None},
                        ],
                    },
                    {
                        "name": "bkg2",
                        "data": bkg2,
                        "modifiers": [
                            {"name": "bkg2_norm", "type": "normsys", "data": {"hi": 1.10, "lo": 0.90}},
                            {"name": f"bkg2_mc_SR{c}", "type": "shapesys", "data": [0.1 * b for b in bkg2]},
                        ],
                    },
                ],
            }
        )
    return {"channels": channels, "parameters": [dict(LUMI)]}


def make_observations(spec: dict) -> list[dict]:
    """Background-only observations (rounded nominal background), per channel."""
    observations = []
    for channel in spec["channels"]:
        totals = [0.0] * len(channel["samples"][0]["data"])
        for sample in channel["samples"]:
            if sample["name"] == "signal":
                continue
            totals = [t + x for t, x in zip(totals, sample["data"])]
        observations.append({"name": channel["name"], "data": [float(round(t)) for t in totals]})
    return observations


def make_workspace(n_bins: int, seed: int = 0) -> dict:
    """A complete pyhf workspace (channels, observations, measurement with POI ``mu``)."""
    spec = make_spec(n_bins, seed)
    return {
        "channels": spec["channels"],
        "observations": make_observations(spec),
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": spec["parameters"]}}],
        "version": "1.0.0",
    }


def make_data(model, spec: dict | None = None) -> list[float]:
    """Observed main data (the background-only observations of *spec*) plus the model's auxdata.

    Without *spec*, the model's nominal expectation (rounded) is used.
    """
    if spec is not None:
        main = [x for obs in make_observations(spec) for x in obs["data"]]
    else:
        import pyhf

        tensorlib = pyhf.tensorlib
        expected = tensorlib.tolist(model.expected_actualdata(tensorlib.astensor(model.config.suggested_init())))
        main = [float(round(x)) for x in expected]
    return main + [float(x) for x in model.config.auxdata]


def make_histogramssets(n_sys: int, n_bins: int, seed: int = 0) -> list:
    """(n_sys, 1 sample, [down, nominal, up], n_bins) histograms for pyhf's interpolators, seeded.

    Moved here from ``benchmarks/interpolators.py`` (same seed strings, same
    output) so that ``pyhf-bench costs`` counts the interpolators the benchmarks time.
    """
    rng = random.Random(f"pyhf-bench-interp-{n_sys}-{n_bins}-{seed}")
    sets = []
    for _ in range(n_sys):
        nominal = [rng.uniform(10.0, 100.0) for _ in range(n_bins)]
        down = [x * rng.uniform(0.85, 0.98) for x in nominal]
        up = [x * rng.uniform(1.02, 1.15) for x in nominal]
        sets.append([[down, nominal, up]])
    return sets


def make_alphasets(n_sys: int) -> list:
    """The nuisance-parameter values the interpolator benchmarks evaluate at: one per systematic."""
    rng = random.Random(f"pyhf-bench-alphas-{n_sys}")
    return [[rng.uniform(-2.0, 2.0)] for _ in range(n_sys)]
