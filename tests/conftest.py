"""Shared fixtures: the project root, and a helper that runs Python code in a fresh interpreter.

Tests that switch pyhf between frameworks do so in subprocesses: switching
backends back and forth inside one interpreter is fragile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def run_python(code: str, env: dict | None = None, timeout: float = 600, cwd=None) -> dict:
    """Run *code* in a new interpreter; it must print one line '@@<json>'. Returns the JSON."""
    full_env = dict(os.environ)
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    raise AssertionError(f"no result (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
