"""Small statistics shared by the layers (seed confidence intervals)."""

from __future__ import annotations

import numpy as np

__all__ = ["t_interval"]


def t_interval(values, level: float = 0.95) -> float:
    """Half-width of the Student-t confidence interval of the mean of ``values`` (seeds):
    t_{(1+level)/2, m-1} s / sqrt(m); NaN for fewer than two values."""
    from scipy import stats
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    return float(stats.t.ppf((1 + level) / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
