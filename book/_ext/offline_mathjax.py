"""Serve MathJax from the built site instead of a CDN (offline math).

The files come from the PyPI wheel ``django-static-mathjax`` (importable as
``mathjax``; MathJax 3.2.2 under ``mathjax/static/mathjax/es5``; no Django
needed). They are copied to ``<outdir>/_mathjax/`` at the end of every HTML
build -- deliberately NOT into the book's source ``_static/``: Jupyter Book 1
injects every .js/.css found there into every page.

``mathjax_path`` is set to ``../_mathjax/tex-mml-chtml.js``. Sphinx prefixes a
relative path with ``_static/`` and makes it relative to each page, so a page
in ``book/`` loads ``../_static/../_mathjax/tex-mml-chtml.js`` and the root
pages ``_static/../_mathjax/...``: always ``<site>/_mathjax/``, also from
``file://``. MathJax finds its fonts and lazily loaded components relative to
its own script, so the whole ``es5`` folder is copied.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

SITE_DIR = "_mathjax"  # folder in the built site (not _static/)
ENTRY = "tex-mml-chtml.js"  # the component Sphinx 7 loads from the CDN by default


def mathjax_es5_dir() -> Path:
    import mathjax  # django-static-mathjax

    root = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (root / ENTRY).is_file():
        raise RuntimeError(f"offline_mathjax: {root / ENTRY} not found; "
                           "pip install django-static-mathjax==3.2.2.1")
    return root


def set_mathjax_path(app: Sphinx, config) -> None:
    mathjax_es5_dir()  # fail early (before reading any document) when missing
    config.mathjax_path = f"../{SITE_DIR}/{ENTRY}"


def copy_mathjax(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    src = mathjax_es5_dir()
    dest = Path(app.outdir) / SITE_DIR
    stamp = dest / ".version"
    version = "3.2.2"
    if stamp.is_file() and stamp.read_text() == version and (dest / ENTRY).is_file():
        return
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    license_file = src.parent / "LICENSE"
    if license_file.is_file():
        shutil.copy2(license_file, dest / "LICENSE")
    stamp.write_text(version)
    logger.info("offline_mathjax: MathJax %s copied to %s", version, dest)


def setup(app: Sphinx):
    app.connect("config-inited", set_mathjax_path, priority=900)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
