"""Rewrite a chapter's myst-nb glue roles as MyST inline expressions (one-off migration, kept
for merging branches that still write ``{glue:text}``; see landau_nb/book/glue.py):

    {glue:text}`key:.1f`  ->  {eval}`glued("key:.1f")`
    {glue:md}`key`        ->  {eval}`glued_md("key")`
    from myst_nb import glue  ->  from landau_nb.book.glue import glue, glued, glued_md

    python scripts/glue_to_eval.py book/exp_*.md     # rewrites in place; prints the counts
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TEXT = re.compile(r"\{glue(?::text)?\}`([^`]+)`")
MD = re.compile(r"\{glue:md\}`([^`]+)`")
IMPORT = "from myst_nb import glue"


def convert(text: str) -> tuple[str, int]:
    text, n_text = TEXT.subn(lambda m: '{eval}`glued("%s")`' % m.group(1), text)
    text, n_md = MD.subn(lambda m: '{eval}`glued_md("%s")`' % m.group(1), text)
    text = re.sub(r"^" + re.escape(IMPORT) + r"$", "from landau_nb.book.glue import glue, glued, glued_md",
                  text, flags=re.M)
    if re.search(r"\{glue[:a-z]*\}`", text):
        raise ValueError("a glue role this script does not convert is left: "
                         + re.search(r"\{glue[:a-z]*\}`[^`]*`", text).group(0))
    return text, n_text + n_md


def main(paths: list[str]) -> int:
    total = 0
    for p in map(Path, paths):
        new, n = convert(p.read_text())
        if n or new != p.read_text():
            p.write_text(new)
        total += n
        print(f"{p}: {n} role(s)")
    print(f"{total} glue role(s) rewritten as {{eval}}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
