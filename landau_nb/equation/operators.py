"""The equations a particle system can follow, as objects: each turns positions x and scores
s = grad log u into the particle velocity of its continuity equation du/dt + div(u v) = 0
(book: "The Landau equation as a continuity equation"; the paper's (2.3) and (3.1)).

* :class:`LandauOperator` — the Landau collision operator with kernel exponent gamma and
  constant B: v_i = -(B/n) sum_j A(x_i - x_j)(s_i - s_j); conserves momentum and energy.
* :class:`HeatOperator` — du/dt = D Lap u: v = -D s.
* :class:`FokkerPlanckOperator` — du/dt = div(x u + grad u): v = -x - s.

A problem holds one (``problem.equation``); the run loop, the health checks, the recorder
and the estimators ask it what they need (``conserves_energy``, ``collisional``) instead of
comparing names. A new equation is one new subclass. For backward compatibility an equation
compares equal to its name (``problem.equation == "landau"``).
"""

from __future__ import annotations

import torch

from .._checks import check_gamma, check_positive
from .collision import collision_matrix, landau_velocity, velocity_divergence

__all__ = ["Equation", "LandauOperator", "HeatOperator", "FokkerPlanckOperator"]


class Equation:
    """A continuity equation du/dt + div(u v[u]) = 0 whose velocity field depends on the
    positions and the score. Subclasses set ``name`` and implement :meth:`velocity` and
    :meth:`velocity_divergence`."""

    name: str = "equation"
    #: the kinetic energy sum |x|^2 / 2 is conserved by the exact flow (checked by the run's health)
    conserves_energy: bool = False
    #: a pair interaction with a collision matrix (weighted losses, tracers, entropy rate)
    collisional: bool = False
    #: the ways of evaluating the velocity a run may choose (``solve(velocity_method=...)``)
    velocity_methods: tuple = ("auto",)

    def velocity(self, x: torch.Tensor, s: torch.Tensor, *, method: str = "auto", tile: int | None = None,
                 **batch) -> torch.Tensor:
        raise NotImplementedError

    def velocity_divergence(self, x: torch.Tensor, s: torch.Tensor, jac: torch.Tensor) -> torch.Tensor:
        """div v at the particles when the score is a field with Jacobians ``jac`` (n, d, d)."""
        raise NotImplementedError

    def params(self) -> dict:
        return {}

    def __eq__(self, other):
        if isinstance(other, str):
            return self.name == other
        return type(self) is type(other) and self.params() == other.params()

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.params().items()))))

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({inner})"


class LandauOperator(Equation):
    """The Landau operator Q(u, u) = div(u B ∫ A(x - y)(grad log u(x) - grad log u(y)) u(y) dy),
    A(z) = |z|^gamma (|z|^2 I - z z^T): particle velocity (3.1) by :func:`landau_velocity`."""

    name = "landau"
    conserves_energy = True
    collisional = True

    def __init__(self, gamma: float, B: float = 1 / 24, d: int | None = None):
        self.gamma = float(gamma) if d is None else check_gamma(gamma, d)
        self.B = check_positive("B", B)

    @property
    def velocity_methods(self):
        from .collision import VELOCITY_METHODS
        return VELOCITY_METHODS

    def params(self):
        return {"gamma": self.gamma, "B": self.B}

    def velocity(self, x, s, *, method="auto", tile=None, **batch):
        return landau_velocity(x, s, gamma=self.gamma, B=self.B, method=method, tile=tile, **batch)

    def velocity_divergence(self, x, s, jac):
        return velocity_divergence(x, s, jac, gamma=self.gamma, B=self.B)

    def collision_matrix(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """(B/n) sum_j A(x_i - x_j) at the particles (or ``at=``), see :func:`collision_matrix`."""
        return collision_matrix(x, gamma=self.gamma, B=self.B, **kwargs)


class HeatOperator(Equation):
    """The heat equation du/dt = D Lap u as transport: v = -D s."""

    name = "heat"

    def __init__(self, D: float = 0.25):
        self.D = check_positive("D", D)

    def params(self):
        return {"D": self.D}

    def velocity(self, x, s, *, method="auto", tile=None, **batch):
        return -self.D * s

    def velocity_divergence(self, x, s, jac):
        return -self.D * jac.diagonal(dim1=1, dim2=2).sum(1)


class FokkerPlanckOperator(Equation):
    """The linear Fokker-Planck equation du/dt = div(x u + grad u) as transport: v = -x - s."""

    name = "fokker_planck"

    def velocity(self, x, s, *, method="auto", tile=None, **batch):
        return -x - s

    def velocity_divergence(self, x, s, jac):
        return -x.shape[1] - jac.diagonal(dim1=1, dim2=2).sum(1)
