"""The book's LaTeX macros have one source, _config.yml: every chapter's first Markdown cell
(the MyST front matter jupyterlab-myst reads) defines exactly them (scripts/notebook_macros.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("notebook_macros", ROOT / "scripts" / "notebook_macros.py")
nm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nm)


def test_every_chapter_defines_the_macros_of_the_config():
    macros = nm.config_macros()
    assert {"dd", "KL", "grad", "tr", "Id", "diag", "dv"} <= set(macros)
    assert len(nm.chapters()) >= 15
    assert nm.stale() == []


def test_the_cell_is_the_first_markdown_cell_and_removed_from_the_html():
    for md in nm.chapters():
        nb = json.loads(md.with_suffix(".ipynb").read_text())
        first = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        assert first["metadata"].get("tags") == ["remove-cell"], md.name
        assert nm.notebook_macros(nb) == nm.config_macros(), md.name


def test_a_changed_config_macro_is_detected(tmp_path):
    (tmp_path / "book").mkdir()
    config = (ROOT / "_config.yml").read_text()
    assert "dd: \"\\\\mathrm{d}\"" in config
    (tmp_path / "_config.yml").write_text(config.replace("dd: \"\\\\mathrm{d}\"", "dd: \"\\\\mathrm{D}\""))
    for name in ("preface.md", "preface.ipynb"):
        (tmp_path / "book" / name).write_text((ROOT / "book" / name).read_text())
    bad = nm.stale(tmp_path / "book", tmp_path)
    assert len(bad) == 2 and "preface.md" in bad[0] and "preface.ipynb" in bad[1]
    # --write logic: the .md gets the new macro, once (idempotent)
    md = tmp_path / "book" / "preface.md"
    new = nm.with_cell(md.read_text(), nm.config_macros(tmp_path))
    assert "'\\dd': '\\mathrm{D}'" in new and new.count(nm.MARKER) == 1
    assert nm.with_cell(new, nm.config_macros(tmp_path)) == new


def test_bad_macros_are_refused(tmp_path):
    (tmp_path / "_config.yml").write_text(
        "sphinx:\n  config:\n    mathjax3_config:\n      tex:\n        macros:\n          bb: [\"\\\\mathbf{#1}\", 1]\n")
    with pytest.raises(ValueError, match="not a name and a TeX string"):
        nm.config_macros(tmp_path)
    (tmp_path / "_config.yml").write_text("title: x\n")
    with pytest.raises(ValueError, match="no sphinx.config.mathjax3_config"):
        nm.config_macros(tmp_path)
