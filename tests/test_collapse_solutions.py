"""Solutions are collapsed in JupyterLab: every cell of a multi-cell solution carries the
notebook's "collapsed" metadata, and no prose outside a solution does (scripts/collapse_solutions.py)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("collapse_solutions", ROOT / "scripts" / "collapse_solutions.py")
cs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cs)


def hidden(cell) -> bool:
    j = cell["metadata"].get("jupyter", {})
    return j.get("source_hidden") is True and (cell["cell_type"] == "markdown" or j.get("outputs_hidden") is True)


def test_the_sources_are_collapsed():
    assert len(cs.chapters()) >= 13
    assert all(cs.collapse(md.read_text()) == md.read_text() for md in cs.chapters())


def test_notebook_cells_inside_solutions_are_collapsed_and_only_they():
    spanning = 0
    for md in cs.chapters():
        nb = json.loads(md.with_suffix(".ipynb").read_text())
        inside = False
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            starts, ends = bool(re.search(r"^```\{solution-start\}", src, re.M)), bool(re.search(r"^```\{solution-end\}", src, re.M))
            if inside and not starts:  # a cell after the one that opened the solution
                only_end = ends and not re.sub(r"```\{solution-end\}[^\n]*\n```", "", src).strip()
                assert hidden(cell) or only_end, f"{md.stem}: a solution cell is not collapsed: {src[:80]!r}"
                if ends:
                    tail = src[src.index("{solution-end}"):].split("```", 2)[-1] if src.count("```") >= 2 else ""
                    assert not tail.strip(), f"{md.stem}: prose after solution-end in a collapsed cell: {tail[:80]!r}"
                spanning += cell["cell_type"] == "code"
            elif not inside:
                assert not hidden(cell), f"{md.stem}: a cell outside any solution is collapsed: {src[:80]!r}"
            gates = re.findall(r"^```\{solution-(start|end)\}", src, re.M)
            if gates:
                inside = gates[-1] == "start"                  # the last gate of the cell decides
    assert spanning >= 10


def test_collapse_is_idempotent_and_splits_off_the_next_prose():
    text = ("intro\n\n```{solution-start} ex-1\n:class: dropdown\n```\n\nsolution text\n\n"
            "```{code-cell} ipython3\nx = 1\n```\n\nmore solution\n\n```{solution-end}\n```\n\n## Next\n")
    once = cs.collapse(text)
    assert cs.collapse(once) == once
    assert ':jupyter: {"source_hidden": true, "outputs_hidden": true}' in once
    assert '+++ {"jupyter": {"source_hidden": true}}\n\nmore solution' in once
    assert "```{solution-end}\n```\n\n+++\n\n## Next" in once
    single = "```{solution-start} ex-1\n```\n\nall in one cell\n\n```{solution-end}\n```\n\ntext\n"
    assert cs.collapse(single) == single                       # jupyterlab-myst collapses it itself
