"""The book's repository URL: one setting, ``repository.url`` in ``_config.yml``.

Two users of the setting:

* the launch buttons (Binder, Colab) and the repository button of the HTML book
  (sphinx-book-theme builds them from ``html_theme_options``);
* the install cell, the first (``remove-cell``) cell of every chapter, which installs
  ``landau_nb`` when it is missing: from the checkout the notebook sits in, else from a
  wheel next to it or in a ``dist/`` folder above it, and only then from the repository.
  A notebook opened in Colab is a lone file, so it carries the URL itself, in the line
  ``REPOSITORY_URL = "..."``; this module writes that line from ``_config.yml``.

While the URL is the placeholder (it contains ``YOUR-GITHUB-ACCOUNT``) the book is not
published anywhere: the Sphinx extension then removes the launch and repository buttons
instead of letting them point at a repository that does not exist, and the install cell
refuses to install from it. The extension also fails the build (a warning, fatal under
``-W``) when a chapter's install cell names another URL than ``_config.yml``.

Command line (from the repository root)::

    python book/_ext/repository_url.py           # report the setting and any stale cell
    python book/_ext/repository_url.py --write   # write the setting into every book/*.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PLACEHOLDER = "YOUR-GITHUB-ACCOUNT"
URL_LINE = re.compile(r'^REPOSITORY_URL = "([^"\n]*)"', re.M)
ROOT = Path(__file__).resolve().parents[2]


def is_published(url: str | None) -> bool:
    """True when ``url`` names a real repository (an https URL, not the placeholder)."""
    return bool(url) and url.startswith("https://") and PLACEHOLDER not in url


def config_url(root: Path = ROOT) -> str:
    """``repository.url`` of ``root/_config.yml``."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text())
    url = (config.get("repository") or {}).get("url")
    if not isinstance(url, str) or not url:
        raise ValueError(f"{root / '_config.yml'}: repository.url must be set (a URL or the "
                         f"placeholder https://github.com/{PLACEHOLDER}/landau-book)")
    return url


def cell_urls(text: str) -> list[str]:
    """The ``REPOSITORY_URL = "..."`` values in a chapter's source (one per install cell)."""
    return URL_LINE.findall(text)


def stale_chapters(url: str, book: Path = ROOT / "book", suffix: str = ".md") -> list[str]:
    """Chapters (``book/*.md`` twins, or ``.ipynb``) whose install cell does not name ``url``."""
    bad = []
    for path in sorted(book.glob("*" + suffix)):
        text = path.read_text()
        if suffix == ".ipynb":
            import json

            cells = json.loads(text).get("cells", [])
            text = "".join("".join(c.get("source", [])) + "\n" for c in cells[:1])
        found = cell_urls(text)
        if not found and "import landau_nb" not in text:
            continue                               # a plain page without an install cell
        if found != [url]:
            bad.append(f"{path.name}: {found or 'no REPOSITORY_URL line'}")
    return bad


def write_url(url: str, book: Path = ROOT / "book") -> list[Path]:
    """Write ``url`` into the install cell of every ``book/*.md``; returns the files changed."""
    changed = []
    for path in sorted(book.glob("*.md")):
        text = path.read_text()
        new = URL_LINE.sub(f'REPOSITORY_URL = "{url}"', text)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


# --- Sphinx -------------------------------------------------------------------------------
def _configure(app, config) -> None:
    from sphinx.util import logging

    log = logging.getLogger(__name__)
    options = dict(config.html_theme_options or {})
    url = options.get("repository_url", "")
    if not is_published(url):
        # no buttons that pretend: no Binder/Colab/JupyterHub launch, no repository link
        options["launch_buttons"] = {}
        for key in ("use_repository_button", "use_edit_page_button", "use_issues_button"):
            options[key] = False
        options.pop("repository_url", None)
        config.html_theme_options = options
        log.info(f"repository_url: repository.url is the placeholder ({url!r}): launch and "
                 "repository buttons left out (set repository.url in _config.yml to publish)")
    stale = stale_chapters(url, Path(app.srcdir) / "book", ".ipynb")
    for line in stale:
        log.warning(f"install cell names another repository than _config.yml ({url}): {line} "
                    "(run python book/_ext/repository_url.py --write, then re-sync the notebooks)")


def setup(app):
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str]) -> int:
    url = config_url()
    if argv[1:] == ["--write"]:
        changed = write_url(url)
        print(f"repository.url = {url}: wrote {len(changed)} file(s)"
              + "".join(f"\n  {p.relative_to(ROOT)}" for p in changed))
        return 0
    if argv[1:]:
        print(__doc__.split("Command line")[1].strip(), file=sys.stderr)
        return 2
    stale = stale_chapters(url)
    print(f"repository.url = {url} ({'published' if is_published(url) else 'placeholder'})")
    for line in stale:
        print(f"  stale: {line}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
