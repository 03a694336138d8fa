"""Numbers in the prose: glue(name, value) in a code cell, {eval}`glued("name:fmt")` in the
text (landau_nb.book.glue); what execute_notebooks.py stores and the HTML role shows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from landau_nb.book import glue as g

ROOT = Path(__file__).resolve().parents[1]


def test_glued_formats_like_glue_text():
    g.glue("t_ratio", 3.14159, display=False)
    assert g.glued("t_ratio:.1f") == "3.1" and g.glued("t_ratio") == "3.14159"
    g.glue("t_md", "$2\\cdot 10^{5}$", display=False)
    md = g.glued_md("t_md")
    assert md == "$2\\cdot 10^{5}$" and md._repr_markdown_() == md
    from IPython.display import Markdown

    g.glue("t_md2", Markdown("$10^{3}$"), display=False)
    assert g.glued_md("t_md2") == "$10^{3}$"


def test_bad_input_gets_clear_errors():
    with pytest.raises(KeyError, match="nothing glued under 'nope'"):
        g.glued("nope:.1f")
    with pytest.raises(ValueError, match="identifier"):
        g.glue("a b", 1, display=False)
    g.glue("t_text", "abc", display=False)
    with pytest.raises(ValueError, match="cannot format 'abc'"):
        g.glued("t_text:.1f")
    with pytest.raises(TypeError, match="not Markdown"):
        g.glue("t_num", 1.0, display=False) or g.glued_md("t_num")
    with pytest.raises(TypeError, match="expected 'name'"):
        g.glued(3)


def test_the_executor_stores_and_the_check_requires_every_eval():
    """Every {eval} of the committed chapters has its value stored, and no {glue role is left."""
    spec = importlib.util.spec_from_file_location("check_notebooks", ROOT / "scripts" / "check_notebooks.py")
    cn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cn)
    import nbformat

    n = 0
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert "{glue" not in "".join(c.source for c in nb.cells if c.cell_type == "markdown"), path.name
        assert not [p for p in cn.check_executed(nb) if "{eval}" in p], path.name
        n += sum(len(cn.EVAL.findall(c.source)) for c in nb.cells if c.cell_type == "markdown")
    assert n >= 150
    # a cell without the stored value is reported
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('x {eval}`glued("a")` y'),
                                         nbformat.v4.new_code_cell("1", execution_count=1,
                                                                   outputs=[nbformat.v4.new_output("stream", text="1")])])
    assert any("has no stored value" in p for p in cn.check_executed(nb))
