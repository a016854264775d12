"""The documentation site builds with warnings as errors, and its results pages are what the commands make."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT

LEDGER = "docs/full-tier-epyc-2core.json"


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(ROOT / "docs"), str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (tmp_path / "html" / "results-full-tier.html").is_file()


def test_the_full_tier_page_is_the_ledgers_generated_table():
    """Never pasted by hand: the page's table is `tier-time --markdown` of the committed ledger, byte for byte."""
    table = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", "tier-time", "--ledger", str(ROOT / LEDGER),
                            "--markdown"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    page = (ROOT / "docs" / "results-full-tier.md").read_text()
    assert page.endswith(table), "regenerate docs/results-full-tier.md with the command it names"


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, len(lines)
