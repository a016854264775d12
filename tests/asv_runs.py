"""One small real asv run, shared by the report, noise and dashboard tests.

pytest would instantiate a session fixture once per module that imports it, so
the run is memoised here at module level instead: every test module that asks
for it gets the same results directory, made once per pytest session.

The run is real: an offline pyhf history (v0.7.5, v0.7.6 from the PyPI sdists),
`asv run --python=same` against the installed pyhf 0.7.6 with its commit hash
set to v0.7.6, on a handful of Logpdf combinations: numpy and jax at 64b and
32b over three model sizes (the scaling plot needs sizes, hence the full tier),
plus numpy on a GPU, which skips (n/a) on these CPU-only machines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pyhf_bench.asvtools import history

ROOT = Path(__file__).resolve().parents[1]

#: asv's parameterised selection regex matches `name(param, ...)` (asv.benchmarks.Benchmarks).
LOGPDF_SELECTION = (
    r"Logpdf\.time_logpdf\('(numpy|jax)', 'cpu', '(64b|32b)', (1|10|100)\)",
    r"Logpdf\.time_logpdf\('numpy', 'gpu', '64b', 100\)",
)
MACHINE = "ci"


@dataclass(frozen=True)
class AsvRun:
    root: Path  # temporary directory holding everything below
    config: Path  # asv config: repo = the offline history, outputs under root
    history: Path  # offline pyhf history
    results: Path  # asv results_dir
    html: Path  # asv html_dir
    commit: str  # the v0.7.6 commit the results are filed under
    stdout: str


def asv(config: Path, *args: str, timeout: float = 1200, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "asv", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, cwd=config.parent,
        env=dict(os.environ, **(env or {})),
    )


def write_config(root: Path, history_path: Path, include: list | None = None) -> Path:
    """asv.conf.json with every output under *root* and the repo = the offline history."""
    from asv import util

    conf = util.load_json(str(ROOT / "asv.conf.json"), api_version=1, js_comments=True)
    conf["version"] = 1  # load_json strips it
    conf["repo"] = str(history_path)
    conf["benchmark_dir"] = str(ROOT / "benchmarks")
    for key in ("env_dir", "results_dir", "html_dir"):
        conf[key] = str(root / key.replace("_dir", ""))
    conf["install_command"] = [c.replace("{conf_dir}", str(ROOT)) for c in conf["install_command"]]
    if include is not None:
        conf["include"] = include
    path = root / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=2))
    return path


def modern_numpy_scipy() -> dict:
    """The modern era's include entry with only its numpy and scipy pins: enough for the numpy backend in a
    real asv virtualenv, light for CI (its name still ends in PYHF_BENCH_ERAmodern)."""
    from asv import util

    includes = util.load_json(str(ROOT / "asv.conf.json"), api_version=1, js_comments=True)["include"]
    modern = next(e for e in includes if e["env_nobuild"]["PYHF_BENCH_ERA"] == "modern")
    modern["req"] = {k: v for k, v in modern["req"].items() if k in ("numpy", "scipy")}
    return modern


_RUN: AsvRun | None = None


def small_real_run() -> AsvRun:
    """The shared run (made on first use; later calls return the same one)."""
    global _RUN
    if _RUN is not None:
        return _RUN
    root = Path(tempfile.mkdtemp(prefix="pyhf-bench-asv-run-"))
    hist = root / "pyhf"
    history.build_history(hist, versions=["0.7.5", "0.7.6"], log=None)
    commit = subprocess.run(
        ["git", "-C", str(hist), "rev-list", "-n", "1", "v0.7.6"], capture_output=True, text=True, check=True
    ).stdout.strip()
    config = write_config(root, hist)
    subprocess.run([sys.executable, "-m", "asv", "machine", "--machine", MACHINE, "--yes"],
                   check=True, capture_output=True)
    proc = asv(
        config, "run", "--python=same", f"--set-commit-hash={commit}", "--machine", MACHINE, "--show-stderr",
        *[arg for regex in LOGPDF_SELECTION for arg in ("-b", regex)],
        # Realistic data, not precise data: one round of ten samples per combination keeps this fixture short.
        "-a", "rounds=1", "-a", "repeat=10",
        env={"PYHF_BENCH_TIER": "full", "OMP_NUM_THREADS": "1"},
    )
    if proc.returncode != 0:
        raise AssertionError(f"asv run failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    _RUN = AsvRun(root, config, hist, root / "results", root / "html", commit, proc.stdout)
    return _RUN
