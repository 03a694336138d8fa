"""What an experiment chapter needs in one call: its results at the scale it is executed at."""

from __future__ import annotations

from ..experiments import Results, paper_results, run_experiment, settings

__all__ = ["chapter_results"]


def chapter_results(*names: str, scale: str | None = None):
    """The :class:`~landau_nb.Results` of experiments ``names`` for a chapter: at book scale
    (the default, or ``LANDAU_SCALE=book``) the book's runs, computed afresh into a temporary
    folder; at paper scale (``LANDAU_SCALE=paper``) the committed runs of ``results/paper`` (or
    ``LANDAU_RESULTS``), loaded, nothing computed. One Results per name (a tuple for several).
    The scale is ``results.scale``. Book: the chapters of Part "Experiments"."""
    cfg = settings(scale)
    out: list[Results] = []
    for name in names:
        if cfg["scale"] == "paper":
            out.append(paper_results(name, cfg["out"]))
        else:
            out.append(run_experiment(name, **cfg, progress=False))
    if not out:
        raise TypeError("chapter_results needs at least one experiment name")
    return out[0] if len(out) == 1 else tuple(out)
