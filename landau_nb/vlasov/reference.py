"""Reference numbers and curves for the Vlasov–Landau solver (units ω_p = λ_D = v_th = 1).

* :func:`landau_root` — the least-damped linear Langmuir root ω(k) = ω_r + iγ of a unit
  Maxwellian, dispersion relation ε(ω, k) = 1 + [1 + ζ Z(ζ)]/k² = 0, ζ = ω/(√2 k), with the
  plasma dispersion function Z(ζ) = i√π w(ζ) (``scipy.special.wofz``, entire, so the same
  formula is the Landau continuation below the real axis). Time dependence e^{-iωt}: γ < 0
  is damping.
* :func:`two_stream_root` — the growing root of two counter-streaming unit-temperature beams
  at ±v0 with half the density each: ε = 1 + Σ_± [1 + ζ_± Z(ζ_±)]/(2k²), ζ_± = (ω ∓ k v0)/(√2 k).
* :func:`fluid_frequency` — the strong-collision (adiabatic, isotropic pressure) limit
  ω² = 1 + (dv + 2) k²/dv of any momentum- and energy-conserving collision operator.
* :func:`isotropisation_rate` — the rate λ with which a near-Maxwellian temperature
  anisotropy T_∥ − T_⊥ relaxes as exp(−λ B t) under the Landau operator of strength B
  (kernel |z|^γ (|z|² I − z zᵀ)) at unit density and temperature.
* :func:`collisional_root` — the least-damped Langmuir root with a linear model collision
  operator: the conserving Dougherty operator ν∇ᵥ·[(v − u)f + T∇ᵥf] (momentum and energy kept)
  or Lenard–Bernstein (ν∇ᵥ·[vf + ∇ᵥf], not conserving), by a Hermite eigenproblem in 1D-dV;
  the context curves of the chapter "Vlasov–Landau II" (no closed form exists for the Landau
  operator itself). :func:`successor_line`: the successor code's heuristic γ_L − C√(2/(9π)).
* :func:`continuum_vlasov_poisson` — a small noise-free 1D-1V Vlasov–Poisson solver
  (semi-Lagrangian, Strang split, spectral interpolation in x and v), whose ‖E‖(t) is the
  collisionless reference curve (the extra velocity directions of 1D-2V/3V are spectators),
  cached on disk by :func:`reference_curve`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
from scipy.special import wofz

from ._deps import atomic_write, check_int, check_positive, check_real
from .fitting import fit_frequency, fit_rate

__all__ = ["plasma_dispersion", "landau_root", "two_stream_root", "fluid_frequency",
           "isotropisation_rate", "collisional_root", "successor_line", "COLLISION_MODELS", "ISOTROPISATION_RATES",
           "ContinuumVlasovPoisson", "continuum_vlasov_poisson", "reference_curve",
           "cache_folder", "CONTINUUM_VERSION"]

SQRT2 = math.sqrt(2.0)
SQRT_PI = math.sqrt(math.pi)


def plasma_dispersion(zeta):
    """Z(ζ) = i√π w(ζ) (Fried–Conte), for complex ζ (array or scalar); Z' = −2(1 + ζZ)."""
    return 1j * SQRT_PI * wofz(zeta)


def _newton(func, dfunc, w0, *, tol=1e-14, max_iter=100, what="root"):
    w = complex(w0)
    for _ in range(max_iter):
        f = func(w)
        step = f / dfunc(w)
        w -= step
        if abs(step) < tol * max(1.0, abs(w)):
            return w
    raise RuntimeError(f"Newton iteration for the {what} did not converge from {w0} (last {w}, |eps| = {abs(f):.2e})")


def _landau_eps(w, k):
    zeta = w / (SQRT2 * k)
    return 1 + (1 + zeta * plasma_dispersion(zeta)) / k**2


def _landau_deps(w, k):
    zeta = w / (SQRT2 * k)
    Z = plasma_dispersion(zeta)
    dZ = -2 * (1 + zeta * Z)
    return (Z + zeta * dZ) / (k**2 * SQRT2 * k)


def landau_root(k: float) -> tuple[float, float]:
    """(ω_r, γ) of the least-damped Langmuir root of a unit Maxwellian at wavenumber k.

    Newton's method on ε(ω, k) = 1 + [1 + ζZ(ζ)]/k² (ζ = ω/(√2 k)) from the Bohm–Gross
    frequency √(1 + 3k²) with the weak-damping rate −√(π/8) k⁻³ exp(−1/(2k²) − 3/2); for
    k > 0.5 the root is continued in k from k = 0.5 (the start is poor there). Returns the
    growth rate γ (negative: damping). Values: k = 0.5 gives (1.415662, −0.153359).
    """
    k = check_real("k", k, low=0.05, high=5.0)

    def solve(kk, w0):
        return _newton(lambda w: _landau_eps(w, kk), lambda w: _landau_deps(w, kk), w0,
                       what=f"Landau root at k={kk:g}")

    def start(kk):
        return complex(math.sqrt(1 + 3 * kk**2),
                       -math.sqrt(math.pi / 8) * kk**-3 * math.exp(-0.5 / kk**2 - 1.5))

    if k <= 0.5:
        w = solve(k, start(k))
    else:
        w = solve(0.5, start(0.5))
        for kk in np.linspace(0.5, k, int(math.ceil((k - 0.5) / 0.05)) + 1)[1:]:
            w = solve(float(kk), w)
    return float(w.real), float(w.imag)


def _two_stream_eps(w, k, v0):
    total = 0
    for sign in (1, -1):
        zeta = (w - sign * k * v0) / (SQRT2 * k)
        total = total + 1 + zeta * plasma_dispersion(zeta)
    return 1 + total / (2 * k**2)


def _two_stream_deps(w, k, v0):
    total = 0
    for sign in (1, -1):
        zeta = (w - sign * k * v0) / (SQRT2 * k)
        Z = plasma_dispersion(zeta)
        total = total + Z + zeta * (-2 * (1 + zeta * Z))
    return total / (2 * k**2 * SQRT2 * k)


def two_stream_root(k: float, v0: float) -> tuple[float, float]:
    """(ω_r, γ) of the growing root of the symmetric two-stream distribution
    f(v) = [M(v − v0) + M(v + v0)]/2 (unit thermal spread per beam) at wavenumber k.

    Newton's method from the cold-beam root ω² = [(2a² + 1) − √(8a² + 1)]/2, a = k v0
    (purely imaginary when unstable). The symmetric root is purely growing (ω_r = 0 to
    round-off). Value: k = 0.2, v0 = 2.4 gives γ = 0.225844. Raises if no growing root is found
    (stable parameters).
    """
    k = check_real("k", k, low=0.01, high=5.0)
    v0 = check_positive("v0", v0)
    a = k * v0
    y = ((2 * a * a + 1) - math.sqrt(8 * a * a + 1)) / 2
    w0 = complex(0.0, math.sqrt(-y)) if y < 0 else complex(0.0, 0.05)
    w = _newton(lambda w: _two_stream_eps(w, k, v0), lambda w: _two_stream_deps(w, k, v0), w0,
                what=f"two-stream root at k={k:g}, v0={v0:g}")
    if not w.imag > 0:
        raise ValueError(f"no growing two-stream root found at k={k:g}, v0={v0:g} (Newton ended at "
                         f"omega={w:.6g}): the beams are stable or the cold-beam start is too far")
    return float(w.real), float(w.imag)


def fluid_frequency(k: float, dv: int) -> float:
    """√(1 + (dv + 2) k²/dv): the Langmuir frequency when collisions keep the distribution a
    local Maxwellian (adiabatic index (dv + 2)/dv); 1.1902 at k = 0.5 in 3V, 1.2247 in 2V."""
    k = check_positive("k", k)
    dv = check_int("dv", dv, low=1, high=3)
    return math.sqrt(1 + (dv + 2) * k * k / dv)


#: λ per (dv, gamma): T_∥ − T_⊥ ∝ exp(−λ B t) near a unit Maxwellian (unit density).
#: γ = 0: exact for any anisotropic Gaussian, from the closed form of the second moments
#: (Prop. 2.1 of the paper; ``landau_nb.maxwell_second_moment``: Σ relaxes as exp(−4 dv B t)).
#: Other γ: linearised Landau operator at the Maxwellian, as gathered in the project's
#: facts note (shared/notes/vlasov-landau-facts.md, "Calibration of the strength B").
ISOTROPISATION_RATES = {
    (2, 0.0): 8.0,
    (3, 0.0): 12.0,
    (3, -3.0): 4 / (5 * SQRT_PI),
    (2, -3.0): SQRT_PI / 4,
    (2, -2.0): 1.0,
}


def isotropisation_rate(dv: int, gamma: float) -> float:
    """λ with T_∥ − T_⊥ ∝ exp(−λ B t) for the Landau operator of strength B at unit density
    and temperature (see :data:`ISOTROPISATION_RATES` for the sources): 4 dv for γ = 0,
    4/(5√π) = 0.4514 (3V, γ = −3), √π/4 = 0.4431 (2V, γ = −3), 1 (2V, γ = −2)."""
    dv = check_int("dv", dv, low=2, high=3)
    gamma = check_real("gamma", gamma)
    key = (dv, float(gamma))
    if key not in ISOTROPISATION_RATES:
        known = ", ".join(f"(dv={d}, gamma={g:g})" for d, g in ISOTROPISATION_RATES)
        raise ValueError(f"gamma={gamma:g} with dv={dv}: no isotropisation rate is tabulated; known: {known}")
    return ISOTROPISATION_RATES[key]


# --------------------------------------------------------------------------------------------
# linear collisional Langmuir roots (model operators)
# --------------------------------------------------------------------------------------------

COLLISION_MODELS = ("dougherty", "lenard_bernstein")


def _collisional_matrix(k: float, nu: float, dv: int, N: int, model: str):
    """Generator (sparse, CSC) of the linearised 1D-dV Vlasov–Poisson system with a model
    collision operator in a Hermite basis (see :func:`collisional_root`)."""
    from scipy.sparse import coo_matrix
    conserving = model == "dougherty"
    nb = N if (conserving and dv >= 2) else 0
    rows, cols, vals = [], [], []

    def add(r, c, v):
        rows.extend(np.atleast_1d(r).tolist())
        cols.extend(np.atleast_1d(c).tolist())
        vals.extend(np.broadcast_to(v, np.shape(np.atleast_1d(r))).tolist())

    m = np.arange(N)
    for off, shift in ((0, 0), (N, 2))[: 1 + (nb > 0)]:
        idx = off + m
        add(idx[:-1], idx[1:], -1j * k * np.sqrt(m[1:]))      # v₁ψ_m = √(m+1)ψ_{m+1} + √m ψ_{m-1}
        add(idx[1:], idx[:-1], -1j * k * np.sqrt(m[1:]))
        add(idx, idx, -nu * (m + shift) + 0j)                  # the Ornstein–Uhlenbeck spectrum
    add(1, 0, -1j / k)                                         # the field's kick on M
    if conserving:
        add(1, 1, nu + 0j)                                     # δu·v M restores the momentum
        if N > 2:                                              # δT(|v|² − dv)M restores the energy,
            c = math.sqrt(2 * (dv - 1))                        # δT = (√2 a₂ + c b₀)/dv
            terms = [(2, math.sqrt(2))] + ([(N, c)] if nb else [])
            for r, cr in terms:
                for q, cq in terms:
                    add(r, q, nu * cr * cq / dv + 0j)
    size = N + nb
    return coo_matrix((np.asarray(vals, dtype=np.complex128), (rows, cols)), shape=(size, size)).tocsc()


def collisional_root(k: float, nu: float, *, dv: int = 3, model: str = "dougherty",
                     N: int | None = None) -> tuple[float, float]:
    """(ω_r, γ) of the least-damped Langmuir mode of a unit Maxwellian with a linear model
    collision operator of frequency ν ≥ 0 ("Vlasov–Landau II").

    model : ``"dougherty"`` — C[f] = ν∇ᵥ·[(v − u)f + T∇ᵥf] with the local u, T of f (conserves
        density, momentum and energy; linearised: C[δf] = ν[L δf + δu·v M + δT(|v|² − dv)M],
        L the Ornstein–Uhlenbeck operator); ``"lenard_bernstein"`` — C[f] = ν∇ᵥ·[vf + ∇ᵥf]
        (conserves density only).

    Method: δf = e^{ikx}[Σ_m a_m ψ_m(v₁) M_⊥ + Σ_m b_m ψ_m(v₁) φ_⊥] with ψ_m the normalised
    Hermite functions (the eigenfunctions of L: L ψ_m = −m ψ_m) and φ_⊥ ∝ (|v_⊥|² − (dv − 1))M_⊥
    (the perpendicular temperature, eigenvalue −2, needed by the energy term when dv ≥ 2); the
    eigenvalues λ = γ − iω of the sparse generator (e^{λt}) are found by shift-invert near a
    guess. The Langmuir root is followed from the collisionless Landau root
    (:func:`landau_root`) by continuation in ν (the eigenvalue nearest the previous one), so it
    is the physical branch, not a Hermite recurrence mode. ``N`` (Hermite functions per chain;
    default max(400, ⌈4/ν⌉), at most 20 000): converged to ~1e-12 at ν ≥ 0.01 (N = 200
    and 800 agree). Values at
    k = 0.5, 3V: γ = −0.15103 (ν = 0.01), −0.13664 (0.1), −0.10396 (0.5); ν → ∞ drives ω to
    :func:`fluid_frequency`. ν = 0 returns the Landau root.
    """
    from scipy.sparse.linalg import eigs
    k = check_real("k", k, low=0.05, high=5.0)
    nu = check_real("nu", nu, low=0.0, high=1e3)
    dv = check_int("dv", dv, low=1, high=3)
    if model not in COLLISION_MODELS:
        raise ValueError(f"model={model!r} is not known; allowed: {', '.join(map(repr, COLLISION_MODELS))}")
    wr, g = landau_root(k)
    if nu == 0:
        return wr, g
    if N is not None:
        N = check_int("N", N, low=8, high=20000)
    target = complex(g, -wr)                     # λ = γ − iω of the collisionless root
    nu0 = min(nu, 0.01)
    for step in np.geomspace(nu0, nu, max(2, int(math.ceil(4 * math.log10(nu / nu0))) + 1)):
        size = N or int(min(20000, max(400, math.ceil(4 / step))))
        ev = eigs(_collisional_matrix(k, float(step), dv, size, model), k=1, sigma=target,
                  return_eigenvectors=False, tol=1e-12, ncv=24)
        target = complex(ev[np.argmin(np.abs(ev - target))])
    return float(-target.imag), float(target.real)


def successor_line(k: float, C: float) -> float:
    """The successor code's collisional "theory line" for the damping rate,
    β = −√(π/8) k⁻³ e^{−1/(2k²) − 3/2} − C √(2/(9π)) (the weak-damping formula plus a
    Lenard–Bernstein-type friction; ``Vilin97/Vlasov-Landau-SBTM``,
    experiments/vlasov-landau-damping.py). Its C multiplies A as B does here. Shown as
    context in "Vlasov–Landau II", not as a reference: a conserving operator reduces the
    damping (:func:`collisional_root`)."""
    k = check_positive("k", k)
    C = check_real("C", C, low=0.0)
    return float(-math.sqrt(math.pi / 8) * k**-3 * math.exp(-0.5 / k**2 - 1.5) - C * math.sqrt(2 / (9 * math.pi)))


# --------------------------------------------------------------------------------------------
# continuum Vlasov-Poisson
# --------------------------------------------------------------------------------------------

#: bump when the continuum solver's numerics change (part of the cache key)
CONTINUUM_VERSION = 1

PROBLEMS = ("landau", "two_stream")


def _initial_f(problem, x, v, k, alpha, v0):
    shape = 1 + alpha * np.cos(k * x)[:, None]
    if problem == "landau":
        fv = np.exp(-0.5 * v**2) / math.sqrt(2 * math.pi)
    else:
        fv = 0.5 * (np.exp(-0.5 * (v - v0) ** 2) + np.exp(-0.5 * (v + v0) ** 2)) / math.sqrt(2 * math.pi)
    return shape * fv[None, :]


class ContinuumVlasovPoisson:
    """The noise-free collisionless 1D-1V Vlasov–Poisson solution, stepped in time.

    ∂ₜg + v∂ₓg + E∂ᵥg = 0, ∂ₓE = ρ − 1 (E mean-free), x ∈ [0, 2π/k) periodic, the model's
    convention (E is the force on an electron; see :class:`VlasovLandau`), from
    g₀ = (1 + α cos kx) M(v) (``problem="landau"``) or g₀ = (1 + α cos kx)[M(v − v0) +
    M(v + v0)]/2 (``"two_stream"``), M the unit Maxwellian. In 1D-dV the other velocity
    directions are spectators: f = g(x, v₁) M(v₂) ⋯ M(v_d) for all time.

    Numerics: Strang splitting x(dt/2) – v(dt) – x(dt/2); each advection is an exact shift of
    the trigonometric interpolant (FFT in x; FFT in v on [−vmax, vmax), where g is below
    1e-13 at the edges), so the only errors are the O(dt²) splitting error and the v
    resolution (recurrence at t = 2π/(k Δv), far beyond the runs' times for the defaults).

    ``step()`` advances by dt; ``advance_to(t)`` to a whole number of steps; ``field()`` gives
    (E, ρ) on the x grid; :meth:`score` the exact score ∇ᵥ log f at given particles.
    """

    def __init__(self, *, problem: str = "landau", k: float = 0.5, alpha: float = 0.01, v0: float = 2.4,
                 dt: float = 0.05, nx: int = 32, nv: int = 256, vmax: float | None = None):
        if problem not in PROBLEMS:
            raise ValueError(f"problem={problem!r} is not known; allowed: {', '.join(map(repr, PROBLEMS))}")
        self.problem = problem
        self.k = k = check_positive("k", k)
        self.alpha = alpha = check_real("alpha", alpha, low=0.0, high=1.0, high_open=True)
        self.v0 = v0 = check_positive("v0", v0)
        self.dt = dt = check_real("dt", dt, low=0.0, high=0.5, low_open=True)
        self.nx = nx = check_int("nx", nx, low=4)
        self.nv = nv = check_int("nv", nv, low=16)
        if vmax is None:
            vmax = 8.0 if problem == "landau" else 8.0 + v0
        self.vmax = vmax = check_positive("vmax", vmax)
        self.L = 2 * math.pi / k
        self.x = np.arange(nx) * (self.L / nx)
        self.dvg = 2 * vmax / nv
        self.v = -vmax + (np.arange(nv) + 0.5) * self.dvg
        self.f = _initial_f(problem, self.x, self.v, k, alpha, v0)
        self.kx = 2 * math.pi * np.fft.rfftfreq(nx, d=self.L / nx)           # (nx//2 + 1,)
        self.kv = 2 * math.pi * np.fft.rfftfreq(nv, d=self.dvg)              # (nv//2 + 1,)
        self._half_shift = np.exp(-1j * self.kx[:, None] * self.v[None, :] * (dt / 2))   # g(x - v dt/2)
        self.steps = 0

    @property
    def t(self) -> float:
        return self.steps * self.dt

    def params(self) -> dict:
        return {"problem": self.problem, "k": self.k, "alpha": self.alpha,
                "v0": self.v0 if self.problem == "two_stream" else None, "dt": self.dt, "nx": self.nx,
                "nv": self.nv, "vmax": self.vmax, "version": CONTINUUM_VERSION}

    def field(self, fx=None):
        """(E, ρ) on the x grid of ``fx`` (default the current g)."""
        fx = self.f if fx is None else fx
        rho = fx.sum(1) * self.dvg
        rk = np.fft.rfft(rho - 1.0)
        ek = np.zeros_like(rk)
        ek[1:] = rk[1:] / (1j * self.kx[1:])
        if self.nx % 2 == 0:
            ek[-1] = 0.0
        return np.fft.irfft(ek, n=self.nx), rho

    def _advect_x(self, fx):
        return np.fft.irfft(np.fft.rfft(fx, axis=0) * self._half_shift, n=self.nx, axis=0)

    def step(self) -> None:
        f = self._advect_x(self.f)
        E, _ = self.field(f)
        shift = np.exp(-1j * self.kv[None, :] * (E[:, None] * self.dt))    # g(x, v - E dt)
        f = np.fft.irfft(np.fft.rfft(f, axis=1) * shift, n=self.nv, axis=1)
        self.f = self._advect_x(f)
        self.steps += 1

    def advance_to(self, t: float) -> None:
        """Step to time ``t`` (a whole number of steps, not before the current time)."""
        target = int(round(t / self.dt))
        if abs(target * self.dt - t) > 1e-9 * max(1.0, abs(t)):
            raise ValueError(f"t={t:g} is not a whole number of steps dt={self.dt:g}")
        if target < self.steps:
            raise ValueError(f"t={t:g} is before the reference's current time {self.t:g}")
        while self.steps < target:
            self.step()

    def score(self, x, v):
        """The exact score ∇ᵥ log f at particles: x (n,), v (n, d) numpy arrays (d ≥ 1) ->
        (n, d). Its first component ∂ᵥ₁ log g from g and ∂ᵥg (spectral in v) interpolated
        bilinearly (periodic in x) on the grid; the others −vⱼ (unit-Maxwellian spectators).
        Where g is below 1e-12 of its maximum (far tails, no particle of a run reaches them in
        practice) the first component falls back to the Maxwellian's −v₁."""
        x = np.asarray(x, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        if v.ndim != 2 or x.shape != v.shape[:1]:
            raise ValueError(f"x and v must have shapes (n,) and (n, d), got {x.shape} and {v.shape}")
        dg = np.fft.irfft(np.fft.rfft(self.f, axis=1) * (1j * self.kv)[None, :], n=self.nv, axis=1)
        fx = (np.mod(x, self.L) / (self.L / self.nx))
        i0 = np.floor(fx).astype(np.int64) % self.nx
        ax = fx - np.floor(fx)
        i1 = (i0 + 1) % self.nx
        fv = (v[:, 0] - self.v[0]) / self.dvg
        j0 = np.clip(np.floor(fv).astype(np.int64), 0, self.nv - 2)
        av = np.clip(fv - j0, 0.0, 1.0)

        def interp(a):
            return ((1 - ax) * ((1 - av) * a[i0, j0] + av * a[i0, j0 + 1])
                    + ax * ((1 - av) * a[i1, j0] + av * a[i1, j0 + 1]))

        g, gv = interp(self.f), interp(dg)
        ok = g > 1e-12 * self.f.max()
        out = -v.copy()
        out[:, 0] = np.where(ok, gv / np.where(ok, g, 1.0), -v[:, 0])
        return out


def continuum_vlasov_poisson(*, problem: str = "landau", k: float = 0.5, alpha: float = 0.01,
                             v0: float = 2.4, t_end: float = 15.0, dt: float = 0.05, nx: int = 32,
                             nv: int = 256, vmax: float | None = None) -> dict:
    """Noise-free collisionless 1D-1V Vlasov–Poisson reference (:class:`ContinuumVlasovPoisson`
    stepped to ``t_end``).

    Returns ``{"t", "E_norm" (‖E‖ = (∫E² dx)^{1/2}), "E_mode" (complex k-mode with |Ê| the
    amplitude of E = a sin(kx + φ)), "mass", "energy" (total), "params"}``.
    """
    t_end = check_positive("t_end", t_end)
    c = ContinuumVlasovPoisson(problem=problem, k=k, alpha=alpha, v0=v0, dt=dt, nx=nx, nv=nv, vmax=vmax)
    steps = int(round(t_end / c.dt))
    if abs(steps * c.dt - t_end) > 1e-9 * max(1.0, t_end):
        raise ValueError(f"t_end={t_end:g} is not a whole number of steps dt={c.dt:g}")
    E_norm = np.empty(steps + 1)
    E_mode = np.empty(steps + 1, dtype=np.complex128)
    mass = np.empty(steps + 1)
    energy = np.empty(steps + 1)
    phase = np.exp(-1j * c.k * c.x)
    h = c.L / c.nx

    def record(i):
        E, rho = c.field()
        E_norm[i] = math.sqrt((E * E).sum() * h)
        E_mode[i] = 2 * (E * phase).mean()
        mass[i] = rho.sum() * h
        energy[i] = 0.5 * (E * E).sum() * h + 0.5 * (c.f * c.v[None, :] ** 2).sum() * c.dvg * h

    record(0)
    for i in range(1, steps + 1):
        c.step()
        record(i)
    return {"t": np.arange(steps + 1) * c.dt, "E_norm": E_norm, "E_mode": E_mode, "mass": mass,
            "energy": energy, "params": {**c.params(), "t_end": t_end}}


def cache_folder() -> Path:
    """Where reference curves are cached: ``$LANDAU_NB_CACHE/vlasov_reference`` if set, else
    ``$XDG_CACHE_HOME/landau_nb/vlasov_reference`` (default ``~/.cache/landau_nb/...``)."""
    root = os.environ.get("LANDAU_NB_CACHE")
    if root:
        return Path(root) / "vlasov_reference"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "landau_nb" / "vlasov_reference"


def reference_curve(*, cache: bool = True, cache_dir=None, **params) -> dict:
    """:func:`continuum_vlasov_poisson` with ``params``, cached on disk under
    ``cache_dir`` (default :func:`cache_folder`) as ``<sha256 of the parameters>.npz`` +
    ``.json``; a cached curve is returned without recomputing. Adds ``"rate"`` and
    ``"omega"`` fits where ``params`` give a window: ``rate_window`` (peaks of ‖E‖, or all
    points for ``problem="two_stream"``) and ``omega_window`` (zero crossings of the k-mode).
    """
    rate_window = params.pop("rate_window", None)
    omega_window = params.pop("omega_window", None)
    out = None
    probe = continuum_vlasov_poisson.__kwdefaults__.copy()
    unknown = set(params) - set(probe)
    if unknown:
        raise TypeError(f"unknown reference parameters {sorted(unknown)}; allowed: {sorted(probe)}")
    probe.update(params)
    key = hashlib.sha256(json.dumps({**probe, "version": CONTINUUM_VERSION}, sort_keys=True,
                                    default=str).encode()).hexdigest()[:24]
    folder = Path(cache_dir) if cache_dir is not None else cache_folder()
    npz, js = folder / f"{key}.npz", folder / f"{key}.json"
    if cache and npz.exists() and js.exists():
        try:
            with np.load(npz, allow_pickle=False) as data:
                out = {name: data[name] for name in data.files}
            out["params"] = json.loads(js.read_text())
        except (OSError, ValueError, KeyError):
            out = None
    if out is None:
        out = continuum_vlasov_poisson(**params)
        if cache:
            folder.mkdir(parents=True, exist_ok=True)
            arrays = {name: out[name] for name in ("t", "E_norm", "E_mode", "mass", "energy")}
            atomic_write(npz, lambda fh: np.savez(fh, **arrays))
            text = json.dumps(out["params"], sort_keys=True).encode()
            atomic_write(js, lambda fh: fh.write(text))
    if rate_window is not None:
        method = "all" if out["params"]["problem"] == "two_stream" else "peaks"
        out["rate"] = fit_rate(out["t"], out["E_norm"], rate_window, method=method)
    if omega_window is not None:
        out["omega"] = fit_frequency(out["t"], out["E_mode"], omega_window)
    return out
