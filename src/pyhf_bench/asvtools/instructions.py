"""Executed-instruction counts of one benchmark operation, under valgrind's callgrind.

Wall time on a shared 2-core VM swings by tens of percent between identical runs;
the number of instructions the CPU executes for the same work does not.  This
module runs a benchmark's own ``setup`` and then its timed method *N* times in a
child process under ``valgrind --tool=callgrind`` and returns the instructions
per call.  Only the operation is counted: callgrind starts with instrumentation
off (``--instr-atstart=no``), so imports and setup run uninstrumented (about 5x slower than native instead of about 50x), and
the child switches instrumentation on before the loops with callgrind's client
requests (every thread then counts) and dumps the counters after each loop.

Client requests are the "magic" no-op instruction sequence of ``valgrind.h``;
they are issued here from a few bytes of x86-64 machine code in an executable
page, called through ctypes, so nothing needs a C compiler.  Outside valgrind the
sequence does nothing and returns its default, which is how the child checks that
it really runs under valgrind.

Determinism: thread pools pinned to one thread (OpenMP, MKL, OpenBLAS, XLA's
Eigen pool, torch's intra/inter-op pools) and ``PYTHONHASHSEED`` fixed, so the
same code takes the same path; see docs/instruction-counts.md for what the
counts do not capture (memory stalls, SIMD width, threading).

The ``instruction_counts`` asv benchmarks call :func:`count`; ``pyhf-bench
instructions`` runs it from the command line.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.asvtools import selection
from pyhf_bench.core.skip import Skip

#: The factor of the instruction gate: counts repeat to about 0.2 % (docs/instruction-counts.md),
#: so 1 % is five times the noise and below the 2 % slowdowns the proof injects.
DEFAULT_INSTRUCTION_FACTOR = 1.01

#: The two loop lengths (calls of the operation) counted in one process; their
#: difference is what counts (see `count`). Each call is the same work on warm state
#: (the benchmark's setup warmed it up); longer loops only cost time.
DEFAULT_LOOPS = (1, 3)
#: Uninstrumented calls before counting (see `_child`).
DEFAULT_WARMUP = 10
HASH_SEED = "0"

#: The environment of the counted child: one thread everywhere and a fixed hash seed.
PINNED_ENV = {
    "PYTHONHASHSEED": HASH_SEED,
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "JAX_PLATFORMS": "cpu",
    # Fewer hand-offs to JAX's pool threads. It does not make JAX's counts repeatable: three
    # counts of the jitted 100-bin gradient spread 22 % with async dispatch and 15 % without
    # (measured here; even the main thread's share varies 4 %): waits that spin while valgrind
    # runs another thread count a scheduling-dependent number of instructions. Hence
    # GATED_BACKENDS.
    "JAX_CPU_ENABLE_ASYNC_DISPATCH": "false",
    "CUDA_VISIBLE_DEVICES": "",
}

# callgrind.h: VG_USERREQ_TOOL_BASE('C','T') and the requests after it (in enum order).
_CALLGRIND_BASE = (ord("C") << 24) | (ord("T") << 16)
DUMP_STATS = _CALLGRIND_BASE
TOGGLE_COLLECT = _CALLGRIND_BASE + 2
START_INSTRUMENTATION = _CALLGRIND_BASE + 4
STOP_INSTRUMENTATION = _CALLGRIND_BASE + 5
RUNNING_ON_VALGRIND = 0x1001  # valgrind.h, core request

# valgrind.h's amd64 VALGRIND_DO_CLIENT_REQUEST_EXPR as a function
# ``unsigned long f(unsigned long args[6], unsigned long default)`` (System V ABI):
#   mov rax, rdi; mov rdx, rsi; rol rdi,3; rol rdi,13; rol rdi,61; rol rdi,51;
#   xchg rbx, rbx (the request: rdx = request(rax)); mov rax, rdx; ret
_AMD64_CLIENT_REQUEST = bytes.fromhex(
    "4889f8" "4889f2" "48c1c703" "48c1c70d" "48c1c73d" "48c1c733" "4887db" "4889d0" "c3"
)

#: The instruction-count benchmarks (benchmarks/instruction_counts.py): class -> the timed
#: benchmark (module, class, method) whose setup and method it counts. Their parameters are
#: the timed benchmark's (a subset of the values), so the two names pair up in `timed_name`.
MIRRORS = {
    "SyntheticLogpdf": ("synthetic_models", "Logpdf", "time_logpdf"),
    "SyntheticNLLGradient": ("synthetic_models", "NLLGradient", "time_value_and_grad"),
    "SyntheticFit": ("synthetic_models", "Fit", "time_fit"),
    "SyntheticHypotest": ("synthetic_models", "Hypotest", "time_hypotest"),
    "PublishedLogpdf": ("published_likelihoods", "Logpdf", "time_logpdf"),
}
BENCHMARK_MODULE = "instruction_counts"
#: The backends whose counts repeat to a fraction of a percent (measured: numpy, <= 0.24 % over
#: 10 processes): `review` gates on these only and shows the others (JAX: 15 % spread, see
#: PINNED_ENV; PyTorch repeats to 0.33 % over 3 processes but has no proof yet; TensorFlow:
#: one count) without judging them. See docs/instruction-counts.md.
GATED_BACKENDS = ("numpy",)
METHOD = "track_instructions"

_TOTALS = re.compile(r"^(?:summary|totals):\s*(\d+)", re.M)


class ClientRequests:
    """Issue valgrind client requests from Python (x86-64 only)."""

    def __init__(self):
        import ctypes
        import mmap

        if platform.machine().lower() not in ("x86_64", "amd64"):
            raise UserError(f"instruction counts issue valgrind client requests in x86-64 code; "
                            f"this machine is {platform.machine()}")
        self._page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._page.write(_AMD64_CLIENT_REQUEST)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._page))
        self._call = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong), ctypes.c_ulong)(address)
        self._args = (ctypes.c_ulong * 6)()

    def request(self, code: int, default: int = 0) -> int:
        self._args[0] = code
        for i in range(1, 6):
            self._args[i] = 0
        return self._call(self._args, default)

    def running_on_valgrind(self) -> bool:
        return self.request(RUNNING_ON_VALGRIND, 0) != 0


def timed_name(name: str) -> str:
    """asv's name of the timed benchmark an instruction-count benchmark counts (*name* itself if none).

    ``instruction_counts.SyntheticLogpdf.track_instructions('numpy', 'cpu', '64b', 100)``
    -> ``synthetic_models.Logpdf.time_logpdf('numpy', 'cpu', '64b', 100)``."""
    head, paren, rest = name.partition("(")
    parts = head.split(".")
    if len(parts) != 3 or parts[0] != BENCHMARK_MODULE or parts[1] not in MIRRORS or parts[2] != METHOD:
        return name
    return ".".join(MIRRORS[parts[1]]) + paren + rest


def gated(name: str) -> bool:
    """Whether the instruction benchmark *name* (asv's display name) is one `review` judges."""
    return any(f"'{backend}'" in name.partition("(")[2] for backend in GATED_BACKENDS)


def valgrind_path() -> str | None:
    return shutil.which("valgrind")


def _load_class(file: str, name: str):
    """The benchmark class *name* of the benchmark file *file* (imported as asv would: by path)."""
    import importlib.util

    path = Path(file).resolve()
    # asv puts the benchmark directory on sys.path; its modules import each other by name.
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"pyhf_bench_counted_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _child(args: dict) -> int:
    """In the counted process: the benchmark's setup, then *calls* calls of its method, counted."""
    requests = ClientRequests()
    if args["valgrind"] and not requests.running_on_valgrind():
        print("pyhf-bench instructions: this child does not run under valgrind", file=sys.stderr)
        return 3
    cls = _load_class(args["file"], args["class"])
    bench = cls()
    params = list(args["params"])
    if hasattr(bench, "setup_cache"):
        params.insert(0, bench.setup_cache())  # asv passes setup_cache's value first
    try:
        bench.setup(*params)
    except (Skip, NotImplementedError) as exc:
        print(json.dumps({"skip": str(exc)}), flush=True)
        return 0
    method = getattr(bench, args["method"])
    if args.get("torch_threads"):
        _pin_torch()
    # As asv's timer (timeit) does: no garbage collection inside the measured calls, whose
    # cost would depend on what setup left behind rather than on the operation.
    # Warm-up calls, uninstrumented (fast): Python 3.11+ specialises a function's bytecode
    # only after several calls, so the first calls after setup's single warm-up call cost
    # more (measured: the 10-bin numpy logpdf falls from 1.25 M instructions per call in
    # the first call to 1.19 M over the next eight). asv's timings are of that steady state.
    for _ in range(int(args["warmup"])):
        method(*params)
    gc.collect()
    gc.disable()
    # Every thread counts from here (--collect-atstart=yes takes effect when instrumentation
    # starts): XLA, TensorFlow and torch may run the work on pool threads, and callgrind's
    # TOGGLE_COLLECT would switch the calling thread only. Whatever else those threads do
    # meanwhile is counted too: the reason for one thread per pool (PINNED_ENV).
    requests.request(START_INSTRUMENTATION)
    requests.request(DUMP_STATS)  # zeroes the counters: the instrumentation switch itself is not counted
    for calls in args["loops"]:
        # One dump per loop: the counts of loops of different lengths, differenced by the
        # parent, cancel what is not the operation (the requests, the loop's first-call costs).
        for _ in range(calls):
            method(*params)
        requests.request(DUMP_STATS)
    requests.request(STOP_INSTRUMENTATION)
    gc.enable()
    pyhf = sys.modules.get("pyhf")
    print(json.dumps({"loops": args["loops"], "pyhf": getattr(pyhf, "__file__", None)}), flush=True)
    return 0


def _pin_torch() -> None:
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(1)


def count(file: str, cls: str, method: str, params: list, loops: tuple[int, int] = DEFAULT_LOOPS,
          warmup: int = DEFAULT_WARMUP, timeout: float = 1800, keep: Path | None = None, env: dict | None = None) -> dict:
    """Instructions per call of ``cls.method(*params)`` of benchmark file *file*, after its ``setup``.

    One counted process runs the benchmark's setup, then two loops of the method
    (*loops* calls each), each counted alone; the count per call is the difference
    over the difference in calls.  Returns ``{"instructions": per call, "counts":
    [per loop], "loops": loops}``, or ``{"skip": reason}`` where the benchmark's
    setup skips.  Raises UserError where valgrind is missing or the child fails.
    *env*: extra environment of the child (e.g. the tier its setup checks: the
    caller has already decided the tier)."""
    short, long = loops
    if not 0 <= short < long:
        raise UserError(f"loops {loops}: give two loop lengths, the second longer")
    valgrind = valgrind_path()
    if valgrind is None:
        raise UserError("valgrind is not installed; install it (Debian: apt-get install valgrind)")
    work = Path(tempfile.mkdtemp(prefix="pyhf-bench-instructions-")) if keep is None else keep
    try:
        out_file = work / "callgrind.out"
        payload = json.dumps({"file": str(Path(file).resolve()), "class": cls, "method": method,
                              "params": list(params), "loops": [short, long], "warmup": warmup, "valgrind": True,
                              "torch_threads": True})
        cmd = [*no_aslr(), valgrind, "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=yes",
               f"--callgrind-out-file={out_file}", "--trace-children=no",
               sys.executable, "-m", "pyhf_bench.asvtools.instructions", "--child", payload]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, timeout=timeout,
                              env=dict(os.environ, **PINNED_ENV, **(env or {})))
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise UserError(f"the counted run of {cls}.{method}{tuple(params)} failed "
                            f"(exit {proc.returncode}): {tail}; rerun with --keep DIR to see callgrind's output")
        result = json.loads(lines[-1])
        if "skip" in result:
            return result
        counts = dump_totals(out_file, 3)[1:]  # dump 1: up to the start of the first loop
        return {"instructions": (counts[1] - counts[0]) / (long - short), "counts": counts, "loops": [short, long],
                "pyhf": result.get("pyhf"), "aslr_off": bool(no_aslr())}
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def no_aslr() -> list[str]:
    """``setarch ARCH -R`` where it works here (else nothing): address-space randomisation off.

    Allocation addresses decide how many elements numpy's SIMD loops peel off to reach an
    aligned start, and id()-based hashes decide set and dict orders; with randomisation on,
    three counts of the 100-bin numpy logpdf spread 0.30 %, with it off 0.03 % (measured here)."""
    setarch = shutil.which("setarch")
    if setarch is None:
        return []
    cmd = [setarch, platform.machine(), "-R"]
    if subprocess.run([*cmd, "true"], capture_output=True).returncode != 0:
        return []  # e.g. a container whose seccomp policy forbids personality()
    return cmd


def dump_totals(out_file: Path, dumps: int) -> list[int]:
    """The instruction totals of callgrind's first *dumps* dumps (``OUT.1``, ``OUT.2``, ...), in order."""
    totals = []
    for i in range(1, dumps + 1):
        path = out_file.with_name(f"{out_file.name}.{i}")
        match = _TOTALS.search(path.read_text()) if path.is_file() else None
        if not match:
            raise UserError(f"callgrind wrote no instruction total to {path}; is this valgrind's callgrind?")
        totals.append(int(match.group(1)))
    return totals


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "--child":
        return _child(json.loads(argv[1]))
    print("usage: python -m pyhf_bench.asvtools.instructions --child JSON (internal; use `pyhf-bench instructions`)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------- `pyhf-bench instructions`


def quick_combinations(benchmark_dir: Path, within: list[str] | None = None, full: bool = False) -> list[tuple[str, list]]:
    """(class name, parameter values) of every quick-tier (*full*: every) instruction_counts combination
    matching *within*."""

    out = []
    patterns = [re.compile(p) for p in within or []]
    for combo in selection.combinations(benchmark_dir):
        if not combo.benchmark.startswith(BENCHMARK_MODULE + ".") or not (combo.quick or full):
            continue
        if patterns and not any(p.search(combo.name) for p in patterns):
            continue
        out.append((combo.benchmark.split(".")[1], [_literal(i) for i in combo.ids]))
    return out


def _literal(text: str):
    import ast

    return ast.literal_eval(text)


def survey(benchmark_dir: Path, repeats: int, within: list[str] | None = None, full: bool = False, log=print) -> dict:
    """Count every quick-tier (*full*: every) instruction benchmark *repeats* times, each in its own process."""
    import time

    bench_file = benchmark_dir / f"{BENCHMARK_MODULE}.py"
    sys.path.insert(0, str(benchmark_dir))
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location(BENCHMARK_MODULE, bench_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(benchmark_dir))
    rows = []
    import os

    # The instruction benchmarks' own setup checks the tier; the survey has chosen the combinations.
    os.environ["PYHF_BENCH_TIER"] = "full" if full else os.environ.get("PYHF_BENCH_TIER", "quick")
    for cls_name, params in quick_combinations(benchmark_dir, within, full):
        bench = getattr(module, cls_name)()
        counts, seconds, skip = [], [], None
        for _ in range(repeats):
            started = time.monotonic()
            try:
                bench.setup(*params)
                counts.append(bench.track_instructions(*params))
            except NotImplementedError as exc:  # core.skip.Skip
                skip = str(exc)
                break
            seconds.append(round(time.monotonic() - started, 1))
        name = f"{BENCHMARK_MODULE}.{cls_name}.{METHOD}({', '.join(repr(p) for p in params)})"
        row = {"benchmark": name, "timed": timed_name(name), "counts": counts, "seconds": seconds, "skip": skip}
        if counts:
            row["spread"] = max(counts) / min(counts) - 1
        rows.append(row)
        log(f"{name}: " + (f"skipped: {skip}" if skip else f"{min(counts):.0f}-{max(counts):.0f} instructions "
                                                          f"per call, {seconds} s"))
    return {"repeats": repeats, "loops": list(DEFAULT_LOOPS), "warmup": DEFAULT_WARMUP, "aslr_off": bool(no_aslr()),
            "rows": rows}


def survey_markdown(data: dict, source: str) -> str:
    lines = [f"Instructions per call, {data['repeats']} independent count(s) each (from `{source}`; spread: "
             "max/min - 1 over the counts; wall time: the slowest count's, on a shared, loaded VM):", "",
             "| timed benchmark | instructions per call (median) | counts | spread | wall time per count |",
             "|---|---|---|---|---|"]
    for row in data["rows"]:
        if not row["counts"]:
            lines.append(f"| `{row['timed']}` | skipped: {row['skip']} | 0 | | |")
            continue
        median = sorted(row["counts"])[len(row["counts"]) // 2]
        spread = f"{100 * row['spread']:.3f} %" if len(row["counts"]) > 1 else "n/a"
        lines.append(f"| `{row['timed']}` | {median / 1e6:.3f} M | {len(row['counts'])} | {spread} | "
                     f"{max(row['seconds']):.0f} s |")
    spreads = [row["spread"] for row in data["rows"] if len(row["counts"]) > 1]
    if spreads:
        lines += ["", f"Largest spread: {100 * max(spreads):.3f} %."]
    return "\n".join(lines) + "\n"


