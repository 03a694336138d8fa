"""The book's LaTeX macros for notebook front ends, from ONE source: ``_config.yml``.

The HTML book defines its macros (``\\dd``, ``\\KL``, ``\\grad``, ...) in ``_config.yml``
(``sphinx.config.mathjax3_config.tex.macros``). JupyterLab with jupyterlab-myst reads macros
from the MyST front matter of a notebook's first Markdown cell (``math:``). So every chapter
starts with a Markdown cell, tagged ``remove-cell`` (myst-nb leaves it out of the HTML), that
holds exactly this front matter, generated from ``_config.yml``:

    +++ {"tags": ["remove-cell"]}

    ---
    # The book's LaTeX macros for JupyterLab (jupyterlab-myst), generated from _config.yml
    # by scripts/notebook_macros.py --write: do not edit here.
    math:
      '\\R': '\\mathbb{R}'
      ...
    ---

Command line (from the repository root)::

    python scripts/notebook_macros.py           # check: exit 1 naming each chapter that differs
    python scripts/notebook_macros.py --write   # write the cell into every book/*.md chapter

After ``--write``, sync the notebooks (``jupytext --sync book/NAME.md`` or ``make notebooks``).
``tests/test_notebook_macros.py`` checks the ``.md`` and ``.ipynb`` files against ``_config.yml``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
MARKER = "# The book's LaTeX macros for JupyterLab (jupyterlab-myst), generated from _config.yml"
HEADER = re.compile(r"\A---\n.*?\n---\n", re.S)           # the jupytext header of a book/*.md
CELL = re.compile(r'\n\+\+\+ \{"tags": \["remove-cell"\]\}\n\n---\n' + re.escape(MARKER) + r".*?\n---\n", re.S)


def config_macros(root: Path = ROOT) -> dict[str, str]:
    """``{name: expansion}`` from ``_config.yml`` (``sphinx.config.mathjax3_config.tex.macros``)."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text())
    try:
        macros = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    except (KeyError, TypeError):
        raise ValueError(f"{root / '_config.yml'}: no sphinx.config.mathjax3_config.tex.macros") from None
    for name, value in macros.items():
        if not re.fullmatch(r"[A-Za-z]+", str(name)) or not isinstance(value, str):
            raise ValueError(f"_config.yml: macro {name!r}: {value!r} is not a name and a TeX string "
                             "(macros with arguments are not supported here)")
    return macros


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def front_matter(macros: dict[str, str]) -> str:
    """The Markdown cell's source: the front matter with ``math:``."""
    lines = ["---", MARKER, "# by scripts/notebook_macros.py --write: do not edit here.", "math:"]
    lines += [f"  {_quote(chr(92) + name)}: {_quote(value)}" for name, value in macros.items()]
    return "\n".join(lines + ["---"])


def cell_block(macros: dict[str, str]) -> str:
    """The cell as it stands in a ``book/*.md`` (jupytext MyST), with its leading blank line."""
    return '\n+++ {"tags": ["remove-cell"]}\n\n' + front_matter(macros) + "\n"


def chapters(book: Path = BOOK) -> list[Path]:
    """The ``book/*.md`` that are jupytext notebooks with an ``.ipynb`` twin."""
    return sorted(p for p in book.glob("*.md")
                  if p.with_suffix(".ipynb").exists() and p.read_text().startswith("---\njupytext:"))


def with_cell(text: str, macros: dict[str, str]) -> str:
    """``text`` (a chapter's ``.md``) with the macro cell right after its jupytext header."""
    text = CELL.sub("", text, count=1)
    header = HEADER.match(text)
    if header is None:
        raise ValueError("no jupytext header (--- ... ---) at the top")
    return text[:header.end()] + cell_block(macros) + text[header.end():]


def notebook_macros(nb: dict) -> dict[str, str] | None:
    """The macros a notebook's first Markdown cell defines (what jupyterlab-myst reads), or None."""
    import yaml

    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            src = "".join(cell["source"])
            m = re.match(r"\A---\n(.*?)\n---\s*\Z", src, re.S)
            if not m:
                return None
            math = (yaml.safe_load(m.group(1)) or {}).get("math")
            return {k.lstrip("\\"): v for k, v in math.items()} if isinstance(math, dict) else None
    return None


def stale(book: Path = BOOK, root: Path = ROOT) -> list[str]:
    """Chapters whose ``.md`` or ``.ipynb`` do not carry exactly the macros of ``_config.yml``."""
    macros = config_macros(root)
    bad = []
    for md in chapters(book):
        if with_cell(md.read_text(), macros) != md.read_text():
            bad.append(f"{md.name}: the macro cell is missing or differs from _config.yml")
        nb = json.loads(md.with_suffix(".ipynb").read_text())
        if notebook_macros(nb) != macros:
            bad.append(f"{md.with_suffix('.ipynb').name}: its first Markdown cell does not define the "
                       "macros of _config.yml (sync it: jupytext --sync)")
    return bad


def main(argv: list[str]) -> int:
    macros = config_macros()
    if argv[1:] == ["--write"]:
        changed = []
        for md in chapters():
            new = with_cell(md.read_text(), macros)
            if new != md.read_text():
                md.write_text(new)
                changed.append(md)
        print(f"{len(macros)} macros from _config.yml: wrote {len(changed)} chapter(s)"
              + "".join(f"\n  {p.relative_to(ROOT)}" for p in changed))
        return 0
    if argv[1:]:
        print(__doc__.split("Command line")[1].strip(), file=sys.stderr)
        return 2
    bad = stale()
    for line in bad:
        print(f"notebook_macros: {line}", file=sys.stderr)
    if not bad:
        print(f"notebook_macros: {len(chapters())} chapters define the {len(macros)} macros of _config.yml")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
