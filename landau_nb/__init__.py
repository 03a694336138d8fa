"""landau_nb: transport-based particle methods for the homogeneous Fokker-Planck-Landau
equation (Ilin, Hu & Wang, Comm. Math. Sci. 2025), companion to the Landau book.

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

from ._version import __version__
from .scores.blob import BANDWIDTH_RULES, Blob, blob_bandwidth, blob_score, kde_score
from .equation.collision import (collision_divergence, collision_kernel, collision_matrix,
                        landau_velocity, velocity_divergence)
from .solver.checkpoint import CheckpointError
from .solver.diagnostics import (at_and_away_from_particles, energy, entropy_rate, fourth_moment, frobenius,
                          mean, second_moment, stein_rate, stein_recorder)
from .equation.entropy import bkw_entropy, estimated_entropy, regularised_entropy
from .equation.kde import kde_l2_error, kde_log_density, kde_sample, scott_covariance
from .scores.losses import (denoising_divergence, denoising_loss, divergence, implicit_loss,
                     relative_score_error, score_matching_loss, value_and_jacobian,
                     weighted_denoising_loss, weighted_implicit_loss)
from .scores.networks import score_mlp
from .book.reporting import above, below
from .equation.problems import (BKW, AnisotropicGaussian, FokkerPlanck, GaussianMixture, HeatEquation,
                       Problem, anisotropic_gaussian, bkw, fokker_planck, gaussian_mixture,
                       get_problem, heat, maxwell_second_moment,
                       problem_from_params)
from .scores.sbtm import SBTM, fit_initial_score
from .scores.base import ExactScore, ScoreEstimator
from ._seeding import derive_seed, make_generator, seed_everything
from .solver.integrate import NonFiniteError, make_estimator, solve
from .solver.ensemble import EnsembleError, solve_ensemble
from .solver.trajectory import Trajectory
from .book.explorers import (denoising_bias_variance, denoising_explorer, plot_denoising, plot_relaxation,
                        relaxation_curves, relaxation_explorer)
from .experiments import (EXPERIMENTS, Experiment, Results, RunConflictError, SweepInterrupted, paper_results,
                          get_experiment, loglog_slope, reproduce, run_experiment)
from .book import claims
from .experiments.locks import RunTakenError
from .solver.trajectory import ResultFileError
from .solver.tracers import (TracerParticles, tracer_field_derivatives, tracer_kl, tracer_score_loss,
                      tracer_velocity)
from .book.source import show_source

__all__ = [name for name in dir() if not name.startswith("_")] + ["__version__"]
