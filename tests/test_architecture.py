"""The import layers of pyhf_bench (pyproject.toml's import-linter contracts), in both directions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .conftest import ROOT


def _lint(cwd, pythonpath: str) -> subprocess.CompletedProcess:
    # importlinter.cli has no __main__ guard: call its command as the lint-imports script does.
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--no-cache"], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env=dict(os.environ, PYTHONPATH=pythonpath))


def test_the_package_keeps_its_layers():
    proc = _lint(ROOT, str(ROOT / "src") + os.pathsep + str(ROOT))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "0 broken" in proc.stdout


def test_a_wrong_way_import_breaks_the_contract(tmp_path):
    """files (core) importing cli (the top) must fail: a copy of the tree with that one import added."""
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "benchmarks", tmp_path / "benchmarks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    files = tmp_path / "src" / "pyhf_bench" / "core" / "files.py"
    files.write_text(files.read_text() + "\n\ndef _wrong_way():\n    from pyhf_bench import cli  # noqa: F401\n")
    proc = _lint(tmp_path, str(tmp_path / "src") + os.pathsep + str(tmp_path))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "BROKEN" in proc.stdout and "pyhf_bench.core.files -> pyhf_bench.cli" in proc.stdout, proc.stdout[-3000:]


def test_benchmarks_keep_their_names_and_versions():
    """Every benchmark asv knows from results/benchmarks.json still exists with the same version hash.

    asv keys a benchmark's history by name and version (a hash of its code unless pinned):
    a refactor that changes either orphans the committed results on the dashboard. New
    benchmarks are fine; regenerate benchmarks.json with `asv run` when adding them.
    """
    import json

    code = ("import json, sys; sys.path.insert(0, '.'); from asv_runner.discovery import disc_benchmarks; "
            "print('@@' + json.dumps({b.name: b.version for b in disc_benchmarks('benchmarks')}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    found = json.loads(proc.stdout.split("@@", 1)[1])
    committed = {name: b["version"] for name, b in json.loads((ROOT / "results" / "benchmarks.json").read_text())
                 .items() if name != "version"}
    assert not sorted(set(committed) - set(found)), "benchmarks gone"
    changed = {name for name in committed if found[name] != committed[name]}
    assert not changed, f"version changed (pin `version` to the old hash if the timed call is unchanged): {changed}"


def test_modules_and_functions_stay_readable():
    """#35's size rules: no module over 500 lines without a stated reason, no function over 80 lines.

    A module may pass 500 lines only if its docstring says why in a line starting "Long because:".
    """
    import ast

    too_long = []
    for path in sorted((ROOT / "src" / "pyhf_bench").rglob("*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        name = path.relative_to(ROOT / "src")
        if text.count("\n") > 500 and "Long because:" not in (ast.get_docstring(tree) or ""):
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                too_long.append(f"{name}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long, "split these (or say in the module docstring 'Long because: ...'):\n" + "\n".join(too_long)
