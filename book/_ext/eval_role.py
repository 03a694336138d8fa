"""``{eval}`expression` `` in the HTML book: the value stored in the notebook.

A chapter's prose shows computed numbers with MyST's inline expression role, e.g.
``{eval}`glued("p_ratio:.1f")` `` (``landau_nb.book.glue``). JupyterLab (jupyterlab-myst)
shows the value stored in the Markdown cell's metadata ``user_expressions``;
``scripts/execute_notebooks.py`` stores it (the kernel's answer, evaluated once the whole
notebook has run). This extension shows the same stored value in the HTML
book, which is built from the executed notebooks without a kernel (myst-nb's own ``eval``
role needs a live kernel, ``nb_execution_mode: inline``).

``text/markdown`` results are parsed as inline MyST (math), ``text/plain`` shown as text
(quotes of a string dropped, as jupyterlab-myst does). An expression without a stored value,
or whose stored value is an error, is a build warning (fatal under ``-W``) naming the chapter
to re-execute.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)
_CACHE: dict = {}


def stored_expressions(path: Path) -> dict:
    """``{expression: result}`` of every Markdown cell of the notebook ``path``."""
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _CACHE:
        nb = json.loads(path.read_text(encoding="utf-8"))
        found = {}
        for cell in nb.get("cells", []):
            for item in cell.get("metadata", {}).get("user_expressions", []) or []:
                found[item["expression"]] = item["result"]
        _CACHE[key] = found
    return _CACHE[key]


def eval_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    document = inliner.document
    env = document.settings.env
    source = Path(env.doc2path(env.docname))
    where = f"{env.docname}:{lineno}"

    def fail(why):
        msg = (f"{{eval}}`{text}`: {why} (re-execute the chapter: make notebooks NB={source.stem})")
        logger.warning(msg, location=(env.docname, lineno))
        return [nodes.problematic(rawtext, rawtext)], []

    if source.suffix != ".ipynb":
        return fail(f"{where} is not a notebook, nothing is stored for it")
    result = stored_expressions(source).get(text)
    if result is None:
        return fail("no stored value")
    if result.get("status") != "ok":
        return fail(f"stored error {result.get('ename')}: {result.get('evalue')}")
    data = result.get("data", {})
    if "text/markdown" in data:
        # myst-parser's inliner parses inline MyST (math etc.); it ignores ``memo``
        parsed, messages = inliner.parse(data["text/markdown"], lineno, None, nodes.inline())
        return [nodes.inline(rawtext, "", *parsed, classes=["eval-result"])], messages
    if "text/plain" in data:
        value = re.sub(r"^([\"'])(.*)\1$", r"\2", data["text/plain"], flags=re.S)
        return [nodes.inline(rawtext, value, classes=["eval-result"])], []
    return fail(f"no text/plain or text/markdown in the stored value ({sorted(data)})")


def _register(app) -> None:
    app.add_role("eval", eval_role, override=True)          # after myst-nb's kernel-only eval role


def setup(app):
    _register(app)
    app.connect("builder-inited", _register)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
