"""The blob method of Carrillo, Hu, Wang and Wu (book: "The blob method").

The score is the gradient of the first variation of the regularised entropy
H_eps(f) = int f log(phi_eps * f), phi_eps the Gaussian of variance eps (covariance eps I).
For the empirical measure of X_1..X_n, with rho_i = sum_k phi_eps(X_i - X_k)::

    s_i = sum_j grad phi_eps(X_i - X_j) / rho_i  +  sum_j grad phi_eps(X_i - X_j) / rho_j
        = -(1/eps) sum_j phi_eps(X_i - X_j) (1/rho_i + 1/rho_j) (X_i - X_j).

The first term alone is the "KDE score" grad log(phi_eps * f), a different, weaker
estimator (:func:`kde_score`). Normalising constants of phi_eps cancel in both terms.
"""

from __future__ import annotations

import math

import torch

from .._checks import ZERO_VARIANCE_RTOL, check_bool, check_choice, check_points, check_positive
from .._stop import poll_stop
from ..equation.pairsum import check_compiled_inputs, compiled_blob_score, compiled_usable, tile_rows
from .base import ScoreEstimator

__all__ = ["blob_score", "kde_score", "blob_bandwidth", "Blob", "BANDWIDTH_RULES", "BLOB_METHODS", "freezing_bandwidth"]

BANDWIDTH_RULES = ("paper", "reference")
#: evaluation methods of :func:`blob_score`
BLOB_METHODS = ("auto", "direct", "compiled")


def blob_bandwidth(x: torch.Tensor, rule: str = "paper") -> float:
    """Kernel variance eps of the blob method from the sample x.

    * ``"paper"`` (the paper's §5.1, Silverman's plug-in rule for gradient estimation):
      eps = n^(-1/(d+6)) (sigma_1 ... sigma_d)^(1/d), sigma_i the eigenvalues of the sample
      covariance.
    * ``"reference"`` (the authors' Julia code, GradientFlows.jl): kernel exp(-|z|^2/eps')
      with eps' = 4 det(Sigma)^(1/d) n^(-2/(d+4)), i.e. variance eps = eps'/2.

    Both need a sample covariance of full rank: n <= d particles or a zero-variance direction
    give det(Sigma) ~ 0, a bandwidth ~ 0 and scores that all vanish (frozen particles), so
    they raise ``ValueError``.
    """
    x = check_points("x", x)
    check_choice("bandwidth", rule, BANDWIDTH_RULES)
    n, d = x.shape
    if n <= d:
        raise ValueError(f"bandwidth={rule!r} needs n > d particles, got n={n} in d={d}: the sample "
                         "covariance is singular, the bandwidth would be ~0 and every score 0; use more "
                         "particles or a fixed bandwidth=eps > 0")
    cov = torch.cov(x.T.to(torch.float64))
    lam = torch.linalg.eigvalsh(cov)
    if not float(lam[-1]) > 0 or float(lam[0]) <= ZERO_VARIANCE_RTOL * float(lam[-1]):
        raise ValueError(f"bandwidth={rule!r} needs a sample covariance of full rank, but x has a "
                         f"zero-variance direction (eigenvalues {float(lam[0]):.3g} ... {float(lam[-1]):.3g}): "
                         "the bandwidth would be ~0 and every score 0; use a fixed bandwidth=eps > 0")
    geo = math.exp(torch.linalg.slogdet(cov)[1].item() / d)
    if rule == "paper":
        return n ** (-1 / (d + 6)) * geo
    return 0.5 * 4 * geo * n ** (-2 / (d + 4))


#: the kernel weight exp(-r^2 / (2 eps)) of a particle's nearest neighbour below which the
#: neighbours no longer count next to the particle's own weight 1 (exp(-36) ~ 2e-16, float64
#: round-off): every score is then ~0 and the particles do not move
FROZEN_EXPONENT = 36.0


def freezing_bandwidth(x: torch.Tensor, eps: float) -> str | None:
    """Why the blob bandwidth ``eps`` freezes the particles ``x``, or None: when most particles'
    nearest neighbours lie so far away in units of sqrt(eps) that their kernel weights vanish
    next to the particle's own (measured on up to 256 particles against all, in blocks)."""
    n = x.shape[0]
    probe = x[: min(n, 256)].to(torch.float64)
    nearest = torch.full((probe.shape[0],), float("inf"), dtype=torch.float64, device=x.device)
    for j0 in range(0, n, 65536):
        block = x[j0:j0 + 65536].to(torch.float64)
        r2 = torch.cdist(probe, block).square()
        own = torch.arange(probe.shape[0], device=x.device)
        inside = (own >= j0) & (own < j0 + block.shape[0])
        r2[own[inside], own[inside] - j0] = float("inf")             # not the particle itself
        nearest = torch.minimum(nearest, r2.min(dim=1).values)
    finite = nearest[torch.isfinite(nearest)]
    if finite.numel() == 0:
        return None
    typical = float(finite.median())
    if typical / (2 * eps) <= FROZEN_EXPONENT:
        return None
    return (f"blob bandwidth eps={eps:.3g} is far below the particles' spacing (median squared distance to "
            f"the nearest neighbour {typical:.3g}, kernel weight exp(-{typical / (2 * eps):.3g}) ~ 0): every "
            "score is ~0 and the particles stay frozen; use a larger bandwidth or a rule ('paper')")


def _kernel_rows(xi, x, eps):
    z = xi[:, None, :] - x[None, :, :]
    return torch.exp(-(z * z).sum(-1) / (2 * eps))


def _densities(x, eps, rows):
    """rho_i = sum_k exp(-|X_i - X_k|^2 / (2 eps)) (unnormalised; >= 1 from k = i)."""
    parts = []
    for i0 in range(0, x.shape[0], rows):
        if i0:
            poll_stop()                     # a long sum stops between its tiles
        parts.append(_kernel_rows(x[i0:i0 + rows], x, eps).sum(1))
    return torch.cat(parts)


def _weighted_pull(xi, x, W, eps):
    """-(1/eps) sum_j W_ij (x_i - x_j) = -(1/eps)(x_i sum_j W_ij - W x)."""
    return -(xi * W.sum(1, keepdim=True) - W @ x) / eps


def blob_score(x: torch.Tensor, eps: float, *, tile: int | None = None,
               method: str = "auto") -> torch.Tensor:
    """Blob score at the particles (two-term gradient of delta H_eps / delta f).

    method : ``"direct"`` (tiled torch sums: memory O(n * tile), never an n x n x d tensor
        for large n; any device, autograd; the reference), ``"compiled"`` (fused numba
        kernels on the CPU, no autograd; needs numba; equal to float tolerance) or ``"auto"``
        (compiled on the CPU when numba is importable, n >= ``pairsum.COMPILED_MIN_N`` and
        no gradient is needed, else direct).
    tile : rows per tile of the torch sums (default: temporaries near 2^22 entries).
    """
    x = check_points("x", x)
    eps = check_positive("eps", eps)
    check_choice("method", method, BLOB_METHODS)
    n, d = x.shape
    rows = tile_rows(n, d, tile)
    if method == "compiled":
        check_compiled_inputs(("x", x))
        return compiled_blob_score(x, eps)
    if method == "auto" and compiled_usable(x):
        return compiled_blob_score(x, eps)
    inv_rho = 1 / _densities(x, eps, rows)
    out = torch.empty_like(x)
    for i0 in range(0, n, rows):
        poll_stop()
        xi = x[i0:i0 + rows]
        W = _kernel_rows(xi, x, eps) * (inv_rho[i0:i0 + rows, None] + inv_rho[None, :])
        out[i0:i0 + rows] = _weighted_pull(xi, x, W, eps)
    return out


def kde_score(x: torch.Tensor, eps: float, *, at: torch.Tensor | None = None,
              tile: int | None = None) -> torch.Tensor:
    """One-term KDE score grad log(phi_eps * f) at ``at`` (default: the particles)."""
    x = check_points("x", x)
    eps = check_positive("eps", eps)
    y = x if at is None else check_points("at", at, min_n=1)
    n, d = x.shape
    rows = tile_rows(n, d, tile)
    out = torch.empty_like(y)
    for i0 in range(0, y.shape[0], rows):
        yi = y[i0:i0 + rows]
        K = _kernel_rows(yi, x, eps)
        out[i0:i0 + rows] = _weighted_pull(yi, x, K / K.sum(1, keepdim=True), eps)
    return out


class Blob(ScoreEstimator):
    """Blob-method score estimator.

    bandwidth : a rule name (see :func:`blob_bandwidth`) or a fixed kernel variance eps > 0.
    fixed : compute eps once from the initial particles (default, as in the reference code)
        or re-estimate it from the current particles at every call.
    one_term : use the one-term KDE score instead (for comparison only).
    backend : how :func:`blob_score` evaluates its sums, its ``method`` ("auto", "direct",
        "compiled"); named so as not to clash with the ``method`` of :func:`landau_nb.solve`.
    """

    name = "blob"

    def __init__(self, *, bandwidth="paper", fixed: bool = True, one_term: bool = False,
                 tile: int | None = None, backend: str = "auto"):
        super().__init__()
        self.backend = check_choice("backend", backend, BLOB_METHODS)
        if isinstance(bandwidth, str):
            check_choice("bandwidth", bandwidth, BANDWIDTH_RULES)
        else:
            bandwidth = check_positive("bandwidth", bandwidth)
        self.bandwidth = bandwidth
        self.fixed = check_bool("fixed", fixed)
        self.one_term = check_bool("one_term", one_term)
        self.tile = tile
        self.eps = None

    def params(self):
        return {"name": self.name, "bandwidth": self.bandwidth, "fixed": self.fixed,
                "one_term": self.one_term, "eps": self.eps}

    def _eps(self, x):
        if isinstance(self.bandwidth, str):
            return blob_bandwidth(x, self.bandwidth)
        return self.bandwidth

    def initialize(self, problem, x, t, seed=0):
        super().initialize(problem, x, t, seed)
        self.eps = self._eps(x)
        trouble = freezing_bandwidth(x, self.eps)
        if trouble:
            import warnings
            warnings.warn(trouble, RuntimeWarning, stacklevel=3)

    def get_state(self):
        return {}, {"eps": self.eps}

    def set_state(self, problem, x, t, seed, arrays, meta):
        super().initialize(problem, x, t, seed)
        self.eps = meta["eps"]

    def __call__(self, x, t):
        if self.eps is None:
            raise RuntimeError("Blob.initialize(problem, x, t) must be called before use")
        if not self.fixed:
            self.eps = self._eps(x)
        self.stats = {"eps": self.eps}
        if self.one_term:
            return kde_score(x, self.eps, tile=self.tile)
        return blob_score(x, self.eps, tile=self.tile, method=self.backend)
