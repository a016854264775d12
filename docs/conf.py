"""Sphinx configuration of the pyhf-bench documentation (MyST Markdown pages, as scikit-hep projects write them).

Built with warnings as errors by the tests (tests/test_docs.py):
``python -m sphinx -W -b html docs docs/_build/html``.
"""

project = "pyhf-bench"
author = "the pyhf-bench developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
master_doc = "index"
exclude_patterns = ["_build", "**/profiles/**"]
myst_heading_anchors = 3
html_theme = "pydata_sphinx_theme"
html_title = "pyhf-bench"
html_theme_options = {"navigation_with_keys": False}
