"""The Vlasov–Landau model, its initial conditions and phase-space particles.

Equation (electrons of charge −1 and mass 1 against a uniform neutralising ion background,
units ω_p = λ_D = v_th = 1)::

    ∂ₜf + v₁ ∂ₓf + E ∂_{v₁} f = B Q(f, f),        ∂ₓE = ρ − ρ_ion,   ∫₀ᴸ E dx = 0,

x ∈ [0, L) periodic, v ∈ R^dv (dv ∈ {2, 3} with collisions), ρ(x) = ∫ f dv, and the Landau
operator acting in v at each x,

    Q(f, f) = ∇ᵥ · ∫ A(v − v*) (f* ∇ᵥf − f ∇_{v*}f*) dv*,   A(z) = |z|^γ (|z|² I − z zᵀ).

Sign convention: ``E`` here is the force per electron, i.e. minus the physical electric field
(E_phys = −E). Gauss's law for the electron charge −ρ, ∂ₓE_phys = ρ_ion − ρ, becomes
∂ₓE = ρ − ρ_ion. For ρ = ρ_ion(1 + α cos kx) the field is E = ρ_ion (α/k) sin kx: it pushes
electrons away from the density maximum at x = 0 (repulsion), which gives Langmuir
oscillations of frequency ω_p = √ρ_ion, Landau damping of a Maxwellian and the two-stream
instability of counter-streaming beams. Energy ½∫E² dx + ½∫∫|v|² f is conserved by the
collisionless dynamics and by Q; Q also conserves the momentum ∫∫ v f, and the field's
contribution to the total momentum vanishes (∫E ρ dx = ∫E ∂ₓE dx = 0).

Particles: f ≈ Σᵢ wᵢ δ(x − xᵢ) δ(v − vᵢ) with Σ wᵢ = ρ_ion L (the electron number equals
the ion charge: neutrality).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtr, ndtri

from ._deps import (check_choice, check_device, check_dtype, check_int, check_positive, check_real,
                    check_request_size, derive_seed)

__all__ = ["VlasovLandau", "InitialCondition", "LandauDamping", "TwoStream", "AnisotropicMaxwellian", "anisotropic",
           "Particles", "sample_particles", "landau_damping", "two_stream", "START_MODES"]

START_MODES = ("quiet", "random")


# ------------------------------------------------------------------------------------------
# initial conditions f0(x, v) = rho_ion * (1 + alpha cos kx) * g(v)
# ------------------------------------------------------------------------------------------
class InitialCondition:
    """f₀(x, v) = ρ_ion (1 + α cos kx) g(v) with a velocity density g of unit mass.

    Subclasses give the velocity part: :meth:`velocity_from_uniform` (inverse CDF of g from
    uniforms in (0, 1)^dv) and :meth:`score` (∇ᵥ log f₀ = ∇ log g). ``k`` also fixes the box:
    L = 2π/k unless the model is given another L (then cos kx must be periodic on it)."""

    name = "initial"

    def __init__(self, *, alpha: float, k: float):
        self.alpha = check_real("alpha", alpha, low=0.0, high=1.0, high_open=True)
        self.k = check_positive("k", k)

    def params(self) -> dict:
        return {"name": self.name, "alpha": self.alpha, "k": self.k}

    def shape(self, x):
        """1 + α cos kx (mean 1 over a period)."""
        return 1 + self.alpha * np.cos(self.k * np.asarray(x, dtype=np.float64))

    def x_from_uniform(self, u: np.ndarray, L: float) -> np.ndarray:
        """Inverse CDF of the x-marginal (1 + α cos kx)/L on [0, L): solves
        x + (α/k) sin kx = u L by Newton's method (monotone for α < 1), to round-off."""
        u = np.asarray(u, dtype=np.float64)
        target = u * L
        if self.alpha == 0:
            return target
        a, k = self.alpha, self.k
        x = target.copy()
        for _ in range(60):
            g = x + (a / k) * np.sin(k * x) - target
            x_new = x - g / (1 + a * np.cos(k * x))
            done = np.max(np.abs(x_new - x)) <= 4 * np.finfo(np.float64).eps * L
            x = x_new
            if done:
                break
        return np.mod(x, L)

    def velocity_from_uniform(self, u: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def temperature(self, dv: int) -> float:
        """Mean kinetic temperature (1/dv) ∫ |v|² g(v) dv."""
        raise NotImplementedError  # pragma: no cover


class LandauDamping(InitialCondition):
    """f₀ = ρ_ion (1 + α cos kx) M(v), M the unit Maxwellian N(0, I): Landau damping.
    Exact initial score −v."""

    name = "landau_damping"

    def velocity_from_uniform(self, u):
        return ndtri(u)

    def score(self, x, v):
        return -v

    def temperature(self, dv):
        return 1.0


class TwoStream(InitialCondition):
    """f₀ = ρ_ion (1 + α cos kx) ½[M(v₁ − v0) + M(v₁ + v0)] M(v_⊥): two counter-streaming beams
    along x, unit thermal spread. Exact initial score (−v₁ + v0 tanh(v0 v₁), −v_⊥)."""

    name = "two_stream"

    def __init__(self, *, alpha: float, k: float, v0: float):
        super().__init__(alpha=alpha, k=k)
        self.v0 = check_positive("v0", v0)

    def params(self):
        return {**super().params(), "v0": self.v0}

    def velocity_from_uniform(self, u):
        v = ndtri(u)
        v[:, 0] = self._beam_inverse_cdf(u[:, 0])
        return v

    def _beam_inverse_cdf(self, u):
        """Inverse of F(v) = [Φ(v − v0) + Φ(v + v0)]/2 by safeguarded Newton (bisection bracket)."""
        v0 = self.v0
        lo = np.full_like(u, -v0 - 40.0)
        hi = np.full_like(u, v0 + 40.0)
        v = np.where(u < 0.5, -v0, v0) + ndtri(u)
        for _ in range(100):
            F = 0.5 * (ndtr(v - v0) + ndtr(v + v0)) - u
            lo = np.where(F < 0, v, lo)
            hi = np.where(F >= 0, v, hi)
            dens = 0.5 * (np.exp(-0.5 * (v - v0) ** 2) + np.exp(-0.5 * (v + v0) ** 2)) / math.sqrt(2 * math.pi)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.where(dens > 0, F / dens, np.inf)
            new = v - step
            bad = ~((new > lo) & (new < hi))
            new = np.where(bad, 0.5 * (lo + hi), new)
            if np.max(np.abs(new - v)) <= 1e-15 * (1 + np.max(np.abs(v))):
                return new
            v = new
        return v

    def score(self, x, v):
        s = -v.clone()
        s[:, 0] = -v[:, 0] + self.v0 * torch.tanh(self.v0 * v[:, 0])
        return s

    def temperature(self, dv):
        return (1.0 + self.v0**2 + (dv - 1)) / dv


class AnisotropicMaxwellian(InitialCondition):
    """f₀ = ρ_ion (1 + α cos kx) N(0, diag(T_par, T_perp, ...)) (v₁ along x is "parallel").
    Exact initial score −(v₁/T_par, v_⊥/T_perp). With α = 0 and γ = 0 the homogeneous
    Landau solution stays Gaussian (the bridge to the homogeneous package)."""

    name = "anisotropic_maxwellian"

    def __init__(self, *, alpha: float = 0.0, k: float = 0.5, T_par: float = 1.5, T_perp: float = 0.75):
        super().__init__(alpha=alpha, k=k)
        self.T_par = check_positive("T_par", T_par)
        self.T_perp = check_positive("T_perp", T_perp)

    def params(self):
        return {**super().params(), "T_par": self.T_par, "T_perp": self.T_perp}

    def velocity_from_uniform(self, u):
        v = ndtri(u)
        v[:, 0] *= math.sqrt(self.T_par)
        v[:, 1:] *= math.sqrt(self.T_perp)
        return v

    def score(self, x, v):
        s = -v / self.T_perp
        s[:, 0] = -v[:, 0] / self.T_par
        return s

    def covariance(self, dv: int) -> np.ndarray:
        return np.diag([self.T_par] + [self.T_perp] * (dv - 1))

    def temperature(self, dv):
        return (self.T_par + (dv - 1) * self.T_perp) / dv


# ------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------
class VlasovLandau:
    """The 1D-dV Vlasov–Poisson–Landau model (see the module docstring for the equation and
    the sign convention of E).

    Parameters
    ----------
    initial : the initial condition (:class:`LandauDamping`, :class:`TwoStream`,
        :class:`AnisotropicMaxwellian`).
    dv : velocity dimension, 1, 2 or 3; dv = 1 only without collisions (B = 0): the Landau
        kernel A(z) vanishes identically in one dimension.
    gamma : kernel exponent, in the homogeneous package's range [−dv − 1, 1] (0: Maxwellian
        molecules, −dv: the successor code's choice, −3: Coulomb in 3V). Default −dv.
    B : collision strength ≥ 0 (0: collisionless Vlasov–Poisson).
    L : box length > 0; default 2π/k of the initial condition (cos kx must be L-periodic).
    rho_ion : uniform ion density > 0 (ω_p = √rho_ion).
    """

    def __init__(self, initial: InitialCondition, *, dv: int = 3, gamma: float | None = None, B: float = 0.0,
                 L: float | None = None, rho_ion: float = 1.0):
        if not isinstance(initial, InitialCondition):
            raise TypeError(f"initial must be an InitialCondition (LandauDamping, TwoStream, "
                            f"AnisotropicMaxwellian), got {type(initial).__name__}")
        self.initial = initial
        self.dv = check_int("dv", dv, low=1, high=3)
        self.B = check_real("B", B, low=0.0)
        if self.dv == 1 and self.B > 0:
            raise ValueError(f"dv=1 with B={self.B:g}: the Landau kernel vanishes in one velocity dimension; "
                             "use dv=2 or 3 for collisions, or B=0")
        self.gamma = float(-self.dv if gamma is None else check_real("gamma", gamma, low=-self.dv - 1, high=1))
        self.L = 2 * math.pi / initial.k if L is None else check_positive("L", L)
        periods = self.L * initial.k / (2 * math.pi)
        if initial.alpha > 0 and abs(periods - round(periods)) > 1e-9 * max(1.0, periods):
            raise ValueError(f"L={self.L:g} is not periodic for the perturbation cos(kx), k={initial.k:g}: "
                             f"L k / 2π = {periods:.6g} must be a whole number")
        self.rho_ion = check_positive("rho_ion", rho_ion)

    @property
    def omega_p(self) -> float:
        """Plasma frequency √ρ_ion."""
        return math.sqrt(self.rho_ion)

    @property
    def mass(self) -> float:
        """Total electron number ρ_ion L = Σ wᵢ."""
        return self.rho_ion * self.L

    @property
    def collisional(self) -> bool:
        return self.B > 0

    def params(self) -> dict:
        return {"initial": self.initial.params(), "dv": self.dv, "gamma": self.gamma, "B": self.B,
                "L": self.L, "rho_ion": self.rho_ion}

    @classmethod
    def from_params(cls, p: dict) -> "VlasovLandau":
        ini = dict(p["initial"])
        kind = ini.pop("name")
        classes = {c.name: c for c in (LandauDamping, TwoStream, AnisotropicMaxwellian)}
        if kind not in classes:
            raise ValueError(f"initial condition {kind!r} is not known; allowed: {sorted(classes)}")
        return cls(classes[kind](**ini), dv=p["dv"], gamma=p["gamma"], B=p["B"], L=p["L"], rho_ion=p["rho_ion"])

    def initial_score(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """∇ᵥ log f₀(x, v)."""
        return self.initial.score(x, v)

    def __repr__(self):
        return (f"VlasovLandau({self.initial.name}, dv={self.dv}, gamma={self.gamma:g}, B={self.B:g}, "
                f"L={self.L:.6g})")


def landau_damping(*, alpha: float = 0.1, k: float = 0.5, dv: int = 3, B: float = 0.0,
                   gamma: float | None = None) -> VlasovLandau:
    """The Landau-damping model f₀ = (1 + α cos kx) M(v) on L = 2π/k."""
    return VlasovLandau(LandauDamping(alpha=alpha, k=k), dv=dv, B=B, gamma=gamma)


def two_stream(*, alpha: float = 1 / 200, k: float = 0.2, v0: float = 2.4, dv: int = 3, B: float = 0.0,
               gamma: float | None = None) -> VlasovLandau:
    """The two-stream model f₀ = (1 + α cos kx) ½[M(v₁ − v0) + M(v₁ + v0)] M(v_⊥) on L = 2π/k."""
    return VlasovLandau(TwoStream(alpha=alpha, k=k, v0=v0), dv=dv, B=B, gamma=gamma)


def anisotropic(*, alpha: float = 0.1, k: float = 0.5, T_par: float = 1.5, T_perp: float = 0.75, dv: int = 3,
                B: float = 0.0, gamma: float | None = None) -> VlasovLandau:
    """The relaxation model f₀ = (1 + α cos kx) N(0, diag(T_par, T_perp, ...)) on L = 2π/k: a
    temperature anisotropy and a Langmuir wave, both removed by collisions ("Vlasov–Landau II")."""
    return VlasovLandau(AnisotropicMaxwellian(alpha=alpha, k=k, T_par=T_par, T_perp=T_perp), dv=dv, B=B, gamma=gamma)


# ------------------------------------------------------------------------------------------
# particles
# ------------------------------------------------------------------------------------------
@dataclass
class Particles:
    """Phase-space particles: positions ``x`` (n,) in [0, L), velocities ``v`` (n, dv) and
    weights ``w`` (n,) > 0 with Σ w = ρ_ion L; one dtype and device for all three."""

    x: torch.Tensor
    v: torch.Tensor
    w: torch.Tensor

    def __post_init__(self):
        for name in ("x", "v", "w"):
            t = getattr(self, name)
            if not isinstance(t, torch.Tensor) or t.dtype not in (torch.float32, torch.float64):
                raise TypeError(f"{name} must be a float32 or float64 torch.Tensor")
        n = self.x.shape[0]
        if self.x.ndim != 1 or self.w.shape != (n,) or self.v.ndim != 2 or self.v.shape[0] != n:
            raise ValueError(f"particles need x (n,), v (n, dv), w (n,); got {tuple(self.x.shape)}, "
                             f"{tuple(self.v.shape)}, {tuple(self.w.shape)}")
        if len({self.x.dtype, self.v.dtype, self.w.dtype}) != 1 or len({self.x.device, self.v.device,
                                                                          self.w.device}) != 1:
            raise ValueError("x, v and w must share one dtype and one device")

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def dv(self) -> int:
        return self.v.shape[1]

    def clone(self) -> "Particles":
        return Particles(self.x.clone(), self.v.clone(), self.w.clone())

    def to(self, dtype=None, device=None) -> "Particles":
        return Particles(self.x.to(dtype=dtype, device=device), self.v.to(dtype=dtype, device=device),
                         self.w.to(dtype=dtype, device=device))


def _uniforms(n: int, dv: int, start: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(u_x (n,), u_v (n, dv)) in (0, 1). quiet: u_x = (i + 1/2)/n stratified and u_v the first
    n points of a scrambled Sobol sequence in dv dimensions (together a Hammersley-type
    low-discrepancy point set in phase space); random: independent uniforms."""
    tiny = np.finfo(np.float64).eps
    if start == "quiet":
        from scipy.stats import qmc
        eng = qmc.Sobol(d=dv, scramble=True, seed=np.random.default_rng(derive_seed(seed, "vlasov/quiet")))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # balance warning when n is not a power of 2
            uv = eng.random(n)
        ux = (np.arange(n) + 0.5) / n
    else:
        rng = np.random.default_rng(derive_seed(seed, "vlasov/random"))
        ux = rng.random(n)
        uv = rng.random((n, dv))
    return ux, np.clip(uv, tiny, 1 - tiny)


def sample_particles(model: VlasovLandau, n: int, *, start: str = "quiet", seed: int = 0,
                     dtype=torch.float64, device="cpu") -> Particles:
    """n equal-weight particles (w = ρ_ion L / n) sampling the model's f₀.

    start : ``"quiet"`` (default): x by inverting the CDF of 1 + α cos kx at the stratified
        points (i + ½)/n, v by the inverse CDF of g at the first n points of a scrambled Sobol
        sequence (scrambling seeded by ``seed``): a low-discrepancy (Hammersley-type) point set,
        whose density noise falls like (log n)/n instead of n^(−1/2). ``"random"``: independent
        uniforms through the same maps (Monte Carlo). Sampling is done in float64 on the CPU,
        then cast: a seed gives the same particles on every device and dtype.
    """
    n = check_int("n", n, low=2)
    check_request_size(n=n)
    check_choice("start", start, START_MODES)
    seed = check_int("seed", seed, low=0)
    dtype = check_dtype(dtype)
    device = check_device(device)
    ux, uv = _uniforms(n, model.dv, start, seed)
    x = model.initial.x_from_uniform(ux, model.L)
    v = model.initial.velocity_from_uniform(uv)
    w = np.full(n, model.mass / n)
    return Particles(torch.from_numpy(x).to(dtype=dtype, device=device),
                     torch.from_numpy(np.ascontiguousarray(v)).to(dtype=dtype, device=device),
                     torch.from_numpy(w).to(dtype=dtype, device=device))
