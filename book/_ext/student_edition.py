"""Student edition: the same book with every solution removed.

``hide_solutions: true`` (sphinx-exercise) crashes on the gated
``solution-start``/``solution-end`` form used by the chapters (the start
directive returns nothing, the end node is left without its start). Instead,
this extension lets sphinx-exercise assemble the gated solutions as usual and
then deletes every ``solution_node`` from each doctree (a transform that runs
after sphinx-exercise's ``MergeGatedSolutions``, priority 10). Exercises keep
their numbers; the code cells inside gated solutions go with them.

Enabled by the config value ``student_edition`` (default: environment variable
``LANDAU_STUDENT_EDITION=1``); ``make student`` sets it and builds into
``_build/student/html``.

The page's download button offers ``_sources/<page>.ipynb``, a copy of the
full notebook: at the end of a student build the solution regions are cut out
of those copies too (``strip_solutions_from_notebook``). The Colab/Binder
launch buttons still open the repository's notebooks (with solutions).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)


class RemoveSolutions(SphinxTransform):
    default_priority = 50  # after sphinx_exercise.transforms.MergeGatedSolutions (10)

    def apply(self) -> None:
        if not self.config.student_edition:
            return
        from sphinx_exercise.nodes import solution_end_node, solution_node, solution_start_node

        removed = 0
        for node in list(self.document.findall(
                lambda n: isinstance(n, (solution_node, solution_start_node, solution_end_node)))):
            if node.parent is not None:
                node.parent.remove(node)
                removed += 1
        if removed:
            logger.verbose("student_edition: %d solution(s) removed from %s", removed, self.env.docname)


_START = re.compile(r"^(`{3,}|:{3,})\{solution-start\}.*$", re.M)
_END = re.compile(r"^(`{3,}|:{3,})\{solution-end\}[^\n]*\n(?:[^\n]*\n)*?\1[ \t]*$", re.M)


def _cut(text: str, in_solution: bool) -> tuple[str, bool]:
    """Remove solution regions from one markdown cell; carry the state across cells."""
    out = []
    pos = 0
    while pos <= len(text):
        if not in_solution:
            m = _START.search(text, pos)
            if m is None:
                out.append(text[pos:])
                break
            out.append(text[pos:m.start()])
            in_solution = True
            pos = m.end()
        else:
            m = _END.search(text, pos)
            if m is None:  # the region goes on in the next cells
                break
            in_solution = False
            pos = m.end()
    return "".join(out), in_solution


def strip_solutions_from_notebook(nb: dict) -> int:
    """Drop every cell (part) between {solution-start} and {solution-end}; return #regions."""
    cells, in_solution, regions = [], False, 0
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if cell.get("cell_type") == "markdown":
            regions += len(_START.findall(src))
            new, in_solution = _cut(src, in_solution)
            if new.strip():
                cell = dict(cell, source=re.sub(r"\n{3,}", "\n\n", new).strip("\n"))
                cells.append(cell)
        elif not in_solution:
            cells.append(cell)
    nb["cells"] = cells
    return regions


def strip_downloadable_sources(app: Sphinx, exception) -> None:
    if exception is not None or not app.config.student_edition or app.builder.format != "html":
        return
    for path in Path(app.outdir, "_sources").rglob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if strip_solutions_from_notebook(nb):
            path.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def setup(app: Sphinx):
    app.setup_extension("sphinx_exercise")
    app.add_config_value("student_edition",
                         os.environ.get("LANDAU_STUDENT_EDITION", "") not in ("", "0"), "env")
    app.add_transform(RemoveSolutions)
    app.connect("build-finished", strip_downloadable_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
