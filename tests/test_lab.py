"""Two chapters opened in a real JupyterLab (with jupyterlab-myst) under headless Chromium.

Run with `make browser-test` (LANDAU_BROWSER_TEST=1; skipped otherwise). The test copies a
theory chapter (score_matching) and an experiment chapter (exp_anisotropic) into a temporary
folder, starts `jupyter lab` from this interpreter on a free localhost port (its own config,
data-free settings and runtime folders, no browser, every non-local request blocked), opens
each notebook without running anything, and asserts what a reader sees before running a cell:

  * no raw MyST: no ``:::{``, no ```` ```{ ```` fence, no ``{role}`` text (``{eq}``, ``{ref}``,
    ``{glue:text}``, ...) in the rendered Markdown;
  * no math errors: no KaTeX/MathJax error node ("Undefined control sequence": the book's
    macros come from the front-matter cell, scripts/notebook_macros.py);
  * no ``VBox(`` text and no "Error displaying widget" (the explorers store a static figure);
  * solutions hidden: no solution text is visible (cells collapsed, tagged ``solution``);
  * the numbers of the conclusions are shown (no ``{eval}``/``{glue`` placeholders);
  * no "Cross Reference Not Found": references to other chapters, and to the figures myst-nb
    labels in code-cell metadata, resolve to the hidden targets of the front-matter cell
    (scripts/notebook_macros.py); citations are counted apart (``citation_not_found``):
    jupyterlab-myst 2.7.0 has no bibliography, every ``{cite:t}`` shows "Citation Not Found";
  * the first cell (the front-matter cell) shows a line of text, not an empty-looking cell.

The counts go to _build/screenshots/lab.json, screenshots to _build/screenshots/lab/.
Also usable by hand for a before/after measurement:
``python tests/test_lab.py [--no-myst] NAME.ipynb ...`` prints the counts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
CHAPTERS = ["score_matching", "exp_anisotropic"]
TOKEN = "landau-lab-test"

ROLE = re.compile(r"\{[a-z][a-z:\-]*\}`")
SOLUTION_TAG = "solution"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """`jupyter lab` on a free port serving ``folder``; ``myst=False`` disables jupyterlab-myst
    (what a reader had before it was installed)."""

    def __init__(self, folder: Path, myst: bool = True):
        self.folder = folder
        self.home = Path(tempfile.mkdtemp(prefix="landau-lab-home-"))
        env = dict(os.environ)
        env.update(JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(self.home / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
                   HOME=str(self.home))
        # every cell in the DOM (no windowing), so the whole notebook can be checked
        tracker = self.home / "settings" / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True)
        (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        news = self.home / "settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True)
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        if not myst:
            labconfig = self.home / "config" / "labconfig"
            labconfig.mkdir(parents=True)
            (labconfig / "page_config.json").write_text(
                json.dumps({"disabledExtensions": {"jupyterlab-myst": True}}))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.home / "lab.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}",
             "--ip=127.0.0.1", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={folder}",
             "--ServerApp.port_retries=0", "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
             "jupyterlab.NeverCheckForUpdate"],
            cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(self.home / 'lab.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    self.close()
                    raise RuntimeError("jupyter lab did not answer within 90 s")
                time.sleep(0.5)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def solution_snippets(nb: dict) -> list[str]:
    """Plain-text fragments (30+ characters of prose) of the cells inside each solution."""
    out, inside = [], False
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        lines = src.splitlines()
        for line in lines:
            if line.startswith("```{solution-start}"):
                inside = True
                continue
            if line.startswith("```{solution-end}"):
                inside = False
                continue
            if inside and cell["cell_type"] == "markdown":
                # a stretch of plain words (no math, role, markup in it): contiguous on screen
                for piece in re.split(r"\$[^$]*\$|\{[^}]*\}`[^`]*`|[*_`()]", line):
                    m = re.search(r"[A-Za-z][A-Za-z ,.;']{30,}", piece)
                    if m:
                        out.append(" ".join(m.group(0).split()[:5]))
                        break
    return out


GLUE = re.compile(r"\{(?:glue:?[a-z]*|eval)\}`([^`]+)`")


def glue_contents(nb: dict) -> list[str]:
    """The contents of the inline glue/eval roles of the Markdown cells (``p_ratio:.1f``)."""
    return sorted({m for c in nb["cells"] if c["cell_type"] == "markdown"
                   for m in GLUE.findall("".join(c["source"]))})


MEASURE_JS = r"""([snippets, glued]) => {
  // KaTeX keeps the TeX source in a visually hidden MathML copy: not text a reader sees
  const style = document.createElement('style');
  style.textContent = '.katex-mathml, mjx-assistive-mml { display: none !important; }';
  document.head.appendChild(style);
  // a collapsed cell is a "..." bar showing its first line greyed: counted apart (collapsed_previews)
  const previews = [...document.querySelectorAll('.jp-Placeholder')].map(e => e.innerText).join('\n').replace(/\s+/g, ' ');
  const collapsed = document.querySelectorAll('.jp-Placeholder').length;
  style.textContent += ' .jp-Placeholder { display: none !important; }';
  const md = [...document.querySelectorAll('.jp-MarkdownCell')];
  const titles = [...document.querySelectorAll('.jp-MarkdownCell [title]')].map(e => e.getAttribute('title'));
  const visibleText = md.map(c => c.innerText).join('\n');
  // a role shows as "{name}" (its backticks become a code span) or "{name}`...`"
  const roles = visibleText.match(/\{[a-z]+(?::[a-z\-]+)?\}/g) || [];
  // a directive: its fence, or its option lines (":class: dropdown") shown as text
  const fences = (visibleText.match(/:::\{|```\{/g) || []).length
               + (visibleText.match(/^:[a-z\-]+:(?: |$)/gm) || []).length;
  // a glued number not shown: the role's text, or its key and format ("p_ratio:.1f"), in the prose
  const glue = (visibleText.match(/\{glue|\{eval\}/g) || []).length
             + glued.filter(g => visibleText.includes(g)).length;
  // KaTeX errors, MathJax errors, and MathJax's red "noundefined" text for unknown macros
  const mathErrors = document.querySelectorAll(
      '.katex-error, mjx-merror, .MathJax_Error, [data-mjx-error]').length
    + [...document.querySelectorAll('mjx-mtext')].filter(e => /red|rgb\(255, 0, 0\)/.test(e.getAttribute('style') || '')
                                                        || getComputedStyle(e).color === 'rgb(255, 0, 0)').length;
  // jupyterlab-myst marks a KaTeX error or an unresolved reference with a warning icon + title
  const undefinedMacros = titles.filter(t => /Undefined control sequence/.test(t)).length;
  const otherMathErrors = titles.filter(t => /KaTeX|ParseError|Expected|Unknown (column|environment)/.test(t)).length;
  const outputs = [...document.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\n');
  const vbox = (outputs.match(/VBox\(/g) || []).length;
  const widgetErrors = (outputs.match(/Error displaying widget|Error creating widget/g) || []).length;
  const text = document.querySelector('.jp-Notebook').innerText.replace(/\s+/g, ' ');
  const visibleSolutions = snippets.filter(s => text.includes(s)).length;
  const previewSolutions = snippets.filter(s => previews.includes(s)).length;
  const notFound = titles.filter(t => /Not Found/i.test(t)).length;
  const xrefNotFound = titles.filter(t => /Cross Reference Not Found/i.test(t)).length;
  const citationNotFound = titles.filter(t => /Citation Not Found/i.test(t)).length;
  const first = md.length ? md[0].innerText.trim() : '';
  const images = [...document.querySelectorAll('.jp-OutputArea-output img')].filter(i => i.naturalWidth > 0).length;
  return {markdown_cells: md.length, raw_roles: roles.length, raw_fences: fences,
          raw_glue: glue, math_errors: mathErrors + otherMathErrors, undefined_macros: undefinedMacros,
          vbox_text: vbox, widget_errors: widgetErrors, solutions: snippets.length,
          visible_solutions: visibleSolutions, collapsed_cells: collapsed,
          collapsed_previews: previewSolutions, not_found: notFound, xref_not_found: xrefNotFound,
          citation_not_found: citationNotFound, first_cell_text: first.slice(0, 200), images: images,
          role_examples: [...new Set(roles)].slice(0, 8),
          title_examples: [...new Set(titles.filter(t => !/^Link to/.test(t)))].slice(0, 8)};
}"""


def measure(lab: Lab, names: list[str], shots: Path | None = None) -> dict:
    """Open each notebook (copied into ``lab.folder``) and return its counts."""
    from playwright.sync_api import sync_playwright

    counts, blocked = {}, []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})

        def route(r):
            if r.request.url.startswith(lab.url):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        for name in names:
            nb = json.loads((lab.folder / name).read_text())
            page = ctx.new_page()
            page.goto(f"{lab.url}/lab/tree/{name}?token={TOKEN}&reset", timeout=120_000)
            page.wait_for_selector(".jp-Notebook .jp-MarkdownCell", timeout=120_000)
            n_md = sum(c["cell_type"] == "markdown" for c in nb["cells"])
            page.wait_for_function(
                f"document.querySelectorAll('.jp-Notebook .jp-MarkdownCell').length >= {n_md}",
                timeout=120_000)
            # rendering (MyST parse, KaTeX) settles: wait until the text stops changing
            last, stable = None, 0
            for _ in range(60):
                now = page.evaluate("document.querySelector('.jp-Notebook').innerText.length")
                stable = stable + 1 if now == last else 0
                if stable >= 3:
                    break
                last = now
                page.wait_for_timeout(500)
            counts[name] = page.evaluate(MEASURE_JS, [solution_snippets(nb), glue_contents(nb)])
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                stem = Path(name).stem
                page.screenshot(path=str(shots / f"{stem}.png"))           # the top of the chapter
                # where a reader meets a collapsed solution, and the explorer's stored figure
                for suffix, pattern in (("solutions", "Solution to"), ("explorer", "explorer = ln")):
                    found = page.evaluate(f"""() => {{
                        const c = [...document.querySelectorAll('.jp-Cell')].find(e => /{pattern}/.test(e.innerText));
                        if (c) c.scrollIntoView();
                        return !!c; }}""")
                    if found:
                        page.wait_for_timeout(500)
                        page.screenshot(path=str(shots / f"{stem}-{suffix}.png"))
            page.close()
        browser.close()
    counts["_blocked_requests"] = sorted(set(blocked))
    return counts


def run(names: list[str], myst: bool = True, shots: Path | None = None, source: Path = ROOT / "book"):
    folder = Path(tempfile.mkdtemp(prefix="landau-lab-nb-"))
    try:
        files = []
        for name in names:
            path = source / name if (source / name).exists() else Path(name)
            shutil.copy(path, folder / path.name)
            files.append(path.name)
        lab = Lab(folder, myst=myst)
        try:
            return measure(lab, files, shots)
        finally:
            lab.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------- pytest
def test_two_chapters_read_as_a_book_in_jupyterlab():
    import pytest

    if os.environ.get("LANDAU_BROWSER_TEST") != "1":
        pytest.skip("JupyterLab browser test: run it with `make browser-test`")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"JupyterLab browser test skipped: no Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api")
    pytest.importorskip("jupyterlab_myst", reason="jupyterlab-myst not installed (pinned in requirements.txt)")
    counts = run([f"{c}.ipynb" for c in CHAPTERS], shots=SHOTS / "lab")
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "lab.json").write_text(json.dumps(counts, indent=2) + "\n")
    print(json.dumps(counts, indent=2))
    assert counts["_blocked_requests"] == [], "JupyterLab asked for non-local resources"
    for name in CHAPTERS:
        c = counts[f"{name}.ipynb"]
        assert c["markdown_cells"] > 10, c
        assert c["solutions"] > 0, f"{name}: no solution found to check"
        bad = {k: c[k] for k in ("raw_roles", "raw_fences", "raw_glue", "math_errors",
                                 "undefined_macros", "vbox_text", "widget_errors",
                                 "visible_solutions", "xref_not_found") if c[k]}
        assert not bad, f"{name} in JupyterLab: {bad} (examples: {c['role_examples']})"
        # the front-matter cell reads as a kicker (book, part, chapter), not as a blank cell
        assert "Chapter" in c["first_cell_text"], c["first_cell_text"]


if __name__ == "__main__":
    args = sys.argv[1:]
    myst = "--no-myst" not in args
    names = [a for a in args if not a.startswith("--")] or [f"{c}.ipynb" for c in CHAPTERS]
    print(json.dumps(run(names, myst=myst, shots=SHOTS / ("lab" if myst else "lab-no-myst")), indent=2))
