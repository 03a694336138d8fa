"""Numbers as the book prints them: the same text on every machine (book: "Status", README
"Determinism").

Round-off quantities (a momentum rate of 4e-17, a relative difference of 3e-16) change in their
last bits with the CPU's SIMD path, the thread count and the BLAS. The chapters print them as a
bound that holds by a wide margin, after checking it, so that a stored output is the same on any
machine and the check still runs wherever the notebook is executed.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["below", "above"]


def _largest(value, what, pick):
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number or an array of numbers, got {type(value).__name__}") from None
    return float(pick(arr)) if arr.size else math.nan


def _check_limit(limit, positive):
    if not (isinstance(limit, (int, float)) and not isinstance(limit, bool) and math.isfinite(limit)
            and (limit > 0 or not positive)):
        kind = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"limit must be {kind}, got {limit!r}")


def below(value, limit: float, *, what: str = "value") -> str:
    """Check ``|value| < limit`` and return the text ``"< limit"`` (e.g. ``"< 1e-14"``).

    ``value`` may be a number or an array-like (its largest absolute entry is checked). Raises
    ``AssertionError`` naming ``what``, the value and the limit when the bound fails or the value
    is not finite, so a cell that prints ``below(err, 1e-14)`` also asserts it.
    """
    _check_limit(limit, positive=True)
    v = _largest(value, what, lambda a: np.max(np.abs(a)))
    if not math.isfinite(v) or not v < limit:
        raise AssertionError(f"|{what}| = {v:.3g} is not below {limit:.0e}")
    return f"< {limit:.0e}"


def above(value, limit: float, *, what: str = "value") -> str:
    """Check ``value > limit`` (every entry of an array) and return the text ``"> limit"``.

    For a signed round-off quantity that must not be clearly negative, e.g. the smallest
    eigenvalue of a positive semi-definite matrix: ``above(lam_min, -1e-14)`` gives ``"> -1e-14"``.
    """
    _check_limit(limit, positive=False)
    v = _largest(value, what, np.min)
    if not math.isfinite(v) or not v > limit:
        raise AssertionError(f"{what} = {v:.3g} is not above {limit:.0e}")
    return f"> {limit:.0e}"
