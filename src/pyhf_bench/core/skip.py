"""The one exception a combination that cannot run here raises.

A module of its own because both the axes (:mod:`pyhf_bench.core.axes`) and the
backends (:mod:`pyhf_bench.core.backends`) raise it, and the axes list the backends.
"""


class Skip(NotImplementedError):
    """This combination cannot run here; asv records it as skipped (n/a) with this reason."""
