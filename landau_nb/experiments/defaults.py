"""One place for the defaults of a run: device, dtype and results folder per scale, read by
the command line, :func:`~landau_nb.run_experiment` and the chapters."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from .._checks import check_choice, check_given
from .registry import SCALES

__all__ = ["project_root", "default_device", "default_dtype", "default_out", "settings"]


def project_root() -> Path:
    """The repository root (the nearest folder up from here holding ``_toc.yml`` and
    ``landau_nb/``), so a notebook running in ``book/`` and the command line run from the root
    share ``results/``; the current folder outside a checkout."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists() and (folder / "landau_nb").is_dir():
            return folder
    return here


def default_device(scale: str) -> str:
    """"cuda" at paper scale when a GPU is there, else "cpu"."""
    check_choice("scale", scale, SCALES)
    return "cuda" if scale == "paper" and torch.cuda.is_available() else "cpu"


def default_dtype(scale: str, device) -> torch.dtype:
    """float32 at paper scale (the committed runs' precision) and on a GPU, else float64."""
    check_choice("scale", scale, SCALES)
    return torch.float32 if scale == "paper" or torch.device(device).type == "cuda" else torch.float64


def default_out(scale: str) -> Path:
    """The scale's results folder: ``results/SCALE`` of the repository (of the current folder
    outside a checkout). The command line, :func:`~landau_nb.run_experiment` and
    :func:`~landau_nb.reproduce` write there unless told otherwise."""
    check_choice("scale", scale, SCALES)
    return project_root() / "results" / scale


def settings(scale: str | None = None) -> dict:
    """Run settings for the book's experiment chapters, from the environment:
    ``LANDAU_SCALE`` ("book", the default, or "paper"), ``LANDAU_DEVICE`` (default "cpu" at
    book scale, "cuda" if available at paper scale), ``LANDAU_RESULTS`` (a results folder;
    default a fresh temporary folder at book scale, so every execution recomputes, and
    ``results/paper`` of the repository at paper scale, where the chapters load the committed
    runs with :func:`paper_results` and the command line writes them). Book scale runs in
    float64, paper scale in float32 (on a GPU or a CPU: the committed paper-scale runs are
    float32). A variable set to an empty or blank value is an error, not its default."""
    scale = check_choice("LANDAU_SCALE", scale or os.environ.get("LANDAU_SCALE", "book"), SCALES)
    device = check_given("LANDAU_DEVICE", os.environ.get("LANDAU_DEVICE")) or default_device(scale)
    out = check_given("LANDAU_RESULTS", os.environ.get("LANDAU_RESULTS"))
    if out is None:
        out = tempfile.mkdtemp(prefix="landau-") if scale == "book" else str(default_out(scale))
    return {"scale": scale, "device": device, "dtype": default_dtype(scale, device), "out": out}
