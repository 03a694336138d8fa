"""Small fixes to the generated HTML pages, found by tests/test_browser.py.

* sphinx-thebe 0.3.1 registers its inline config script (``const THEBE_JS_URL
  = ...``) both with the app and with the builder; under Sphinx 7.4 the two
  copies differ only in ``filename`` (None vs ''), so every page got it twice
  and the browser raised "Identifier 'THEBE_JS_URL' has already been declared".
  Inline scripts with the same body are de-duplicated per page here.
* Layout at 1280, 1920 and 390 px (``static/landau_layout.css`` and ``.js``, added to every
  page; kept out of ``_static/`` of the book, which Jupyter Book would inject a second time):
  the article gets the window's width (below 1600 px the "On this page" column becomes the
  drawer of the header's contents button); display math is shrunk to its column when at most
  20 % too wide, else it scrolls; code and outputs scroll with a visible scrollbar; every
  figure keeps a minimum width at which its smallest text (``landau_figure_min_font_pt``
  points at ``landau_figure_dpi``, the conventions of ``landau_nb.book.plotting``) is at least
  ``landau_figure_min_text_px`` pixels, scrolling in its frame when the column is narrower,
  and opens at its natural size when clicked.
"""

from __future__ import annotations

import json
from pathlib import Path

from sphinx.application import Sphinx

STATIC = Path(__file__).parent / "static"


def dedupe_inline_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        body = getattr(js, "attributes", {}).get("body") if hasattr(js, "attributes") else None
        if body and not getattr(js, "filename", None):
            if body in seen:
                continue
            seen.add(body)
        kept.append(js)
    if len(kept) != len(scripts):
        context["script_files"] = kept


def add_layout_files(app: Sphinx, config) -> None:
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    figures = {"minFontPt": config.landau_figure_min_font_pt, "dpi": config.landau_figure_dpi,
               "minTextPx": config.landau_figure_min_text_px}
    app.add_css_file("landau_layout.css")
    app.add_js_file(None, body=f"window.LANDAU_FIGURES = {json.dumps(figures)};")
    app.add_js_file("landau_layout.js", loading_method="defer")


def setup(app: Sphinx):
    # the book's figure conventions (landau_nb.book.plotting.MIN_FONT_PT, DPI; tested equal)
    app.add_config_value("landau_figure_min_font_pt", 9, "html")
    app.add_config_value("landau_figure_dpi", 100, "html")
    app.add_config_value("landau_figure_min_text_px", 9, "html")
    app.connect("config-inited", add_layout_files)
    app.connect("html-page-context", dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
