"""landau_nb: transport-based particle methods for the homogeneous Fokker-Planck-Landau
equation (Ilin, Hu & Wang, Comm. Math. Sci. 2025), companion to the Landau book.

The package is five wings by layer; each imports only from the wings below it (and from the
private floor ``_checks``, ``_files``, ``_state``, ``_seeding``, ``_version``):

1. :mod:`landau_nb.equation` — the equation and its closed forms: the collision operator and
   its pair sums, the equations as objects, the test problems, KDE, entropies;
2. :mod:`landau_nb.scores` — score estimators behind one interface and one registry: SBTM
   and its compiled kernels, the blob method, the exact score, the losses, the networks;
3. :mod:`landau_nb.solver` — one run: ``solve``, the steppers, recording, diagnostics,
   tracers, health checks, checkpoints, the trajectory, ensembles;
   :mod:`landau_nb.vlasov` — the spatially inhomogeneous Vlasov–Landau equation in 1D-2V/1D-3V
   (phase-space particles, the field solve, collisions in space with blob, KDE, SBTM or
   local-Maxwellian scores), built on the three wings above;
4. :mod:`landau_nb.experiments` — many runs on disk: the registry of Section 5, defaults,
   the results store, locks, executors, the runner, provenance stamps;
5. :mod:`landau_nb.book` — what only the book uses: claims and verdicts, plotting,
   explorers, listings, round-off reporting, the scoreboard's report.

Public API (each function's docstring names the book chapter that derives it):

* collision: :func:`collision_kernel`, :func:`landau_velocity`, :func:`collision_matrix`,
  :func:`collision_divergence`
* problems: :func:`bkw`, :func:`anisotropic_gaussian`, :func:`gaussian_mixture`, :func:`heat`,
  :func:`fokker_planck`, :func:`maxwell_second_moment`
* scores: :class:`SBTM`, :class:`Blob`, :class:`ExactScore`, :func:`blob_score`,
  :func:`kde_score`, :func:`blob_bandwidth`, :func:`score_mlp`
* losses: :func:`denoising_loss`, :func:`implicit_loss`, :func:`weighted_denoising_loss`,
  :func:`weighted_implicit_loss`, :func:`divergence`, :func:`denoising_divergence`,
  :func:`value_and_jacobian`
* entropies and the KL estimate: :func:`regularised_entropy`, :func:`estimated_entropy`,
  :func:`bkw_entropy`; :class:`TracerParticles`, :func:`tracer_velocity`, :func:`tracer_kl`,
  :func:`tracer_score_loss` (held-out tracers, ``solve(..., tracers=m)``); :func:`stein_rate`,
  :func:`stein_recorder`, :func:`at_and_away_from_particles`
* book listings: :func:`show_source`
* running: :func:`solve`, :func:`solve_ensemble`, :class:`Trajectory`, :func:`seed_everything`;
  errors :class:`NonFiniteError`, :class:`CheckpointError`, :class:`ResultFileError`,
  :class:`RunConflictError`, :class:`RunTakenError`, :class:`SweepInterrupted`
* reporting round-off in the book: :func:`below`, :func:`above`
* experiments (paper §5): :data:`EXPERIMENTS`, :func:`run_experiment`, :func:`reproduce`,
  :class:`Results`, :func:`loglog_slope`; command line ``python -m landau_nb``
* explorers (ipywidgets, book): :func:`relaxation_explorer`, :func:`denoising_explorer`,
  their computations :func:`relaxation_curves`, :func:`denoising_bias_variance` and figures
  :func:`plot_relaxation`, :func:`plot_denoising`
"""

from ._stop import quiet_start as _quiet_start, started_as_command as _started_as_command

if _started_as_command():       # python -m landau_nb: Ctrl-C while importing exits quietly (130)
    import signal as _signal
    try:
        _signal.signal(_signal.SIGINT, _quiet_start)
    except ValueError:          # not the main thread
        pass

from . import book, equation, experiments, scores, solver, vlasov  # noqa: E402
from ._seeding import derive_seed, make_generator, seed_everything
from ._version import __version__
# 1. the equation
from .equation.collision import (collision_divergence, collision_kernel, collision_matrix, landau_velocity,
                                 velocity_divergence)
from .equation.entropy import bkw_entropy, estimated_entropy, regularised_entropy
from .equation.kde import kde_l2_error, kde_log_density, kde_sample, scott_covariance
from .equation.operators import Equation, FokkerPlanckOperator, HeatOperator, LandauOperator
from .equation.problems import (BKW, PROBLEMS, AnisotropicGaussian, FokkerPlanck, GaussianMixture, HeatEquation,
                                Problem, anisotropic_gaussian, bkw, fokker_planck, gaussian_mixture, get_problem,
                                heat, maxwell_second_moment, problem_from_params, register_problem)
# 2. score estimators
from .scores.base import ExactScore, ScoreEstimator
from .scores.blob import BANDWIDTH_RULES, Blob, blob_bandwidth, blob_score, kde_score
from .scores.losses import (denoising_divergence, denoising_loss, divergence, implicit_loss, relative_score_error,
                            score_matching_loss, value_and_jacobian, weighted_denoising_loss,
                            weighted_implicit_loss)
from .scores.networks import score_mlp
from .scores.registry import ESTIMATORS, make_estimator, register_estimator
from .scores.sbtm import SBTM, fit_initial_score
# 3. one run
from .solver.checkpoint import CheckpointError
from .solver.diagnostics import (at_and_away_from_particles, energy, entropy_rate, fourth_moment, frobenius, mean,
                                 second_moment, stein_rate, stein_recorder)
from .solver.ensemble import EnsembleError, solve_ensemble
from .solver.integrate import NonFiniteError, solve
from .solver.stepping import STEPPERS, Euler, Heun, Stepper
from .solver.tracers import (TracerParticles, tracer_field_derivatives, tracer_kl, tracer_score_loss,
                             tracer_velocity)
from .solver.trajectory import ResultFileError, Trajectory
# 4. many runs on disk
from .experiments import (EXPERIMENTS, Experiment, Results, RunConflictError, RunTakenError, SweepInterrupted,
                          get_experiment, loglog_slope, paper_results, reproduce, run_experiment)
# 5. the book's helpers
from .book import claims
from .book.chapters import chapter_results
from .book.explorers import (denoising_bias_variance, denoising_explorer, plot_denoising, plot_relaxation,
                             relaxation_curves, relaxation_explorer)
from .book.reporting import above, below
from .book.source import show_source

__all__ = [
    "__version__",
    # the wings
    "equation", "scores", "solver", "vlasov", "experiments", "book", "claims",
    # 1. the equation
    "collision_kernel", "landau_velocity", "collision_matrix", "collision_divergence", "velocity_divergence",
    "Equation", "LandauOperator", "HeatOperator", "FokkerPlanckOperator",
    "Problem", "BKW", "AnisotropicGaussian", "GaussianMixture", "HeatEquation", "FokkerPlanck",
    "bkw", "anisotropic_gaussian", "gaussian_mixture", "heat", "fokker_planck", "maxwell_second_moment",
    "PROBLEMS", "register_problem", "get_problem", "problem_from_params",
    "kde_log_density", "kde_l2_error", "kde_sample", "scott_covariance",
    "regularised_entropy", "estimated_entropy", "bkw_entropy",
    # 2. score estimators
    "ScoreEstimator", "ExactScore", "SBTM", "fit_initial_score", "Blob", "blob_score", "kde_score",
    "blob_bandwidth", "BANDWIDTH_RULES", "score_mlp", "ESTIMATORS", "register_estimator", "make_estimator",
    "denoising_loss", "implicit_loss", "weighted_denoising_loss", "weighted_implicit_loss", "divergence",
    "denoising_divergence", "score_matching_loss", "relative_score_error", "value_and_jacobian",
    # 3. one run
    "solve", "solve_ensemble", "Trajectory", "Stepper", "Euler", "Heun", "STEPPERS",
    "seed_everything", "derive_seed", "make_generator",
    "NonFiniteError", "CheckpointError", "ResultFileError", "EnsembleError",
    "mean", "energy", "second_moment", "fourth_moment", "entropy_rate", "frobenius", "stein_rate",
    "stein_recorder", "at_and_away_from_particles",
    "TracerParticles", "tracer_velocity", "tracer_field_derivatives", "tracer_kl", "tracer_score_loss",
    # 4. many runs on disk
    "EXPERIMENTS", "Experiment", "get_experiment", "run_experiment", "reproduce", "Results", "paper_results",
    "loglog_slope", "RunConflictError", "RunTakenError", "SweepInterrupted",
    # 5. the book's helpers
    "chapter_results", "show_source", "below", "above", "relaxation_explorer", "denoising_explorer", "relaxation_curves",
    "denoising_bias_variance", "plot_relaxation", "plot_denoising",
]
