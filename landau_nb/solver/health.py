"""Health checks of a particle run (book: "Particles and conservation").

Before the run, :func:`check_initial_sample` looks for degenerate initial particles. During
the run a :class:`HealthMonitor` watches what the particle system must keep: finiteness
(a :class:`Blowup` stops the run), the momentum (kept to round-off by every scheme, Prop. 3.1)
and the energy (conserved by the particle ODE, Remark 3.1; forward Euler raises it by
dt^2 (1/n) sum |v_i|^2 per step, so its drift is O(dt)). Each conservation law warns once.
"""

from __future__ import annotations

import math
import warnings

import torch

from .._checks import ZERO_VARIANCE_RTOL

__all__ = ["Blowup", "check_finite", "check_initial_sample", "HealthMonitor", "ENERGY_DRIFT_RTOL",
           "ZERO_VARIANCE_RTOL"]

#: relative energy drift |E_k - E_0| / E_0 that warns. The book's runs at their registered dt
#: stay far below it (BKW with SBTM: ~2e-3 at t_end; Coulomb, dt = 1, t = 300: < 1e-2); the
#: Coulomb run at dt = 1e6 goes from 2.9 to 1.9e8.
ENERGY_DRIFT_RTOL = 0.05



class Blowup(Exception):
    """Internal: ``quantity`` stopped being finite at ``step``; ``last_step`` is the step of
    the last finite particle state. :func:`landau_nb.solve` turns it into a NonFiniteError."""

    def __init__(self, quantity: str, step: int, last_step: int):
        super().__init__(f"non-finite {quantity} at step {step}")
        self.quantity, self.step, self.last_step = quantity, step, last_step


def check_finite(quantity: str, value: torch.Tensor, step: int, last_step: int) -> None:
    """Raise :class:`Blowup` unless every entry of ``value`` is finite."""
    if not bool(torch.isfinite(value).all()):
        raise Blowup(quantity, step, last_step)


def check_initial_sample(x: torch.Tensor, name: str = "x0") -> list[str]:
    """What is degenerate about the initial particles x (n, d): fewer than d + 1 particles or a
    zero-variance direction (the sample covariance is singular: the particles lie on a
    hyperplane, where no density and no score exist), or coincident particles (the kernel
    vanishes at z = 0 and every score estimator gives them the same score, so they move
    together for ever: the run has fewer particles than it claims). Returns the problems
    found, as sentences (empty: none)."""
    n, d = x.shape
    found = []
    if n <= d:
        found.append(f"{name} has n={n} particles in d={d} dimensions; n <= d particles lie on a "
                     "hyperplane (singular sample covariance): use n > d")
    else:
        lam = torch.linalg.eigvalsh(torch.cov(x.detach().T.to(torch.float64)))
        lo, hi = float(lam[0]), float(lam[-1])
        if hi <= 0 or lo <= ZERO_VARIANCE_RTOL * hi:
            found.append(f"{name} has a zero-variance direction (sample covariance eigenvalues "
                         f"{lo:.3g} ... {hi:.3g}): the particles lie on a hyperplane")
    repeated = _coincident_count(x.detach())
    if repeated:
        found.append(f"{name} has {repeated} particles that coincide with another one; "
                     "coincident particles get the same score and velocity and never separate")
    return found


def _coincident_count(x: torch.Tensor) -> int:
    """n minus the number of distinct rows of x. Only rows whose first coordinate repeats can
    coincide: those few are compared in full (a sort of one column instead of all n rows)."""
    first = x[:, 0]
    s = torch.sort(first).values
    repeats = s[1:][s[1:] == s[:-1]]
    if repeats.numel() == 0:
        return 0
    sub = x[torch.isin(first, repeats)]
    return sub.shape[0] - torch.unique(sub, dim=0).shape[0]


class HealthMonitor:
    """Watches the invariants of a Landau run step by step (heat and Fokker-Planck problems
    do not conserve energy and are not watched). Warns once per invariant, naming the step,
    the time and what to do.

    momentum: |mean(X^k) - mean(X^0)| > 1e4 eps sqrt(k + 1) max(1, sqrt(E_0)) (eps of the
    dtype) signals a bug: the scheme keeps it to round-off. energy: |E_k - E_0| / E_0 >
    ``energy_rtol`` (default :data:`ENERGY_DRIFT_RTOL`) means the time step is too large.
    """

    def __init__(self, equation, dtype: torch.dtype, dt: float, *, energy_rtol: float = ENERGY_DRIFT_RTOL):
        # an Equation object; a name is looked up ("landau" conserves the energy)
        self.watch = equation == "landau" if isinstance(equation, str) else bool(equation.conserves_energy)
        self.eps = torch.finfo(dtype).eps
        self.dt = dt
        self.energy_rtol = energy_rtol
        self.momentum_warned = False
        self.energy_warned = False

    def check(self, k: int, t: float, momentum_drift: float, energy: float, energy0: float) -> None:
        """Step k at time t: the momentum drift and the energy, against the energy at step 0."""
        if not self.watch:
            return
        scale = max(1.0, math.sqrt(energy0))
        if not self.momentum_warned and momentum_drift > 1e4 * self.eps * scale * math.sqrt(k + 1):
            warnings.warn(f"momentum drifted by {momentum_drift:.3e} at step {k} (t={t:.6g}); the scheme "
                          "keeps it to round-off, so this signals a bug or an inconsistent velocity",
                          RuntimeWarning, stacklevel=3)
            self.momentum_warned = True
        rel = abs(energy - energy0) / energy0 if energy0 > 0 else 0.0
        if not self.energy_warned and rel > self.energy_rtol:
            warnings.warn(f"relative energy drift {rel:.3g} ({energy0:.4g} -> {energy:.4g}) at step {k} "
                          f"(t={t:.6g}) exceeds {self.energy_rtol:g}: the Landau equation conserves the energy "
                          f"and the time stepping changes it by O(dt), so dt={self.dt:g} is too large for "
                          "this problem; lower dt", RuntimeWarning, stacklevel=3)
            self.energy_warned = True
