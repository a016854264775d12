"""What asv prints and what it writes, read for ``pyhf-bench run``.

asv's own output is long (one line per benchmark and round, every command with its
~12 KB of ``-b`` patterns): :class:`Progress` condenses it to one line per finished
benchmark with the overall share done and an estimate, and :func:`asv_stream` runs asv
with all of it kept in a log.  :func:`tally` counts what a result file holds for the
combinations one run selected.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^\[\s*(\d+(?:\.\d+)?)%\] (·+) (.*)$")


@dataclass
class Progress:
    """Condenses asv's output: one line per finished benchmark, with the overall share done and an estimate.

    *total*: the units of the whole run (benchmarks x commits, summed over the asv
    calls); each asv call reports its own percentage, of *units* units.
    """

    total: int
    started: float = field(default_factory=time.monotonic)
    done: int = 0  # units of the asv calls already finished
    units: int = 0  # units of the current asv call
    label: str = ""
    benchmarks: set[str] = field(default_factory=set)
    commit: str = ""  # the commit asv is benchmarking now, as asv names it

    def begin(self, label: str, units: int, benchmarks: set[str]) -> None:
        self.label, self.units, self.benchmarks, self.commit = label, units, benchmarks, ""

    def where(self) -> str:
        return f"{self.label}, {self.commit}" if self.commit else self.label

    def end(self) -> None:
        self.done += self.units
        self.units = 0

    def fraction(self, percent: float) -> float:
        return min(1.0, (self.done + self.units * percent / 100) / max(self.total, 1))

    def stamp(self, percent: float) -> str:
        share = self.fraction(percent)
        elapsed = time.monotonic() - self.started
        left = f"~{clock(elapsed * (1 - share) / share)} left" if share >= 0.05 else "estimating"
        return f"[{100 * share:3.0f}% | {clock(elapsed)} | {left}]"

    def line(self, text: str) -> str | None:
        """What to print for one line of asv's output (None: only the log keeps it)."""
        text = text.rstrip("\n")
        match = _LINE.match(text)
        if match is None:
            if text.startswith("· ") or text.startswith("·· "):
                short = _ENV_NAME.sub("", text.lstrip("· "))  # the environment is named once, above
                return f"  {self.label}: {short}" if _PHASES.search(text) else None
            return None
        percent, depth, rest = float(match.group(1)), len(match.group(2)), match.group(3)
        commit = _FOR_COMMIT.match(rest)
        if commit:  # asv benchmarks the era's commits one after the other
            self.commit = commit.group(1)
            return None
        if depth != 3:
            return None
        running = _RUNNING.match(rest)
        if running:  # asv runs every benchmark once per round, then reports them all
            names = [n for n in running.group(1).split("--") if n]
            return f"{self.stamp(percent)} {self.where()}: running {', '.join(names)}"
        name, _, status = rest.partition(" ")
        if name.startswith("..."):  # asv shortens long names from the left
            name = next((b for b in sorted(self.benchmarks) if b.endswith(name[3:])), name)
        if name in self.benchmarks and status.strip():
            return f"{self.stamp(percent)} {self.where()}: {name} {status.split()[0]}"
        return None


_RUNNING = re.compile(r"^Running \(([^)]*)\)")
_FOR_COMMIT = re.compile(r"^For \S+ commit (\S+(?: <[^>]*>)?):")
_ENV_NAME = re.compile(r" (?:for|into|from) virtualenv-\S+")
_PHASES = re.compile(r"Creating environments|Building |Installing |Error|error|failed", re.I)


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def asv_stream(config: Path, args: list[str], env: dict, log, progress: Progress, verbose: bool) -> int:
    """Run asv, all of its output into *log*; print the condensed lines (every line with *verbose*)."""
    cmd = [sys.executable, "-m", "asv", "--config", str(config), *args]
    log.write("+ " + " ".join(cmd) + "\n")
    log.flush()
    if verbose:
        print("+ " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=config.parent, env=dict(os.environ, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    for text in proc.stdout:
        log.write(text)
        shown = text.rstrip("\n") if verbose else progress.line(text)
        if shown:
            print(shown, flush=True)
    log.flush()
    return proc.wait()


# --------------------------------------------------------------------------- asv's result files


def result_file(results_dir: Path, machine: str, commit: str, env_name: str) -> Path | None:
    """The file asv wrote for *commit* run in the environment *env_name* on *machine* (None: there is none)."""
    folder = results_dir / machine
    hits = sorted(folder.glob(f"{commit[:8]}-*.json")) if folder.is_dir() else []
    for path in hits:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("env_name") == env_name:
            return path
    return None


@dataclass
class Tally:
    """The combinations of one commit's result file: measured, failed (asv's null) and skipped (its NaN: n/a)."""

    measured: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: int = 0


def tally(path: Path, regexes: list[str]) -> Tally:
    """Measured, failed and skipped combinations among those *regexes* select, from asv's result file."""
    data = json.loads(path.read_text())
    columns = data["result_columns"]
    patterns = [re.compile(r) for r in regexes]
    out = Tally()
    for name, row in data["results"].items():
        values = dict(zip(columns, row))
        params = values.get("params") or []
        results = values.get("result")
        names = [f"{name}({', '.join(ids)})" for ids in itertools.product(*params)] if params else [name]
        if not isinstance(results, list):
            results = [results] * len(names)
        for combo, value in zip(names, results):
            if not any(p.search(combo) for p in patterns):
                continue
            if value is None:
                out.failed.append(combo)
            elif isinstance(value, float) and math.isnan(value):
                out.skipped += 1
            else:
                out.measured += 1
    return out
