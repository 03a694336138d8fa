"""Entropies: the blob method's regularised entropy, the particles' estimated entropy and the
exact entropy of BKW (book: "The blob method" and "Particles and conservation").
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import check_int, check_points, check_positive, check_real
from .kde import kde_log_density

__all__ = ["regularised_entropy", "estimated_entropy", "bkw_entropy"]


def regularised_entropy(x: torch.Tensor, eps: float) -> torch.Tensor:
    """H_eps of the empirical measure of x, (1/n) sum_i log((1/n) sum_j phi_eps(X_i - X_j)),
    phi_eps the Gaussian of covariance eps I (book: "The blob method", (eq-blob_method-Heps));
    n grad_{X_i} H_eps is the blob score. Differentiable in x (a 0-dim tensor)."""
    x = check_points("x", x)
    eps = check_positive("eps", eps)
    H = eps * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return kde_log_density(x, x, H).mean()


def estimated_entropy(traj) -> np.ndarray:
    """The particles' estimated entropy change E^k = sum_{j=1}^k dt_j (1/n) sum_i s(X_i^j).v(X_i^j)
    from a trajectory's ``entropy_rate`` (E^0 = 0); non-increasing for any score estimate by
    Prop. 3.1(3) (book: "Particles and conservation")."""
    t = np.asarray(traj.t, dtype=np.float64)
    rate = np.asarray(traj["entropy_rate"], dtype=np.float64)
    if t.ndim != 1 or rate.shape != t.shape or len(t) < 1:
        raise ValueError("traj must record one entropy_rate per time in traj.t")
    return np.concatenate([[0.0], np.cumsum(np.diff(t) * rate[1:])])


def bkw_entropy(problem, t: float, *, r_max: float = 12.0, points: int = 24001) -> float:
    """The entropy H(u_t) = int u_t log u_t of the BKW solution at time t, by the trapezoid rule
    on the radius: u_t is radial, so H = |S^{d-1}| int_0^r_max u log u r^{d-1} dr, |S^{d-1}| =
    2 pi^{d/2} / Gamma(d/2) (book: "Particles and conservation", the estimated entropy)."""
    from .problems import BKW
    if not isinstance(problem, BKW):
        raise TypeError(f"problem must be a BKW problem (ln.bkw(d)), got {type(problem).__name__}")
    t = check_real("t", t)
    r_max = check_positive("r_max", r_max)
    points = check_int("points", points, low=3)
    d = problem.d
    r = torch.linspace(0.0, r_max, points, dtype=torch.float64)
    ray = torch.zeros(points, d, dtype=torch.float64)
    ray[:, 0] = r
    log_u = problem.log_density(ray, t)
    sphere = 2 * math.pi ** (d / 2) / math.gamma(d / 2)
    return float(torch.trapezoid(torch.exp(log_u) * log_u * sphere * r ** (d - 1), r))
