"""Score estimators in phase space: s(x, v) ≈ ∇ᵥ log f(x, v) at the particles.

Common interface (:class:`PhaseSpaceScore`): ``initialize(model, particles, weight=, mesh=,
seed=)`` once with the initial particles; ``s = score(x, v, w, t)`` at every collision
evaluation; ``get_state()`` / ``set_state(...)`` for checkpoints (the state, not the
settings); ``params()`` (JSON-ready settings); ``stats`` (numbers of the last call).

* :class:`BlobScore` — the blob method in space (Bailo–Carrillo–Hu): the v-gradient of the
  first variation of the regularised entropy ∫∫ f log f_ε, f_ε(x, v) = Σⱼ wⱼ ψ(x, xⱼ) φ_ε(v − vⱼ),
  φ_ε the Gaussian of variance ε. At particle i, with ρᵢ = Σₖ wₖ ψᵢₖ φ_ε(vᵢ − vₖ)::

      sᵢ = −(1/ε) Σⱼ wⱼ ψᵢⱼ φ_ε(vᵢ − vⱼ) (1/ρᵢ + 1/ρⱼ)(vᵢ − vⱼ)

  (two terms: ∇ log f_ε plus the variation of f_ε inside the log). ``two_term=False`` keeps
  the first term only: the KDE score ∇ᵥ log f_ε(xᵢ, vᵢ) (the successor code's "blob").
* :class:`SBTMScore` — score-based transport: one network s_θ(features(x), v) → R^dv over
  periodic features (cos mkx, sin mkx), m = 1..harmonics, k = 2π/L, trained on v by the
  package's denoising loss (paper (3.5)) at fixed x, K Adam steps per call, warm-started from
  call to call (the optimiser state persists), its initial fit to the exact initial score.
* :class:`LocalMaxwellianScore` — −(v − u(x))/T(x) from the CIC mesh moments (a control:
  with it the collision velocity is zero wherever u and T are uniform).
* :class:`LocalGaussianScore` — −Σ(x)⁻¹(v − u(x)) with the full local covariance Σ(x) from the
  CIC mesh moments: the exact score of a locally Gaussian f (an anisotropic Maxwellian), so
  it relaxes temperature anisotropy at the operator's true rate and does nothing else (the
  reference of :func:`~landau_nb.vlasov.effective_collision_strength`).
* :class:`ExactScore` — a given function (x, v, t) ↦ s (e.g. a closed form).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._deps import (check_bool, check_choice, check_int, check_positive, denoising_loss, fit_initial_score, score_mlp,
                    generator_state, make_generator, numba_available, set_generator_state, tensor_state)
from .collisions import padded, psi_block
from .spatial import CellList, SpatialWeight

__all__ = ["PhaseSpaceScore", "BlobScore", "SBTMScore", "LocalMaxwellianScore", "LocalGaussianScore", "ExactScore",
           "make_score", "SCORES", "phase_space_mlp"]

SCORES = ("blob", "kde", "sbtm", "maxwellian", "gaussian")


class PhaseSpaceScore:
    """Base class (see the module docstring for the interface)."""

    name = "score"

    def __init__(self):
        self.model = None
        self.weight: SpatialWeight | None = None
        self.mesh = None
        self.stats: dict = {}

    def initialize(self, model, particles, *, weight: SpatialWeight, mesh, seed: int = 0) -> None:
        self.model, self.weight, self.mesh = model, weight, mesh

    def __call__(self, x, v, w, t: float = 0.0) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> dict:
        return {"name": self.name}

    def get_state(self) -> tuple[dict, dict]:
        return {}, {}

    def set_state(self, model, particles, *, weight, mesh, seed, arrays: dict, meta: dict) -> None:
        PhaseSpaceScore.initialize(self, model, particles, weight=weight, mesh=mesh, seed=seed)


# ------------------------------------------------------------------------------------------ blob
BLOB_METHODS = ("auto", "direct", "compiled")


def blob_bandwidth(v: torch.Tensor, n_local: float) -> float:
    """ε = n_local^(−1/(dv+6)) det(Σ)^(1/dv): the package's "paper" rule (Silverman's plug-in for
    gradient estimation) with the sample covariance Σ of all velocities and the number of
    particles a ψ-window holds (n/C), the sample each local estimate sees."""
    dv = v.shape[1]
    cov = torch.cov(v.T.double())
    sign, logdet = torch.linalg.slogdet(cov)
    if not float(sign) > 0:
        raise ValueError("the velocity covariance is singular: the bandwidth would be 0; pass bandwidth=eps > 0")
    return float(max(n_local, 2.0) ** (-1 / (dv + 6)) * math.exp(float(logdet) / dv))


def spatial_blob_score(x, v, w, *, weight: SpatialWeight, eps: float, two_term: bool = True,
                       method: str = "auto", cells: CellList | None = None) -> torch.Tensor:
    """The blob score (two_term) or the KDE score with spatial weights ψ (module docstring)."""
    check_choice("score_method", method, BLOB_METHODS)
    eps = check_positive("bandwidth", eps)
    cl = cells if cells is not None else CellList(weight, x)
    use_compiled = method == "compiled" or (method == "auto" and v.device.type == "cpu" and numba_available())
    if use_compiled:
        if v.device.type != "cpu":
            raise ValueError(f"score_method='compiled' runs on the CPU only, the particles are on {v.device}")
        from . import _numba_kernels as kern
        return kern.blob_sums(weight, cl, x, v, w, eps, two_term)
    n, dv = v.shape
    xp, vp, wp = padded(cl, x, v, w)
    lp, tp = padded(cl, cl.cell, cl.theta)

    def kernel(rows, parts):
        z = vp[rows][:, :, None, :] - vp[parts][:, None, :, :]
        K = torch.exp(-(z * z).sum(-1) / (2 * eps))
        return z, K * psi_block(weight, cl, xp, lp, tp, rows, parts) * wp[parts][:, None, :]

    rho = torch.zeros(n + 1, dtype=v.dtype, device=v.device)
    for rows, parts, _ in cl.blocks(width=dv + 2):
        _, K = kernel(rows, parts)
        rho.index_add_(0, rows.reshape(-1), K.sum(-1).reshape(-1))
    inv = 1 / torch.where(rho > 0, rho, torch.ones_like(rho))
    out = torch.zeros(n + 1, dv, dtype=v.dtype, device=v.device)
    for rows, parts, _ in cl.blocks(width=dv + 2):
        z, K = kernel(rows, parts)
        coef = K * (inv[rows][:, :, None] + inv[parts][:, None, :]) if two_term else K * inv[rows][:, :, None]
        out.index_add_(0, rows.reshape(-1), torch.einsum("brp,brpd->brd", coef, z).reshape(-1, dv))
    return out[:n].mul_(-1 / eps)


class BlobScore(PhaseSpaceScore):
    """Blob score with spatial weights (module docstring).

    Parameters
    ----------
    bandwidth : "auto" (:func:`blob_bandwidth` from the initial particles, then fixed) or a
        fixed kernel variance ε > 0.
    two_term : True: the blob method's two-term score; False: the one-term KDE score.
    method : "auto" (compiled numba kernel on the CPU, torch elsewhere), "direct", "compiled".
    spatial_weight : None (use the collision operator's ψ) or a kind for the score's own ψ
        on the same cells.
    """

    name = "blob"

    def __init__(self, *, bandwidth="auto", two_term: bool = True, method: str = "auto",
                 spatial_weight: str | None = None):
        super().__init__()
        if isinstance(bandwidth, str):
            check_choice("bandwidth", bandwidth, ("auto",))
        else:
            bandwidth = check_positive("bandwidth", bandwidth)
        self.bandwidth = bandwidth
        self.two_term = check_bool("two_term", two_term)
        self.method = check_choice("score_method", method, BLOB_METHODS)
        self.own_weight = spatial_weight
        self.eps = None
        if not self.two_term:
            self.name = "kde"

    def params(self):
        return {"name": self.name, "bandwidth": self.bandwidth, "two_term": self.two_term,
                "method": self.method, "spatial_weight": self.own_weight, "eps": self.eps}

    def initialize(self, model, particles, *, weight, mesh, seed=0):
        if self.own_weight is not None:
            weight = SpatialWeight(self.own_weight, weight.L, weight.cells)
        super().initialize(model, particles, weight=weight, mesh=mesh, seed=seed)
        if self.bandwidth == "auto":
            self.eps = blob_bandwidth(particles.v, particles.n / weight.cells)
        else:
            self.eps = float(self.bandwidth)

    def get_state(self):
        return {}, {"eps": self.eps}

    def set_state(self, model, particles, *, weight, mesh, seed, arrays, meta):
        if self.own_weight is not None:
            weight = SpatialWeight(self.own_weight, weight.L, weight.cells)
        PhaseSpaceScore.initialize(self, model, particles, weight=weight, mesh=mesh, seed=seed)
        self.eps = float(meta["eps"])

    def __call__(self, x, v, w, t=0.0, cells=None):
        if self.eps is None:
            raise RuntimeError(f"{type(self).__name__}.initialize(...) must be called before use")
        if cells is not None and cells.weight is not self.weight:
            cells = None
        self.stats = {"eps": self.eps}
        return spatial_blob_score(x, v, w, weight=self.weight, eps=self.eps, two_term=self.two_term,
                                  method=self.method, cells=cells)


# ------------------------------------------------------------------------------------------ SBTM
def phase_space_mlp(in_features: int, dv: int, *, width: int, depth: int, generator=None,
                    dtype=torch.float64, device="cpu") -> torch.nn.Sequential:
    """MLP R^in → R^dv with ``depth`` hidden layers of ``width`` softsign units (the package's
    score network, with x-features added to the input); torch's default uniform
    initialisation drawn from ``generator`` in float64 on the CPU, then cast."""
    return score_mlp(dv, width=width, depth=depth, generator=generator, dtype=dtype, device=device,
                     in_features=in_features)


class SBTMScore(PhaseSpaceScore):
    """SBTM in phase space (module docstring).

    Parameters (defaults in brackets)
    ----------
    harmonics [2] : periodic features cos(mkx), sin(mkx), m = 1..harmonics, k = 2π/L.
    width [64], depth [2] : hidden layers of softsign units.
    K [10] : Adam steps of the denoising loss per call (per collision evaluation).
    lr [1e-3] : Adam learning rate.
    alpha [0.4] : the denoising constant of (3.5).
    batch_size [4096] : particles per Adam step, a fresh random subset each step (None: all
        particles; at n = 1e5 a full-batch step costs ~40x a 4096 one on one core).
    init_tol [1e-3], init_lr [1e-3], init_max_iter [5000], init_batch_size [1024] : the
        initial fit to the exact initial score (the package's ``fit_initial_score``).
    """

    name = "sbtm"

    def __init__(self, *, harmonics: int = 2, width: int = 64, depth: int = 2, K: int = 10, lr: float = 1e-3,
                 alpha: float = 0.4, batch_size: int | None = 4096, init_tol: float = 1e-3,
                 init_lr: float = 1e-3, init_max_iter: int = 5000, init_batch_size: int = 1024):
        super().__init__()
        self.harmonics = check_int("harmonics", harmonics, low=0)
        self.width = check_int("width", width, low=1)
        self.depth = check_int("depth", depth, low=1)
        self.K = check_int("K", K, low=0)
        self.lr = check_positive("lr", lr)
        self.alpha = check_positive("alpha", alpha)
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size, low=1)
        self.init_tol = check_positive("init_tol", init_tol)
        self.init_lr = check_positive("init_lr", init_lr)
        self.init_max_iter = check_int("init_max_iter", init_max_iter, low=1)
        self.init_batch_size = check_int("init_batch_size", init_batch_size, low=1)
        self.net = None
        self.optimizer = None
        self.init_report: dict = {}
        self.calls = 0

    def params(self):
        keys = ("harmonics", "width", "depth", "K", "lr", "alpha", "batch_size", "init_tol", "init_lr",
                "init_max_iter", "init_batch_size")
        return {"name": self.name, **{k: getattr(self, k) for k in keys}, "init": self.init_report}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 2·harmonics): cos(mkx), sin(mkx), k = 2π/L."""
        k = 2 * math.pi / self.model.L
        m = torch.arange(1, self.harmonics + 1, dtype=x.dtype, device=x.device)
        ph = k * x[:, None] * m[None, :]
        return torch.cat([torch.cos(ph), torch.sin(ph)], dim=1)

    def _build(self, particles, seed):
        dv = particles.dv
        gen = make_generator(seed, "vlasov/sbtm/network")
        self.net = phase_space_mlp(2 * self.harmonics + dv, dv, width=self.width, depth=self.depth,
                                   generator=gen, dtype=particles.v.dtype, device=particles.v.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        self.noise_gen = make_generator(seed, "vlasov/sbtm/noise", device=particles.v.device)
        self.batch_gen = make_generator(seed, "vlasov/sbtm/batches", device=particles.v.device)

    def initialize(self, model, particles, *, weight, mesh, seed=0):
        super().initialize(model, particles, weight=weight, mesh=mesh, seed=seed)
        self._build(particles, seed)
        inputs = torch.cat([self.features(particles.x), particles.v], dim=1)
        target = model.initial_score(particles.x, particles.v)
        gen = make_generator(seed, "vlasov/sbtm/init-batches")
        self.init_report = fit_initial_score(self.net, inputs, target, tol=self.init_tol, lr=self.init_lr,
                                             max_iter=self.init_max_iter, batch_size=self.init_batch_size,
                                             generator=gen)
        self.calls = 0

    def get_state(self):
        arrays = tensor_state("net", self.net.state_dict())
        opt = self.optimizer.state_dict()["state"]
        arrays.update(tensor_state("optimizer", {str(i): st for i, st in opt.items()}))
        arrays["noise_gen"] = generator_state(self.noise_gen)
        arrays["batch_gen"] = generator_state(self.batch_gen)
        meta = {"calls": self.calls, "init_report": self.init_report,
                "optimizer_keys": {str(i): sorted(st) for i, st in opt.items()}}
        return arrays, meta

    def set_state(self, model, particles, *, weight, mesh, seed, arrays, meta):
        PhaseSpaceScore.initialize(self, model, particles, weight=weight, mesh=mesh, seed=seed)
        self._build(particles, seed)
        self.net.load_state_dict({k[4:]: torch.from_numpy(np.array(a)) for k, a in arrays.items()
                                  if k.startswith("net.")})
        sd = self.optimizer.state_dict()
        sd["state"] = {int(i): {key: torch.from_numpy(np.array(arrays[f"optimizer.{i}.{key}"]))
                                for key in keys} for i, keys in meta["optimizer_keys"].items()}
        self.optimizer.load_state_dict(sd)
        set_generator_state(self.noise_gen, arrays["noise_gen"])
        set_generator_state(self.batch_gen, arrays["batch_gen"])
        self.calls = int(meta["calls"])
        self.init_report = meta["init_report"]

    def _train(self, feats, v):
        n, dv = v.shape
        losses = []
        for _ in range(self.K):
            if self.batch_size is not None and self.batch_size < n:
                idx = torch.randint(n, (self.batch_size,), generator=self.batch_gen, device=v.device)
                fb, vb = feats[idx], v[idx]
            else:
                fb, vb = feats, v
            z = torch.randn(vb.shape, dtype=v.dtype, device=v.device, generator=self.noise_gen)
            f3 = fb.repeat(3, 1)

            def field(vv, f3=f3):
                return self.net(torch.cat([f3[:vv.shape[0]], vv], dim=1))

            self.optimizer.zero_grad(set_to_none=True)
            loss = denoising_loss(field, vb, z, self.alpha)
            loss.backward()
            self.optimizer.step()
            losses.append(float(loss.detach()))
        return losses

    def __call__(self, x, v, w, t=0.0, cells=None):
        if self.net is None:
            raise RuntimeError("SBTMScore.initialize(...) must be called before use")
        feats = self.features(x.detach())
        v = v.detach()
        losses = self._train(feats, v)
        self.calls += 1
        self.stats = {"gd_steps": self.K, "loss": losses[-1] if losses else float("nan")}
        with torch.no_grad():
            return self.net(torch.cat([feats, v], dim=1))


# ------------------------------------------------------------------------------------------ controls
class LocalMaxwellianScore(PhaseSpaceScore):
    """s = −(v − u(x))/T(x): u and T from the CIC moments on the field mesh, gathered to the
    particles with the same CIC shape (T = tr of the local covariance / dv)."""

    name = "maxwellian"

    def __call__(self, x, v, w, t=0.0, cells=None):
        dens, u, T, _, _ = self.mesh.moments(x, v, w)
        u = u.to(v.dtype)
        T = T.to(v.dtype)
        ui = torch.stack([self.mesh.gather(u[:, a], x) for a in range(v.shape[1])], dim=1)
        Ti = self.mesh.gather(T, x)
        self.stats = {"T_min": float(T.min())}
        return -(v - ui) / Ti[:, None]


class LocalGaussianScore(PhaseSpaceScore):
    """s = −Σ(x)⁻¹(v − u(x)): u and the full covariance Σ (dv × dv) from CIC deposits of v and
    v vᵀ on the field mesh, gathered to the particles with the same shape. Exact for a locally
    Gaussian f; unlike :class:`LocalMaxwellianScore` it keeps the anisotropy of Σ, so with it
    the collision step relaxes T_∥ − T_⊥ at the Landau operator's rate (Section "Vlasov–Landau
    II", effective collision strength) and leaves every non-Gaussian feature alone."""

    name = "gaussian"

    def __call__(self, x, v, w, t=0.0, cells=None):
        dv = v.shape[1]
        iu = torch.triu_indices(dv, dv, device=v.device)
        xd, vd, wd = x.double(), v.double(), w.double()         # moments in float64 for any dtype
        dens = self.mesh.deposit(xd, wd)
        mom = self.mesh.deposit(xd, wd, torch.cat([vd, vd[:, iu[0]] * vd[:, iu[1]]], dim=1))
        if not bool((dens > 0).all()):
            raise ValueError("a mesh cell holds no particles: the local covariance is undefined "
                             "(use fewer mesh cells M or more particles n)")
        mom = mom / dens[:, None]
        u = mom[:, :dv]
        S = torch.zeros(self.mesh.M, dv, dv, dtype=torch.float64, device=v.device)
        S[:, iu[0], iu[1]] = mom[:, dv:] - u[:, iu[0]] * u[:, iu[1]]
        S[:, iu[1], iu[0]] = S[:, iu[0], iu[1]]
        ui = torch.stack([self.mesh.gather(u[:, a], xd) for a in range(dv)], dim=1)
        Si = torch.stack([self.mesh.gather(S[:, a, b], xd) for a in range(dv) for b in range(dv)],
                         dim=1).reshape(-1, dv, dv)
        eig_min = float(torch.linalg.eigvalsh(S).min())
        self.stats = {"eig_min": eig_min}
        if not eig_min > 0:
            raise ValueError(f"a local velocity covariance is singular (smallest eigenvalue {eig_min:.2e})")
        s = -torch.linalg.solve(Si, (vd - ui).unsqueeze(-1)).squeeze(-1)
        return s.to(v.dtype)


class ExactScore(PhaseSpaceScore):
    """A given score function ``fn(x, v, t) -> (n, dv)`` (e.g. a closed form)."""

    name = "exact"

    def __init__(self, fn, *, label: str = "exact"):
        super().__init__()
        if not callable(fn):
            raise TypeError(f"fn must be callable (x, v, t) -> score, got {type(fn).__name__}")
        self.fn = fn
        self.label = label

    def params(self):
        return {"name": self.name, "label": self.label}

    def __call__(self, x, v, w, t=0.0, cells=None):
        return self.fn(x, v, t)


def make_score(score, **options) -> PhaseSpaceScore:
    """A score estimator from a name ("blob", "kde", "sbtm", "maxwellian", "gaussian") and its options,
    or an instance (returned as it is)."""
    if isinstance(score, PhaseSpaceScore):
        if options:
            raise TypeError(f"score options {sorted(options)} cannot be combined with a score instance")
        return score
    check_choice("score", score, SCORES)
    if score == "blob":
        return BlobScore(**options)
    if score == "kde":
        return BlobScore(two_term=False, **options)
    if score == "sbtm":
        return SBTMScore(**options)
    if score == "gaussian":
        return LocalGaussianScore(**options)
    return LocalMaxwellianScore(**options)
