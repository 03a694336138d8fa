"""One time step of the particle system (book: "Particles and conservation").

The particles follow dX_i/dt = v_i(X, s), paper (3.1), with the score s re-estimated at
every stage. Forward Euler (the paper's scheme) and Heun (explicit trapezoid, 2nd order):

    Euler:  X^{k+1} = X^k + dt v(X^k, s^k)
    Heun:   X~ = X^k + dt v(X^k, s^k),  X^{k+1} = X^k + dt/2 (v(X^k, s^k) + v(X~, s~))

Both keep the momentum exactly (up to round-off): each stage's velocities sum to zero.
Quantities carried along the particle paths (the log-density, tracer particles) are moved
by the same stages: a :class:`Carried` has a value and a rate, stepped with the same weights.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import torch

from .health import check_finite

__all__ = ["euler_step", "heun_step", "advance", "Stage", "ParticleVelocity", "Carried", "log_density_rate",
           "STEPPERS"]

STEPPERS = ("euler", "heun")


def euler_step(x: torch.Tensor, dt: float, v: torch.Tensor) -> torch.Tensor:
    """Forward Euler: x + dt v."""
    return x + dt * v


def heun_step(x: torch.Tensor, dt: float, v: torch.Tensor, v_pred: torch.Tensor) -> torch.Tensor:
    """Heun's corrector: x + dt/2 (v + v_pred), v_pred the rate at the Euler prediction."""
    return x + 0.5 * dt * (v + v_pred)


def advance(stepper, velocity, x, t, dt, k, stage, carried=(), rates=()):
    """X^{k+1} from X^k = x at time t and its stage (s^k, v^k): forward Euler, or Heun with a
    second stage at the Euler prediction. Each :class:`Carried` quantity moves with the
    particles (its ``rates`` at X^k given). Returns (X^{k+1}, Heun's second stage or None)."""
    if stepper == "euler":
        for c, r in zip(carried, rates):
            c.value = euler_step(c.value, dt, r)
        x_new, second = euler_step(x, dt, stage.v).detach(), None
    else:
        x_pred = euler_step(x, dt, stage.v).detach()
        check_finite("positions", x_pred, k + 1, k)
        second = velocity(x_pred, t + dt, k + 1, k)
        for c, r in zip(carried, rates):
            c.value = heun_step(c.value, dt, r, c.rate(x_pred, second.s, t + dt))
        x_new = heun_step(x, dt, stage.v, second.v).detach()
    check_finite("positions", x_new, k + 1, k)
    return x_new, second


class Stage(NamedTuple):
    """One evaluation of the right-hand side: scores s, velocities v, and the seconds spent."""
    s: torch.Tensor
    v: torch.Tensor
    time_score: float
    time_velocity: float


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ParticleVelocity:
    """The right-hand side X -> v(X, s(X, t)) of the particle ODE: the estimator's score at
    the particles, then the equation's velocity (the Landau pair sum (3.1), or -D s for the
    heat equation...). Calls raise :class:`~landau_nb.health.Blowup` on a non-finite score or
    velocity. ``batch`` holds ``batch_size`` and ``generator`` for random-batch velocities."""

    def __init__(self, problem, estimator, *, velocity_method: str = "auto", batch: dict | None = None):
        self.problem, self.estimator = problem, estimator
        self.velocity_method, self.batch = velocity_method, batch or {}

    def __call__(self, x: torch.Tensor, t: float, step: int, last_step: int) -> Stage:
        """The stage at positions x, time t, counted as step ``step`` (``last_step``: the step
        of the last finite state, for the error)."""
        dev = x.device
        _sync(dev)
        c = time.perf_counter()
        s = self.estimator(x, t)
        _sync(dev)
        ts = time.perf_counter() - c
        check_finite("scores", s, step, last_step)
        c = time.perf_counter()
        v = self.problem.velocity(x, s, method=self.velocity_method, **self.batch)
        _sync(dev)
        tv = time.perf_counter() - c
        check_finite("velocities", v, step, last_step)
        return Stage(s, v, ts, tv)


class Carried:
    """A quantity carried along the particle paths: ``value`` changes at ``rate(x, s, t)``,
    evaluated at every stage's particles and scores, and is stepped with the particles'
    weights (Euler or Heun). Examples: the log-density (rate -div v, :func:`log_density_rate`)
    or held-out tracer particles (rate: the velocity field at the tracers)."""

    def __init__(self, name: str, value: torch.Tensor, rate: Callable):
        self.name, self.value, self.rate = name, value, rate


def log_density_rate(problem, estimator) -> Callable:
    """d/dt log u(X_i) = -div v(X_i) (book: "The KL bound"), from the estimator's score field."""
    from .losses import _value_and_jacobian

    def rate(x, s, t):
        _, jac = _value_and_jacobian(estimator.field(t), x, False)
        return -problem.velocity_divergence(x, s, jac.detach())
    return rate
