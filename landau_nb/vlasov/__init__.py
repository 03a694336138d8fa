"""Vlasov–Landau: a 1D-dV particle solver (dv ∈ {2, 3}; dv = 1 collisionless) for

    ∂ₜf + v₁∂ₓf + E∂_{v₁}f = B Q(f, f),   ∂ₓE = ρ − ρ_ion,   x ∈ [0, L) periodic,

with the homogeneous package's Landau kernel and score estimators carried into space: CIC
deposit/gather and a spectral Poisson solve, Strang (or Lie) splitting with a kick–drift–kick
leapfrog and Heun (or Euler) collision sub-steps, conserving spatial collision operators
(per cell, hat, CIC-shape weights), blob / KDE / SBTM / local-Maxwellian scores, diagnostics
with an energy ledger, and exact references (Landau and two-stream roots, a continuum
Vlasov–Poisson solver).

Public API:

* model: :class:`VlasovLandau`, :func:`landau_damping`, :func:`two_stream`, :func:`anisotropic`,
  initial conditions
  :class:`LandauDamping`, :class:`TwoStream`, :class:`AnisotropicMaxwellian`;
  :class:`Particles`, :func:`sample_particles`
* field: :class:`PeriodicMesh`
* collisions: :class:`SpatialWeight`, :func:`collision_velocity`
* scores: :class:`BlobScore`, :class:`SBTMScore`, :class:`LocalMaxwellianScore`, :class:`LocalGaussianScore`,
  :class:`ExactScore`, :func:`make_score`
* stepping: :class:`StrangSplitting`, :class:`LieSplitting`, :class:`VlasovPoissonStep`,
  :class:`CollisionStep`, :class:`PhaseSpaceState`
* running: :func:`solve_vlasov`, :class:`PhaseSpaceTrajectory`
* fits: :func:`fit_rate`, :func:`fit_frequency`
* collisional analysis (:mod:`landau_nb.vlasov.analysis`): :func:`paired_shifts`,
  :func:`agreement`, :func:`convergence`, :func:`dougherty_shift`, :func:`relaxation_checks`, :func:`run_seconds`,
  :func:`effective_collision_strength`
* references (:mod:`landau_nb.vlasov.reference`): :func:`landau_root`, :func:`two_stream_root`,
  :func:`fluid_frequency`, :func:`isotropisation_rate`, :func:`collisional_root`,
  :func:`successor_line`, :func:`continuum_vlasov_poisson` (:class:`ContinuumVlasovPoisson`,
  and :func:`continuum_reference_score` its exact score at particles),
  :func:`reference_curve`
"""

from .analysis import (RATE_WINDOW, agreement, convergence, effective_collision_strength, dougherty_shift, marginal_distance, marginal_kurtosis,
                       paired_shifts, parse_label,
                       relaxation_checks, run_quantity, run_seconds)
from .collisions import COLLISION_METHODS, collision_velocity
from .diagnostics import measure, phase_space_histogram
from .field import PeriodicMesh
from .fitting import fit_frequency, fit_rate, local_maxima
from .model import (AnisotropicMaxwellian, InitialCondition, LandauDamping, Particles, TwoStream,
                    VlasovLandau, anisotropic, landau_damping, sample_particles, two_stream)
from .reference import (ContinuumVlasovPoisson, collisional_root, continuum_vlasov_poisson, fluid_frequency, isotropisation_rate, landau_root,
                        reference_curve, successor_line, two_stream_root)
from .scores import (SCORES, BlobScore, ExactScore, LocalGaussianScore, LocalMaxwellianScore, PhaseSpaceScore,
                     SBTMScore, make_score, spatial_blob_score)
from .solve import CFL_LIMIT, PLASMA_LIMIT, PhaseSpaceTrajectory, continuum_reference_score, solve_vlasov
from .spatial import SPATIAL_WEIGHTS, CellList, SpatialWeight
from .stepping import (CollisionStep, LieSplitting, PhaseSpaceState, StrangSplitting, VlasovPoissonStep)

__all__ = [name for name in dir() if not name.startswith("_")]
