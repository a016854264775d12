"""The 3L eRJR hypotest per backend: rerun it (--run) into docs/3L-eRJR-hypotest.json and render docs/3L-eRJR.md's table.

    PYHF_BENCH_DATA=../shared/likelihoods python tools/erjr_table.py --run   # ~4 min on 2 cores (TensorFlow: ~3 min)
    python tools/erjr_table.py                                              # only re-render the table

"before" in the data file is main's CLI at commit 8b720cb (kept as measured); "after" is this checkout's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "3L-eRJR-hypotest.json"
PAGE = ROOT / "docs" / "3L-eRJR.md"
BACKENDS = ("numpy", "jax", "pytorch", "tensorflow")
BEGIN, END = "<!-- table: tools/erjr_table.py -->", "<!-- end of table -->"
KEEP = ("backend", "precision", "optimizer", "pyhf", "cls_obs", "cls_exp", "reference_kind", "reference_cls_obs",
        "independent_references", "exit_status", "findings", "seconds")


def _unremedied_registry(folder: Path) -> Path:
    """3L eRJR as published, registered as your own likelihood: no fixed gamma, the ROOT reference to judge by."""
    from pyhf_bench import likelihoods

    e = likelihoods.entry("3L-eRJR")
    region = e.regions["all"]
    root = next(r for r in region["independent_references"] if r["kind"] == "root")
    entry = {"directory": str(likelihoods.data_dir() / e.directory), "fit": {"scipy": e.fit["scipy"]},
             "workspace": region["workspace"], "patchset": region["patchset"], "default_patch": region["default_patch"],
             "reference": root}
    path = folder / "registry.json"
    path.write_text(json.dumps({"likelihoods": {"erjr-as-published": entry}}))
    return path


def run() -> None:
    import tempfile

    data = json.loads(DATA.read_text())
    data["after"], data["unremedied"] = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        registry = _unremedied_registry(Path(tmp))
        for key, name, extra in (("after", "3L-eRJR", {}), ("unremedied", "erjr-as-published",
                                                            {"PYHF_BENCH_REGISTRY": str(registry)})):
            for backend in BACKENDS:
                env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **extra}
                proc = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "hypotest", name, "--backend", backend,
                                       "--json"], capture_output=True, text=True, env=env, timeout=900)
                result = json.loads(proc.stdout)
                data[key][backend] = {k: result[k] for k in KEEP if k in result}
                data[key][backend]["exit_status"] = proc.returncode
                print(key, backend, result.get("cls_obs"), proc.returncode, file=sys.stderr)
    DATA.write_text(json.dumps(data, indent=1) + "\n")


def table(data: dict) -> str:
    nan = float("nan")
    rows = ["| backend (64b, scipy) | main: CLs_obs, exit | now: CLs_obs, exit | ROOT reference | "
            "as published (gamma free), now: CLs_obs, exit, first WRONG line |",
            "|---|---|---|---|---|"]
    for backend in BACKENDS:
        before, after = data["before"].get(backend, {}), data.get("after", {}).get(backend, {})
        loud = data.get("unremedied", {}).get(backend, {})
        root = next((r for r in after.get("independent_references", []) if r.get("kind") == "root"), {})
        lines = [f["line"] for f in loud.get("findings", []) if f["level"] == "WRONG"] or ["verdict: ok"]
        rows.append(f"| {backend} | {before.get('cls_obs', nan):.5f}, {before.get('exit_status', '?')} | "
                    f"{after.get('cls_obs', nan):.7f}, {after.get('exit_status', '?')} | {root.get('cls_obs', nan):.7f} | "
                    f"{loud.get('cls_obs', nan):.5f}, {loud.get('exit_status', '?')}, `{lines[0]}` |")
    diagnosis = ["", "The diagnosis, one process each (`diagnosis_script` in the data file): the unconditional fit, "
                 "the Asimov fits and CLs.", "",
                 "| backend and variant | 2*NLL of the fit | iterations | mu_hat | CLs_obs |", "|---|---|---|---|---|"]
    for name, d in data.get("diagnosis", {}).items():
        fit = d["fit"]
        diagnosis.append(f"| {name} | {fit['twice_nll']:.4f} | {fit['nit']} | {fit['mu_hat']:.4f} | {d['cls_obs']:.5f} |")
    return "\n".join(rows + diagnosis)


def render() -> None:
    page = PAGE.read_text()
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    PAGE.write_text(f"{head}{BEGIN}\n{table(json.loads(DATA.read_text()))}\n{END}{tail}")


if __name__ == "__main__":
    if "--run" in sys.argv:
        run()
    render()
