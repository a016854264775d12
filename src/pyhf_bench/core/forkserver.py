"""What asv's forkserver imports before it forks the benchmark processes (:func:`preload_in_forkserver`).

Called once, explicitly, from ``benchmarks/__init__.py``: asv's forkserver
imports the benchmark package before it forks (asv_runner ``server.py``:
``disc_benchmarks`` on "preimport"), and importing this module does nothing.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys

from pyhf_bench import UserError
from pyhf_bench.core.axes import accelerator_present, selected_backends
from pyhf_bench.core.backends import REGISTRY


def is_asv_forkserver(argv: list[str]) -> bool:
    """True in the process asv starts as ``<asv>/benchmark.py run_server DIR SOCKET`` (launch method forkserver).

    Not in the processes multiprocessing spawns from a benchmark (a Dask
    LocalCluster's nanny and workers): spawn hands them the parent's
    ``sys.argv``, so they would otherwise take themselves for the server.
    """
    if multiprocessing.parent_process() is not None:
        return False
    return len(argv) >= 2 and os.path.basename(argv[0]) == "benchmark.py" and argv[1] == "run_server"


PRELOAD_ENV = "PYHF_BENCH_PRELOAD"  # what asv's forkserver imports: pyhf (default) | frameworks

#: What ``PYHF_BENCH_PRELOAD=frameworks`` adds for each backend: the framework modules pyhf's
#: backend module imports (not pyhf's backend modules themselves, whose lazy registration in
#: ``pyhf.tensor`` belongs to the process that selects the backend).
FORKSERVER_FRAMEWORKS = {name: backend.forkserver_modules for name, backend in REGISTRY.items()
                         if backend.forkserver_modules}


def preload_in_forkserver(argv: list[str] | None = None) -> list[str]:
    """In asv's forkserver only, import pyhf (and with ``PYHF_BENCH_PRELOAD=frameworks`` the frameworks) before it forks.

    asv forks every parameter combination from one server process that has
    imported the suite, so what the server imported is shared: a combination
    that runs then skips those imports, and every fork, skips included, copies
    the server's page tables.  Measured here (2-core EPYC):

    * pyhf (default): its 1.2 s import is saved in each running combination,
      and a fork stays cheap (server RSS 111 MB: 9 ms per fork and exit).
      pyhf's import activates its numpy backend and touches no device.
    * ``frameworks`` (set by ``pyhf-bench asv-run``): also jax, torch and
      tensorflow, whose activation in a forked child then takes 2.1, 0.04 and
      0.2 s instead of 6.0, 1.3 and 5.9 s; but the server holds ~1 GB and each
      fork costs 36 ms.  Under plain ``asv run --quick``, which forks ~12,000
      combinations only to skip them, that made the quick tier slower (962 s
      against 797 s); with ``asv-run``'s selection only what runs is forked.
      Never where :func:`accelerator_present`: importing a framework here
      initialises no device and starts no thread (the server stays
      single-threaded, so forking it is safe), but CUDA initialised before a
      fork breaks every child, and whether a framework's import does so is not
      something to find out in the middle of a run on a GPU machine.  Only the
      selected backends (``PYHF_BENCH_BACKENDS``), each only if it imports: a
      framework that cannot import is the benchmark's skip to report.

    The child still selects its backend, device and precision itself
    (:func:`pyhf_bench.core.runtime.activate`): switching backends there works as in a fresh process.
    Nowhere else: under ``--launch-method spawn`` every combination, skips
    included, is a fresh interpreter, and a skip must cost milliseconds.
    ``ImportPyhf`` times the import in a fresh interpreter (``timeraw_``), so no
    timing changes; ``peakmem_`` values do (shared pages a child does not touch
    are not its own).  Never raises.  Returns the top-level modules it imported.
    """
    if not is_asv_forkserver(sys.argv if argv is None else argv):
        return []
    loaded = []
    try:
        import pyhf  # noqa: F401 - heavy: the point is to import it here, in the server only
    except Exception:
        return loaded
    loaded.append("pyhf")
    if os.environ.get(PRELOAD_ENV, "pyhf").strip().lower() != "frameworks" or accelerator_present():
        return loaded
    try:
        backends = selected_backends()
    except UserError:
        return loaded  # each benchmark reports the bad PYHF_BENCH_BACKENDS itself
    for backend in backends:
        modules = FORKSERVER_FRAMEWORKS.get(backend)
        if not modules:  # numpy: pyhf imported it
            continue
        try:
            for module in modules:
                importlib.import_module(module)
        except Exception:  # noqa: BLE001 - any import failure is the child's skip to report
            continue
        loaded.append(modules[0])
    return loaded
