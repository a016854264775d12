"""Core: axes and skips, tiers, pyhf versions and eras, the runtime and its backends, budgets, the asv base class.

``axes`` (names, cheap skip rules), ``skip``, ``tiers``, ``pyhfversions`` (eras, API
differences), ``backends/`` (one module per pyhf backend behind one interface),
``runtime`` (``activate``, ``Runtime``), ``budgets`` (cost predictions against asv's
timeout), ``benchmark`` (``BackendBenchmark``), ``forkserver``, ``childjson`` (the
child-process protocol), ``synthetic``, ``files``, ``verdict``.
Imports nothing else of pyhf_bench; every feature package builds on it.
"""
