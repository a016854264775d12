"""Every bad input of tests/bad_inputs.py gives its one explaining line and exit status; docs/bad-inputs.md is their table."""

from __future__ import annotations

import re

import pytest

from .bad_inputs import CASES, DOCS, run_case


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_the_right_exit_status(case, tmp_path):
    status, line, stderr = run_case(case, tmp_path)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert status == case.status, (line, stderr[-2000:])
    assert re.search(case.message, line), line
    errors = [x for x in stderr.splitlines() if x.startswith("pyhf-bench: ")]
    assert len(errors) <= 1 and all(x.strip() == x for x in errors), stderr  # one line, never wrapped


def test_the_docs_table_is_the_cases():
    """docs/bad-inputs.md is generated (`python -m tests.bad_inputs`): a row per case, with its exit status and a
    message that matches the case."""
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("| ") and not line.startswith("| input")]
    assert len(rows) == len(CASES)
    for case, row in zip(CASES, rows):
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[0] == case.input and cells[2] == str(case.status), row
        message = cells[3].removeprefix("`` ").removesuffix(" ``")
        assert re.search(case.message, message), row
