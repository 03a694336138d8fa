"""The wheel of ``landau_nb``, shipped with the site.

A chapter downloaded from the HTML book runs on a fresh machine with pip alone: its first
(hidden) cell installs ``landau_nb[notebook]`` from a wheel found beside the notebook (or in
``../dist``) when the package is missing. This extension builds that wheel at the start of every
build into ``_build/wheel/`` (from a copy of the package sources: the checkout gets no
``build/`` or ``.egg-info``), and the preface links it with the ``{download}`` role, so the site
carries it under ``_downloads/``. The link names the version: a stale link (the version
changed) fails the strict build ("download file not readable").
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "_build" / "wheel"


def version(root: Path = ROOT) -> str:
    namespace: dict = {}
    exec((root / "landau_nb" / "_version.py").read_text(), namespace)
    return namespace["__version__"]


def wheel_name(root: Path = ROOT) -> str:
    return f"landau_nb-{version(root)}-py3-none-any.whl"


def build_wheel(root: Path = ROOT, out: Path = OUT) -> Path:
    """Build ``out/landau_nb-VERSION-py3-none-any.whl`` (no dependencies, no network); its path."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="landau-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        shutil.copytree(root / "landau_nb", src / "landau_nb",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(root / name, src / name)
        target = out / wheel_name(root)
        target.unlink(missing_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                               "--no-build-isolation", "--no-index", "-w", str(out), str(src)],
                              capture_output=True, text=True)
        if done.returncode or not target.is_file():
            raise RuntimeError(f"building the wheel of landau_nb failed:\n{done.stdout}{done.stderr}")
    return target


def _build(app, config) -> None:
    from sphinx.util import logging

    path = build_wheel()
    logging.getLogger(__name__).info(f"wheel: {path.relative_to(ROOT)}")


def setup(app):
    app.connect("config-inited", _build)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
