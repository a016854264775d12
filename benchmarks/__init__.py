"""The asv benchmark suite.

asv's forkserver imports this package before it forks one process per
benchmark: the one place the suite preloads pyhf there (and only there; see
:func:`pyhf_bench.core.forkserver.preload_in_forkserver`).
"""

from pyhf_bench.core.forkserver import preload_in_forkserver

preload_in_forkserver()
