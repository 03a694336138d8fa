"""Test problems of the paper's Section 5 and the simplest transport equations.

Each problem knows its equation (the particle velocity as a function of positions and
scores), its time window ``t0, dt, t_end``, how to sample its initial law, and whatever is
known in closed form: density, score, second-moment matrix. Book: "The Landau equation as
a continuity equation" (closed forms) and the experiment chapters.

Second moments: the paper's "covariance" Sigma(t) is the second-moment matrix
E[X X^T]; all problems here have mean zero, so it is also the covariance.
"""

from __future__ import annotations

import math

import torch

from .._checks import (check_dimension, check_gamma, check_int, check_points, check_positive,
                      check_real)
from .operators import Equation, FokkerPlanckOperator, HeatOperator, LandauOperator

__all__ = [
    "Problem", "BKW", "AnisotropicGaussian", "GaussianMixture", "HeatEquation", "FokkerPlanck",
    "bkw", "anisotropic_gaussian", "gaussian_mixture", "heat", "fokker_planck",
    "maxwell_second_moment", "PROBLEMS", "register_problem", "get_problem", "problem_from_params",
]


def maxwell_second_moment(sigma0: torch.Tensor, tau, *, B: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Closed-form second-moment matrix of the Maxwellian Landau equation (Prop. 2.1).

    Sigma(t0 + tau) = Sigma_inf - (Sigma_inf - Sigma(t0)) exp(-4 d B tau), with
    Sigma_inf = (2E - |V|^2)/d I + V V^T, 2E = tr Sigma(t0), V the (conserved) mean.
    ``tau`` may be a scalar or a 1-D tensor of elapsed times (result (..., d, d)).
    Book: "The Landau equation as a continuity equation".
    """
    d = sigma0.shape[-1]
    B = check_positive("B", B)
    tau = torch.as_tensor(tau, dtype=sigma0.dtype, device=sigma0.device)
    V = torch.zeros(d, dtype=sigma0.dtype, device=sigma0.device) if mean is None else mean
    eye = torch.eye(d, dtype=sigma0.dtype, device=sigma0.device)
    two_e = torch.trace(sigma0)
    sig_inf = (two_e - V @ V) / d * eye + torch.outer(V, V)
    decay = torch.exp(-4 * d * B * tau)[..., None, None]
    return sig_inf - (sig_inf - sigma0) * decay


class Problem:
    """Base class. Subclasses set the attributes below and implement what they know.

    Attributes: ``name``, ``equation`` (an :class:`~landau_nb.equation.operators.Equation`:
    the Landau operator, the heat or the Fokker-Planck equation), ``d``, ``gamma`` (None for
    the linear equations), ``B``, ``t0``, ``dt``, ``t_end``.

    A new problem: a subclass with a ``name``, the closed forms it knows, and (for another
    equation than Landau's) :meth:`make_equation`; then :func:`register_problem`.
    """

    name: str = "problem"
    gamma: float | None = None
    B: float = 1 / 24

    def __init__(self, d, *, t0, dt, t_end):
        self.d = check_dimension(d)
        self.t0 = check_real("t0", t0)
        self.dt = check_positive("dt", dt)
        self.t_end = check_real("t_end", t_end)
        if self.t_end <= self.t0:
            raise ValueError(f"t_end={self.t_end:g} must be greater than t0={self.t0:g}")

    # -- what every problem has ---------------------------------------------------------
    def params(self) -> dict:
        """JSON-ready description (used in saved trajectories)."""
        out = {"name": self.name, "equation": self.equation.name, "d": self.d, "gamma": self.gamma,
               "B": self.B, "t0": self.t0, "dt": self.dt, "t_end": self.t_end}
        out.update(self._extra_params())
        return out

    def _extra_params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params().items() if k != "name")
        return f"{self.name}({inner})"

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n i.i.d. draws from the initial law u_{t0}: float64 CPU tensor (n, d).

        Sampling always happens on the CPU in float64, so a seed gives the same initial
        particles whatever device and dtype the run uses (convert with ``.to``).
        """
        n = check_int("n", n, low=2)
        return self._sample(n, generator)

    def make_equation(self) -> Equation:
        """The equation the particles follow (default: the Landau operator with this
        problem's gamma and B)."""
        return LandauOperator(self.gamma, self.B)

    @property
    def equation(self) -> Equation:
        return self.make_equation()

    def velocity(self, x: torch.Tensor, s: torch.Tensor, *, method: str = "auto",
                 tile: int | None = None, **batch) -> torch.Tensor:
        """The equation's particle velocity from positions x and scores s (``batch``:
        ``batch_size`` and ``generator`` of method "random_batch")."""
        return self.equation.velocity(x, s, method=method, tile=tile, **batch)

    def velocity_divergence(self, x: torch.Tensor, s: torch.Tensor, jac: torch.Tensor) -> torch.Tensor:
        """div v at the particles when the score is a field with Jacobians ``jac`` (n, d, d)."""
        return self.equation.velocity_divergence(x, s, jac)

    # -- closed forms where known --------------------------------------------------------
    has_exact_solution = False   #: density and score known for all t
    has_closed_covariance = False  #: second-moment matrix known for all t

    def initial_score(self, x: torch.Tensor) -> torch.Tensor:
        """Score of the initial law, grad log u_{t0}(x) (used to fit SBTM's first network)."""
        return self.score(x, self.t0)

    def sample_at(self, n: int, t: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from the exact solution u_t (float64 CPU), where it is known."""
        raise NotImplementedError(f"{self.name}: no sampler for the solution at t={t:g}")

    def score(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """grad log u_t(x); raises NotImplementedError where no closed form is known."""
        raise NotImplementedError(f"{self.name}: the score is not known in closed form at t={t:g}")

    def log_density(self, x: torch.Tensor, t: float) -> torch.Tensor:
        raise NotImplementedError(f"{self.name}: the density is not known in closed form at t={t:g}")

    def density(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """u_t(x) (probability density)."""
        return self.log_density(x, t).exp()

    def initial_second_moment(self) -> torch.Tensor:
        """Sigma(t0) = E[X X^T] of the initial law, float64 (d, d)."""
        raise NotImplementedError

    def second_moment_from(self, sigma0: torch.Tensor, mean: torch.Tensor, t) -> torch.Tensor:
        """Second-moment matrix at time(s) t of the solution started at t0 from any law with
        second moments ``sigma0`` and mean ``mean`` (so a sample's own Sigma(t0) can be used)."""
        raise NotImplementedError(f"{self.name}: no closed form for the second moments at t > t0")

    def covariance(self, t) -> torch.Tensor:
        """Analytic second-moment matrix Sigma*(t), float64 (d, d) (or (len(t), d, d))."""
        s0 = self.initial_second_moment()
        return self.second_moment_from(s0, torch.zeros(self.d, dtype=s0.dtype), t)

    def equilibrium_second_moment(self) -> torch.Tensor:
        """Second moments of the equilibrium (Landau: the Maxwellian with the same energy)."""
        s0 = self.initial_second_moment()
        return torch.trace(s0) / self.d * torch.eye(self.d, dtype=s0.dtype)


def _gauss_sample(n, cov_diag_sqrt, generator):
    d = cov_diag_sqrt.shape[0]
    return torch.randn(n, d, dtype=torch.float64, generator=generator) * cov_diag_sqrt


def _check_time(t):
    return check_real("t", t)


# ------------------------------------------------------------------------------------------
class BKW(Problem):
    """The BKW solution of the Maxwellian Landau equation (paper Example 5.1), any d >= 2.

    u_t(x) = (2 pi K)^{-d/2} exp(-|x|^2/(2K)) (P + Q |x|^2),
    K = 1 - exp(-2B(d-1)t), P = ((d+2)K - d)/(2K), Q = (1-K)/(2K^2).
    Valid for t > t0* = log(d/2 + 1)/(2B(d-1)), where P > 0. Second moments are I for all t.
    """

    name = "bkw"
    has_exact_solution = True
    has_closed_covariance = True

    def __init__(self, d=3, *, B=1 / 24, t0=None, dt=0.01, t_end=None):
        d = check_dimension(d)
        self.B = check_positive("B", B)
        self.gamma = 0.0
        t_star = self.singular_time(d, self.B)
        if t0 is None:
            # smallest multiple of 0.1 strictly above t0*: 5.5 for d = 3, B = 1/24 (paper)
            t0 = math.floor(t_star * 10 + 1e-9) / 10 + 0.1
        t0 = check_real("t0", t0)
        if t0 <= t_star:
            raise ValueError(f"t0={t0:g} must exceed t0*={t_star:.6g} (log(d/2+1)/(2B(d-1))), "
                             "where the BKW density stops being nonnegative")
        super().__init__(d, t0=t0, dt=dt, t_end=t0 + 4.0 if t_end is None else t_end)

    @staticmethod
    def singular_time(d: int, B: float) -> float:
        """t0* = log(d/2 + 1) / (2B(d-1)): P(t0*) = 0 and the score is singular at 0."""
        return math.log(d / 2 + 1) / (2 * B * (d - 1))

    def constants(self, t):
        """(K, P, Q) at time t."""
        t = _check_time(t)
        if t <= self.singular_time(self.d, self.B):
            raise ValueError(f"t={t:g} is before t0*={self.singular_time(self.d, self.B):.6g}; "
                             "the BKW formula is not a density there")
        d = self.d
        K = -math.expm1(-2 * self.B * (d - 1) * t)
        P = ((d + 2) * K - d) / (2 * K)
        Q = (1 - K) / (2 * K * K)
        return K, P, Q

    def log_density(self, x, t):
        x = check_points("x", x, min_n=1)
        K, P, Q = self.constants(t)
        r2 = (x * x).sum(1)
        return -0.5 * self.d * math.log(2 * math.pi * K) - r2 / (2 * K) + torch.log(P + Q * r2)

    def score(self, x, t):
        x = check_points("x", x, min_n=1)
        K, P, Q = self.constants(t)
        r2 = (x * x).sum(1, keepdim=True)
        return x * (-1 / K + 2 * Q / (P + Q * r2))

    def exact_velocity(self, x, t):
        """The Landau velocity of the BKW solution: v*(x) = -B(d-1)(x + grad log u_t(x)).

        Isotropy makes Sigma = I, so D(x) = B((|x|^2 + d - 1) I - x x^T) and
        D grad log u = B(d-1) grad log u for the radial score (book, Prop. 2.1 chapter).
        """
        return -self.B * (self.d - 1) * (x + self.score(x, t))

    def fourth_moment(self, t) -> float:
        """E|X|^4 = P K^2 d(d+2) + Q K^3 d(d+2)(d+4)."""
        K, P, Q = self.constants(t)
        d = self.d
        return P * K**2 * d * (d + 2) + Q * K**3 * d * (d + 2) * (d + 4)

    def radial_expectation(self, f, t, *, r_max: float = 14.0, points: int = 28_001) -> float:
        """E_{u_t} f(X) for a radial f, given as a function of the points r e_1 ((m, d) float64
        tensor -> (m,) values): |S^{d-1}| int_0^r_max f(r e_1) r^{d-1} u_t(r e_1) dr by the
        trapezoidal rule (u_t has Gaussian tails: the default grid integrates u_t to 1 within
        1e-8 for d = 3 at the paper's times). Book: "The BKW solution" (references)."""
        import numpy as np
        r = np.linspace(0.0, r_max, points)
        pts = torch.zeros(len(r), self.d, dtype=torch.float64)
        pts[:, 0] = torch.as_tensor(r)
        sphere = 2 * math.pi ** (self.d / 2) / math.gamma(self.d / 2)
        w = sphere * r ** (self.d - 1) * torch.exp(self.log_density(pts, float(t))).numpy()
        values = f(pts)
        values = values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values, dtype=float)
        return float(np.trapezoid(values * w, r))

    def entropy_rate(self, t) -> float:
        """The exact entropy-production rate dH/dt = -B(d-1) E|X + grad log u_t(X)|^2 of the
        BKW solution (H = int u log u; by :meth:`exact_velocity`: -E[s . v*])."""
        t = float(t)
        return -self.B * (self.d - 1) * self.radial_expectation(lambda y: ((y + self.score(y, t)) ** 2).sum(1), t)

    def sample_at(self, n, t, generator=None):
        # mixture: N(0, K I) with weight P; sqrt(K) chi_{d+2} * uniform direction with weight QKd
        K, P, _ = self.constants(t)
        d = self.d
        u = torch.rand(n, dtype=torch.float64, generator=generator)
        g = torch.randn(n, d, dtype=torch.float64, generator=generator)
        extra = torch.randn(n, 2, dtype=torch.float64, generator=generator)
        radius = torch.sqrt((g * g).sum(1) + (extra * extra).sum(1))
        shell = g / g.norm(dim=1, keepdim=True) * radius[:, None]
        return math.sqrt(K) * torch.where((u < P)[:, None], g, shell)

    def _sample(self, n, generator):
        return self.sample_at(n, self.t0, generator)

    def initial_second_moment(self):
        return torch.eye(self.d, dtype=torch.float64)

    def second_moment_from(self, sigma0, mean, t):
        t = torch.as_tensor(t, dtype=sigma0.dtype, device=sigma0.device)
        return maxwell_second_moment(sigma0, t - self.t0, B=self.B, mean=mean)


# ------------------------------------------------------------------------------------------
class _GaussianStart(Problem):
    """Shared parts of problems whose initial law is a (mixture of) Gaussian(s)."""

    def _landau_setup(self, d, gamma, B, dt, t_end):
        self.gamma = check_gamma(gamma, d)
        self.B = check_positive("B", B)
        if dt is None or t_end is None:
            if self.gamma == 0:
                defaults = (0.01, 4.0)          # paper Example 5.2
            elif self.gamma == -3:
                defaults = (1.0, 300.0)         # paper Example 5.3
            else:
                raise ValueError(f"gamma={self.gamma:g}: no default time step; pass dt and t_end "
                                 "(the paper's defaults exist for gamma=0 and gamma=-3)")
            dt = defaults[0] if dt is None else dt
            t_end = defaults[1] if t_end is None else t_end
        self.has_closed_covariance = self.gamma == 0
        return dt, t_end

    def second_moment_from(self, sigma0, mean, t):
        if self.gamma != 0:
            return super().second_moment_from(sigma0, mean, t)
        t = torch.as_tensor(t, dtype=sigma0.dtype, device=sigma0.device)
        return maxwell_second_moment(sigma0, t - self.t0, B=self.B, mean=mean)

    def _at_start(self, t):
        t = _check_time(t)
        if abs(t - self.t0) > 1e-12 * max(1.0, abs(self.t0)):
            raise NotImplementedError(f"{self.name}: the solution is known in closed form only at "
                                      f"t0={self.t0:g}, not at t={t:g}")


def _default_variances(d):
    return [1.8, 0.2] + [1.0] * (d - 2)


class AnisotropicGaussian(_GaussianStart):
    """Anisotropic Gaussian start N(0, diag(1.8, 0.2, 1, ..., 1)) (paper Examples 5.2, 5.3).

    gamma = 0: dt = 0.01, t_end = 4, closed-form second moments. gamma = -3: dt = 1,
    t_end = 300, equilibrium N(0, I). No closed form for the density at t > 0.
    """

    name = "anisotropic_gaussian"

    def __init__(self, d=3, gamma=0.0, *, B=1 / 24, variances=None, dt=None, t_end=None):
        d = check_dimension(d)
        dt, t_end = self._landau_setup(d, gamma, B, dt, t_end)
        var = _default_variances(d) if variances is None else [check_positive("variances[i]", v)
                                                               for v in variances]
        if len(var) != d:
            raise ValueError(f"variances has {len(var)} entries; need d={d}")
        self.variances = tuple(float(v) for v in var)
        super().__init__(d, t0=0.0, dt=dt, t_end=t_end)

    def _extra_params(self):
        return {"variances": list(self.variances)}

    def _var(self, x):
        return torch.tensor(self.variances, dtype=x.dtype, device=x.device)

    def score(self, x, t):
        x = check_points("x", x, min_n=1)
        self._at_start(t)
        return -x / self._var(x)

    def log_density(self, x, t):
        x = check_points("x", x, min_n=1)
        self._at_start(t)
        var = self._var(x)
        return -0.5 * ((x * x) / var).sum(1) - 0.5 * torch.log(2 * math.pi * var).sum()

    def _sample(self, n, generator):
        return _gauss_sample(n, torch.tensor(self.variances, dtype=torch.float64).sqrt(), generator)

    def initial_second_moment(self):
        return torch.diag(torch.tensor(self.variances, dtype=torch.float64))


class GaussianMixture(_GaussianStart):
    """Two Gaussians at +-m e_1 with equal weights and the second moments of the anisotropic
    problem: component covariance diag(1.8 - m^2, 0.2, 1, ..., 1), m = 1 by default."""

    name = "gaussian_mixture"

    def __init__(self, d=3, gamma=0.0, *, B=1 / 24, separation=1.0, dt=None, t_end=None):
        d = check_dimension(d)
        dt, t_end = self._landau_setup(d, gamma, B, dt, t_end)
        self.separation = check_real("separation", separation, low=0.0, high=math.sqrt(1.8), high_open=True)
        var = _default_variances(d)
        var[0] -= self.separation**2
        self.component_variances = tuple(var)
        super().__init__(d, t0=0.0, dt=dt, t_end=t_end)

    def _extra_params(self):
        return {"separation": self.separation}

    def _components(self, x):
        var = torch.tensor(self.component_variances, dtype=x.dtype, device=x.device)
        shift = torch.zeros(self.d, dtype=x.dtype, device=x.device)
        shift[0] = self.separation
        return var, shift

    def log_density(self, x, t):
        x = check_points("x", x, min_n=1)
        self._at_start(t)
        var, m = self._components(x)
        norm = -0.5 * torch.log(2 * math.pi * var).sum()
        lp = -0.5 * (((x - m) ** 2) / var).sum(1)
        lm = -0.5 * (((x + m) ** 2) / var).sum(1)
        return norm + torch.logaddexp(lp, lm) - math.log(2.0)

    def score(self, x, t):
        x = check_points("x", x, min_n=1)
        self._at_start(t)
        var, m = self._components(x)
        lp = -0.5 * (((x - m) ** 2) / var).sum(1)
        lm = -0.5 * (((x + m) ** 2) / var).sum(1)
        wp = torch.sigmoid(lp - lm)[:, None]
        return -(x - m) / var * wp - (x + m) / var * (1 - wp)

    def _sample(self, n, generator):
        sd = torch.tensor(self.component_variances, dtype=torch.float64).sqrt()
        sign = torch.where(torch.rand(n, dtype=torch.float64, generator=generator) < 0.5, 1.0, -1.0)
        x = _gauss_sample(n, sd, generator)
        x[:, 0] += sign * self.separation
        return x

    def initial_second_moment(self):
        var = list(self.component_variances)
        var[0] += self.separation**2
        return torch.diag(torch.tensor(var, dtype=torch.float64))


# ------------------------------------------------------------------------------------------
class _IsotropicGaussianFlow(Problem):
    """Linear equations with an exact isotropic Gaussian solution N(0, var(t) I)."""

    has_exact_solution = True
    has_closed_covariance = True

    def variance(self, t) -> float:
        raise NotImplementedError

    def score(self, x, t):
        x = check_points("x", x, min_n=1)
        return -x / self.variance(_check_time(t))

    def log_density(self, x, t):
        x = check_points("x", x, min_n=1)
        var = self.variance(_check_time(t))
        return -0.5 * (x * x).sum(1) / var - 0.5 * self.d * math.log(2 * math.pi * var)

    def sample_at(self, n, t, generator=None):
        sd = math.sqrt(self.variance(_check_time(t)))
        return torch.randn(n, self.d, dtype=torch.float64, generator=generator) * sd

    def _sample(self, n, generator):
        return self.sample_at(n, self.t0, generator)

    def initial_second_moment(self):
        return self.variance(self.t0) * torch.eye(self.d, dtype=torch.float64)


class HeatEquation(_IsotropicGaussianFlow):
    """Heat equation du/dt = D Lap u as transport: v = -D s. Exact u_t = N(0, 2 D t I)."""

    name = "heat"

    def __init__(self, d=2, *, D=0.25, t0=1.0, dt=0.01, t_end=5.0):
        self.D = check_positive("D", D)
        t0 = check_real("t0", t0, low=0.0, low_open=True)
        super().__init__(d, t0=t0, dt=dt, t_end=t_end)

    def _extra_params(self):
        return {"D": self.D}

    def variance(self, t):
        return 2 * self.D * t

    def make_equation(self):
        return HeatOperator(self.D)

    def second_moment_from(self, sigma0, mean, t):
        t = torch.as_tensor(t, dtype=sigma0.dtype, device=sigma0.device)
        eye = torch.eye(self.d, dtype=sigma0.dtype, device=sigma0.device)
        return sigma0 + 2 * self.D * (t - self.t0)[..., None, None] * eye


class FokkerPlanck(_IsotropicGaussianFlow):
    """Linear Fokker-Planck du/dt = div(x u + grad u) as transport: v = -x - s.
    Exact u_t = N(0, (1 - exp(-2t)) I)."""

    name = "fokker_planck"

    def __init__(self, d=2, *, t0=0.5, dt=0.01, t_end=5.0):
        t0 = check_real("t0", t0, low=0.0, low_open=True)
        super().__init__(d, t0=t0, dt=dt, t_end=t_end)

    def variance(self, t):
        return -math.expm1(-2 * t)

    def make_equation(self):
        return FokkerPlanckOperator()

    def second_moment_from(self, sigma0, mean, t):
        t = torch.as_tensor(t, dtype=sigma0.dtype, device=sigma0.device)
        decay = torch.exp(-2 * (t - self.t0))[..., None, None]
        eye = torch.eye(self.d, dtype=sigma0.dtype, device=sigma0.device)
        return sigma0 * decay + (1 - decay) * eye

    def equilibrium_second_moment(self):
        return torch.eye(self.d, dtype=torch.float64)


# ------------------------------------------------------------------------------------------
def bkw(d: int = 3, **kwargs) -> BKW:
    """BKW problem (paper Example 5.1); see :class:`BKW`."""
    return BKW(d, **kwargs)


def anisotropic_gaussian(d: int = 3, gamma: float = 0.0, **kwargs) -> AnisotropicGaussian:
    """Anisotropic Gaussian start (paper Examples 5.2 and 5.3); see :class:`AnisotropicGaussian`."""
    return AnisotropicGaussian(d, gamma, **kwargs)


def gaussian_mixture(d: int = 3, gamma: float = 0.0, **kwargs) -> GaussianMixture:
    """Two-Gaussian mixture start; see :class:`GaussianMixture`."""
    return GaussianMixture(d, gamma, **kwargs)


def heat(d: int = 2, **kwargs) -> HeatEquation:
    """Heat equation (the paper's GPU timing problem); see :class:`HeatEquation`."""
    return HeatEquation(d, **kwargs)


def fokker_planck(d: int = 2, **kwargs) -> FokkerPlanck:
    """Linear Fokker-Planck equation; see :class:`FokkerPlanck`."""
    return FokkerPlanck(d, **kwargs)


#: the problem registry: name -> class (its constructor takes d first, then keywords). The one
#: place a problem is registered: :func:`get_problem` builds by name, :func:`problem_from_params`
#: rebuilds a saved run's problem (e.g. in a sweep worker) from the same entry.
PROBLEMS: dict[str, type[Problem]] = {}


def register_problem(cls: type[Problem]) -> type[Problem]:
    """Add a :class:`Problem` subclass to :data:`PROBLEMS` under ``cls.name`` (usable as a
    class decorator); a name taken by another class raises ``ValueError``."""
    from .._checks import register_class
    return register_class(PROBLEMS, cls, Problem, "problem")


for _cls in (BKW, AnisotropicGaussian, GaussianMixture, HeatEquation, FokkerPlanck):
    register_problem(_cls)


def get_problem(name: str, **kwargs) -> Problem:
    """Build a registered problem by name (CLI and registry use)."""
    from .._checks import check_choice
    check_choice("problem", name, tuple(PROBLEMS))
    return PROBLEMS[name](**kwargs)


def problem_from_params(params: dict) -> Problem:
    """Rebuild a problem from :meth:`Problem.params` (e.g. from a saved trajectory's metadata):
    the registered class of ``params["name"]`` with the parameters its constructor takes."""
    import inspect
    params = dict(params)
    name = params.pop("name")
    from .._checks import check_choice
    check_choice("problem", name, tuple(PROBLEMS))
    cls = PROBLEMS[name]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    return cls(**{k: v for k, v in params.items() if k in accepted})
