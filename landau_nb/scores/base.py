"""The score-estimator interface and the exact (oracle) score.

A solver asks its estimator for the score at the current particle positions once per
velocity evaluation: ``s = estimator(x, t)``. SBTM trains its network there first; the
blob method evaluates its kernel sums; the oracle evaluates the closed form.
Book: "Particles and conservation" (Remark 3.1: any score estimate keeps the invariants).
"""

from __future__ import annotations

import torch

__all__ = ["ScoreEstimator", "ExactScore"]


class ScoreEstimator:
    """Base class of score estimators.

    ``initialize(problem, x, t, seed)`` is called once with the initial particles;
    ``__call__(x, t)`` returns the (n, d) score estimate at positions ``x`` and time ``t``.
    ``stats`` holds per-call numbers worth recording (e.g. training steps, losses).
    """

    name = "estimator"

    def __init__(self):
        self.problem = None
        self.stats: dict = {}

    def initialize(self, problem, x: torch.Tensor, t: float, seed: int = 0) -> None:
        self.problem = problem

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> dict:
        """JSON-ready hyper-parameters (saved with trajectories)."""
        return {"name": self.name}

    def get_state(self) -> tuple[dict, dict]:
        """The estimator's mutable state for a checkpoint: (name -> numpy array, JSON-ready dict)."""
        return {}, {}

    def set_state(self, problem, x: torch.Tensor, t: float, seed: int, arrays: dict, meta: dict) -> None:
        """Restore a state written by :meth:`get_state` (instead of :meth:`initialize`)."""
        self.initialize(problem, x, t, seed)

    def field(self, t: float):
        """The current score as a differentiable function y -> s(y) of arbitrary points, or
        None if the estimator only gives values at the particles (needed for transporting
        the log-density)."""
        return None


class ExactScore(ScoreEstimator):
    """The true score grad log u_t of a problem with a closed-form solution (oracle)."""

    name = "exact"

    def initialize(self, problem, x, t, seed=0):
        if not problem.has_exact_solution:
            raise ValueError(f"method='exact' needs a problem with a known solution; "
                             f"{problem.name} has none (use 'sbtm' or 'blob')")
        super().initialize(problem, x, t, seed)

    def __call__(self, x, t):
        return self.problem.score(x, t)

    def field(self, t):
        return lambda y: self.problem.score(y, t)
