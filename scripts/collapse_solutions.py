"""Solutions collapsed in JupyterLab (the full edition's notebooks).

A solution is gated: ``solution-start`` ... ``solution-end``. jupyterlab-myst shows a solution
that lies inside one Markdown cell as a collapsed dropdown, as the HTML book does; a solution
that spans cells (it holds code cells) would show its later cells as ordinary cells. So every
cell after the one holding ``solution-start``, up to the one holding ``solution-end``, carries
the notebook's own "collapsed" metadata, which JupyterLab and Jupyter Notebook honour:

* a code cell: ``jupyter: {source_hidden: true, outputs_hidden: true}`` (a "..." bar to click);
* a Markdown cell: ``jupyter: {source_hidden: true}``;

and the text after ``solution-end`` starts a cell of its own (``+++``), so that no prose outside
a solution is collapsed with it. A cell holding nothing but the ``solution-end`` fence stays
as it is (it renders as nothing). A collapsed cell shows a "..." bar with its first line greyed. The HTML book ignores this metadata (myst-nb), and the student
edition removes the solutions altogether (book/_ext/student_edition.py).

Edits are made in the ``book/*.md`` text (the source of truth) without reformatting it:

    python scripts/collapse_solutions.py           # check: exit 1 naming each chapter to fix
    python scripts/collapse_solutions.py --write   # fix every book/*.md; then sync the notebooks

``tests/test_collapse_solutions.py`` checks the ``.ipynb`` files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

START = re.compile(r"^(`{3,}|:{3,})\{solution-start\}")
END = re.compile(r"^(`{3,}|:{3,})\{solution-end\}")
CODE_OPEN = re.compile(r"^```\{code-cell\}")
HIDDEN_MD = '+++ {"jupyter": {"source_hidden": true}}'
HIDDEN_CODE = ':jupyter: {"source_hidden": true, "outputs_hidden": true}'
HIDDEN_CODE_YAML = ["jupyter:", "  source_hidden: true", "  outputs_hidden: true"]


def _code_cell_end(lines: list[str], i: int) -> int:
    """Index of the closing fence of the code cell opened at ``lines[i]``."""
    fence = re.match(r"^(`{3,})", lines[i]).group(1)
    j = i + 1
    if j < len(lines) and lines[j] == "---":                      # YAML options block
        j = lines.index("---", j + 1) + 1
    while not re.fullmatch(re.escape(fence) + r"\s*", lines[j]):
        j += 1
    return j


def _hide_code_cell(lines: list[str], i: int) -> list[str]:
    """The code cell opened at ``lines[i]`` (through its closing fence) with the hidden metadata."""
    end = _code_cell_end(lines, i)
    cell = lines[i:end + 1]
    body = [ln for ln in cell if "source_hidden" not in ln and "outputs_hidden" not in ln
            and ln.strip() != "jupyter:"]
    if len(body) > 1 and body[1] == "---":                         # options as a YAML block
        close = body.index("---", 2)
        return body[:close] + HIDDEN_CODE_YAML + body[close:]
    k = 1
    while k < len(body) and body[k].startswith(":"):               # short options (":tags: [...]")
        k += 1
    if k == 1 and (len(body) < 2 or body[1] != ""):              # no options yet: add a blank after
        return body[:1] + [HIDDEN_CODE, ""] + body[1:]
    return body[:k] + [HIDDEN_CODE] + body[k:]


def collapse(text: str) -> str:
    """``text`` (a chapter's ``.md``) with every multi-cell solution collapsed."""
    lines = text.split("\n")
    out: list[str] = []
    i, inside, spans = 0, False, False
    while i < len(lines):
        line = lines[i]
        if START.match(line):
            inside, spans = True, False
        elif inside and CODE_OPEN.match(line):
            spans = True
            end = _code_cell_end(lines, i)
            out += _hide_code_cell(lines, i)
            i = end + 1
            # the Markdown that follows inside the solution: a collapsed cell of its own
            rest = lines[i:]
            while rest and rest[0] == "":
                rest.pop(0)
            if rest and END.match(rest[0]):
                pass                        # a cell with only the end fence: it shows nothing
            elif rest and not rest[0].startswith("+++") and not CODE_OPEN.match(rest[0]):
                out += ["", HIDDEN_MD, ""]
                i = len(lines) - len(rest)
            elif rest and rest[0].startswith("+++"):
                out.append("")
                i = len(lines) - len(rest)
            continue
        elif inside and line.startswith("+++"):
            spans = True
            after = [ln for ln in lines[i + 1:i + 4] if ln.strip()]
            out.append("+++" if after and END.match(after[0]) else HIDDEN_MD)
            i += 1
            continue
        elif inside and END.match(line):
            fence = END.match(line).group(1)
            out.append(line)
            i += 1
            while i < len(lines) and lines[i].strip() != fence:    # options / body of the end fence
                out.append(lines[i])
                i += 1
            if i < len(lines):
                out.append(lines[i])
                i += 1
            inside = False
            if spans:
                rest = lines[i:]
                while rest and rest[0] == "":
                    rest.pop(0)
                if rest and not rest[0].startswith("+++") and not CODE_OPEN.match(rest[0]):
                    out += ["", "+++", ""]                         # the next prose: its own cell
                    i = len(lines) - len(rest)
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def chapters(book: Path = BOOK) -> list[Path]:
    return sorted(p for p in book.glob("*.md") if "{solution-start}" in p.read_text())


def main(argv: list[str]) -> int:
    write = argv[1:] == ["--write"]
    if argv[1:] and not write:
        print(__doc__.split("Edits are made")[1].strip(), file=sys.stderr)
        return 2
    bad = []
    for md in chapters():
        text = md.read_text()
        new = collapse(text)
        if new != text:
            bad.append(md)
            if write:
                md.write_text(new)
    verb = "collapsed solutions in" if write else "solutions to collapse in"
    print(f"collapse_solutions: {verb} {len(bad)} chapter(s)" + "".join(f"\n  {p.relative_to(ROOT)}" for p in bad))
    return 1 if bad and not write else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
