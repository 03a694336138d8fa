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
(the time step adds its own O(dt) error, as for the particles). The tracers also carry
g = grad log u_t(Y) through dg/dt = -(grad v)^T g - grad div v(Y), so that
(1/m) sum_i |s(Y_i) - g_i|^2_{D(Y_i)} estimates the loss of Theorem 4.2 (the book's
(eq-kl_bound-tracer-ode) and (eq-kl_bound-tracer-estimates)).
"""

from __future__ import annotations

import math

import torch

from .._checks import check_int, check_points, check_positive
from ..equation.collision import pair_sum, radial_factors, collision_matrix
from ..scores.losses import value_and_jacobian
from ..equation.pairsum import tile_rows
from .._seeding import make_generator
from .stepping import Carried

__all__ = ["TracerParticles", "TracerFlow", "tracer_velocity", "tracer_field_derivatives", "tracer_kl",
           "tracer_score_loss", "TRACER_KEYS"]

#: per-step records of a run with tracers (see :class:`TracerFlow`)
TRACER_KEYS = ("kl_tracers", "kl_tracers_se", "score_loss_tracers", "score_loss_D_tracers")


def _check_field_inputs(y, x, score_field):
    x = check_points("x", x)
    y = check_points("y", y, min_n=1)
    if y.shape[1] != x.shape[1] or y.dtype != x.dtype or y.device != x.device:
        raise ValueError("y must have the dimension, dtype and device of the particles x")
    if score_field is None:
        raise ValueError("score_field is None: tracers need an estimator with a score field "
                         "('sbtm' or 'exact'), not one with values at the particles only")
    return y, x


def _field(problem, y, x, s, sy, jac, tile):
    """v(y) and div v(y) from s(y) = sy and its Jacobian jac (differentiable in all of them)."""
    if not problem.equation.collisional:
        return problem.velocity(y, sy), problem.velocity_divergence(y, sy, jac)
    n, d = x.shape
    gamma, B = problem.gamma, problem.B
    if gamma == 0:
        return _field_moments(y, x, s, sy, jac, B)
    rows = tile_rows(n, d, tile)
    pulls, pairs = [], []
    for i0 in range(0, y.shape[0], rows):
        yi, si = y[i0:i0 + rows], sy[i0:i0 + rows]
        pulls.append(pair_sum(yi, x, si, s, gamma))     # the particles' own pair sum, at y
        z = yi[:, None, :] - x[None, :, :]
        r2 = (z * z).sum(-1)
        a, inv_r2 = radial_factors(r2, gamma)                    # |z|^(gamma+2), 1/|z|^2; 0 at z = 0
        pairs.append((a * inv_r2 * (z * (si[:, None, :] - s[None, :, :])).sum(-1)).sum(1))
    D = collision_matrix(x, gamma=gamma, B=B, at=y, tile=tile)
    div = (d - 1) * (B / n) * torch.cat(pairs) - torch.einsum("nak,nka->n", D, jac)
    return torch.cat(pulls) * (-B / n), div


def _field_moments(y, x, s, sy, jac, B):
    """gamma = 0: the sums over j collapse into moments of the particles (as in the book's
    "Maxwellian molecules in O(n)"), O(m d^2), differentiable in y. With X_j, Y centred at the
    particles' mean, S1 = sum s_j, P = sum s_j X_j^T, q = tr P, m3 = sum |X_j|^2 s_j,
    m4 = sum (X_j.s_j) X_j:

        sum_j A(Y - X_j) s_j / B = |Y|^2 S1 - 2 P Y + m3 - (Y.S1) Y + q Y + P^T Y - m4,
        sum_j (Y - X_j).(s(Y) - s_j) = n Y.s(Y) - Y.S1 - s(Y).sum X_j + q.
    """
    n, d = x.shape
    mean = x.mean(0)
    X, Y = x - mean, y - mean
    S1 = s.sum(0)
    P = s.T @ X
    q = torch.trace(P)
    x2 = (X * X).sum(1)
    m3 = x2 @ s
    m4 = (X * s).sum(1) @ X
    y2 = (Y * Y).sum(1, keepdim=True)
    a_s = y2 * S1 - 2 * Y @ P.T + m3 - (Y @ S1)[:, None] * Y + q * Y + Y @ P - m4
    pair = n * (Y * sy).sum(1) - Y @ S1 - sy @ X.sum(0) + q
    G = X.T @ X
    eye = torch.eye(d, dtype=y.dtype, device=y.device)
    D = (B / n) * ((n * y2[:, :, None] + x2.sum()) * eye - n * Y[:, :, None] * Y[:, None, :] - G)
    v = -torch.einsum("nab,nb->na", D, sy) + (B / n) * a_s
    div = (d - 1) * (B / n) * pair - torch.einsum("nak,nka->n", D, jac)
    return v, div


def tracer_velocity(problem, y: torch.Tensor, x: torch.Tensor, s: torch.Tensor, score_field,
                    tile: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The method's velocity field v(y) and its divergence div v(y) at arbitrary points y.

    ``x`` (n, d) are the particles, ``s`` = s(x) their scores, ``score_field`` the
    differentiable map y -> s(y) that produced them (``estimator.field(t)``). For the Landau
    equation v is paper (3.1) with the particle sum; the j-th term is dropped where y = X_j
    (so at y = x this is :func:`landau_velocity` and :func:`velocity_divergence`). For the
    heat and Fokker-Planck problems v is local, v(y) = v(y, s(y)). Book: "The KL bound".
    """
    y, x = _check_field_inputs(y, x, score_field)
    sy, jac = value_and_jacobian(score_field, y)
    with torch.no_grad():
        return _field(problem, y, x, s.detach(), sy.to(y.dtype), jac.to(y.dtype), tile)


def _grad(out, y):
    """d out / d y, zero where out does not depend on y (an affine score has constant div)."""
    if not out.requires_grad:
        return torch.zeros_like(y)
    g = torch.autograd.grad(out, y, retain_graph=True, allow_unused=True)[0]
    return torch.zeros_like(y) if g is None else g


def tracer_field_derivatives(problem, y: torch.Tensor, x: torch.Tensor, s: torch.Tensor, score_field,
                             tile: int | None = None):
    """v(y), div v(y), the Jacobian grad v(y) (m, d, d; [i, k, a] = d v_k / d y_a) and
    grad div v(y) (m, d), by automatic differentiation of the field (second derivatives of
    the score). They transport the score of u along trajectories:
    d/dt grad log u(Y) = -(grad v)^T grad log u(Y) - grad div v(Y). Book: "The KL bound".
    """
    y, x = _check_field_inputs(y, x, score_field)
    d = y.shape[1]
    with torch.enable_grad():
        yl = y.detach().requires_grad_(True)
        sy = score_field(yl).to(y.dtype)
        jac = torch.stack([torch.autograd.grad(sy[:, k].sum(), yl, create_graph=True)[0]
                           for k in range(d)], dim=1)
        if not jac.requires_grad:                  # affine score field: constant Jacobian
            jac = jac.detach()
        v, div = _field(problem, yl, x, s.detach(), sy, jac, tile)
        jv = torch.stack([_grad(v[:, k].sum(), yl) for k in range(d)], dim=1)
        grad_div = _grad(div.sum(), yl)
    return v.detach(), div.detach(), jv.detach(), grad_div.detach()


def tracer_kl(problem, y: torch.Tensor, log_u: torch.Tensor, t: float) -> tuple[float, float]:
    """Monte Carlo estimate of KL(u_t || u*_t) from tracers and its standard error:
    (1/m) sum [log_u_i - log u*_t(y_i)] and std / sqrt(m), the book's (eq-kl_bound-mc)."""
    y = check_points("y", y, min_n=2)
    if not isinstance(log_u, torch.Tensor) or log_u.shape != (y.shape[0],):
        raise ValueError(f"log_u must be a tensor of shape (m,) = ({y.shape[0]},)")
    diff = log_u.to(torch.float64) - problem.log_density(y.to(torch.float64), t)
    return float(diff.mean()), float(diff.std() / math.sqrt(y.shape[0]))


def tracer_score_loss(problem, y: torch.Tensor, x: torch.Tensor, score_field, t: float,
                      grad_log_u: torch.Tensor | None = None) -> float:
    """Weighted loss (1/m) sum |s(y_i) - g_i|^2_{D(y_i)} at the points y, D(y) = (B/n) sum_j
    A(y - X_j) from the particles x (Landau problems). With ``grad_log_u`` = g the transported
    score of u_t at y, this is the loss L(t)/2 of Theorem 4.2; without it, g = grad log u*_t
    (the stand-in ``score_loss_D`` of solve, here at points the network never saw)."""
    x = check_points("x", x)
    y = check_points("y", y, min_n=1)
    if not problem.equation.collisional:
        raise ValueError(f"tracer_score_loss needs a collisional (Landau) problem, got equation="
                         f"{problem.equation.name!r}")
    with torch.no_grad():
        y64 = y.to(torch.float64)
        g = problem.score(y64, t) if grad_log_u is None else grad_log_u.to(torch.float64)
        if g.shape != y.shape:
            raise ValueError(f"grad_log_u must have the shape of y, {tuple(y.shape)}")
        err = score_field(y).to(torch.float64) - g
        D = collision_matrix(x.to(torch.float64), gamma=problem.gamma, B=problem.B, at=y64)
        return float(torch.einsum("na,nab,nb->n", err, D, err).mean())


class TracerParticles:
    """m held-out tracers drawn from u_{t0} with the random stream ``(seed, "tracers")``.

    State: ``y`` (m, d), ``log_u`` (m,) = log u_t(y) and ``grad_log_u`` (m, d) = grad log u_t(y)
    (None when the problem has no initial score), carried along the flow by

        dy/dt = v(y),  d/dt log u = -div v(y),  d/dt grad log u = -(grad v)^T grad log u - grad div v,

    with v the field of :func:`tracer_velocity`. :meth:`rate` gives the three right-hand sides,
    :meth:`advance` takes an explicit step (Euler with one rate, Heun with two, the second at
    :meth:`predict`); :meth:`kl` and :meth:`score_loss` are the estimates. ``solve(...,
    tracers=m)`` does all this. Book: "The KL bound", section "Held-out tracers".
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
        try:
            g0 = problem.initial_score(y0).to(device=device, dtype=torch.float64)
        except NotImplementedError:
            g0 = None
        self.problem = problem
        self.y = y0.to(device=device, dtype=dtype)
        self.log_u = log_u0.to(device=device, dtype=torch.float64)
        self.grad_log_u = g0

    @property
    def m(self) -> int:
        return self.y.shape[0]

    @property
    def state(self) -> tuple:
        return self.y, self.log_u, self.grad_log_u

    def rate(self, score_field, x, s, state=None) -> tuple:
        """(v, -div v, -(grad v)^T g - grad div v) at the tracers (or at ``state``, a tuple
        (y, log_u, g) from :meth:`predict`) for the field of particles x with scores s."""
        y, _, g = self.state if state is None else state
        if g is None:
            v, div = tracer_velocity(self.problem, y, x, s, score_field)
            return v, -div.to(torch.float64), None
        v, div, jv, grad_div = tracer_field_derivatives(self.problem, y, x, s, score_field)
        dg = -torch.einsum("ika,ik->ia", jv.to(torch.float64), g) - grad_div.to(torch.float64)
        return v, -div.to(torch.float64), dg

    def predict(self, dt: float, rate: tuple) -> tuple:
        """The state after an Euler step of length dt with ``rate`` (the tracers do not move)."""
        dt = check_positive("dt", dt)
        return tuple(None if a is None else a + dt * r for a, r in zip(self.state, rate))

    def advance(self, dt: float, *rates: tuple) -> None:
        """One explicit step of length dt with the mean of ``rates`` (one: Euler; the rates at
        the start and at :meth:`predict`: Heun)."""
        if not rates:
            raise ValueError("advance needs at least one rate")
        mean = [None if r[0] is None else sum(r) / len(rates) for r in zip(*rates)]
        self.y, self.log_u, self.grad_log_u = self.predict(dt, mean)

    def score_loss(self, score_field, x, t: float, transported: bool = True) -> float:
        """:func:`tracer_score_loss` at the tracers, with their transported score (or with
        grad log u*_t if ``transported=False``)."""
        g = self.grad_log_u if transported else None
        if transported and g is None:
            raise ValueError(f"{self.problem.name}: no initial score, so no transported score")
        return tracer_score_loss(self.problem, self.y, x, score_field, t, g)

    def kl(self, t: float) -> tuple[float, float]:
        """(estimate of KL(u_t || u*_t), its standard error) at the current tracers."""
        return tracer_kl(self.problem, self.y, self.log_u, t)


class TracerFlow(Carried):
    """Held-out tracers as a quantity carried by a run (``solve(..., tracers=m)``): the value
    is the state (y, log u, grad log u) of :class:`TracerParticles`, its rate the field of the
    particles at the tracers (:meth:`TracerParticles.rate`, which depends on the state), and
    each step records the estimates of :data:`TRACER_KEYS` (KL and its standard error for
    exact-solution problems, the D-weighted score losses for Landau problems). The run's
    particles are unchanged by them. Book: "The KL bound", section "Held-out tracers"."""

    depends_on_value = True
    _PARTS = (".y", ".log_u", ".grad_log_u")

    def __init__(self, tracers: TracerParticles, estimator, name: str = "tracers"):
        self.tracers, self.estimator = tracers, estimator
        super().__init__(name, tracers.state, None)

    def rate_at(self, x, s, t, value):
        return self.tracers.rate(self.estimator.field(t), x, s, value)

    def _combine(self, value, dt, rates):
        return tuple(None if a is None else a + dt * (sum(r) / len(r)) for a, *r in zip(value, *rates))

    @property
    def value(self) -> tuple:
        return self.tracers.state

    @value.setter
    def value(self, state: tuple) -> None:
        self.tracers.y, self.tracers.log_u, self.tracers.grad_log_u = state

    def euler(self, value, dt, r):
        return self._combine(value, dt, (r,))

    def heun(self, value, dt, r, r_pred):
        return self._combine(value, dt, (r, r_pred))

    def records(self, x, s, t) -> dict:
        p, tr, field = self.tracers.problem, self.tracers, self.estimator.field(t)
        out = {}
        if p.has_exact_solution:
            out["kl_tracers"], out["kl_tracers_se"] = tr.kl(t)
        if p.equation.collisional:
            if tr.grad_log_u is not None:
                out["score_loss_tracers"] = tr.score_loss(field, x, t)
            if p.has_exact_solution:
                out["score_loss_D_tracers"] = tr.score_loss(field, x, t, transported=False)
        return out

    def arrays(self) -> dict:
        return {part: a.detach().cpu().numpy() for part, a in zip(self._PARTS, self.value) if a is not None}

    def load(self, arrays: dict, device) -> None:
        self.value = tuple(torch.from_numpy(arrays[part]).to(device=device) if part in arrays else None
                           for part in self._PARTS)
