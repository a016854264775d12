"""The documentation's tables, rendered from committed data files: no number on a page is typed by hand.

A page holds a generated block as

    <!-- pyhf-bench docs-table KIND FILE -->
    ...what `pyhf-bench docs-table KIND FILE` prints...
    <!-- end -->

and `pyhf-bench docs-tables` rewrites every such block of README.md and docs/*.md from its file
(`--check`: exit 1 naming the stale pages, writing nothing; the tests run it). Blocks that name another
command, `<!-- pyhf-bench instructions --markdown FILE -->`, are that command's output and are
refreshed by running it, so one mechanism keeps every generated table of the docs in step.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from pyhf_bench import UserError
from pyhf_bench.asvtools import tiertime
from pyhf_bench.core.files import atomic_file

BLOCK = re.compile(r"(<!-- pyhf-bench (.+?) -->\n)(.*?)(<!-- end -->)", re.S)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; name a committed data file (paths are relative to the checkout)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); restore it with git checkout") from None


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def grid_scan_table(data: dict, source: str) -> str:
    """One row per scan of `docs/grid-*.json` (what `pyhf-bench scan` wrote, with `/usr/bin/time`'s CPU share)."""
    lines = [f"{data['about']} Source: `{source}`.", "",
             "| backend | mode | points | wall s | points/s | speed-up | load+patch s | build s | JIT s | fit s "
             "| CPU s/point | CPU % of one core |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    serial = {r["backend"]: r for r in data["runs"].values() if r["workers"] == 0}
    for run in data["runs"].values():
        phase = run["seconds_per_point_by_phase"]
        total = run["points_ok"] + len(run["points_failed"])
        reference = serial.get(run["backend"])
        speedup = "1"
        if run["workers"] and reference:
            ratio = run["throughput_points_per_second"] / reference["throughput_points_per_second"]
            speedup = f"{ratio:.2f} (efficiency {ratio / run['workers']:.2f})"
        lines.append(f"| {run['backend']} | {run['mode']} | {run['points_ok']} of {total} | {run['wall_seconds']:.0f} "
                     f"| {run['throughput_points_per_second']:.3f} | {speedup} | {phase['load']:.2f} | {phase['build']:.2f} "
                     f"| {phase['jit']:.2f} | {phase['fit']:.2f} | {run['cpu_seconds_per_point']:.2f} "
                     f"| {run['command_cpu_percent_of_one_core']} |")
    lines += ["", "| agreement of CLs (observed and expected) | points | largest absolute difference "
              "| largest relative difference |", "|---|---|---|---|"]
    for pair, agreement in data.get("agreement", {}).items():
        lines.append(f"| {pair} | {agreement['points']} | {agreement['max_abs_difference']:.2g} "
                     f"| {agreement['max_relative_difference']:.2g} |")
    return "\n".join(lines)


def eras_table(data: dict, source: str) -> str:
    """The pinned environment eras of `core/eras.json`: the pyhf range each covers, its pins, and why."""
    lines = [f"From `{source}`.", "", "| era | pyhf | numpy | scipy | jax | torch | tensorflow (+tfp) | other pins | why |",
             "|---|---|---|---|---|---|---|---|---|"]
    shown = {"numpy", "scipy", "jax", "jaxlib", "torch", "tensorflow", "tensorflow-probability"}
    for era in data["eras"]:
        pins = era["pins"]
        upper = f" < {era['pyhf_max']}" if era["pyhf_max"] else " (and main)"
        tf = f"{pins.get('tensorflow', '—')} ({pins.get('tensorflow-probability', '—')})"
        other = ", ".join(f"{name} {version}" for name, version in pins.items() if name not in shown)
        lines.append(f"| `{era['name']}` | ≥ {era['pyhf_min']}{upper} | {pins.get('numpy', '—')} | {pins.get('scipy', '—')} "
                     f"| {pins.get('jax', '—')} | {pins.get('torch', '—')} | {tf} | {other} | {era['why']} |")
    return "\n".join(lines)


def likelihoods_table(data: dict, source: str) -> str:
    """The registry of published likelihoods: analysis, HEPData record, regions and default signal patches."""
    quick = set(data.get("quick", []))
    lines = [f"From `{source}` (`pyhf-bench likelihoods` lists it with local availability). "
             "Regions in the quick tier are in bold.", "",
             "| name | analysis | HEPData | regions (default signal patch) |", "|---|---|---|---|"]
    for name, entry in data["likelihoods"].items():
        regions = []
        for region, spec in entry["regions"].items():
            label = f"**{region}**" if f"{name}/{region}" in quick else region
            patch = spec.get("default_patch")
            regions.append(f"{label} (`{patch}`)" if patch else f"{label} (background-only)")
        lines.append(f"| `{name}` | {entry.get('analysis', '')} | {entry.get('doi', '')} | {', '.join(regions)} |")
    return "\n".join(lines)


def references_table(data: dict, source: str) -> str:
    """Every registered reference result: what the `hypotest`/`fit` verdicts and `Accuracy` compare with."""
    lines = [f"From `{source}`.", "", "| likelihood | patch | kind | quantity | value | made with |",
             "|---|---|---|---|---|---|"]
    for name, entry in data["likelihoods"].items():
        for region, spec in entry["regions"].items():
            for ref in [spec["reference"], *spec.get("independent_references", [])] if "reference" in spec else []:
                if "cls_obs" in ref:
                    quantity, value = "CLs_obs", f"{ref['cls_obs']:.6g}"
                else:
                    iterations = f" ({ref['iterations']} iterations)" if "iterations" in ref else ""
                    quantity, value = "2·NLL", f"{ref['twice_nll']:.6f}{iterations}"
                made = ref.get("source") or f"pyhf {ref.get('pyhf', '?')}, {ref.get('backend', '?')}, " \
                                            f"{ref.get('precision', '?')}, {ref.get('optimizer', '?')}"
                lines.append(f"| `{name}/{region}` | {ref.get('patch') or '—'} | `{ref['kind']}` | {quantity} | {value} "
                             f"| {made} |")
    return "\n".join(lines)


def front_door_text(data: dict, source: str) -> str:
    """The README's measured cost of command (a) on a fresh clone, from the committed record of that run."""
    run = data["run"]
    gigabytes = data["disk_bytes"]["asv_environments"] / 1e9
    return (f"Measured on a fresh clone of suite `{data['suite_commit']}` ({data['machine']}; {data['conditions']}; `{source}`): "
            f"**{_duration(data['wall_s'])}** in all — {_duration(data['install_and_history_s'])} to install and build "
            f"the history, {_duration(run['seconds'])} for the environment and the quick tier ({run['measured']} "
            f"combinations measured, {run['failed']} failed; the published likelihoods skip without their data), "
            f"{_duration(run['publish_seconds'])} to publish — and **{gigabytes:.1f} GB** of asv environment beside the "
            f"{data['disk_bytes']['venv_du'].removesuffix('G')} GB of packages pip installs.")


def ledger_total_text(data: dict, source: str) -> str:
    """One sentence: what the committed full-tier ledger sums to."""
    total = tiertime.summary(data)
    return (f"The committed ledger (`{source}`) sums {total['shards']} shards to **{_duration(total['seconds'])}** "
            f"on 2-core machines; {len(total['failed_shards'])} shards end with a non-zero asv status and "
            f"{total['timeouts']} benchmarks ran into their timeout.")


def noise_text(data: dict, source: str) -> str:
    """One sentence: the wall-time noise floor of each sampling setting of a noise study."""
    settings = list(data["settings"].values())
    parts = [f"**{s['median_deviation']:.3f}** {s.get('label') or 'with ' + s['description']}" for s in settings]
    return (f"Wall-time noise, the median |ratio − 1| between two identical runs of {settings[0]['pairs']} "
            f"numpy combinations ({data['machine']}, {data['where']}; `{source}`): " + "; ".join(parts) + ".")


RENDERERS = {
    "grid-scan": grid_scan_table,
    "eras": eras_table,
    "likelihoods": likelihoods_table,
    "references": references_table,
    "front-door": front_door_text,
    "ledger-total": ledger_total_text,
    "noise": noise_text,
}


def render(kind: str, source: str, root: Path) -> str:
    """The block `<!-- pyhf-bench docs-table KIND SOURCE -->` holds, with its trailing newline."""
    if kind not in RENDERERS:
        raise UserError(f"no docs table of kind {kind!r}; choose one of {', '.join(RENDERERS)}")
    return RENDERERS[kind](_read_json(root / source), source) + "\n"


def _block_text(command: str, root: Path) -> str:
    words = command.split()
    if words[0] == "docs-table" and len(words) == 3:
        return render(words[1], words[2], root)
    # Another command's printed table (e.g. `instructions --markdown FILE`): run it as the page says.
    proc = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", *words], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"`pyhf-bench {command}` failed ({proc.stderr.strip()[-300:]}); fix the block's command")
    return proc.stdout


def refreshed(page: Path, root: Path) -> str:
    """The page's text with every generated block re-rendered."""
    return BLOCK.sub(lambda m: m.group(1) + _block_text(m.group(2), root) + m.group(4), page.read_text())


def pages(root: Path) -> list[Path]:
    """README.md and the hand-written docs pages (the generated report is left to `pyhf-bench report`)."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def refresh(root: Path, check: bool) -> list[Path]:
    """Rewrite (or, with `check`, only find) the pages whose generated blocks differ from their files."""
    stale = []
    for page in pages(root):
        text = refreshed(page, root)
        if text != page.read_text():
            stale.append(page)
            if not check:
                with atomic_file(page) as fh:
                    fh.write(text)
    return stale
