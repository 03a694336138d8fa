"""Gaussian kernel density reconstruction and its L2 error (paper §5.1-5.2).

The particle solution is a sum of Diracs; to compare it with a density we smooth it with a
Gaussian kernel of covariance H given by Scott's rule, H = n^(-2/(d+4)) Sigma_hat.
The L2 error  (int |u*(x) - u_h(x)|^2 dx)^(1/2)  is estimated by importance sampling with
the proposal q = (u* + u_h)/2 (half the draws from each), which works in any dimension:
the ratio (u* - u_h)^2 / q is bounded by 2 max(u*, u_h), so the estimate has small
relative variance even when the error is small. Book: "The blob method" and the BKW chapter.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .._checks import check_int, check_points
from .._stop import poll_stop
from .pairsum import compiled_logsumexp, compiled_usable, tile_rows

__all__ = ["scott_covariance", "kde_log_density", "kde_sample", "kde_l2_error"]


def scott_covariance(x: torch.Tensor) -> torch.Tensor:
    """Scott's rule kernel covariance H = n^(-2/(d+4)) Sigma_hat (Sigma_hat: sample covariance)."""
    x = check_points("x", x)
    n, d = x.shape
    return n ** (-2 / (d + 4)) * torch.cov(x.T)


def kde_log_density(x: torch.Tensor, at: torch.Tensor, H: torch.Tensor | None = None) -> torch.Tensor:
    """log u_h(at), u_h = (1/n) sum_j N(. ; X_j, H); stable (log-sum-exp): on the CPU by the
    compiled kernel (numba, n >= COMPILED_MIN_N), else tiled torch."""
    x = check_points("x", x)
    at = check_points("at", at, min_n=1)
    n, d = x.shape
    H = scott_covariance(x) if H is None else H
    L = torch.linalg.cholesky(H)
    xw = torch.linalg.solve_triangular(L, x.T, upper=False).T          # whitened centres
    yw = torch.linalg.solve_triangular(L, at.T, upper=False).T
    log_norm = -0.5 * d * math.log(2 * math.pi) - torch.log(torch.diagonal(L)).sum() - math.log(n)
    if compiled_usable(xw, yw):                          # the numba kernel: one pass per query point
        return torch.from_numpy(compiled_logsumexp(yw, xw)).to(x.dtype) + log_norm
    rows = tile_rows(n, d, rows=at.shape[0])
    out = torch.empty(at.shape[0], dtype=x.dtype, device=x.device)
    for i0 in range(0, at.shape[0], rows):
        if i0:
            poll_stop()                     # a long sum stops between its tiles
        z = yw[i0:i0 + rows, None, :] - xw[None, :, :]
        out[i0:i0 + rows] = torch.logsumexp(-0.5 * (z * z).sum(-1), dim=1)
    return out + log_norm


def kde_sample(x: torch.Tensor, m: int, H: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """m draws from the KDE u_h (a random centre plus N(0, H) noise), float64 CPU draws
    converted to x's dtype and device."""
    x = check_points("x", x)
    m = check_int("m", m, low=1)
    H = scott_covariance(x) if H is None else H
    L = torch.linalg.cholesky(H.to(torch.float64).cpu())
    idx = torch.randint(x.shape[0], (m,), generator=generator)
    z = torch.randn(m, x.shape[1], dtype=torch.float64, generator=generator) @ L.T
    return x.detach().cpu().to(torch.float64)[idx].add_(z).to(dtype=x.dtype, device=x.device)


def kde_l2_error(x: torch.Tensor, log_density: Callable[[torch.Tensor], torch.Tensor],
                 sample: Callable[[int, torch.Generator], torch.Tensor], *, m: int = 2**14,
                 generator: torch.Generator | None = None, H: torch.Tensor | None = None) -> float:
    """L2 distance between the Scott-rule KDE of x and a density u* known by its log-density
    and a sampler (``sample(m, generator)`` -> float64 CPU draws), by importance sampling with
    q = (u* + u_h)/2 and m draws (m/2 from each). Relative Monte Carlo error ~ 1/sqrt(m)."""
    x = check_points("x", x)
    m = check_int("m", m, low=2)
    xd = x.detach().to(torch.float64)
    H = scott_covariance(xd) if H is None else H.to(torch.float64)
    half = m // 2
    y = torch.cat([sample(half, generator).to(xd.device),
                   kde_sample(xd, m - half, H, generator)])
    log_u = log_density(y.to(x.dtype)).to(torch.float64)
    log_h = kde_log_density(xd, y, H)
    log_q = torch.logaddexp(log_u, log_h) - math.log(2.0)
    # (u - h)^2 / q computed from logs: exp(2 max - log q) * (1 - exp(min - max))^2
    hi = torch.maximum(log_u, log_h)
    lo = torch.minimum(log_u, log_h)
    ratio = torch.exp(2 * hi - log_q) * (-torch.expm1(lo - hi)) ** 2
    return float(ratio.mean().sqrt())
