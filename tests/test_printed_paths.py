"""Printed outputs must not depend on the machine: a Results folder is shown relative to the
working directory, and the random name of a book-scale temporary folder is hidden."""

import tempfile
from pathlib import Path

from landau_nb.experiments import _display_folder


def test_temporary_and_relative_folders(tmp_path, monkeypatch):
    tmp = Path(tempfile.mkdtemp(prefix="landau-"))
    try:
        assert _display_folder(tmp / "bkw") == str(Path("<tmp>", "bkw"))
    finally:
        tmp.rmdir()
    monkeypatch.chdir(tmp_path)
    assert _display_folder(tmp_path / "results" / "paper" / "bkw") == str(Path("results", "paper", "bkw"))
    assert _display_folder("/opt/elsewhere") == "/opt/elsewhere"
