"""Sphinx configuration of eqspike's documentation (``sphinx-build -W -b html docs docs/_build``).

The pages are MyST Markdown; the API reference is generated from the docstrings (autodoc,
autosummary, napoleon's NumPy conventions). The table of network-file fields is generated
here, at every build, from :func:`eqspike.spec.field_table` (the fields' own definitions),
so that it is never written twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import eqspike  # noqa: E402
from eqspike.spec import field_table  # noqa: E402

project = "eqspike"
author = "the eqspike developers"
release = version = eqspike.__version__
copyright = "2026, the eqspike developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_generated"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"
autodoc_mock_imports = ["cupy", "pynvml"]
napoleon_numpy_docstring = True
napoleon_google_docstring = False

html_theme = "pydata_sphinx_theme"
html_title = f"eqspike {version}"
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False,
                      "header_links_before_dropdown": 7,
                      "secondary_sidebar_items": ["page-toc"]}
# the topic pages are one level deep: no left sidebar; the API pages keep their navigation
html_sidebars = {"*": [], "generated/*": ["sidebar-nav-bs"]}


def write_field_table(app) -> None:
    """docs/_generated/network-fields.md: every field of a network file, from spec.py."""
    out = Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    lines = ["| field | default | valid | what |", "|---|---|---|---|"]
    section = None
    for name, field, default, valid, doc in field_table():
        if name != section:
            lines.append(f"| **`[{name}]`** | | | |")
            section = name
        cell = doc.replace("|", "\\|")
        lines.append(f"| `{field}` | `{default}` | {valid.replace('|', '/')} | {cell} |")
    text = "\n".join(lines) + "\n"
    target = out / "network-fields.md"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def setup(app):
    app.connect("builder-inited", write_field_table)
