"""Quantities recorded along a run (paper §5.2, Figures 5.2-5.5).

All take particle arrays (n, d) and return tensors; the solver converts them to NumPy.
"""

from __future__ import annotations

import torch

__all__ = ["mean", "energy", "second_moment", "fourth_moment", "entropy_rate", "frobenius"]


def mean(x: torch.Tensor) -> torch.Tensor:
    """Momentum per particle (1/n) sum X_i (conserved exactly by Prop. 3.1)."""
    return x.mean(0)


def energy(x: torch.Tensor) -> torch.Tensor:
    """Kinetic energy as in §5.2, (1/n) sum |X_i|^2 (= 2E; conserved by the semi-discrete flow)."""
    return (x * x).sum(1).mean()


def second_moment(x: torch.Tensor) -> torch.Tensor:
    """Sigma = (1/n) sum X_i X_i^T, the paper's "covariance" matrix."""
    return x.T @ x / x.shape[0]


def fourth_moment(x: torch.Tensor) -> torch.Tensor:
    """(1/n) sum |X_i|^4 (BKW: compare with BKW.fourth_moment)."""
    r2 = (x * x).sum(1)
    return (r2 * r2).mean()


def entropy_rate(s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Estimated entropy-production rate (1/n) sum s(X_i).v(X_i) (<= 0 by Prop. 3.1)."""
    return (s * v).sum(1).mean()


def frobenius(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Frobenius norm ||a - b||_F over the last two axes (the paper plots its square's root)."""
    return torch.linalg.matrix_norm(a - b)
