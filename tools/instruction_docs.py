"""Rewrite the timing tables of docs/instruction-counts.md and docs/review.md from the committed JSON files.

Each block between ``<!-- pyhf-bench COMMAND --markdown FILE -->`` and ``<!-- end -->`` becomes
what that command prints (``pyhf-bench instructions --markdown``, ``instructions-proof --markdown``,
``review-proof --markdown``, ``noise --markdown``). Run from the checkout: ``python tools/instruction_docs.py``.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "docs" / "instruction-counts.md", ROOT / "docs" / "review.md"]
BLOCK = re.compile(r"(<!-- pyhf-bench ([\w-]+) --markdown (\S+) -->\n)(.*?)(<!-- end -->)", re.S)


def render(match: re.Match) -> str:
    command, source = match.group(2), match.group(3)
    out = subprocess.run([sys.executable, "-m", "pyhf_bench.cli", command, "--markdown", source], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return match.group(1) + out + match.group(5)


if __name__ == "__main__":
    for page in PAGES:
        page.write_text(BLOCK.sub(render, page.read_text()))
