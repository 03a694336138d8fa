"""The equation and its closed forms (the lowest wing: imports only the private floor).

* :mod:`~landau_nb.equation.collision` — the collision kernel A(z) and the particle velocity
  (3.1) (direct tiled pair sum, the compiled kernels of :mod:`~landau_nb.equation.pairsum`,
  the exact O(n d²) moment form for γ = 0);
* :mod:`~landau_nb.equation.operators` — the equations as objects (Landau, heat, Fokker–Planck);
* :mod:`~landau_nb.equation.problems` — the test problems and their registry;
* :mod:`~landau_nb.equation.kde`, :mod:`~landau_nb.equation.entropy` — kernel density
  estimates and entropies.
"""

from .collision import collision_divergence, collision_kernel, collision_matrix, landau_velocity, velocity_divergence
from .operators import Equation, FokkerPlanckOperator, HeatOperator, LandauOperator
from .problems import PROBLEMS, Problem, get_problem, problem_from_params, register_problem

__all__ = ["collision_kernel", "landau_velocity", "collision_matrix", "collision_divergence", "velocity_divergence",
           "Equation", "LandauOperator", "HeatOperator", "FokkerPlanckOperator", "Problem", "PROBLEMS",
           "register_problem", "get_problem", "problem_from_params"]
