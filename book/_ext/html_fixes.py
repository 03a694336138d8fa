"""Small fixes to the generated HTML pages, found by tests/test_browser.py.

* sphinx-thebe 0.3.1 registers its inline config script (``const THEBE_JS_URL
  = ...``) both with the app and with the builder; under Sphinx 7.4 the two
  copies differ only in ``filename`` (None vs ''), so every page got it twice
  and the browser raised "Identifier 'THEBE_JS_URL' has already been declared".
  Inline scripts with the same body are de-duplicated per page here.
"""

from __future__ import annotations

from sphinx.application import Sphinx


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


def setup(app: Sphinx):
    app.connect("html-page-context", dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
