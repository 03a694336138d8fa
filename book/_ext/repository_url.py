"""The book's repository URL: one setting, ``repository.url`` in ``_config.yml``, behind the
launch buttons (Binder, Colab) and the repository button of the HTML book (sphinx-book-theme
builds them from ``html_theme_options``).

While the URL is the placeholder (it contains ``YOUR-GITHUB-ACCOUNT``) the book is not
published anywhere: this Sphinx extension then removes the launch and repository buttons
instead of letting them point at a repository that does not exist (no page mentions them).

The chapters' install cell does not name the repository: it installs ``landau_nb`` from the
wheel shipped with the site (book/_ext/wheel.py), downloaded beside the notebook.

Command line (from the repository root)::

    python book/_ext/repository_url.py           # report the setting
"""

from __future__ import annotations

import sys
from pathlib import Path

PLACEHOLDER = "YOUR-GITHUB-ACCOUNT"
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


def setup(app):
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str]) -> int:
    if argv[1:]:
        print(__doc__.split("Command line")[1].strip(), file=sys.stderr)
        return 2
    url = config_url()
    print(f"repository.url = {url} ({'published' if is_published(url) else 'placeholder'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
