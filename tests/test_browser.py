"""The built HTML book checked in a real browser, with the network blocked.

Run with `make browser-test` (part of `make test`, after `make strict-book` and
`make student`). A plain `pytest tests` skips this module: it needs the built
sites and sets nothing up itself.

Headless Chromium from the system's packages (/usr/bin/chromium, Debian
`apt-get install chromium`), driven by Playwright with that executable: no
browser is ever downloaded. `_build/` is served by a local http.server thread;
every request that is not to that server is aborted and counted, and any such
request fails the test (MathJax, fonts, images, scripts must all come from the
build).

For every page in _toc.yml, in the full edition (_build/html):
  * no console errors, no uncaught page errors, no local request >= 400;
  * MathJax loaded from the site and finished; every `.math` element holds an
    `mjx-container`, no `mjx-merror`, and no raw `$$`, `\\[`, `\\(`, `\\begin{`
    left in the rendered text (code blocks and outputs excepted);
  * every <img> loaded (naturalWidth > 0);
  * every internal link and cross-reference resolves: the target file exists
    and its `#anchor` is an id on the target page;
  * theorem-like blocks (sphinx-proof) and exercises (sphinx-exercise) show
    "<Kind> <number>" titles; exercise numbers are unique in the whole book;
  * numbering is per chapter: on a numbered chapter (h1 "N. Title") every figure,
    equation, theorem-like block and exercise is numbered N.1, N.2, ... in page order
    (one counter per kind of block), on the unnumbered preface 1, 2, ...;
  * every dropdown solution is hidden at first and opens when its toggle
    button (the chevron in its title) is clicked.
The student edition (_build/student/html, `make student`) gets the same page
checks plus: no solution block, no "Solution to" text, and no plain-text
fragment of any full-edition solution on the page. Exercises stay numbered.

Layout (full edition, every page at 1280 and 1920 px wide on a desktop with scrollbars drawn,
not hidden as headless Chromium does by default, and at 390 px on an emulated phone, whose
overlay scrollbars take no room unless the page styles them visible):
  * at 1280 and 1920 px no display equation is wider than its column; at 390 px one may be,
    but then it scrolls with a visible scrollbar (never cut at the edge);
  * code and output blocks, and tables, wider than the column scroll with a visible scrollbar
    (no column of a table hidden);
  * every figure's smallest text is at least 9 px at the width the page shows it: rendered
    width / natural width x the book's smallest figure font (landau_nb.book.plotting.MIN_FONT_PT
    points at plotting.DPI); a figure opens at its natural size when clicked (1280 px);
  * the page itself never scrolls sideways.
Counts per width in the summary ("layout"); screenshots in _build/screenshots/layout/WIDTH/
(full page at 390 px).

A full-page screenshot of each page goes to _build/screenshots/{full,student}/
and a summary (pages, equations, figures, links checked) to
_build/screenshots/summary.json (also printed).
"""

from __future__ import annotations

import functools
import html.parser
import json
import os
import re
import threading
from collections import defaultdict
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
EDITIONS = {"full": BUILD / "html", "student": BUILD / "student" / "html"}
SHOTS = BUILD / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

if os.environ.get("LANDAU_BROWSER_TEST") != "1":
    pytest.skip("browser test: run it with `make browser-test` (needs the built book)",
                allow_module_level=True)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"browser test skipped: no Chromium at {CHROMIUM} "
                "(apt-get install -y chromium)", allow_module_level=True)
if not (EDITIONS["full"] / "index.html").is_file():
    pytest.skip("browser test skipped: no built book in _build/html (make strict-book)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="browser test skipped: playwright not installed")


def toc_pages() -> list[str]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections"))
            walk(e.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return [re.sub(r"\.(ipynb|md)$", "", f) + ".html" for f in files]


PAGES = toc_pages()
HAVE_STUDENT = (EDITIONS["student"] / "index.html").is_file()
SUMMARY: dict = {ed: defaultdict(int) for ed in EDITIONS}
SUMMARY["blocked_requests"] = []
WIDTHS = (1280, 1920, 390)
SUMMARY["layout"] = {w: defaultdict(int) for w in WIDTHS}
EXERCISE_NUMBERS: dict = {ed: {} for ed in EDITIONS}
SOLUTION_SNIPPETS: dict = {}  # page -> plain-text fragments of its solutions (full edition)


# --------------------------------------------------------------------------- server
class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                functools.partial(_Quiet, directory=str(BUILD)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        # scrollbars drawn as for a reader (headless Chromium hides them by default), so that a
        # visible horizontal scrollbar takes room and can be measured
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                               ignore_default_args=["--hide-scrollbars"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def context(browser, server):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")

    def route(r):
        url = r.request.url
        if url.startswith(server + "/") or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            SUMMARY["blocked_requests"].append(url)
            r.abort("blockedbyclient")

    ctx.route("**/*", route)
    yield ctx
    ctx.close()


# --------------------------------------------------------------------------- anchors
class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "id" or (k == "name" and tag == "a"):
                self.ids.add(v)


@functools.lru_cache(maxsize=None)
def ids_of(path: Path) -> frozenset:
    p = _Ids()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(p.ids)


def check_links(site: Path, page: str, base_url: str, hrefs: list[str]) -> tuple[int, list[str]]:
    """Resolve every same-site link on disk; return (#checked, problems)."""
    checked, bad = 0, []
    site_prefix = base_url.rstrip("/") + "/"
    for href in hrefs:
        parts = urlsplit(href)
        if not href.startswith(site_prefix):
            continue  # external (not requested; the network is blocked anyway) or mailto:
        rel = unquote(parts.path[len(urlsplit(site_prefix).path):])
        target = site / rel
        if target.is_dir():
            target = target / "index.html"
        checked += 1
        if not target.is_file():
            bad.append(f"{href} -> missing file {rel}")
            continue
        frag = unquote(parts.fragment)
        if frag and target.suffix == ".html" and frag not in ids_of(target):
            bad.append(f"{href} -> no id {frag!r} in {rel}")
    return checked, bad


# --------------------------------------------------------------------------- page JS
JS_WAIT_MATHJAX = """async () => {
  if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) return 'no MathJax';
  await MathJax.startup.promise;
  return 'ok';
}"""

JS_MATH = r"""() => {
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(m => !m.querySelector('mjx-container'))
                        .map(m => m.textContent.trim().slice(0, 80));
  const display = document.querySelectorAll('mjx-container[display="true"]').length;
  const inline = document.querySelectorAll('mjx-container:not([display="true"])').length;
  const errors = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
                   .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));
  const raw = [];
  const skip = 'PRE,CODE,SCRIPT,STYLE,TEXTAREA,MJX-CONTAINER,MJX-ASSISTIVE-MML';
  const main = document.querySelector('main') || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, {acceptNode(n) {
    for (let e = n.parentElement; e && e !== main; e = e.parentElement) {
      if (skip.includes(e.tagName) || e.classList.contains('highlight')
          || e.classList.contains('output')) return NodeFilter.FILTER_REJECT;
    }
    return NodeFilter.FILTER_ACCEPT;
  }});
  for (let n; (n = walker.nextNode());) {
    const t = n.textContent;
    if (/\$\$|\\\[|\\\(|\\begin\{|\\end\{/.test(t)) raw.push(t.trim().slice(0, 80));
  }
  const script = [...document.scripts].map(s => s.src).find(s => /mathjax/i.test(s)) || '';
  return {math: math.length, untypeset, display, inline, errors, raw, script};
}"""

JS_IMAGES = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null :
    new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  return imgs.map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth}));
}"""

JS_BLOCKS = r"""() => {
  const title = e => { const t = e.querySelector(':scope > .admonition-title');
                       return t ? t.textContent.replace(/\s+/g, ' ').trim() : ''; };
  const theorems = [...document.querySelectorAll('div.proof.admonition')]
      .filter(e => [...e.classList].some(c => !['proof', 'admonition', 'toggle',
                                                  'dropdown'].includes(c)))
      .map(e => ({kind: [...e.classList].filter(c => !['proof', 'admonition'].includes(c))[0],
                  title: title(e)}));
  const exercises = [...document.querySelectorAll('div.exercise.admonition')]
      .map(e => ({id: e.id, title: title(e)}));
  const solutions = [...document.querySelectorAll('div.solution')].map(e => e.id);
  return {theorems, exercises, solutions};
}"""

JS_NUMBERS = r"""() => {
  const main = document.querySelector('main') || document.body;
  const h1 = main.querySelector('h1 .section-number');
  const text = sel => [...main.querySelectorAll(sel)].map(e => e.textContent.trim());
  return {chapter: h1 ? h1.textContent.trim() : '',
          figures: text('figcaption .caption-number'),
          equations: text('.math .eqno, .eqno'),
          blocks: [...main.querySelectorAll('div.proof.admonition, div.exercise.admonition')]
                    .map(e => e.querySelector(':scope > .admonition-title'))
                    .filter(t => t).map(t => t.textContent.replace(/\s+/g, ' ').trim())};
}"""


def numbering_problems(chapter: str, figures, equations, blocks) -> list[str]:
    """Per-chapter numbering of one page: with chapter "N." (empty: an unnumbered page) every
    figure ("Fig. N.k"), equation ("(N.k)") and block ("Kind N.k ...") is numbered N.k, with
    k = 1, 2, ... in page order, one counter per kind. Returns the problems found."""
    prefix = chapter.rstrip(".").strip()
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)$" if prefix else r"^(\d+)$")
    problems, seen = [], defaultdict(list)
    items = [("Fig.", f.removeprefix("Fig.").strip()) for f in figures]
    for e in equations:                   # "(3.2)" followed by the headerlink's "#"
        m = re.search(r"\(([\d.]+)\)", e)
        items.append(("equation", m.group(1) if m else e))
    for title in blocks:
        m = re.match(r"^(Solution to )?([A-Z][a-z]+) (\d+(?:\.\d+)*)", title)
        if m and not m.group(1):
            items.append((m.group(2), m.group(3)))
    for kind, number in items:
        m = pattern.match(number)
        if not m:
            problems.append(f"{kind} {number}: not numbered in chapter {prefix or '(none)'}")
        else:
            seen[kind].append(int(m.group(1)))
    for kind, ks in seen.items():
        if ks != list(range(1, len(ks) + 1)):
            problems.append(f"{kind} numbers {ks} are not 1, 2, ... in page order")
    return problems


def test_numbering_problems_finds_book_wide_numbers():
    assert numbering_problems("3.", ["Fig. 3.1", "Fig. 3.2"], ["(3.1)"],
                              ["Lemma 3.1 (x)", "Exercise 3.1 (y)", "Solution to Exercise 3.1"]) == []
    assert numbering_problems("", ["Fig. 1"], [], ["Exercise 1", "Exercise 2"]) == []
    assert numbering_problems("9.", ["Fig. 24"], [], []) != []           # numbered across the book
    assert numbering_problems("9.", ["Fig. 9.2"], [], []) != []          # 9.1 missing
    assert numbering_problems("2.", [], [], ["Exercise 2.1", "Exercise 2.1"]) != []

JS_SOLUTION_SNIPPETS = r"""() => {
 // text of the page without its solutions: a fragment found there is not solution-specific
 const rest = document.body.cloneNode(true);
 rest.querySelectorAll('div.solution, mjx-container, script, style').forEach(e => e.remove());
 const restText = rest.textContent.replace(/\s+/g, ' ');
 return [...document.querySelectorAll('div.solution')].map(s => {
  const c = s.cloneNode(true);
  c.querySelectorAll('mjx-container, .math, .admonition-title, pre, .cell_output')
   .forEach(e => e.remove());
  const parts = [];
  const w = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
  for (let n; (n = w.nextNode());) {
    const t = n.textContent.replace(/\s+/g, ' ').trim();
    if (t.length >= 30) parts.push(t.slice(0, 60));
  }
  return parts;
 }).flat().filter(t => !restText.includes(t));
}"""

JS_BODY_TEXT = r"""() => {
  const c = document.body.cloneNode(true);
  c.querySelectorAll('mjx-container, script, style').forEach(e => e.remove());
  return c.textContent.replace(/\s+/g, ' ');
}"""


def open_page(context, url):
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} "
                                                       f"({r.failure})"))
    page.goto(url, wait_until="load", timeout=60_000)
    return page, problems


def check_common(edition, page_name, page, problems, server, site, base):
    s = SUMMARY[edition]
    s["pages"] += 1
    # MathJax
    # (Sphinx loads MathJax only on pages that have math.)
    has_math = page.evaluate("() => document.querySelectorAll('.math').length > 0")
    if has_math:
        state = page.evaluate(JS_WAIT_MATHJAX)
        assert state == "ok", f"{page_name}: {state}"
        s["pages_with_math"] += 1
    m = page.evaluate(JS_MATH)
    if has_math or m["script"]:
        assert m["script"].startswith(server + "/") and "/_mathjax/" in m["script"], \
            f"{page_name}: MathJax not served from the site: {m['script']!r}"
    assert not m["untypeset"], f"{page_name}: math not typeset: {m['untypeset'][:5]}"
    assert not m["errors"], f"{page_name}: MathJax errors: {m['errors'][:5]}"
    assert not m["raw"], f"{page_name}: raw TeX left in the page: {m['raw'][:5]}"
    s["math_elements"] += m["math"]
    s["display_equations"] += m["display"]
    s["inline_math"] += m["inline"]
    # images
    imgs = page.evaluate(JS_IMAGES)
    broken = [i["src"] for i in imgs if i["w"] == 0]
    assert not broken, f"{page_name}: images not loaded: {broken}"
    s["images"] += len(imgs)
    # links and cross-references
    hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
    xrefs = page.eval_on_selector_all("main a.reference.internal[href]", "as => as.length")
    n, bad = check_links(site, page_name, base, hrefs)
    assert not bad, f"{page_name}: unresolved links:\n  " + "\n  ".join(bad)
    s["links_checked"] += n
    s["cross_references"] += xrefs
    # numbered blocks
    blocks = page.evaluate(JS_BLOCKS)
    for t in blocks["theorems"]:
        assert re.match(r"^[A-Z][a-z]+ \d+(\.\d+)*\b", t["title"]), \
            f"{page_name}: {t['kind']} without a number: {t['title']!r}"
    for e in blocks["exercises"]:
        mnum = re.match(r"^Exercise (\d+(?:\.\d+)*)\b", e["title"])
        assert mnum, f"{page_name}: exercise without a number: {e['title']!r}"
        other = EXERCISE_NUMBERS[edition].setdefault(mnum.group(1), (page_name, e["id"]))
        assert other == (page_name, e["id"]), \
            f"Exercise {mnum.group(1)} numbered twice: {other} and {(page_name, e['id'])}"
    s["numbered_theorem_like"] += len(blocks["theorems"])
    s["exercises"] += len(blocks["exercises"])
    numbers = page.evaluate(JS_NUMBERS)
    bad = numbering_problems(numbers["chapter"], numbers["figures"], numbers["equations"],
                             numbers["blocks"])
    assert not bad, f"{page_name}: numbering is not per chapter:\n  " + "\n  ".join(bad)
    s["numbered_figures"] += len(numbers["figures"])
    return blocks


def finish(edition, page_name, page, problems):
    shot = SHOTS / edition / (page_name.replace("/", "__").replace(".html", ".png"))
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    SUMMARY[edition]["screenshots"] += 1
    page.close()
    blocked = SUMMARY["blocked_requests"]
    assert not blocked, f"{page_name}: requests outside the site were needed: {blocked[:10]}"
    assert not problems, f"{page_name}: " + "\n  ".join(problems)


# --------------------------------------------------------------------------- tests
def test_toc_pages_built():
    missing = [p for p in PAGES if not (EDITIONS["full"] / p).is_file()]
    assert not missing, f"pages in _toc.yml not built: {missing}"
    assert len(PAGES) >= 2


@pytest.mark.parametrize("edition", list(EDITIONS))
def test_no_mathjax_from_a_cdn(edition):
    site = EDITIONS[edition]
    if not (site / "index.html").is_file():
        pytest.skip(f"no {edition} edition built")
    assert (site / "_mathjax" / "tex-mml-chtml.js").is_file(), "MathJax not copied into the site"
    cdn = re.compile(r"""src=["'][^"']*(?:mathjax@|cdn\.jsdelivr\.net/npm/mathjax|"""
                     r"""cdnjs\.cloudflare\.com/ajax/libs/mathjax)""", re.I)
    offenders = [str(p.relative_to(site)) for p in site.rglob("*.html")
                 if cdn.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not offenders, f"pages loading MathJax from a CDN: {offenders}"


@pytest.mark.skipif(not HAVE_STUDENT, reason="no student edition (make student)")
def test_student_downloads_have_no_solutions():
    nbs = list((EDITIONS["student"] / "_sources").rglob("*.ipynb"))
    assert nbs, "no downloadable notebooks in the student edition"
    leaking = [str(p.relative_to(EDITIONS["student"])) for p in nbs
               if re.search(r"\{solution(-start)?\}", p.read_text(encoding="utf-8"))]
    assert not leaking, f"solutions in downloadable notebooks: {leaking}"


@pytest.mark.parametrize("page_name", PAGES)
def test_full_edition_page(page_name, context, server):
    site, base = EDITIONS["full"], f"{server}/html/"
    page, problems = open_page(context, base + page_name)
    blocks = check_common("full", page_name, page, problems, server, site, base)
    # dropdown solutions: hidden at first, open on a click on the title
    SOLUTION_SNIPPETS[page_name] = page.evaluate(JS_SOLUTION_SNIPPETS)
    for sid in blocks["solutions"]:
        sol = page.locator(f'div.solution[id="{sid}"]')
        content = sol.locator(":scope > section, :scope > #solution-content").first
        assert "toggle-hidden" in (sol.get_attribute("class") or ""), \
            f"{page_name}: solution {sid} is not a closed dropdown"
        assert not content.is_visible(), f"{page_name}: solution {sid} visible before a click"
        # the chevron button a reader presses (the title text is a link to the exercise)
        sol.locator(":scope > .admonition-title .toggle-button").first.click()
        page.wait_for_function(
            "id => !document.getElementById(id).classList.contains('toggle-hidden')", arg=sid)
        assert content.is_visible(), f"{page_name}: solution {sid} did not open"
        SUMMARY["full"]["solutions_opened"] += 1
    finish("full", page_name, page, problems)


@pytest.mark.skipif(not HAVE_STUDENT, reason="no student edition in _build/student/html "
                                             "(make student)")
@pytest.mark.parametrize("page_name", PAGES)
def test_student_edition_page(page_name, context, server):
    site, base = EDITIONS["student"], f"{server}/student/html/"
    page, problems = open_page(context, base + page_name)
    blocks = check_common("student", page_name, page, problems, server, site, base)
    assert not blocks["solutions"], f"{page_name}: solutions in the student edition"
    text = page.evaluate(JS_BODY_TEXT)
    assert "Solution to" not in text, f"{page_name}: 'Solution to' in the student edition"
    snippets = SOLUTION_SNIPPETS.get(page_name)
    if snippets is None:  # the full-edition test of this page did not run
        full, _ = open_page(context, f"{server}/html/{page_name}")
        full.evaluate(JS_WAIT_MATHJAX)
        snippets = full.evaluate(JS_SOLUTION_SNIPPETS)
        full.close()
    leaked = [s for s in snippets if s in text]
    assert not leaked, f"{page_name}: solution text in the student edition: {leaked[:3]}"
    SUMMARY["student"]["solution_fragments_absent"] += len(snippets)
    finish("student", page_name, page, problems)

# --------------------------------------------------------------------------- layout
JS_LAYOUT = r"""([minPt, dpi]) => {
  const art = document.querySelector('main article') || document.querySelector('main');
  const artBox = art.getBoundingClientRect();
  const px = (e, p) => parseFloat(getComputedStyle(e)[p]) || 0;
  // e or an ancestor (up to the article) scrolls sideways with a scrollbar that takes room
  const scrollsVisibly = e => {
    for (let a = e; a && a !== art.parentElement; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && a.scrollWidth > a.clientWidth + 1) {
        const bar = a.offsetHeight - a.clientHeight - px(a, 'borderTopWidth') - px(a, 'borderBottomWidth');
        return bar >= 4;
      }
    }
    return false;
  };
  const where = e => { const s = e.closest('[id]'); return s ? s.id : ''; };
  const eq = {n: 0, wide: [], clipped: []};
  for (const c of art.querySelectorAll('mjx-container[display="true"]')) {
    eq.n += 1;
    const m = c.querySelector('mjx-math') || c;
    const w = m.getBoundingClientRect().width, col = c.clientWidth;
    if (w > col + 1) {
      eq.wide.push(`${where(c)}: ${Math.round(w)} px in a ${col} px column`);
      if (!scrollsVisibly(c)) eq.clipped.push(`${where(c)}: ${Math.round(w)} > ${col} px, no scrollbar`);
    } else if (m.getBoundingClientRect().right > artBox.right + 1) {
      eq.clipped.push(`${where(c)}: past the article's edge`);
    }
  }
  const code = {n: 0, overflowing: 0, hidden: []};
  for (const b of art.querySelectorAll('pre')) {
    code.n += 1;
    const over = b.scrollWidth > b.clientWidth + 1 || b.getBoundingClientRect().right > artBox.right + 1;
    if (!over) continue;
    code.overflowing += 1;
    if (!scrollsVisibly(b)) code.hidden.push(where(b) || b.textContent.slice(0, 40));
  }
  const tables = {n: 0, hidden: []};    // no column cut off: a wide table scrolls visibly
  for (const t of art.querySelectorAll('table')) {
    tables.n += 1;
    const r = t.getBoundingClientRect(), box = t.parentElement.getBoundingClientRect();
    if ((r.right > box.right + 1 || r.right > artBox.right + 1) && !scrollsVisibly(t.parentElement))
      tables.hidden.push(where(t) || t.textContent.slice(0, 40));
  }
  const fig = {n: 0, small: [], hidden: [], minPx: null};
  for (const img of art.querySelectorAll('.cell_output img, figure img')) {
    if (!img.naturalWidth) continue;
    fig.n += 1;
    const r = img.getBoundingClientRect();
    const text = minPt * dpi / 72 * r.width / img.naturalWidth;
    fig.minPx = fig.minPx === null ? text : Math.min(fig.minPx, text);
    const name = img.src.split('/').pop();
    if (text < 9 - 0.05) fig.small.push(`${name}: ${text.toFixed(1)} px`);
    if (r.right > artBox.right + 1 && !scrollsVisibly(img.parentElement)) fig.hidden.push(name);
  }
  const page = document.documentElement.scrollWidth > document.documentElement.clientWidth + 1;
  return {eq, code, tables, fig, pageOverflow: page, layout: document.documentElement.dataset.landauLayout || ''};
}"""

JS_LIGHTBOX = """() => {
  const box = document.querySelector('.landau-lightbox img');
  return box ? {w: box.getBoundingClientRect().width, natural: box.naturalWidth} : null;
}"""


def figure_conventions() -> tuple[float, float]:
    from landau_nb.book import plotting

    return float(plotting.MIN_FONT_PT), float(plotting.DPI)


@pytest.fixture(scope="module", params=WIDTHS, ids=lambda w: f"{w}px")
def sized_context(request, browser, server):
    # 390 px: a phone (mobile emulation: overlay scrollbars, which take no room and show only
    # while scrolling, as on phones; a scrollbar that takes room is one the page styles visible)
    phone = request.param < 600
    ctx = browser.new_context(viewport={"width": request.param, "height": 900}, service_workers="block",
                              is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1)
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(server + "/")
              or r.request.url.startswith(("data:", "blob:")) else
              (SUMMARY["blocked_requests"].append(r.request.url), r.abort("blockedbyclient")))
    ctx.landau_width = request.param
    yield ctx
    ctx.close()


@pytest.mark.parametrize("page_name", PAGES)
def test_layout(page_name, sized_context, server):
    """At 1280/1920 px no display equation wider than its column; at 390 px they may be, but
    scroll visibly; code and outputs scroll visibly; figure text >= 9 px; no sideways page."""
    width = sized_context.landau_width
    page, problems = open_page(sized_context, f"{server}/html/{page_name}")
    page.wait_for_function("() => document.documentElement.dataset.landauLayout === 'done'",
                           timeout=30_000)
    r = page.evaluate(JS_LAYOUT, list(figure_conventions()))
    s = SUMMARY["layout"][width]
    s["pages"] += 1
    s["display_equations"] += r["eq"]["n"]
    s["equations_wider_than_column"] += len(r["eq"]["wide"])
    s["equations_cut_without_scrollbar"] += len(r["eq"]["clipped"])
    s["code_blocks"] += r["code"]["n"]
    s["code_blocks_scrolling"] += r["code"]["overflowing"]
    s["code_blocks_cut_without_scrollbar"] += len(r["code"]["hidden"])
    s["tables"] += r["tables"]["n"]
    s["tables_cut_without_scrollbar"] += len(r["tables"]["hidden"])
    s["figures"] += r["fig"]["n"]
    s["figures_text_below_9px"] += len(r["fig"]["small"])
    s["pages_scrolling_sideways"] += bool(r["pageOverflow"])
    if r["fig"]["minPx"] is not None:
        s["smallest_figure_text_px"] = round(min(s.get("smallest_figure_text_px", 99),
                                                 r["fig"]["minPx"]), 1)
    shot = SHOTS / "layout" / str(width) / page_name.replace("/", "__").replace(".html", ".png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=width < 600)
    if width == 1280 and r["fig"]["n"]:       # a click enlarges a figure; Escape closes it
        img = page.locator(".bd-article .cell_output img, .bd-article figure img").first
        img.scroll_into_view_if_needed()
        img.click()
        big = page.evaluate(JS_LIGHTBOX)
        assert big and big["w"] >= min(big["natural"], 1280 - 40) - 1, \
            f"{page_name}: a click does not enlarge the figure ({big})"
        page.keyboard.press("Escape")
        assert page.evaluate(JS_LIGHTBOX) is None, f"{page_name}: the enlarged figure stays open"
        s["figures_enlarged_on_click"] += 1
    page.close()
    assert not problems, f"{page_name}: " + "\n  ".join(problems)
    bad = []
    if width >= 1280:
        bad += [f"equation wider than the column: {e}" for e in r["eq"]["wide"]]
    bad += [f"equation cut: {e}" for e in r["eq"]["clipped"]]
    bad += [f"code/output block cut without a scrollbar: {c}" for c in r["code"]["hidden"]]
    bad += [f"table cut without a scrollbar: {t}" for t in r["tables"]["hidden"]]
    bad += [f"figure text below 9 px: {f}" for f in r["fig"]["small"]]
    bad += [f"figure cut without a scrollbar: {f}" for f in r["fig"]["hidden"]]
    if r["pageOverflow"]:
        bad.append("the page scrolls sideways")
    assert not bad, f"{page_name} at {width} px:\n  " + "\n  ".join(bad)


def test_summary(capsys):
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = {k: (dict(v) if isinstance(v, defaultdict) else v) for k, v in SUMMARY.items()}
    out["layout"] = {str(w): dict(v) for w, v in SUMMARY["layout"].items()}
    (SHOTS / "summary.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["", "browser test summary (network blocked; blocked requests: "
             f"{len(SUMMARY['blocked_requests'])})"]
    for ed in EDITIONS:
        lines.append(f"  {ed:8s} " + ", ".join(f"{k}={v}" for k, v in SUMMARY[ed].items()))
    for w in WIDTHS:
        lines.append(f"  {w:5d} px " + ", ".join(f"{k}={v}" for k, v in SUMMARY["layout"][w].items()))
    lines.append(f"  screenshots: {SHOTS}/{{full,student}}/*.png")
    if SUMMARY["full"]["pages"] < len(PAGES):
        lines.append(f"  (only {SUMMARY['full']['pages']} of {len(PAGES)} toc pages selected)")
    with capsys.disabled():
        print("\n".join(lines))
    assert not SUMMARY["blocked_requests"]
