"""The repository URL is one setting (repository.url in _config.yml): the install cell of
every chapter names it, installs from a checkout or a wheel before falling back to it, and
the book's launch buttons are left out while it is the placeholder (book/_ext/repository_url.py)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
spec = importlib.util.spec_from_file_location("repository_url", BOOK / "_ext" / "repository_url.py")
repository_url = importlib.util.module_from_spec(spec)
spec.loader.exec_module(repository_url)

CELL = re.compile(r"```\{code-cell\} ipython3\n:tags: \[remove-cell\]\n\n(.*?)```", re.S)


def chapters():
    return sorted(p for p in BOOK.glob("*.md") if "import landau_nb" in p.read_text())


def install_cell(path: Path) -> str:
    return CELL.search(path.read_text()).group(1)


def test_every_chapter_has_the_same_install_cell_naming_the_config_url():
    url = repository_url.config_url()
    assert repository_url.stale_chapters(url) == []
    cells = {p.name: install_cell(p) for p in chapters()}
    assert len(cells) >= 14
    assert len(set(cells.values())) == 1, "install cells differ between chapters"
    assert repository_url.cell_urls(next(iter(cells.values()))) == [url]


def run_cell(monkeypatch, cwd: Path, url: str | None = None) -> list[str]:
    """Execute the install cell with landau_nb not importable; returns the %pip arguments."""
    source = install_cell(BOOK / "preface.md")
    if url is not None:
        source = repository_url.URL_LINE.sub(f'REPOSITORY_URL = "{url}"', source)
    calls = []
    shell = SimpleNamespace(run_line_magic=lambda magic, line: calls.append((magic, line)))
    monkeypatch.setitem(sys.modules, "landau_nb", None)       # `import landau_nb` raises
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(cwd)
    exec(compile(source, "install-cell", "exec"), {"get_ipython": lambda: shell})
    assert all(magic == "pip" for magic, _ in calls)
    return [line for _, line in calls]


def test_install_cell_prefers_the_checkout(monkeypatch):
    assert run_cell(monkeypatch, BOOK) == [f"install --quiet -e '{ROOT}'"]
    assert sys.path[0] == str(ROOT)


def test_install_cell_then_a_wheel_next_to_it_or_in_dist(monkeypatch, tmp_path):
    (tmp_path / "dist").mkdir()
    wheel = tmp_path / "dist" / "landau_nb-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    (tmp_path / "notebooks").mkdir()
    assert run_cell(monkeypatch, tmp_path / "notebooks") == [f"install --quiet '{wheel}'"]
    beside = tmp_path / "notebooks" / "landau_nb-0.2.0-py3-none-any.whl"
    beside.write_bytes(b"")
    assert run_cell(monkeypatch, tmp_path / "notebooks") == [f"install --quiet '{beside}'"]


def test_install_cell_falls_back_to_the_url_only_when_published(monkeypatch, tmp_path):
    url = "https://github.com/someone/landau-book"
    assert run_cell(monkeypatch, tmp_path, url) == [f"install --quiet 'landau_nb @ git+{url}'"]
    with pytest.raises(ImportError, match="repository.url"):
        run_cell(monkeypatch, tmp_path, f"https://github.com/{repository_url.PLACEHOLDER}/landau-book")


def test_write_url_rewrites_every_install_cell(tmp_path):
    for p in chapters()[:3]:
        (tmp_path / p.name).write_text(p.read_text())
    url = "https://github.com/someone/landau-book"
    assert len(repository_url.write_url(url, tmp_path)) == 3
    assert repository_url.stale_chapters(url, tmp_path) == []
    assert repository_url.write_url(url, tmp_path) == []               # idempotent


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
