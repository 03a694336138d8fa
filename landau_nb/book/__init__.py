"""What only the book uses: the claims of Section 5 and their verdicts
(:mod:`~landau_nb.book.claims`), figures (:mod:`~landau_nb.book.plotting`), the interactive
explorers, code listings (:mod:`~landau_nb.book.source`), round-off printed as bounds
(:mod:`~landau_nb.book.reporting`) and the scoreboard's report on the committed runs
(:mod:`~landau_nb.book.scoreboard`). The top wing: imports every wing below it.
"""

from . import claims
from .chapters import chapter_results
from .reporting import above, below
from .source import show_source

__all__ = ["claims", "chapter_results", "show_source", "below", "above"]
