"""``pyhf-bench env --json``: which backends, devices and precisions are usable here.

Each backend is probed in its own subprocess, because switching pyhf between
frameworks in one interpreter is fragile (and a framework that crashes on
import must not take the report down with it).
"""

from __future__ import annotations

import os
import platform

from pyhf_bench.core import axes, pyhfversions, runtime, skip, tiers
from pyhf_bench.core.backends import REGISTRY
from pyhf_bench.core.childjson import run_code

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


def probe_backend(backend: str) -> dict:
    """Runs in a child process: try every device x precision of *backend*."""
    import importlib.metadata as md

    framework = REGISTRY[backend].framework
    result: dict = {"module": framework, "version": None, "combinations": []}
    for dist in (framework, f"{framework}-cpu"):
        try:
            result["version"] = md.version(dist)
            break
        except md.PackageNotFoundError:
            continue
    for device in _PROBE_DEVICES:
        for precision in axes.PRECISIONS:
            entry = {"device": device, "precision": precision, "usable": False, "reason": None}
            try:
                runtime.activate(backend, device, precision)
                entry["usable"] = True
            except skip.Skip as exc:
                entry["reason"] = str(exc)
            except Exception as exc:  # noqa: BLE001 - report, don't crash the probe
                entry["reason"] = f"{type(exc).__name__}: {exc}"
            result["combinations"].append(entry)
    result["combinations"].sort(key=lambda e: (axes.DEVICES.index(e["device"]), e["precision"]))
    return result


def probe(backend: str, timeout: float = 600) -> dict:
    """Probe *backend* in a fresh interpreter and return its JSON report."""
    axes.check_choice("backend", backend)
    code = "from pyhf_bench.asvtools.envinfo import probe_backend; from pyhf_bench.core.childjson import emit; emit(probe_backend(BACKEND))"
    child = run_code(code, {"BACKEND": backend}, timeout)
    if child.result is not None:
        return child.result
    return {
        "module": REGISTRY[backend].framework,
        "version": None,
        "combinations": [],
        "error": f"probe process exited with {child.returncode}: {child.last_line}",
    }


def environment_report(backends=axes.BACKENDS) -> dict:
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
        "era": os.environ.get(pyhfversions.ERA_ENV),
        "tier": tiers.tier(),
        "optimizers": {"scipy": version("scipy"), "minuit": version("iminuit")},
        "device_nodes": {d: axes.device_node_present(d) for d in axes.DEVICES},
        "backends": {b: probe(b) for b in backends},
    }
    report["usable"] = sorted(
        f"{b}/{c['device']}/{c['precision']}"
        for b, r in report["backends"].items()
        for c in r["combinations"]
        if c["usable"]
    )
    return report
