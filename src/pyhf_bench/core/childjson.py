"""Run Python code in a fresh interpreter that hands back one result as a stdout line ``@@<json>``.

Where a step must run in a process of its own (switching pyhf backends back
and forth in one interpreter is fragile), the child prints its result with
:func:`emit` and the parent reads it with :func:`run_code`; anything else the
child prints (framework banners, warnings) is ignored.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

MARK = "@@"


def emit(result: Any) -> None:
    """In the child: print *result* as the one ``@@<json>`` line the parent reads."""
    print(MARK + json.dumps(result), flush=True)


def parse(stdout: str) -> Any | None:
    """The result of the first ``@@<json>`` line of *stdout*, or None when there is none."""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return None


@dataclass
class ChildRun:
    """What a child interpreter gave back."""

    result: Any | None  # None: the child printed no result line (it failed before)
    returncode: int
    last_line: str  # the last line of its stderr (else stdout): what to show when it failed


def run_code(code: str, values: dict[str, Any], timeout: float) -> ChildRun:
    """Run *code* with each placeholder NAME of *values* replaced by ``repr(value)``, in a fresh interpreter.

    TensorFlow's C++ log lines are turned off (``TF_CPP_MIN_LOG_LEVEL=3``): they
    would bury the child's own error.
    """
    for name in sorted(values, key=len, reverse=True):
        code = re.sub(rf"\b{re.escape(name)}\b", lambda _, value=values[name]: repr(value), code)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return ChildRun(parse(proc.stdout), proc.returncode, tail[0])
