"""The bad inputs tried on the CLI: one table, run by tests/test_bad_inputs.py and rendered to docs/bad-inputs.md.

Each case builds its input under a temporary folder and returns the command
line; running it gives an exit status and the one line that explains it (the
error line, else the first WRONG/WARNING/NOTE line).  ``python -m
tests.bad_inputs`` runs every case and rewrites docs/bad-inputs.md from what
the commands printed; a test checks that the page and the cases agree.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "bad-inputs.md"
STAUS_DIR = "ATLAS-SUSY-2018-04_direct-staus_hepdata.92006"


@dataclass
class Case:
    id: str
    input: str  # what was tried, for the docs table
    make: Callable[[Path], list[str]]  # builds the input in a folder, returns the argv after `pyhf-bench`
    status: int
    message: str  # regex the explaining line must match
    signal_after: float | None = None  # send SIGINT this many seconds after the start


def _workspace(**changes) -> dict:
    from pyhf_bench.core.synthetic import make_workspace

    ws = make_workspace(2)
    for key, value in changes.items():
        if key == "observations":
            ws["observations"][0]["data"] = value
        elif key == "signal":
            ws["channels"][0]["samples"][0]["data"] = value
        elif key == "poi_bounds":
            ws["measurements"][0]["config"]["parameters"].append({"name": "mu", "bounds": [value]})
    return ws


def _register(folder: Path, entries: dict) -> None:
    (folder / "registry.json").write_text(json.dumps({"likelihoods": entries}))


def _user(folder: Path, content, name: str = "mine", **entry) -> None:
    text = content if isinstance(content, str) else json.dumps(content)
    (folder / "ws.json").write_text(text)
    _register(folder, {name: {"directory": str(folder), "workspace": "ws.json", **entry}})


def json_list(folder):
    _user(folder, [_workspace()])
    return ["hypotest", "mine"]


def negative_observation(folder):
    _user(folder, _workspace(observations=[-3.0, 83.0]))
    return ["hypotest", "mine"]


def nan_observation(folder):
    _user(folder, json.dumps(_workspace(observations=[float("nan"), 83.0])))
    return ["fit", "mine"]


def zero_observations(folder):
    _user(folder, _workspace(observations=[0.0, 0.0]))
    return ["hypotest", "mine"]


def poi_bounds(folder):
    _user(folder, _workspace(poi_bounds=[0.2, 1.5]))
    return ["hypotest", "mine"]


def absurd_observations(folder):
    _user(folder, _workspace(observations=[1e12, 1e12]))
    return ["fit", "mine"]


def large_observations(folder):
    _user(folder, _workspace(observations=[3000.0, 3000.0]))
    return ["fit", "mine"]


def zero_signal(folder):
    _user(folder, _workspace(signal=[0.0, 0.0]))
    return ["hypotest", "mine"]


def q0_with_poi(folder):
    _user(folder, _workspace())
    return ["hypotest", "mine", "--test-stat", "q0", "--poi-value", "1"]


def ntoys_without_toys(folder):
    _user(folder, _workspace())
    return ["hypotest", "mine", "--ntoys", "100"]


def interrupted(folder):
    _user(folder, _workspace())
    return ["hypotest", "mine", "--calculator", "toybased", "--ntoys", "100000"]


def user_wrong_hash(folder):
    _user(folder, _workspace(), files={"ws.json": "0" * 64})
    return ["hypotest", "mine"]


def two_members(folder):
    data = json.dumps(_workspace()).encode()
    with tarfile.open(folder / "mine.tar.gz", "w:gz") as tar:
        for name in ("a/ws.json", "b/ws.json"):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _register(folder, {"mine": {"directory": str(folder), "workspace": "ws.json"}})
    return ["hypotest", "mine"]


def damaged_gzip(folder):
    target = folder / "data" / STAUS_DIR / "Region-combined" / "BkgOnly.json.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(gzip.compress(b'{"channels": []}' * 100)[:40])
    return ["fit", "staus", "--region", "combined"]


def verify_missing(folder):
    (folder / "data").mkdir()
    return ["verify", "staus"]


def fetch_offline(folder):
    (folder / "data").mkdir()
    return ["fetch", "staus"]


def _results(folder: Path) -> Path:
    """A results folder with one real asv result file of this repository (the smallest)."""
    machine = folder / "results" / "epyc-2core"
    machine.mkdir(parents=True)
    source = ROOT / "results" / "epyc-2core"
    shutil.copy(source / "machine.json", machine / "machine.json") if (source / "machine.json").exists() else None
    smallest = min((p for p in source.glob("*.json") if p.name != "machine.json"), key=lambda p: p.stat().st_size)
    shutil.copy(smallest, machine / smallest.name)
    shutil.copy(ROOT / "results" / "benchmarks.json", folder / "results" / "benchmarks.json")
    return machine


def report_unreadable(folder):
    machine = _results(folder)
    (machine / "0badc0de-env-broken.json").write_text('{"results": ')
    return ["report", str(folder / "results"), "--out", str(folder / "report")]


def report_stale_part(folder):
    _results(folder)
    out = folder / "report"
    out.mkdir()
    (out / ".case-study.md.x1y2.part").write_text("half a report")
    return ["report", str(folder / "results"), "--out", str(out)]


CASES = [
    Case("json-list", "a user workspace whose top level is a JSON list", json_list, 2, r"is a JSON list, not a pyhf workspace"),
    Case("negative-observation", "an observation of -3 events", negative_observation, 2, r"observation 0 of channel 'SR0' is -3.0; event counts must be finite and >= 0"),
    Case("nan-observation", "an observation NaN (`fit`)", nan_observation, 2, r"observation 0 of channel 'SR0' is nan"),
    Case("zero-observations", "every observation 0", zero_observations, 1, r"WRONG: bkg1_norm = -5: .*lower bound -5.*every observation is zero"),
    Case("poi-bounds", "POI bounds [0.2, 1.5] (exclude the Asimov fit's mu=0)", poi_bounds, 2, r"bounds \[0.2, 1.5\], which exclude 0, the value the Asimov fit holds it at"),
    Case("absurd-observations", "observations of 1e12 events (`fit`)", absurd_observations, 1, r"WRONG: 2\*NLL = not computed: the fit does not converge .*1e\+12"),
    Case("poi-at-bound", "observations of 3000 events where the model expects about 140 (`fit`)", large_observations, 1, r"WRONG: mu = 10: the fit ends at the parameter's upper bound 10"),
    Case("zero-signal", "a signal of zero events in every bin", zero_signal, 0, r"NOTE: CLs_exp = \[1, 1, 1, 1, 1\]: every signal yield is zero"),
    Case("q0-with-poi", "`--test-stat q0 --poi-value 1`", q0_with_poi, 2, r"q0 is a discovery test .*POI = 0"),
    Case("ntoys-asymptotic", "`--ntoys 100` without `--calculator toybased`", ntoys_without_toys, 2, r"--ntoys needs --calculator toybased"),
    Case("sigint", "Ctrl-C (SIGINT) during a toy hypotest", interrupted, 130, r"interrupted: `hypotest` stopped by Ctrl-C", signal_after=6.0),
    Case("user-hash", "your own workspace whose sha256 differs from the registered one", user_wrong_hash, 2, r"the file changed since you registered it; restore the file, or put its new sha256 there"),
    Case("two-members", "your own archive with two members matching `*/ws.json`", two_members, 2, r"holds 2 members that match 'ws.json' \(a/ws.json, b/ws.json\)"),
    Case("damaged-gzip", "a truncated `BkgOnly.json.gz` of staus", damaged_gzip, 2, r"damaged or truncated gzip file .*run `pyhf-bench fetch staus`"),
    Case("verify-missing", "`verify` with the files missing", verify_missing, 1, r"staus +incomplete +0 ok, 3 missing"),
    Case("fetch-offline", "`fetch` with no network", fetch_offline, 2, r"cannot download http://127.0.0.1:9/.*the data directory <tmp>/data/ATLAS-SUSY-2018-04_direct-staus_hepdata.92006 lacks the files"),
    Case("report-unreadable", "`report` on results with an unreadable result file", report_unreadable, 0, r"WARNING: <tmp>/results/epyc-2core/0badc0de-env-broken.json cannot be read and is left out"),
    Case("report-stale-part", "`report` after a killed report left a `.part` file", report_stale_part, 0, r"NOTE: removed <tmp>/report/.case-study.md.x1y2.part"),
]

#: The one URL no machine can download from (port 9, discard): `fetch` without a network.
OFFLINE_URL = "http://127.0.0.1:9/staus.tar.gz"


def explaining_line(stdout: str, stderr: str) -> str:
    """The error line, else the first WRONG, WARNING or NOTE line, else the last line."""
    lines = [line for line in (stderr + "\n" + stdout).splitlines() if line.strip()]
    for prefix in ("pyhf-bench: error:", "pyhf-bench: interrupted:", "WRONG:", "WARNING:", "NOTE:"):
        hits = [line for line in lines if line.startswith(prefix)]
        if hits:
            return hits[0]
    for line in lines:
        if re.match(r"\S+ +(ok|BAD|incomplete) ", line):
            return line
    return lines[-1] if lines else ""


def run_case(case: Case, folder: Path) -> tuple[int, str, str]:
    """Run *case* as a user would (a fresh ``pyhf-bench`` process): (exit status, explaining line, stderr)."""
    argv = case.make(folder)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYHF_BENCH_REGISTRY": str(folder / "registry.json"), "PYHF_BENCH_DATA": str(folder / "data"),
           "PYHF_BENCH_OFFLINE_URL": OFFLINE_URL}
    code = ("import sys; from pyhf_bench import cli, likelihoods; "
            "url = __import__('os').environ['PYHF_BENCH_OFFLINE_URL']; "
            # fetch's download URL is the registry's: point staus at a port that refuses, as with no network.
            "likelihoods.registry()['staus'].url = url; sys.exit(cli.main(sys.argv[1:]))")
    # A shell starts background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt
    # handler: a suite run as `cmd &` saw the Ctrl-C case compute its 100000 toys. A user's terminal
    # delivers Ctrl-C with the default disposition, so the child gets that back.
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=folder,
                            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
                            if case.signal_after is not None else None)
    if case.signal_after is not None:
        time.sleep(case.signal_after)
        proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    line = explaining_line(stdout, stderr).replace(str(folder), "<tmp>")
    return proc.returncode, line, stderr


def render(rows: list[tuple[Case, int, str]]) -> str:
    out = [
        "# Bad inputs tried, and what `pyhf-bench` says",
        "",
        "Generated by `python -m tests.bad_inputs` from the cases in `tests/bad_inputs.py`; "
        "`tests/test_bad_inputs.py` runs every case and checks this page against them. Do not edit by hand.",
        "Exit status: 0 ok, 1 finding, 2 cannot run, 130 interrupted ([exit-codes.md](exit-codes.md)).",
        "",
        "| input | command | exit | what it prints |",
        "|---|---|---|---|",
    ]
    for case, status, line in rows:
        command = "`pyhf-bench " + " ".join(_argv_text(case)) + "`"
        # A double-backtick code span: the messages quote commands in single backticks.
        out.append(f"| {case.input} | {command} | {status} | `` {line.replace('|', '/')} `` |")
    return "\n".join(out) + "\n"


def _argv_text(case: Case) -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return [a.replace(tmp, "<tmp>") for a in case.make(Path(tmp))]


def main() -> None:
    import tempfile

    rows = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            status, line, _ = run_case(case, Path(tmp))
        print(f"{case.id}: {status} {line}", file=sys.stderr)
        rows.append((case, status, line))
    DOCS.write_text(render(rows))
    print(DOCS)


if __name__ == "__main__":
    main()
