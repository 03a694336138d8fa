"""Printed outputs must not depend on the machine: a Results folder is shown relative to the
working directory, and the random name of a book-scale temporary folder is hidden."""

import tempfile
from pathlib import Path

from landau_nb.experiments import display_folder as _display_folder


def test_temporary_and_relative_folders(tmp_path, monkeypatch):
    tmp = Path(tempfile.mkdtemp(prefix="landau-"))
    try:
        assert _display_folder(tmp / "bkw") == str(Path("<tmp>", "bkw"))
    finally:
        tmp.rmdir()
    monkeypatch.chdir(tmp_path)
    assert _display_folder(tmp_path / "results" / "paper" / "bkw") == str(Path("results", "paper", "bkw"))
    assert _display_folder("/opt/elsewhere") == "/opt/elsewhere"


def test_a_chapter_in_book_shows_committed_runs_relative_to_the_repository(tmp_path, monkeypatch):
    # a checkout: _toc.yml and landau_nb/ at the root; the chapter runs in book/
    (tmp_path / "_toc.yml").write_text("")
    (tmp_path / "landau_nb").mkdir()
    (tmp_path / "book").mkdir()
    monkeypatch.chdir(tmp_path / "book")
    assert _display_folder(tmp_path / "results" / "paper" / "bkw") == str(Path("results", "paper", "bkw"))
