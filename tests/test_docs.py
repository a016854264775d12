"""The documentation site builds with warnings as errors, and every table on it is what a command makes from a committed file."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from .conftest import ROOT

LEDGER = "docs/full-tier-epyc-2core.json"


def pyhf_bench(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "pyhf_bench.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(ROOT / "docs"), str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for page in ("results-full-tier", "architecture", "methodology", "likelihoods"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page


def test_the_full_tier_page_is_the_ledgers_generated_table():
    """Never pasted by hand: the page's table is `tier-time --markdown` of the committed ledger, byte for byte."""
    table = pyhf_bench("tier-time", "--ledger", str(ROOT / LEDGER), "--markdown")
    assert table.returncode == 0, table.stderr
    page = (ROOT / "docs" / "results-full-tier.md").read_text()
    assert page.endswith(table.stdout), "regenerate docs/results-full-tier.md with the command it names"


def test_every_generated_block_of_the_readme_and_docs_is_what_its_file_renders_to():
    proc = pyhf_bench("docs-tables", "--check")
    assert proc.returncode == 0, proc.stderr + "\nregenerate with `pyhf-bench docs-tables`"


def test_the_pages_hold_the_generated_tables_they_are_said_to():
    """The blocks exist where the numbers live, so the check above covers them (an empty page passes nothing)."""
    expected = {"README.md": ["front-door docs/front-door-epyc-2core.json", "noise docs/noise-study-epyc-2core.json"],
                "docs/methodology.md": ["ledger-total docs/full-tier-epyc-2core.json"],
                "docs/history.md": ["eras src/pyhf_bench/core/eras.json"],
                "docs/grids.md": ["grid-scan docs/grid-sbottom-RegionA-epyc-2core.json"],
                "docs/likelihoods.md": ["likelihoods src/pyhf_bench/likelihoods/likelihoods.json",
                                        "references src/pyhf_bench/likelihoods/likelihoods.json"]}
    for page, blocks in expected.items():
        text = (ROOT / page).read_text()
        for block in blocks:
            assert f"<!-- pyhf-bench docs-table {block} -->\n" in text, (page, block)


def test_a_stale_table_is_found_and_rewritten_from_its_file(tmp_path):
    """The check can fail: edit a number of the data file and the page no longer matches until regenerated."""
    (tmp_path / "docs").mkdir()
    data = json.loads((ROOT / "docs" / "grid-sbottom-RegionA-epyc-2core.json").read_text())
    source = tmp_path / "docs" / "grid.json"
    source.write_text(json.dumps(data))
    page = tmp_path / "docs" / "grids.md"
    page.write_text("# grids\n\n<!-- pyhf-bench docs-table grid-scan docs/grid.json -->\n<!-- end -->\n\nafter\n")
    (tmp_path / "README.md").write_text("# front\n")
    assert pyhf_bench("docs-tables", "--root", str(tmp_path), cwd=tmp_path).returncode == 0
    first = page.read_text()
    assert "| numpy | serial | 217 of 217 | 864 |" in first and first.endswith("<!-- end -->\n\nafter\n")
    assert pyhf_bench("docs-tables", "--check", "--root", str(tmp_path), cwd=tmp_path).returncode == 0

    data["runs"]["np-serial"]["wall_seconds"] = 999.0
    source.write_text(json.dumps(data))
    stale = pyhf_bench("docs-tables", "--check", "--root", str(tmp_path), cwd=tmp_path)
    assert stale.returncode == 1 and "docs/grids.md: is stale" in stale.stderr
    assert page.read_text() == first, "--check writes nothing"
    assert pyhf_bench("docs-tables", "--root", str(tmp_path), cwd=tmp_path).returncode == 0
    assert "| numpy | serial | 217 of 217 | 999 |" in page.read_text()


def test_a_missing_data_file_is_one_line_and_exit_2(tmp_path):
    proc = pyhf_bench("docs-table", "grid-scan", "docs/no-such.json", "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("pyhf-bench: error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_the_3l_erjr_table_is_what_its_tool_renders_from_the_data_file():
    spec = importlib.util.spec_from_file_location("erjr_table", ROOT / "tools" / "erjr_table.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    page = (ROOT / "docs" / "3L-eRJR.md").read_text()
    rendered = tool.table(json.loads(tool.DATA.read_text()))
    assert f"{tool.BEGIN}\n{rendered}\n{tool.END}" in page, "regenerate with `python tools/erjr_table.py`"


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    assert "docs/architecture.md" in "\n".join(lines)
