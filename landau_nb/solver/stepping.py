"""Time stepping of the particle system (book: "Particles and conservation").

The particles follow dX_i/dt = v_i(X, s), paper (3.1), with the score s re-estimated at
every stage. Forward Euler (the paper's scheme) and Heun (explicit trapezoid, 2nd order):

    Euler:  X^{k+1} = X^k + dt v(X^k, s^k)
    Heun:   X~ = X^k + dt v(X^k, s^k),  X^{k+1} = X^k + dt/2 (v(X^k, s^k) + v(X~, s~))

Both keep the momentum exactly (up to round-off): each stage's velocities sum to zero.
Quantities carried along the particle paths (the log-density, tracer particles) are moved
by the same stages: a :class:`Carried` has a value and a rate, stepped with the same weights.
:func:`time_march` is the run loop of :func:`landau_nb.solve`.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import numpy as np
import torch

from .health import Blowup, check_finite

__all__ = ["euler_step", "heun_step", "Stepper", "Euler", "Heun", "STEPPERS", "get_stepper", "advance", "time_march",
           "Stage", "ParticleVelocity", "Carried", "log_density_rate"]


def euler_step(x: torch.Tensor, dt: float, v: torch.Tensor) -> torch.Tensor:
    """Forward Euler: x + dt v."""
    return x + dt * v


def heun_step(x: torch.Tensor, dt: float, v: torch.Tensor, v_pred: torch.Tensor) -> torch.Tensor:
    """Heun's corrector: x + dt/2 (v + v_pred), v_pred the rate at the Euler prediction."""
    return x + 0.5 * dt * (v + v_pred)


class Stepper:
    """A time-stepping scheme for the particle ODE. :meth:`advance` takes X^k = x at time t
    with its first stage (s^k, v^k) to X^{k+1}, moving each :class:`Carried` quantity with the
    particles (its ``rates`` at X^k given), and returns (X^{k+1}, a second stage or None).
    A new scheme is one subclass with a ``name``, registered in :data:`STEPPERS`."""

    name: str = "stepper"
    order: int = 0

    def advance(self, velocity, x, t, dt, k, stage, carried=(), rates=()):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Euler(Stepper):
    """Forward Euler, the paper's scheme: X^{k+1} = X^k + dt v(X^k, s^k)."""

    name, order = "euler", 1

    def advance(self, velocity, x, t, dt, k, stage, carried=(), rates=()):
        for c, r in zip(carried, rates):
            c.value = c.euler(c.value, dt, r)
        x_new = euler_step(x, dt, stage.v).detach()
        check_finite("positions", x_new, k + 1, k)
        return x_new, None


class Heun(Stepper):
    """Heun (explicit trapezoid): a second stage at the Euler prediction X~,
    X^{k+1} = X^k + dt/2 (v(X^k, s^k) + v(X~, s~))."""

    name, order = "heun", 2

    def advance(self, velocity, x, t, dt, k, stage, carried=(), rates=()):
        x_pred = euler_step(x, dt, stage.v).detach()
        check_finite("positions", x_pred, k + 1, k)
        second = velocity(x_pred, t + dt, k + 1, k)
        for c, r in zip(carried, rates):
            predicted = c.euler(c.value, dt, r) if c.depends_on_value else c.value
            c.value = c.heun(c.value, dt, r, c.rate_at(x_pred, second.s, t + dt, predicted))
        x_new = heun_step(x, dt, stage.v, second.v).detach()
        check_finite("positions", x_new, k + 1, k)
        return x_new, second


#: the stepper registry: name -> class (``solve(stepper=NAME)``)
STEPPERS: dict[str, type[Stepper]] = {"euler": Euler, "heun": Heun}


def get_stepper(stepper) -> Stepper:
    """A :class:`Stepper` from its name in :data:`STEPPERS` (or a Stepper, returned as is)."""
    if isinstance(stepper, Stepper):
        return stepper
    from .._checks import check_choice
    check_choice("stepper", stepper, tuple(STEPPERS))
    return STEPPERS[stepper]()


def advance(stepper, velocity, x, t, dt, k, stage, carried=(), rates=()):
    """X^{k+1} from X^k = x by ``stepper`` (a name or a :class:`Stepper`); see
    :meth:`Stepper.advance`."""
    return get_stepper(stepper).advance(velocity, x, t, dt, k, stage, carried, rates)


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
    heat equation...). Calls raise :class:`~landau_nb.solver.health.Blowup` on a non-finite score or
    velocity. ``batch`` holds ``batch_size`` and ``generator`` for random-batch velocities."""

    def __init__(self, problem, estimator, *, velocity_method: str = "auto", batch: dict | None = None):
        self.problem, self.estimator = problem, estimator
        self.velocity_method, self.batch = velocity_method, batch or {}

    def __call__(self, x: torch.Tensor, t: float, step: int, last_step: int | None = None) -> Stage:
        """The stage at positions x, time t, counted as step ``step``; ``last_step``: the step of
        the last finite state, for the error (default ``step``: x itself)."""
        last_step = step if last_step is None else last_step
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
    or held-out tracer particles (:class:`landau_nb.solver.tracers.TracerFlow`, whose rate also
    depends on the value: the velocity field at the tracers).

    Subclasses may override :meth:`rate_at` (a rate that depends on the value, with
    ``depends_on_value = True``), :meth:`euler`/:meth:`heun` (values that are not one tensor),
    :meth:`records` (per-step diagnostics) and :meth:`arrays`/:meth:`load` (checkpoints).
    """

    depends_on_value = False

    def __init__(self, name: str, value: torch.Tensor, rate: Callable):
        self.name, self.value, self.rate = name, value, rate

    def rate_at(self, x, s, t, value):
        """The rate at particles x with scores s at time t for the carried ``value``."""
        return self.rate(x, s, t)

    def euler(self, value, dt, r):
        return euler_step(value, dt, r)

    def heun(self, value, dt, r, r_pred):
        return heun_step(value, dt, r, r_pred)

    def records(self, x, s, t) -> dict:
        """Per-step diagnostics of the carried value at step time t (name -> number)."""
        return {}

    def arrays(self) -> dict:
        """Checkpoint arrays (suffix -> numpy array) of the value."""
        return {"": self.value.detach().cpu().numpy()}

    def load(self, arrays: dict, device) -> None:
        """Undo :meth:`arrays`."""
        self.value = torch.from_numpy(arrays[""]).to(device=device)


def log_density_rate(problem, estimator) -> Callable:
    """d/dt log u(X_i) = -div v(X_i) (book: "The KL bound"), from the estimator's score field."""
    from ..scores.losses import value_and_jacobian

    def rate(x, s, t):
        _, jac = value_and_jacobian(estimator.field(t), x)
        return -problem.velocity_divergence(x, s, jac.detach())
    return rate


def time_march(x, times, dt, stepper, velocity, recorder, health, *, carried=(), k_start=0,
               save_every=None, callback=None, checkpoint=None, bar=None):
    """Steps k = k_start..N of a run from the particles x = X^{k_start}; returns X^N.

    At each step: the score and velocity at X^k, the carried quantities' rates, the step's
    record and health check, a snapshot when due, the callback, then the step to X^{k+1}.
    ``checkpoint(k, x)`` (optional) saves the state at the start of due steps. A
    :class:`Blowup` leaves with the last finite positions as its ``last_x``."""
    N = len(times) - 1
    stepper = get_stepper(stepper)
    try:
        for k in range(k_start, N + 1):
            if checkpoint is not None and k > k_start:
                checkpoint(k, x)
            tk = float(times[k])
            stage = velocity(x, tk, k)
            rates = [c.rate_at(x, stage.s, tk, c.value) for c in carried]
            recorder.record(k, x, stage.s, stage.v, {c.name: c.value for c in carried})
            for c in carried:
                recorder.record_values(k, c.records(x, stage.s, tk))
            recorder.record_cost(k, stage.time_score, stage.time_velocity,
                                 velocity.estimator.stats.get("gd_steps", np.nan))
            rec = recorder.rec
            health.check(k, tk, rec["momentum_drift"][k], rec["energy"][k], rec["energy"][0])
            if k == 0 or k == N or (save_every and k % save_every == 0):
                recorder.snapshot(k, x)
            if callback is not None:
                callback(k, tk, x, stage.s, stage.v)
            if k == N:
                break
            # the step (scores are computed outside no_grad: SBTM trains inside)
            x, second = stepper.advance(velocity, x, tk, dt, k, stage, carried, rates)
            if second is not None:
                recorder.add_cost(k, second.time_score, second.time_velocity)
            if bar is not None:
                bar.update(1)
    except Blowup as blowup:
        blowup.last_x = x
        raise
    return x
