#!/usr/bin/env python3
"""Check that every chapter of the book is a consistent, executed jupytext pair.

Each chapter is ``book/NAME.md`` (MyST markdown notebook, the source of truth)
paired with ``book/NAME.ipynb`` (the same cells plus stored outputs, which the
book is built from and nbval checks). For every ``book/*.md`` with a jupytext
header this script verifies that

(a) the paired ``.ipynb`` exists;
(b) both files hold the same cells: cell type, source text, and the metadata
    that matters to the book (``tags`` and ``mystnb``);
(c) the ``.ipynb`` has been executed: every code cell has an execution count,
    no cell holds an error output or text on stderr (a warning names the file it
    came from, which differs between machines), and the notebook has at least one
    output;
(d) every ``book/*.ipynb`` has an ``.md`` twin;
(e) the twins are excluded from the Sphinx build in ``_config.yml`` (and no
    other page is), and every notebook is listed in ``_toc.yml`` with its
    ``.ipynb`` suffix.

``jupytext --diff`` is not used: it exits 0 even when the pair differs.

Exit status 0 with a one-line summary when everything holds, 1 with one message
per problem otherwise. Usage: ``python scripts/check_notebooks.py [BOOK_DIR]``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK_METADATA_KEYS = ("tags", "mystnb")


def has_jupytext_header(path: Path) -> bool:
    """True when the file starts with a YAML front matter holding a jupytext key."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return False
    end = text.find("\n---", 4)
    if end < 0:
        return False
    try:
        header = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError:
        return False
    return isinstance(header, dict) and "jupytext" in header


def _source(cell) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(src)
    return src.rstrip("\n")


def _book_metadata(cell) -> dict:
    meta = cell.get("metadata", {})
    return {key: meta[key] for key in BOOK_METADATA_KEYS if meta.get(key)}


def compare_cells(md_nb, ipynb_nb) -> list[str]:
    """Differences between the cells of two notebooks (empty when identical)."""
    problems = []
    md_cells, nb_cells = md_nb.cells, ipynb_nb.cells
    if len(md_cells) != len(nb_cells):
        problems.append(f"{len(md_cells)} cells in the .md but {len(nb_cells)} in the .ipynb")
    for i, (a, b) in enumerate(zip(md_cells, nb_cells), start=1):
        if a.cell_type != b.cell_type:
            problems.append(f"cell {i}: type {a.cell_type} in the .md, {b.cell_type} in the .ipynb")
            continue
        if _source(a) != _source(b):
            first = _source(a).splitlines()[:1] or [""]
            problems.append(f"cell {i} ({a.cell_type}, starts {first[0][:50]!r}): source differs")
        if _book_metadata(a) != _book_metadata(b):
            problems.append(
                f"cell {i}: metadata differs: .md {_book_metadata(a)} vs .ipynb {_book_metadata(b)}"
            )
    return problems


EVAL = re.compile(r"\{eval\}`([^`]+)`")


def check_executed(nb) -> list[str]:
    problems = []
    n_outputs = 0
    for i, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "markdown":
            # {eval}`...`: the value JupyterLab and the HTML show is stored by execute_notebooks.py
            stored = {e.get("expression"): e.get("result", {}).get("status")
                      for e in cell.get("metadata", {}).get("user_expressions", []) or []}
            for expression in EVAL.findall(_source(cell)):
                if stored.get(expression) != "ok":
                    problems.append(f"cell {i}: {{eval}}`{expression}` has no stored value "
                                    "(re-execute: scripts/execute_notebooks.py)")
        if cell.cell_type != "code":
            continue
        if cell.get("execution_count") is None:
            problems.append(f"cell {i}: code cell never executed (execution_count is null)")
        for out in cell.get("outputs", []):
            n_outputs += 1
            if out.get("output_type") == "error":
                problems.append(f"cell {i}: stored output is an error ({out.get('ename')})")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                # a warning's text names the file it came from, so it differs between machines (and
                # nbval compares it): fix its cause, or catch it and print what the reader should see
                first = "".join(out.get("text", "")).strip().splitlines()[:1]
                problems.append(f"cell {i}: stored output on stderr ({first[0][:100] if first else ''!r})")
    if n_outputs == 0:
        problems.append("no stored outputs at all (committed without executing?)")
    return problems


def toc_files(toc_path: Path) -> set[str]:
    """All `file:` entries (and the root) of a jb-book _toc.yml."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8")) or {}
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    found.add(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def main(argv: list[str]) -> int:
    book = Path(argv[1]).resolve() if len(argv) > 1 else ROOT / "book"
    root = book.parent
    errors: list[str] = []

    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(root))
        except ValueError:
            return str(p)

    twins = sorted(p for p in book.glob("*.md") if has_jupytext_header(p))
    notebooks = sorted(book.glob("*.ipynb"))

    for md in twins:
        ipynb = md.with_suffix(".ipynb")
        if not ipynb.exists():
            errors.append(f"{rel(md)}: paired notebook {rel(ipynb)} is missing "
                          f"(run `make notebooks`)")
            continue
        md_nb = jupytext.read(md)
        nb = nbformat.read(ipynb, as_version=4)
        for problem in compare_cells(md_nb, nb):
            errors.append(f"{rel(ipynb)}: out of sync with {md.name}: {problem} "
                          f"(run `make notebooks`)")
        for problem in check_executed(nb):
            errors.append(f"{rel(ipynb)}: {problem} (run `make notebooks`)")

    twin_names = {p.stem for p in twins}
    for ipynb in notebooks:
        if ipynb.stem not in twin_names:
            errors.append(f"{rel(ipynb)}: no jupytext .md twin ({ipynb.stem}.md with a "
                          f"jupytext header); create it with `jupytext --to myst {rel(ipynb)}`")

    config_path, toc_path = root / "_config.yml", root / "_toc.yml"
    if config_path.exists() and toc_path.exists():
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        excluded = set(config.get("exclude_patterns") or [])
        listed = toc_files(toc_path)
        prefix = rel(book)
        for md in twins:
            name = f"{prefix}/{md.name}"
            if name not in excluded:
                errors.append(f"_config.yml: jupytext twin {name} missing from exclude_patterns "
                              f"(Sphinx would see two sources for one page)")
        for pattern in sorted(excluded):
            if pattern.startswith(prefix + "/") and pattern.endswith(".md"):
                if Path(root, pattern).stem not in twin_names:
                    errors.append(f"_config.yml: exclude_patterns lists {pattern}, "
                                  f"which is not a jupytext twin")
        for ipynb in notebooks:
            name = f"{prefix}/{ipynb.name}"
            if name not in listed:
                errors.append(f"_toc.yml: {name} is not listed (name it with its .ipynb suffix)")
        for entry in sorted(listed):
            if not (root / entry).exists():
                errors.append(f"_toc.yml: {entry} does not exist")

    if errors:
        for line in errors:
            print(f"FAIL {line}")
        print(f"check_notebooks: {len(errors)} problem(s) in {rel(book)}/", file=sys.stderr)
        return 1
    print(f"check_notebooks: OK, {len(twins)} jupytext pairs in {rel(book)}/ are in sync, "
          f"executed, excluded from and listed in the toc")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
