"""Quantities recorded along a run (paper §5.2, Figures 5.2-5.5), and the Stein-rate
diagnostic of the KL estimate (book: "The KL bound").

The moment functions take particle arrays (n, d) and return tensors; the solver converts
them to NumPy.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_points
from ..equation.collision import collision_divergence, collision_matrix
from ..scores.losses import divergence, value_and_jacobian

__all__ = ["mean", "energy", "second_moment", "fourth_moment", "entropy_rate", "frobenius",
           "stein_rate", "stein_recorder", "at_and_away_from_particles"]


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


def _needs_exact_velocity(problem):
    if not callable(getattr(problem, "exact_velocity", None)):
        raise ValueError(f"the Stein rate needs the exact Landau velocity v* of the problem; {problem.name} "
                         "has none in closed form (use ln.bkw)")


def stein_rate(problem, field, x: torch.Tensor, s: torch.Tensor, v: torch.Tensor, t: float) -> float:
    """-(1/n) sum_i (S_t w)(X_i), S_t w = div w + w.grad log u*_t, w = v - v*: the time
    derivative of the in-sample KL estimate, the book's (eq-kl_bound-stein-rate).

    ``field`` is the score field y -> s(y) behind ``s`` = s(x) and ``v`` the particle velocity;
    v* is the problem's exact velocity (BKW). Book: "The KL bound".
    """
    _needs_exact_velocity(problem)
    x = check_points("x", x)
    _, jac = value_and_jacobian(field, x)
    div_v = problem.velocity_divergence(x, s, jac)
    div_v_star = divergence(lambda y: problem.exact_velocity(y, t), x)
    w = v - problem.exact_velocity(x, t)
    stein = div_v - div_v_star + (w * problem.score(x, t)).sum(1)
    return -float(stein.mean())


def stein_recorder(problem, estimator):
    """A :func:`landau_nb.solve` callback recording :func:`stein_rate` at every step.

    Returns ``(rates, callback)``: pass ``callback`` to ``solve`` with the same estimator
    object; ``rates`` (a list) then holds one value per recorded time. Book: "The KL bound".
    """
    _needs_exact_velocity(problem)
    rates: list[float] = []

    def callback(k, t, x, s, v):
        rates.append(stein_rate(problem, estimator.field(t), x, s, v, t))

    return rates, callback


def at_and_away_from_particles(problem, field, particles: torch.Tensor, fresh: torch.Tensor,
                               t: float) -> dict:
    """Stein's identity and the weighted loss at the particles and at fresh points.

    With e = s - grad log u*_t the score error of ``field`` and D = (B/n) sum_j A(. - X_j)
    from ``particles``, returns ``{"particles": (mean, se, loss), "fresh points": (...)}``:
    the mean of S_t(D e) = (div D).e + tr(D grad e) + (D e).grad log u*_t and its standard
    error (zero mean for points drawn from u*_t independently of the field, by Stein's
    identity), and the weighted loss mean |e|^2_D. Book: "The KL bound".
    """
    particles = check_points("particles", particles)
    fresh = check_points("fresh", fresh)
    gamma, B = problem.gamma, problem.B
    out = {}
    for where, pts in (("particles", particles), ("fresh points", fresh)):
        s, js = value_and_jacobian(field, pts)
        s_star, js_star = value_and_jacobian(lambda y: problem.score(y, t), pts)
        e, je = s - s_star, js - js_star
        D = collision_matrix(particles, gamma=gamma, B=B, at=pts)
        div_D = collision_divergence(particles, gamma=gamma, B=B, at=pts)
        De = torch.einsum("nab,nb->na", D, e)
        stein = (div_D * e).sum(1) + torch.einsum("nab,nba->n", D, je) + (De * s_star).sum(1)
        loss = float((e * De).sum(1).mean())
        out[where] = (float(stein.mean()), float(stein.std() / math.sqrt(len(pts))), loss)
    return out
