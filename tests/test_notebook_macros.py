"""Every chapter's first Markdown cell is its front-matter cell for JupyterLab, generated from the
book's sources (scripts/notebook_macros.py): the LaTeX macros of _config.yml (the MyST front matter
jupyterlab-myst reads), a visible kicker line, and hidden targets for the labels the chapter
references but JupyterLab cannot find in the notebook alone."""

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
    for name in ("_toc.yml", "references.bib"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    for name in ("preface.md", "preface.ipynb"):
        (tmp_path / "book" / name).write_text((ROOT / "book" / name).read_text())
    bad = nm.stale(tmp_path / "book", tmp_path)
    assert len(bad) == 2 and "preface.md" in bad[0] and "preface.ipynb" in bad[1]
    # --write logic: the .md gets the new macro, once (idempotent)
    md = tmp_path / "book" / "preface.md"
    source = nm.cell_source(md, nm.config_macros(tmp_path), tmp_path / "book", tmp_path)
    new = nm.with_cell(md.read_text(), source)
    assert "'\\dd': '\\mathrm{D}'" in new and new.count(nm.MARKER) == 1
    assert nm.with_cell(new, source) == new
    # and write() updates the .ipynb's cell alone (outputs kept), after which nothing is stale
    before = json.loads((tmp_path / "book" / "preface.ipynb").read_text())
    nm.write(tmp_path / "book", tmp_path)
    after = json.loads((tmp_path / "book" / "preface.ipynb").read_text())
    assert [c.get("outputs") for c in after["cells"]] == [c.get("outputs") for c in before["cells"]]
    assert nm.stale(tmp_path / "book", tmp_path) == []


def test_bad_macros_are_refused(tmp_path):
    (tmp_path / "_config.yml").write_text(
        "sphinx:\n  config:\n    mathjax3_config:\n      tex:\n        macros:\n          bb: [\"\\\\mathbf{#1}\", 1]\n")
    with pytest.raises(ValueError, match="not a name and a TeX string"):
        nm.config_macros(tmp_path)
    (tmp_path / "_config.yml").write_text("title: x\n")
    with pytest.raises(ValueError, match="no sphinx.config.mathjax3_config"):
        nm.config_macros(tmp_path)


def _first_cell(name: str) -> str:
    nb = json.loads((ROOT / "book" / f"{name}.ipynb").read_text())
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "markdown")["source"])


def test_the_cell_shows_a_kicker_and_hides_its_targets():
    # a visible line (not an empty-looking cell at the top of the notebook in JupyterLab)
    assert "\n*Transport-based particle methods for the Landau equation* · Theory · Chapter 3\n" \
        in _first_cell("score_matching")
    assert "· Preface" in _first_cell("preface")
    # no "# ..." line in the front matter: JupyterLab's table of contents reads it as a heading
    front = _first_cell("score_matching").split("\n---\n")[0]
    assert not [line for line in front.splitlines() if line.lstrip().startswith("#")]


def test_references_to_other_chapters_and_code_cell_figures_get_hidden_targets():
    cell = _first_cell("exp_anisotropic")
    hidden = cell.split("````{div}\n:class: hidden\n", 1)[1]
    # an equation of chapter 1, with its number in the HTML book
    assert ":label: eq-landau_continuity-relaxation\n:enumerator: 1.10\n" in hidden
    # a figure myst-nb labels in a code cell's metadata (JupyterLab does not read it)
    assert ":label: fig-exp_anisotropic-overview\n:enumerator: 8.1\n" in hidden
    # a section of another chapter: its title and where it is
    assert ":label: exp_coulomb\n:enumerated: false\nCoulomb collisions (Example 5.3) in chapter 10\n" in hidden
    # labels the notebook's Markdown defines itself are not duplicated
    assert ":label: prop-exp_anisotropic-floor\n" not in hidden


def test_numbers_follow_the_html_numbering():
    labels = nm.book_labels()
    assert labels["eq-landau_continuity-relaxation"]["number"] == "1.10"
    assert labels["lem-score_matching-stein"]["number"] == "3.1"
    assert labels["fig-score_matching-adaptive"]["number"] == "3.4"
    assert labels["preface-notebooks"] == {"kind": "section", "number": None, "title": "How to run it",
                                           "stem": "preface", "chapter": None}


def test_the_works_a_chapter_cites_are_listed_by_key():
    # JupyterLab (jupyterlab-myst 2.7.0) shows a citation as its key: the cell decodes the keys
    cell = _first_cell("score_matching")
    assert ":::{dropdown} Works cited in this chapter" in cell
    assert "- `boffi2023probability`: Boffi and Vanden-Eijnden [2023], *Probability flow solution of " \
           "the Fokker–Planck equation*.\n" in cell
    assert "- `ilin2025transport`: Ilin et al. [2025]," in cell
