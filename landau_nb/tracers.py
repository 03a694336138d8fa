"""Held-out tracer particles: an unbiased Monte Carlo estimate of KL(u_t || u*_t) (book: "The
KL bound", section "Held-out tracers").

The particles X_1..X_n of a run define the velocity FIELD of the method at every point y,

    v(y) = -(B/n) sum_j A(y - X_j) (s(y) - s(X_j)),                       paper (3.1)

    div v(y) = (d-1)(B/n) sum_j |y - X_j|^gamma (y - X_j).(s(y) - s(X_j)) - tr(D(y) grad s(y)),

with D(y) = (B/n) sum_j A(y - X_j). Tracers Y_1..Y_m are drawn from u_0 with their own random
stream, move with this field (dY/dt = v(Y)) and carry l = log u_t(Y) through
dl/dt = -div v(Y) (the book's (eq-kl_bound-log-density)). They take no part in training and
none in the interaction sum, so the field does not depend on them: given the particles, the
Y_i(t) are m independent draws of the density u_t that the field transports, and

    KL_m = (1/m) sum_i [l_i - log u*_t(Y_i)],     standard error std_i(...) / sqrt(m),

estimates KL(u_t || u*_t) without the in-sample bias of the same average at the particles
(the time step adds its own O(dt) error, as for the particles).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_int, check_points, check_positive
from .collision import _radial_weight, collision_matrix
from .losses import value_and_jacobian
from .pairsum import tile_rows
from .seeding import make_generator

__all__ = ["TracerParticles", "tracer_velocity", "tracer_kl", "tracer_score_loss"]


def tracer_velocity(problem, y: torch.Tensor, x: torch.Tensor, s: torch.Tensor, score_field,
                    tile: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The method's velocity field v(y) and its divergence div v(y) at arbitrary points y.

    ``x`` (n, d) are the particles, ``s`` = s(x) their scores, ``score_field`` the
    differentiable map y -> s(y) that produced them (``estimator.field(t)``). For the Landau
    equation v is paper (3.1) with the particle sum; the j-th term is dropped where y = X_j
    (so at y = x this is :func:`landau_velocity` and :func:`velocity_divergence`). For the
    heat and Fokker-Planck problems v is local, v(y) = v(y, s(y)). Book: "The KL bound".
    """
    x = check_points("x", x)
    y = check_points("y", y, min_n=1)
    if y.shape[1] != x.shape[1] or y.dtype != x.dtype or y.device != x.device:
        raise ValueError("y must have the dimension, dtype and device of the particles x")
    if score_field is None:
        raise ValueError("score_field is None: tracers need an estimator with a score field "
                         "('sbtm' or 'exact'), not one with values at the particles only")
    sy, jac = value_and_jacobian(score_field, y)
    sy, jac = sy.to(y.dtype), jac.to(y.dtype)
    if problem.equation != "landau":
        return problem.velocity(y, sy), problem.velocity_divergence(y, sy, jac)
    n, d = x.shape
    gamma, B = problem.gamma, problem.B
    rows = tile_rows(n, d, tile)
    pull = torch.empty_like(y)
    pair = torch.empty(y.shape[0], dtype=y.dtype, device=y.device)
    with torch.no_grad():
        for i0 in range(0, y.shape[0], rows):
            z = y[i0:i0 + rows, None, :] - x[None, :, :]
            w = sy[i0:i0 + rows, None, :] - s[None, :, :]
            r2 = (z * z).sum(-1)
            zw = (z * w).sum(-1)
            c = _radial_weight(r2, gamma)
            pull[i0:i0 + rows] = ((c * r2)[..., None] * w - (c * zw)[..., None] * z).sum(-2)
            pair[i0:i0 + rows] = (c * zw).sum(1)
        D = collision_matrix(x, gamma=gamma, B=B, at=y, tile=tile)
        div = (d - 1) * (B / n) * pair - torch.einsum("nak,nka->n", D, jac)
    return pull.mul_(-B / n), div


def tracer_kl(problem, y: torch.Tensor, log_u: torch.Tensor, t: float) -> tuple[float, float]:
    """Monte Carlo estimate of KL(u_t || u*_t) from tracers and its standard error:
    (1/m) sum [log_u_i - log u*_t(y_i)] and std / sqrt(m), the book's (eq-kl_bound-mc)."""
    y = check_points("y", y, min_n=2)
    if not isinstance(log_u, torch.Tensor) or log_u.shape != (y.shape[0],):
        raise ValueError(f"log_u must be a tensor of shape (m,) = ({y.shape[0]},)")
    diff = log_u.to(torch.float64) - problem.log_density(y.to(torch.float64), t)
    return float(diff.mean()), float(diff.std() / math.sqrt(y.shape[0]))


def tracer_score_loss(problem, y: torch.Tensor, x: torch.Tensor, score_field, t: float) -> float:
    """Out-of-sample weighted loss (1/m) sum |s(y_i) - grad log u*_t(y_i)|^2_{D(y_i)}, with
    D(y) = (B/n) sum_j A(y - X_j) from the particles x (Landau problems): the loss of
    Theorem 4.2 with the exact score in place of grad log u_t, at points the network never saw."""
    x = check_points("x", x)
    y = check_points("y", y, min_n=1)
    if problem.equation != "landau":
        raise ValueError(f"tracer_score_loss needs a Landau problem, got equation={problem.equation!r}")
    with torch.no_grad():
        y64 = y.to(torch.float64)
        err = score_field(y).to(torch.float64) - problem.score(y64, t)
        D = collision_matrix(x.to(torch.float64), gamma=problem.gamma, B=problem.B, at=y64)
        return float(torch.einsum("na,nab,nb->n", err, D, err).mean())


class TracerParticles:
    """m held-out tracers drawn from u_{t0} with the random stream ``(seed, "tracers")``.

    Attributes ``y`` (m, d) and ``log_u`` (m,) = log u_t(y) carried along the flow. Use
    :meth:`velocity` for (v, div v) at the tracers (or at other points ``at``), then
    :meth:`advance`; :meth:`kl` gives the estimate of :func:`tracer_kl`. ``solve(...,
    tracers=m)`` does all this and records ``kl_tracers`` and ``kl_tracers_se``. Book:
    "The KL bound", section "Held-out tracers".
    """

    def __init__(self, problem, m: int, *, seed: int = 0, device="cpu", dtype=torch.float64):
        m = check_int("tracers", m, low=2)
        seed = check_int("seed", seed, low=0)
        try:
            y0 = problem.sample(m, make_generator(seed, "tracers"))
            log_u0 = problem.log_density(y0, problem.t0)
        except NotImplementedError:
            raise ValueError(f"tracers need the initial density of the problem; {problem.name} "
                             "has none") from None
        self.problem = problem
        self.y = y0.to(device=device, dtype=dtype)
        self.log_u = log_u0.to(device=device, dtype=torch.float64)

    @property
    def m(self) -> int:
        return self.y.shape[0]

    def velocity(self, score_field, x, s, at=None):
        """(v, div v) of the field built from particles x with scores s, at the tracers or at ``at``."""
        return tracer_velocity(self.problem, self.y if at is None else at, x, s, score_field)

    def advance(self, dt: float, v: torch.Tensor, div: torch.Tensor) -> None:
        """One explicit step: y <- y + dt v, log u <- log u - dt div v."""
        dt = check_positive("dt", dt)
        self.y = (self.y + dt * v).detach()
        self.log_u = self.log_u - dt * div.detach().to(torch.float64)

    def score_loss(self, score_field, x, t: float) -> float:
        """:func:`tracer_score_loss` at the current tracers."""
        return tracer_score_loss(self.problem, self.y, x, score_field, t)

    def kl(self, t: float) -> tuple[float, float]:
        """(estimate of KL(u_t || u*_t), its standard error) at the current tracers."""
        return tracer_kl(self.problem, self.y, self.log_u, t)
