"""``pyhf-bench env --json``: which backends, devices and precisions are usable here.

Each backend is probed in its own subprocess, because switching pyhf between
frameworks in one interpreter is fragile (and a framework that crashes on
import must not take the report down with it).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

from pyhf_bench.core import support

_MODULES = {"numpy": "numpy", "jax": "jax", "pytorch": "torch", "tensorflow": "tensorflow"}
# Accelerators first: a TensorFlow CPU activation hides the GPUs for the rest of the process.
_PROBE_DEVICES = ("gpu", "tpu", "cpu")


def machine_description() -> str:
    """CPU model, core count and Python version: the line result files record as "the machine"."""
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo").read().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _probe_backend(backend: str) -> dict:
    """Runs in a child process: try every device x precision of *backend*."""
    import importlib.metadata as md

    result: dict = {"module": _MODULES[backend], "version": None, "combinations": []}
    for dist in (_MODULES[backend], f"{_MODULES[backend]}-cpu"):
        try:
            result["version"] = md.version(dist)
            break
        except md.PackageNotFoundError:
            continue
    for device in _PROBE_DEVICES:
        for precision in support.PRECISIONS:
            entry = {"device": device, "precision": precision, "usable": False, "reason": None}
            try:
                support.activate(backend, device, precision)
                entry["usable"] = True
            except support.Skip as exc:
                entry["reason"] = str(exc)
            except Exception as exc:  # noqa: BLE001 - report, don't crash the probe
                entry["reason"] = f"{type(exc).__name__}: {exc}"
            result["combinations"].append(entry)
    result["combinations"].sort(key=lambda e: (support.DEVICES.index(e["device"]), e["precision"]))
    return result


def probe(backend: str, timeout: float = 600) -> dict:
    """Probe *backend* in a fresh interpreter and return its JSON report."""
    support.check_choice("backend", backend)
    code = f"import json, pyhf_bench.asvtools.envinfo as e; print('@@' + json.dumps(e._probe_backend({backend!r})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {
        "module": _MODULES[backend],
        "version": None,
        "combinations": [],
        "error": f"probe process exited with {proc.returncode}: {tail[0]}",
    }


def environment_report(backends=support.BACKENDS) -> dict:
    import importlib.metadata as md

    def version(dist):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    report = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "pyhf": version("pyhf"),
        "era": os.environ.get(support.ERA_ENV),
        "tier": support.tier(),
        "optimizers": {"scipy": version("scipy"), "minuit": version("iminuit")},
        "device_nodes": {d: support.device_node_present(d) for d in support.DEVICES},
        "backends": {b: probe(b) for b in backends},
    }
    report["usable"] = sorted(
        f"{b}/{c['device']}/{c['precision']}"
        for b, r in report["backends"].items()
        for c in r["combinations"]
        if c["usable"]
    )
    return report
