"""Published likelihoods (and your own): the registry, a hash-checked data directory, fetching, loading, and the
inference steps and one-shot runs on them.

The modules, each importing only those below it (pyproject.toml's import-linter
contract checks it):

* :mod:`~pyhf_bench.likelihoods.runs`: ``hypotest``, ``fit`` and reference runs, judged against the registry;
* :mod:`~pyhf_bench.likelihoods.checks`: checks before a run, diagnoses after one;
* :mod:`~pyhf_bench.likelihoods.inference`: :class:`Problem`, a model with its data on a backend;
  :mod:`~pyhf_bench.likelihoods.fetching`: download from HEPData, verify, describe;
  :mod:`~pyhf_bench.likelihoods.loading`: :class:`Likelihood`, a region with its patch applied;
* :mod:`~pyhf_bench.likelihoods.patching`: signal patches;
* :mod:`~pyhf_bench.likelihoods.archive`: reading stored files (plain, gzipped, in a tar archive), hash-checked;
* :mod:`~pyhf_bench.likelihoods.registry`: ``likelihoods.json`` and the user's registry.

This package re-exports the registry, loading and fetching API (what the
benchmarks and the other features use); the inference and run modules are
imported by their own names.  Only the standard library is imported at module
level: asv imports the benchmark modules (which read the registry for their
parameters) under every pyhf version.
"""

from __future__ import annotations

from pyhf_bench.likelihoods.archive import available, read_bytes, read_json, status
from pyhf_bench.likelihoods.fetching import describe, fetch, verify
from pyhf_bench.likelihoods.loading import Likelihood, cache_loaded, load, load_cached, load_key
from pyhf_bench.likelihoods.patching import apply_patch, patch_names
from pyhf_bench.likelihoods.registry import (
    BKGONLY,
    DEFAULT_REGION,
    QUICK_ENV,
    REFERENCE_KINDS,
    REGISTRY_FILE,
    Entry,
    all_keys,
    data_dir,
    entry,
    has_signal,
    key,
    quick_keys,
    reference_targets,
    registry,
    split_key,
    store_reference,
    user_keys,
    user_registry_file,
)

__all__ = [
    "BKGONLY", "DEFAULT_REGION", "QUICK_ENV", "REFERENCE_KINDS", "REGISTRY_FILE", "Entry", "Likelihood",
    "all_keys", "apply_patch", "available", "cache_loaded", "data_dir", "describe", "entry", "fetch", "has_signal",
    "key", "load", "load_cached", "load_key", "patch_names", "quick_keys", "read_bytes", "read_json",
    "reference_targets", "registry", "split_key", "status", "store_reference", "user_keys", "user_registry_file",
    "verify",
]

