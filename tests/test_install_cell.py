"""The install cell: the first code cell of every chapter, hidden in the HTML, installs
landau_nb only when it is missing, with pip alone, from the wheel the site ships
(book/_ext/ship_wheel.py) beside the notebook or in ../dist; the book's launch buttons are left
out while repository.url is the placeholder (book/_ext/repository_url.py)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BOOK / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


repository_url = _load("repository_url")
ship_wheel = _load("ship_wheel")

CELL = re.compile(r"```\{code-cell\} ipython3\n:tags: \[remove-cell\]\n\n(.*?)```", re.S)


def chapters():
    return sorted(p for p in BOOK.glob("*.md") if "import landau_nb" in p.read_text())


def install_cell(path: Path) -> str:
    return CELL.search(path.read_text()).group(1)


def test_every_chapter_has_the_same_short_install_cell():
    cells = {p.name: install_cell(p) for p in chapters()}
    assert len(cells) >= 14
    assert len(set(cells.values())) == 1, "install cells differ between chapters"
    code = [ln for ln in next(iter(cells.values())).splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(code) <= 3, code                     # import, if missing:, %pip install
    assert not any("REPOSITORY_URL" in c or "git+" in c for c in cells.values())


def run_cell(monkeypatch, cwd: Path, installed: bool) -> list[tuple[str, str]]:
    """Execute the install cell (IPython syntax) with landau_nb installed or not; the magics run."""
    from IPython.core.inputtransformer2 import TransformerManager

    source = TransformerManager().transform_cell(install_cell(BOOK / "preface.md"))
    calls = []
    shell = SimpleNamespace(run_line_magic=lambda magic, line: calls.append((magic, line)))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real(name, *a) if installed else None) if name == "landau_nb" else real(name, *a))
    monkeypatch.chdir(cwd)
    exec(compile(source, "install-cell", "exec"), {"get_ipython": lambda: shell})
    return calls


def test_install_cell_does_nothing_when_the_package_is_there(monkeypatch, tmp_path):
    assert run_cell(monkeypatch, tmp_path, installed=True) == []


def test_install_cell_installs_from_the_wheel_beside_the_notebook(monkeypatch, tmp_path):
    calls = run_cell(monkeypatch, tmp_path, installed=False)
    assert calls == [("pip", 'install --quiet --find-links . --find-links ../dist "landau_nb[notebook]"')]


@pytest.mark.slow
def test_the_wheel_installs_with_pip_alone_and_the_cell_finds_it(tmp_path):
    """The site's wheel, beside a notebook, satisfies the cell's pip command with no index."""
    wheel = ship_wheel.build_wheel(out=tmp_path / "site")
    assert wheel.name == ship_wheel.wheel_name() and zipfile.is_zipfile(wheel)
    names = zipfile.ZipFile(wheel).namelist()
    assert "landau_nb/__init__.py" in names and "landau_nb/book/glue.py" in names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert 'Provides-Extra: notebook' in text
    # the cell's own pip options: finds landau_nb in "." (the notebook's folder); no index here, so
    # the dependencies are not installed (--no-deps), which a fresh machine gets from PyPI
    (tmp_path / "nb").mkdir()
    wheel.rename(tmp_path / "nb" / wheel.name)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-index", "--no-deps",
                           "--find-links", ".", "--find-links", "../dist", "-d", str(tmp_path / "got"),
                           "landau_nb[notebook]"], cwd=tmp_path / "nb", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "got").iterdir()] == [wheel.name]


def test_the_preface_links_the_current_wheel():
    text = (BOOK / "preface.md").read_text()
    assert f"../_build/wheel/{ship_wheel.wheel_name()}>" in text


def test_no_page_mentions_a_button_that_is_not_there():
    published = repository_url.is_published(repository_url.config_url())
    for page in sorted(BOOK.glob("*.md")):
        text = page.read_text().lower()
        assert "rocket" not in text, page.name
        if not published:
            assert "launch button" not in text, page.name


def configure(tmp_path, url):
    (tmp_path / "book").mkdir(exist_ok=True)
    options = {"repository_url": url, "use_repository_button": True,
               "launch_buttons": {"binderhub_url": "https://mybinder.org",
                                  "colab_url": "https://colab.research.google.com"}}
    config = SimpleNamespace(html_theme_options=options)
    repository_url._configure(SimpleNamespace(srcdir=str(tmp_path)), config)
    return config.html_theme_options


def test_buttons_only_for_a_published_repository(tmp_path):
    placeholder = configure(tmp_path, f"https://github.com/{repository_url.PLACEHOLDER}/landau-book")
    assert placeholder["launch_buttons"] == {} and placeholder["use_repository_button"] is False
    assert "repository_url" not in placeholder
    published = configure(tmp_path, "https://github.com/someone/landau-book")
    assert published["launch_buttons"]["colab_url"] and published["use_repository_button"]
    assert not repository_url.is_published("") and not repository_url.is_published("http://x")
