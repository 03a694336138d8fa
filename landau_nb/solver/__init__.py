"""One run: :func:`~landau_nb.solver.integrate.solve` (the run loop of
:mod:`~landau_nb.solver.stepping` with its steppers as objects), what a run records
(:mod:`~landau_nb.solver.recording`, :mod:`~landau_nb.solver.diagnostics`,
:mod:`~landau_nb.solver.tracers`), its health checks, checkpoints and
:class:`~landau_nb.solver.trajectory.Trajectory`, and ensembles of seeds
(:mod:`~landau_nb.solver.ensemble`). Imports the equation and score wings.
"""

from .ensemble import solve_ensemble
from .integrate import NonFiniteError, solve
from .stepping import STEPPERS, Euler, Heun, Stepper, get_stepper
from .trajectory import Trajectory

__all__ = ["solve", "solve_ensemble", "NonFiniteError", "Trajectory", "Stepper", "Euler", "Heun", "STEPPERS",
           "get_stepper"]
