"""Score-based transport modelling (SBTM) for the Landau equation (paper §3.1 and §5.1).

Pseudocode of the paper (book: "Score matching")::

    sample X_1..X_n from u_0
    fit s to grad log u_0 at the particles (relative L2 below a tolerance)
    while t < t_end:
        t += dt
        K gradient steps (Adam) on the denoising loss (3.5) at the current particles
        X_i -= dt/n sum_j A(X_i - X_j)(s(X_i) - s(X_j))

The optimiser state persists across time steps. Options: the exact implicit loss (3.4), the
D-weighted losses (3.3), and the adaptive strategy of §5.1 (train until the implicit loss
stops decreasing, checked every few steps).
"""

from __future__ import annotations

import logging
import math
import warnings

import torch

import numpy as np

from .._checks import check_bool, check_choice, check_int, check_positive, check_real
from .._stop import poll_stop
from ..equation.collision import collision_divergence, collision_matrix
from .losses import (denoising_loss, implicit_loss, relative_score_error, weighted_denoising_loss,
                     weighted_implicit_loss)
from .networks import ACTIVATIONS, INITS, score_mlp
from .base import ScoreEstimator
from .._state import generator_state, set_generator_state, tensor_state
from .._seeding import make_generator

__all__ = ["SBTM", "fit_initial_score", "fused_unsupported"]

LOSSES = ("denoising", "implicit", "weighted_denoising", "weighted_implicit")
BACKENDS = ("auto", "torch", "fused")
OPTIMIZERS = {"adam": torch.optim.Adam, "adamax": torch.optim.Adamax}
IMPLICIT_LOSSES = ("implicit", "weighted_implicit")
BETAS, ADAM_EPS = (0.9, 0.999), 1e-8        # torch.optim.Adam's (and Adamax's) defaults, used by both paths
_KERNELS = None
_log = logging.getLogger("landau_nb.scores.sbtm")


def _kernels():
    """The fused kernel module (numba), imported on first use; None without numba."""
    global _KERNELS
    if _KERNELS is None:
        try:
            from . import _sbtm_numba
        except ImportError:                                       # pragma: no cover - numba is a dependency
            _KERNELS = False
        else:
            _KERNELS = _sbtm_numba
    return _KERNELS or None


#: work (particles x dimension x width x depth) of the Adam steps trained in one call of the
#: fused step: more steps are cut into groups with a stop check between them, so that a run
#: at large n stops within about a second (one group: ~0.5 s on one core). At the paper's
#: sizes (n <= 25 600) every time step's training is one call, as before.
TRAINING_CHUNK_WORK = 2**30

#: particles per numba thread below which the fused step runs on fewer threads (thread
#: start-up costs more than it saves; results do not depend on the thread count)
MIN_PARTICLES_PER_THREAD = 256


def run_fused(x, z, theta, m1, m2, consts, adam, losses, d, width):
    """Call the fused kernel (see :func:`landau_nb.scores._sbtm_numba.adam_denoising`) on as many
    numba threads as the work S n warrants."""
    import numba
    kern = _kernels()
    total = numba.get_num_threads()
    use = max(1, min(total, -(-x.shape[0] * x.shape[1] // MIN_PARTICLES_PER_THREAD)))
    if use != total:
        numba.set_num_threads(use)
    try:
        kern.adam_denoising(x, z, theta, m1, m2, consts, adam, losses, d, width)
    finally:
        if use != total:
            numba.set_num_threads(total)


def train_fused(members, xs, steps: int) -> None:
    """``steps`` fused Adam steps of the denoising loss (3.5) for SBTM estimators ``members``
    (same n, d, width, alpha, dtype and device), member s at particles ``xs[s]``, in one pass
    per step: each member draws its own noise from its own stream, packs its network and Adam
    state, and gets them back updated. Depth 1 on the CPU: the numba kernel; deeper networks
    (CPU) and every depth on CUDA: the batched torch step with the analytic gradient
    (:mod:`landau_nb.scores._sbtm_torch`), captured in a CUDA graph on a GPU. Book: "Runtime"."""
    first = members[0]
    x = torch.stack([xi.detach() for xi in xs]).contiguous()
    S, n, d = x.shape
    z = torch.empty((S, steps, n, d), dtype=x.dtype, device=x.device)
    for s, (m, xi) in enumerate(zip(members, xs)):
        m.draw_noise(xi, steps, out=z[s])
    flat, views = _flat_workspace(first, S, x.dtype, x.device)
    theta, m1, m2 = flat
    step0 = [m.pack_into(tuple(f[s] for f in flat), views[s]) for s, m in enumerate(members)]
    adam64 = np.stack([m.adam_constants(st, steps) for m, st in zip(members, step0)])
    np_dtype = np.float32 if x.dtype == torch.float32 else np.float64
    consts = first.kernel_constants(n, np_dtype)
    if x.device.type == "cpu" and first.depth == 1:
        losses = np.empty((S, steps))
        run_fused(x.numpy(), z.numpy(), theta.numpy(), m1.numpy(), m2.numpy(), consts,
                  adam64.astype(np_dtype), losses, d, first.width)
    else:
        from . import _sbtm_torch
        adam = torch.as_tensor(adam64, dtype=x.dtype, device=x.device)
        loss_t = torch.empty((S, steps), dtype=x.dtype, device=x.device)
        graph = getattr(first, "_captured", None)
        if graph is None and x.device.type == "cuda":
            graph = first._captured = _sbtm_torch.CapturedSteps(consts, d, first.width, first.depth)
        if graph:
            try:
                graph.run(x, z, theta, m1, m2, adam, loss_t)
            except RuntimeError as exc:                   # capture refused: run the same ops uncaptured
                _log.info("CUDA graph capture of the SBTM step failed (%s); running uncaptured", exc)
                first._captured = False                   # theta, m1, m2 are only written at the end
                _sbtm_torch.adam_denoising_torch(x, z, theta, m1, m2, consts, adam, loss_t, d, first.width,
                                                 first.depth)
        else:
            _sbtm_torch.adam_denoising_torch(x, z, theta, m1, m2, consts, adam, loss_t, d, first.width,
                                             first.depth)
        losses = loss_t.double().cpu().numpy()
    for s, m in enumerate(members):
        m.unpack_from(views[s], step0[s] + steps)
        if m.record_losses:
            m.loss_log.extend((m.calls, float(v)) for v in losses[s])


def _flat_workspace(first, S: int, dtype, device):
    """(theta, m1, m2) flat buffers (S, P) for the fused step of S members shaped like ``first``,
    and per member the views of its rows shaped as its network's tensors (:func:`_unflatten`),
    kept on ``first`` between calls: packing and unpacking then copy tensor to tensor, without
    building the views each time (at n = 100, fresh copies and views cost about half the
    kernel's time). Every call overwrites all of it (:meth:`SBTM.pack_into`), so nothing
    carries over."""
    params = first._params()
    key = (S, dtype, device, tuple((tuple(p.shape), tr) for p, tr in params))
    ws = getattr(first, "_flat_ws", None)
    if ws is None or ws[0] != key:
        P = sum(p.numel() for p, _ in params)
        flat = tuple(torch.empty((S, P), dtype=dtype, device=device) for _ in range(3))
        views = [tuple(_unflatten(f[s], params) for f in flat) for s in range(S)]
        ws = first._flat_ws = (key, flat, views)
    return ws[1], ws[2]


def fused_unsupported(*, depth: int, loss: str, device, dtype=torch.float64, activation: str = "softsign",
                      optimizer: str = "adam") -> str | None:
    """Why the fused training step (book: "Runtime") cannot run this configuration, or None.

    It covers the paper's networks (softsign MLPs of any depth) with the denoising loss (3.5)
    and Adam, float32 or float64: depth 1 on the CPU by the numba kernel, deeper networks and
    CUDA by batched torch products with the analytic gradient (over chunks of particles that fit
    the cache on the CPU, in a CUDA graph on a GPU); and the implicit losses (3.4) and (3.3) with
    the exact divergence (forward tangents and the analytic backward, softsign or SiLU, Adam or
    Adamax, any depth; :func:`landau_nb.scores._sbtm_torch.implicit_gradient`).
    """
    reasons = []
    if loss == "weighted_denoising":
        reasons.append(f"loss={loss!r} (the fused step trains the denoising loss (3.5) and the implicit losses)")
    elif loss == "denoising":
        if activation != "softsign":
            reasons.append(f"activation={activation!r} with the denoising loss (the fused denoising step is "
                           "softsign's)")
        if optimizer != "adam":
            reasons.append(f"optimizer={optimizer!r} with the denoising loss (the fused denoising step is Adam's)")
    if torch.device(device).type not in ("cpu", "cuda"):
        reasons.append(f"device={str(device)!r} (the fused step runs on the CPU or CUDA)")
    if dtype not in (torch.float32, torch.float64):
        reasons.append(f"dtype={dtype}")
    if not reasons and loss == "denoising" and torch.device(device).type == "cpu" and _kernels() is None:
        reasons.append("numba is not installed")
    return "; ".join(reasons) or None


def _is_depth1_mlp(model) -> bool:
    return (isinstance(model, torch.nn.Sequential) and len(model) == 3
            and isinstance(model[0], torch.nn.Linear) and isinstance(model[1], torch.nn.Softsign)
            and isinstance(model[2], torch.nn.Linear) and model[0].in_features == model[2].out_features)


def mlp_layout(model):
    """(d, width, depth, activation) of a network of :func:`score_mlp`'s form R^d -> R^d (Linear
    layers of one width with softsign or SiLU between them), or None for any other module."""
    if not isinstance(model, torch.nn.Sequential) or len(model) % 2 == 0 or len(model) < 3:
        return None
    linears, acts = list(model)[::2], list(model)[1::2]
    kinds = {type(a) for a in acts}
    if not all(isinstance(m, torch.nn.Linear) for m in linears) or len(kinds) != 1 \
            or kinds.pop() not in (torch.nn.Softsign, torch.nn.SiLU):
        return None
    d, w = linears[0].in_features, linears[0].out_features
    if linears[-1].out_features != d or any(m.in_features != w for m in linears[1:]) \
            or any(m.out_features != w for m in linears[:-1]):
        return None
    return d, w, len(acts), "softsign" if isinstance(acts[0], torch.nn.Softsign) else "silu"


def flat_parameters(model) -> list:
    """The parameters of an MLP of :func:`score_mlp`'s form in the fused kernels' flat layout
    [W1^T, b1, (W^T, b) of further hidden layers, W_out, b_out]: (tensor, stored transposed)."""
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    out = []
    for k, lin in enumerate(linears):
        out += [(lin.weight, k < len(linears) - 1), (lin.bias, False)]
    return out


def adam_constants(lr: float, step0: int, steps: int) -> np.ndarray:
    """(steps, 2) float64: lr / (1 - beta1^t) and sqrt(1 - beta2^t) for t = step0+1.., computed as
    torch.optim.Adam computes them (Python floats; Adamax uses the first only)."""
    b1, b2 = BETAS
    ts = [float(t) for t in range(step0 + 1, step0 + steps + 1)]
    return np.array([(lr / (1 - b1**t), (1 - b2**t) ** 0.5) for t in ts], dtype=np.float64).reshape(steps, 2)


def _flatten(tensors, params) -> torch.Tensor:
    """``tensors`` (one per entry of :func:`flat_parameters`' list ``params``, same shapes) as one
    flat vector of that layout (a copy)."""
    return torch.cat([(t.detach().t() if tr else t.detach()).reshape(-1) for t, (_, tr) in zip(tensors, params)])


def _unflatten(v, params) -> list:
    """The inverse of :func:`_flatten`: views of the flat vector ``v`` shaped as ``params``' tensors."""
    v = torch.as_tensor(v)
    out, off = [], 0
    for p, tr in params:
        piece = v[off:off + p.numel()].reshape(tuple(p.shape[::-1]) if tr else tuple(p.shape))
        out.append(piece.t() if tr else piece)
        off += p.numel()
    return out


def pack_parameters(model) -> torch.Tensor:
    """A copy of the network's parameters as one flat vector (:func:`flat_parameters`' layout)."""
    params = flat_parameters(model)
    return _flatten([p for p, _ in params], params)


def unpack_parameters(model, theta) -> None:
    """Write a flat vector of :func:`pack_parameters`' layout back into the network."""
    params = flat_parameters(model)
    with torch.no_grad():
        for (p, _), new in zip(params, _unflatten(theta, params)):
            p.copy_(new)


def fit_initial_score(model, x: torch.Tensor, target: torch.Tensor, *, tol: float = 1e-4,
                      lr: float = 1e-3, max_iter: int = 20_000, batch_size: int = 256,
                      generator: torch.Generator | None = None, check_every: int = 50,
                      backend: str = "torch", optimizer: str = "adam") -> dict:
    """Fit ``model`` to the known initial score (pseudocode line 3) with Adam on minibatches,
    until the relative L2 error sum|s - target|^2 / sum|target|^2 over all particles is below
    ``tol`` or ``max_iter`` steps are done. Returns {"steps", "relative_error"}; warns when
    the tolerance was not reached (the nearly singular BKW score at t0 is the usual case).
    ``backend="fused"`` (on the CPU, for a network of :func:`score_mlp`'s form): the same
    minibatches, loss and update to round-off without autograd: the numba kernel for one
    softsign layer and Adam, otherwise the analytic backward in batched products
    (:func:`landau_nb.scores._sbtm_torch.regression_gradient`, any depth, softsign or SiLU, Adam or
    Adamax); "torch" (autograd and torch.optim) is the reference.
    ``optimizer``: "adam" [default] or "adamax" (Huang and Wang's fit: Adamax, full batch).
    Book: "Score matching"; the speed: "Runtime".
    """
    tol = check_positive("init_tol", tol)
    max_iter = check_int("init_max_iter", max_iter, low=1)
    batch_size = check_int("init_batch_size", batch_size, low=1)
    check_choice("backend", backend, ("torch", "fused"))
    check_choice("optimizer", optimizer, tuple(OPTIMIZERS))
    layout = mlp_layout(model)
    if backend == "fused" and (layout is None or x.device.type != "cpu"):
        raise ValueError("fit_initial_score(backend='fused') needs a network of score_mlp's form "
                         "(softsign or SiLU layers, R^d -> R^d) on the CPU; use backend='torch'")
    numba_fit = (backend == "fused" and _is_depth1_mlp(model) and optimizer == "adam"
                 and _kernels() is not None)
    analytic_fit = backend == "fused" and not numba_fit
    n = x.shape[0]
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=check_positive("init_lr", lr), betas=BETAS, eps=ADAM_EPS)
    norm = (target**2).sum()

    def rel_error():
        with torch.no_grad():
            return float(((model(x) - target) ** 2).sum() / norm)

    if numba_fit:
        d, width = layout[:2]
        theta = pack_parameters(model).numpy()
        m1, m2 = np.zeros_like(theta), np.zeros_like(theta)
        xs, ts = x.detach().contiguous().numpy(), target.detach().contiguous().numpy()
        consts = np.array([1.0, 0, 0, 0, 1 - BETAS[0], BETAS[1], 1 - BETAS[1], ADAM_EPS], dtype=xs.dtype)
    if analytic_fit:
        from . import _sbtm_torch
        d, width, depth, activation = layout
        theta_t = pack_parameters(model)[None].contiguous()
        m1_t, m2_t = torch.zeros_like(theta_t), torch.zeros_like(theta_t)
        xd, td = x.detach()[None].contiguous(), target.detach()[None].contiguous()
        consts_t = [1.0, 0.0, 0.0, 0.0, 1 - BETAS[0], BETAS[1], 1 - BETAS[1], ADAM_EPS]

    err = rel_error()
    steps = 0
    while err > tol and steps < max_iter:
        poll_stop()
        block = min(check_every, max_iter - steps)
        if numba_fit:
            if n > batch_size:
                rows = torch.stack([torch.randint(n, (batch_size,), generator=generator, device="cpu")
                                    for _ in range(block)]).numpy()
            else:
                rows = np.tile(np.arange(n), (block, 1))
            adam = adam_constants(lr, steps, block).astype(xs.dtype)
            losses = np.empty(block)
            _kernels().adam_regression(xs, ts, rows, theta, m1, m2, consts, adam, losses, d, width)
            unpack_parameters(model, torch.from_numpy(theta))
            steps += block
        elif analytic_fit:
            adam = torch.from_numpy(adam_constants(lr, steps, block)).to(x.dtype)[:, None]
            for k in range(block):
                if n > batch_size:
                    idx = torch.randint(n, (batch_size,), generator=generator, device="cpu")
                    xb, tb = xd[:, idx], td[:, idx]
                else:
                    xb, tb = xd, td
                _, grad = _sbtm_torch.regression_gradient(xb, tb, theta_t, d, width, depth, activation)
                _sbtm_torch.optimizer_update(theta_t, m1_t, m2_t, grad, consts_t, adam[k], optimizer)
                steps += 1
            unpack_parameters(model, theta_t[0])
        else:
            for _ in range(block):
                if n > batch_size:
                    idx = torch.randint(n, (batch_size,), generator=generator, device="cpu").to(x.device)
                    xb, tb = x[idx], target[idx]
                else:
                    xb, tb = x, target
                opt.zero_grad(set_to_none=True)
                loss = ((model(xb) - tb) ** 2).sum() / (tb**2).sum()
                loss.backward()
                opt.step()
                steps += 1
        err = rel_error()
        if not math.isfinite(err):
            raise FloatingPointError(f"initial score fit diverged after {steps} steps (relative error {err}); "
                                     "lower init_lr")
    if err > tol:
        warnings.warn(f"initial score fit stopped at relative L2 error {err:.2e} > init_tol={tol:.0e} "
                      f"after {steps} steps", RuntimeWarning, stacklevel=2)
    return {"steps": steps, "relative_error": err}


class SBTM(ScoreEstimator):
    """SBTM score estimator: an MLP trained by score matching at the current particles.

    Parameters (paper defaults in brackets)
    ----------
    width [100], depth [1; 2 for BKW] : network shape (hidden layers of softsign units).
    lr [4e-4] : Adam learning rate of the per-step training.
    K [25] : gradient steps per time step (non-adaptive).
    alpha [0.4] : denoising constant of (3.5).
    loss : "denoising" (3.5) [default], "implicit" (3.4, exact autograd divergence),
        "weighted_denoising" or "weighted_implicit" (3.3, weighted by the collision matrix).
    adaptive [False] : §5.1 strategy: repeat ``check_every`` steps of the chosen loss until the
        exact implicit loss (3.4) stops decreasing (or ``max_steps`` steps). What "stops
        decreasing" means: a decrease over the last ``check_every`` steps of at most
        ``adaptive_rtol`` times the loss [0: the first non-decrease, this package's rule], or of
        less than ``adaptive_atol`` [0] in absolute terms. The authors' code (GradientFlows.jl,
        ``scripts/denoising.jl``, ``StoppingStrategy()``, which made Fig. 5.1) stops when the
        implicit loss falls by less than 0.005/5 over 5 steps, at most 400:
        ``check_every=5, adaptive_atol=1e-3, max_steps=400``.
    restart_optimizer [False] : a fresh Adam (zero moments) at every time step, as the authors'
        Fig. 5.1 script does (``Flux.setup(Adam(η), s)`` inside its training call); by default
        one Adam is kept over the whole run.
    init_tol [1e-4], init_lr, init_max_iter, init_batch_size : the initial fit.
    record_losses : False; True keeps a per-gradient-step log of the training loss
        (``loss_log``: rows (time step, loss)); "all" logs after every gradient step the
        denoising loss (3.5) (one fresh noise draw), the implicit loss (3.4) with the exact
        divergence and, where the problem has a closed-form score, the normalised score error
        (rows (time step, denoising, implicit, score error); NaN where unknown): the three curves
        of the authors' Fig. 5.1. "all" trains with the torch path (the fused step logs one loss).
    backend ["auto"] : "torch" (autograd and torch.optim.Adam, the reference), "fused" (the
        analytic backward of (3.5) and Adam fused, the denoising loss only: one numba sweep
        per Adam step for depth 1 on the CPU, batched products over cache-sized chunks of
        particles for deeper networks on the CPU, a CUDA graph of batched products on a GPU;
        the same loss, gradients, update and noise to round-off), or "auto" (fused on the CPU
        where supported, else torch, saying so once in the "landau_nb.scores.sbtm" log). With
        ``loss="implicit"`` or ``"weighted_implicit"``, "fused" trains with the exact divergence by
        forward tangents and the analytic backward (any depth, both activations, Adam or Adamax;
        the same loss and gradient as autograd to round-off, several times cheaper); "auto" keeps
        autograd for these losses (committed runs were made with it). The initial fit follows:
        the numba kernel wherever the fused step trains one softsign layer with Adam, the analytic
        backward of :func:`fit_initial_score` for any other network only with "fused" ("auto"
        keeps autograd's fit for them, as the committed runs were made). Book: "Runtime".
    activation ["softsign"] : hidden-layer activation, "softsign" (the paper) or "silu" (Huang
        and Wang's code).
    weight_init ["uniform"] : weight initialisation, "uniform" (torch's Linear default) or "trunc_normal"
        (Huang and Wang: N(0, 1/fan_in) truncated to [-2, 2], zero biases).
    optimizer ["adam"] : "adam" or "adamax" (Huang and Wang; with ``restart_optimizer=True`` a fresh
        one each time step, as their code), for the per-step training and the initial fit alike.

    Huang and Wang's recipe (2-D BKW, their ``ScoreLandau_BKW.py``): ``width=32, depth=4,
    activation="silu", weight_init="trunc_normal", optimizer="adamax", restart_optimizer=True,
    loss="implicit", K=50, lr=5e-4, init_lr=1e-3``, a full-batch initial fit
    (``init_batch_size >= n``), float32.
    """

    name = "sbtm"

    def __init__(self, *, width: int = 100, depth: int = 1, lr: float = 4e-4, K: int = 25,
                 alpha: float = 0.4, loss: str = "denoising", adaptive: bool = False,
                 check_every: int = 5, max_steps: int = 500, adaptive_rtol: float = 0.0,
                 adaptive_atol: float = 0.0, restart_optimizer: bool = False,
                 init_tol: float = 1e-4, init_lr: float = 1e-3, init_max_iter: int = 20_000,
                 init_batch_size: int = 256, record_losses: bool | str = False, backend: str = "auto",
                 activation: str = "softsign", weight_init: str = "uniform", optimizer: str = "adam"):
        super().__init__()
        self.width = check_int("width", width, low=1)
        self.depth = check_int("depth", depth, low=1)
        self.lr = check_positive("lr", lr)
        self.K = check_int("K", K, low=0)
        self.alpha = check_positive("alpha", alpha)
        self.loss = check_choice("loss", loss, LOSSES)
        self.adaptive = check_bool("adaptive", adaptive)
        self.check_every = check_int("check_every", check_every, low=1)
        self.max_steps = check_int("max_steps", max_steps, low=1)
        self.adaptive_rtol = check_real("adaptive_rtol", adaptive_rtol, low=0.0, high=1.0)
        self.adaptive_atol = check_real("adaptive_atol", adaptive_atol, low=0.0)
        self.restart_optimizer = check_bool("restart_optimizer", restart_optimizer)
        self.init_tol = check_positive("init_tol", init_tol)
        self.init_lr = check_positive("init_lr", init_lr)
        self.init_max_iter = check_int("init_max_iter", init_max_iter, low=1)
        self.init_batch_size = check_int("init_batch_size", init_batch_size, low=1)
        if record_losses == "all":
            self.record_losses = "all"
        elif isinstance(record_losses, bool):
            self.record_losses = record_losses
        else:
            raise TypeError(f"record_losses must be True or False or 'all', got {record_losses!r}")
        self.backend = check_choice("backend", backend, BACKENDS)
        self.activation = check_choice("activation", activation, tuple(ACTIVATIONS))
        self.weight_init = check_choice("weight_init", weight_init, INITS)
        self.optimizer_name = check_choice("optimizer", optimizer, tuple(OPTIMIZERS))
        if self.backend == "fused":
            why = fused_unsupported(depth=self.depth, loss=self.loss, device="cpu", activation=self.activation,
                                    optimizer=self.optimizer_name)
            if why:
                raise ValueError(f"backend='fused' does not support {why}; use backend='torch' or 'auto'")
        self.backend_used = None
        self.model = None
        self.optimizer = None
        self.loss_log: list[tuple[int, float]] = []
        self.init_report: dict = {}
        self.calls = 0

    def params(self) -> dict:
        keys = ("width", "depth", "lr", "K", "alpha", "loss", "adaptive", "check_every", "max_steps",
                "adaptive_rtol", "init_tol", "init_lr", "init_max_iter", "init_batch_size", "backend")
        out = {"name": self.name, **{k: getattr(self, k) for k in keys}, "init": self.init_report}
        # options added later: recorded when set, so older runs' parameters read the same
        for k, attr, default in (("adaptive_atol", "adaptive_atol", 0.0),
                                 ("restart_optimizer", "restart_optimizer", False),
                                 ("activation", "activation", "softsign"), ("weight_init", "weight_init", "uniform"),
                                 ("optimizer", "optimizer_name", "adam")):
            if getattr(self, attr) != default:
                out[k] = getattr(self, attr)
        return out

    def _new_optimizer(self):
        return OPTIMIZERS[self.optimizer_name](self.model.parameters(), lr=self.lr, betas=BETAS, eps=ADAM_EPS)

    # ----------------------------------------------------------------------------------
    def initialize(self, problem, x, t, seed=0):
        super().initialize(problem, x, t, seed)
        self._seed = seed
        gen_init = make_generator(seed, "sbtm/network")
        self.model = score_mlp(problem.d, width=self.width, depth=self.depth, generator=gen_init,
                               dtype=x.dtype, device=x.device, activation=self.activation, init=self.weight_init)
        self._batch_gen = make_generator(seed, "sbtm/init-batches")
        self.noise_gen = make_generator(seed, "sbtm/noise", device=x.device)
        target = problem.initial_score(x)
        self._resolve_backend(x)
        # the initial fit without autograd: the numba kernel wherever the fused step trains a
        # one-layer softsign network with Adam; the analytic backward for other networks only when
        # asked for (backend="fused"): committed runs of deeper networks were fitted with autograd
        on_cpu = x.device.type == "cpu" and mlp_layout(self.model) is not None
        numba_fit = self.backend_used == "fused" and self.depth == 1 and _is_depth1_mlp(self.model) \
            and self.optimizer_name == "adam"
        fit_backend = "fused" if on_cpu and (numba_fit or self.backend == "fused") else "torch"
        self.init_report = fit_initial_score(self.model, x, target, tol=self.init_tol, lr=self.init_lr,
                                             max_iter=self.init_max_iter, batch_size=self.init_batch_size,
                                             generator=self._batch_gen, backend=fit_backend,
                                             optimizer=self.optimizer_name)
        self.optimizer = self._new_optimizer()
        self.loss_log = []
        self.calls = 0

    def get_state(self):
        """Network weights, Adam moments and the noise stream (for checkpoints)."""
        arrays = tensor_state("model", self.model.state_dict())
        opt = self.optimizer.state_dict()["state"]
        arrays.update(tensor_state("optimizer", {str(i): st for i, st in opt.items()}))
        arrays["noise_gen"] = generator_state(self.noise_gen)
        if hasattr(self, "_monitor_gen"):
            arrays["monitor_gen"] = generator_state(self._monitor_gen)
        if self.loss_log:
            arrays["loss_log"] = np.asarray(self.loss_log, dtype=np.float64)
        meta = {"calls": self.calls, "init_report": self.init_report,
                "optimizer_keys": {str(i): sorted(st) for i, st in opt.items()}}
        return arrays, meta

    def set_state(self, problem, x, t, seed, arrays, meta):
        ScoreEstimator.initialize(self, problem, x, t, seed)
        self.model = score_mlp(problem.d, width=self.width, depth=self.depth, dtype=x.dtype, device=x.device,
                               activation=self.activation)
        self.model.load_state_dict({k[6:]: torch.from_numpy(v) for k, v in arrays.items()
                                    if k.startswith("model.")})
        self.optimizer = self._new_optimizer()
        sd = self.optimizer.state_dict()
        sd["state"] = {int(i): {key: torch.from_numpy(arrays[f"optimizer.{i}.{key}"].copy()) for key in keys}
                       for i, keys in meta["optimizer_keys"].items()}
        self.optimizer.load_state_dict(sd)
        self.noise_gen = make_generator(seed, "sbtm/noise", device=x.device)
        set_generator_state(self.noise_gen, arrays["noise_gen"])
        rows = arrays["loss_log"].tolist() if "loss_log" in arrays else []
        self.loss_log = [(int(row[0]), *row[1:]) for row in rows]
        self._seed = seed
        if "monitor_gen" in arrays:
            self._monitor_gen = make_generator(seed, "sbtm/monitor", device=x.device)
            set_generator_state(self._monitor_gen, arrays["monitor_gen"])
        self.calls = int(meta["calls"])
        self.init_report = meta["init_report"]
        self._resolve_backend(x)

    _fallback_said: set = set()

    def _resolve_backend(self, x):
        """Pick the training path for particles like x (once per run)."""
        if self.backend == "torch":
            self.backend_used = "torch"
            return
        if self.record_losses == "all":
            if self.backend == "fused":
                raise ValueError("record_losses='all' logs three losses per gradient step, which the fused "
                                 "step does not compute; use backend='torch' or 'auto'")
            self.backend_used = "torch"
            return
        why = fused_unsupported(depth=self.depth, loss=self.loss, device=x.device, dtype=x.dtype,
                                activation=self.activation, optimizer=self.optimizer_name)
        if why and self.backend == "fused":
            raise ValueError(f"backend='fused' does not support {why}; use backend='torch' or 'auto'")
        if not why and self.backend == "auto" and self.loss in IMPLICIT_LOSSES:
            # committed runs of the implicit losses were trained with autograd; the analytic step
            # (the same gradient to round-off) is chosen explicitly
            why = f"loss={self.loss!r} with backend='auto' (pass backend='fused' for the analytic implicit step)"
        if not why and self.backend == "auto" and x.device.type != "cpu":
            # the CUDA-graph step is chosen explicitly (backend="fused") until it has been
            # checked on a GPU by `make gpu-check`
            why = f"device={str(x.device)!r} with backend='auto' (pass backend='fused' for the CUDA-graph step)"
        if why:
            if why not in SBTM._fallback_said:              # said once per configuration and process
                SBTM._fallback_said.add(why)
                _log.info("SBTM backend='auto' trains with torch: the fused step does not support %s", why)
            self.backend_used = "torch"
        else:
            self.backend_used = "fused"

    def _weights(self, x):
        if not self.loss.startswith("weighted"):
            return None, None
        p = self.problem
        if not p.equation.collisional:
            raise ValueError(f"loss={self.loss!r} needs a Landau problem (collision-matrix weight); "
                             f"{p.name} is a {p.equation.name} problem")
        return (collision_matrix(x, gamma=p.gamma, B=p.B),
                collision_divergence(x, gamma=p.gamma, B=p.B))

    def training_loss(self, x, D=None, div_D=None):
        """One draw of the chosen training loss at particles x (fresh noise for denoising)."""
        if self.loss in ("denoising", "weighted_denoising"):
            z = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=self.noise_gen)
            if self.loss == "denoising":
                return denoising_loss(self.model, x, z, self.alpha)
            return weighted_denoising_loss(self.model, x, z, self.alpha, D, div_D)
        if self.loss == "implicit":
            return implicit_loss(self.model, x, create_graph=True)
        return weighted_implicit_loss(self.model, x, D, div_D, create_graph=True)

    # ---- the fused path: parameters and Adam moments packed into flat vectors -------------
    def _params(self):
        """The network's tensors in the flat layout's order and, per tensor, whether it is
        stored transposed: hidden layers as W^T (fan_in, w) and b, the output layer as W (d, w)
        and b."""
        return flat_parameters(self.model)

    def pack(self):
        """(theta, exp_avg, exp_avg_sq, step): flat tensors in the fused kernels' layout
        [W1^T, b1, (W^T, b) of further hidden layers, W_out, b_out] (copies; Adam moments zero
        and step 0 before the first step)."""
        params = self._params()
        p0 = params[0][0]
        flat = torch.empty((3, sum(p.numel() for p, _ in params)), dtype=p0.dtype, device=p0.device)
        step = self.pack_into(tuple(flat), tuple(_unflatten(f, params) for f in flat))
        return flat[0], flat[1], flat[2], step

    def pack_into(self, flat, views) -> int:
        """:meth:`pack` into given flat vectors ``flat`` = (theta, m1, m2) whose :func:`_unflatten`
        views are ``views``; returns the optimiser's step."""
        params = self._params()
        states = [self.optimizer.state.get(p, {}) for p, _ in params]
        with torch.no_grad():
            for (p, _), v in zip(params, views[0]):
                v.copy_(p)
            if not all(states):
                flat[1].zero_()
                flat[2].zero_()
                return 0
            for st, v1, v2 in zip(states, views[1], views[2]):
                v1.copy_(st["exp_avg"])
                v2.copy_(st[self._second_moment])
        steps = {float(st["step"]) for st in states}
        if len(steps) != 1:
            raise RuntimeError(f"the Adam state of the SBTM network is inconsistent (steps {sorted(steps)})")
        return int(steps.pop())

    def unpack(self, theta, m1, m2, step):
        """Write flat vectors from :meth:`pack`'s layout back into the network and the torch
        optimiser's state (so get_state/set_state and checkpoints are the torch path's)."""
        params = self._params()
        self.unpack_from(tuple(_unflatten(v, params) for v in (theta, m1, m2)), step)

    def unpack_from(self, views, step):
        """:meth:`unpack` from the :func:`_unflatten` views (theta, m1, m2) of flat vectors."""
        params = self._params()
        with torch.no_grad():
            for (p, _), new in zip(params, views[0]):
                p.copy_(new)
            for (p, _), e1, e2 in zip(params, views[1], views[2]):
                st = self.optimizer.state[p]
                if not st:
                    # as torch.optim.Adam's lazy state initialisation (_get_scalar_dtype)
                    st["step"] = torch.tensor(0.0, dtype=torch.float64 if torch.get_default_dtype()
                                              == torch.float64 else torch.float32)
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st[self._second_moment] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["step"].fill_(float(step))
                st["exp_avg"].copy_(e1)
                st[self._second_moment].copy_(e2)

    @property
    def _second_moment(self) -> str:
        """The torch optimiser's name for its second state tensor (Adam's squares, Adamax's infinity norm)."""
        return "exp_avg_sq" if self.optimizer_name == "adam" else "exp_inf"

    def adam_constants(self, step0: int, steps: int) -> np.ndarray:
        """:func:`adam_constants` at this estimator's learning rate."""
        return adam_constants(self.lr, step0, steps)

    def kernel_constants(self, n: int, dtype) -> np.ndarray:
        """Scalars of the fused kernel: [1, alpha, 2/n, 1/(alpha n), 1 - beta1, beta2, 1 - beta2, eps]."""
        b1, b2 = BETAS
        return np.array([1.0, self.alpha, 2.0 / n, 1.0 / (self.alpha * n), 1 - b1, b2, 1 - b2, ADAM_EPS],
                        dtype=dtype)

    def draw_noise(self, x, steps, out=None):
        """The noise of ``steps`` Adam steps, (steps, n, d): draw k is exactly what the torch path's
        k-th ``torch.randn(x.shape, generator=noise_gen)`` gives."""
        z = torch.empty((steps,) + tuple(x.shape), dtype=x.dtype, device=x.device) if out is None else out
        for k in range(steps):
            z[k].normal_(generator=self.noise_gen)
        return z

    def _fused_steps(self, x, steps):
        train_fused([self], [x], steps)

    def _implicit_steps(self, x, steps, D, div_D):
        """``steps`` optimiser steps on the implicit loss (3.4) or (3.3) with the exact divergence by
        forward tangents and the analytic backward (:mod:`landau_nb.scores._sbtm_torch`)."""
        from . import _sbtm_torch
        theta, m1, m2, step = self.pack()
        theta, m1, m2 = (v[None].contiguous() for v in (theta, m1, m2))
        adam = torch.as_tensor(self.adam_constants(step, steps)[None], dtype=x.dtype, device=x.device)
        losses = torch.empty((1, steps), dtype=x.dtype, device=x.device)
        consts = self.kernel_constants(x.shape[0], np.float64)
        _sbtm_torch.adam_implicit_torch(x[None].contiguous(), theta, m1, m2, consts, adam, losses, x.shape[1],
                                        self.width, self.depth, self.activation, self.optimizer_name,
                                        None if D is None else D[None].contiguous(),
                                        None if div_D is None else div_D[None].contiguous())
        self.unpack(theta[0], m1[0], m2[0], step + steps)
        if self.record_losses:
            self.loss_log.extend((self.calls, float(v)) for v in losses[0].double().cpu())

    def _gd_steps(self, x, steps, D, div_D):
        if self.backend_used == "fused" and self.loss in IMPLICIT_LOSSES:
            self._implicit_steps(x, steps, D, div_D)
            return
        if self.backend_used == "fused":
            # at large n, groups of Adam steps with a stop check between them (the same steps,
            # noise and updates as one call: bit-identical)
            per = max(1, int(TRAINING_CHUNK_WORK // max(1, x.shape[0] * x.shape[1] * self.width * self.depth)))
            done = 0
            while done < steps:
                poll_stop()
                k = min(per, steps - done)
                self._fused_steps(x, k)
                done += k
            return
        for _ in range(steps):
            poll_stop()
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.training_loss(x, D, div_D)
            loss.backward()
            self.optimizer.step()
            if self.record_losses == "all":
                self.loss_log.append((self.calls, *self._monitor(x)))
            elif self.record_losses:
                self.loss_log.append((self.calls, float(loss.detach())))

    def _monitor(self, x) -> tuple[float, float, float]:
        """(denoising loss, implicit loss, normalised score error) of the current network at x
        (``record_losses="all"``): the authors' Fig. 5.1 curves. The denoising loss takes its
        noise from a stream of its own, so the training's noise is the same with or without it."""
        if not hasattr(self, "_monitor_gen"):
            self._monitor_gen = make_generator(self._seed, "sbtm/monitor", device=x.device)
        z = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=self._monitor_gen)
        with torch.no_grad():
            den = float(denoising_loss(self.model, x, z, self.alpha))
        imp = float(implicit_loss(self.model, x).detach())
        err = float("nan")
        p, t = self.problem, self._time
        if t is not None and p.has_exact_solution:
            with torch.no_grad():
                err = float(relative_score_error(self.model(x).to(torch.float64), p.score(x.to(torch.float64), t)))
        return den, imp, err

    def _stop(self, best: float, current: float) -> bool:
        """The adaptive rule: stop when the implicit loss fell by at most ``adaptive_rtol`` times
        its value (this package) or by less than ``adaptive_atol`` (the authors' code)."""
        decrease = best - current
        return not decrease > self.adaptive_rtol * abs(best) or decrease < self.adaptive_atol

    def train(self, x: torch.Tensor, t: float | None = None) -> int:
        """Train at particles x (time t, used only by ``record_losses="all"``) as the paper's
        step 6; returns the number of gradient steps."""
        x = x.detach()
        self._time = t
        if self.restart_optimizer:
            self.optimizer = self._new_optimizer()
        D, div_D = self._weights(x)
        if not self.adaptive:
            self._gd_steps(x, self.K, D, div_D)
            return self.K
        best = float(implicit_loss(self.model, x).detach())
        steps = 0
        while steps < self.max_steps:
            chunk = min(self.check_every, self.max_steps - steps)
            self._gd_steps(x, chunk, D, div_D)
            steps += chunk
            current = float(implicit_loss(self.model, x).detach())
            if self._stop(best, current):
                break
            best = current
        return steps

    def field(self, t):
        return self.model

    def __call__(self, x, t):
        if self.model is None:
            raise RuntimeError("SBTM.initialize(problem, x, t) must be called before use")
        steps = self.train(x, t)
        self.calls += 1
        self.stats = {"gd_steps": steps}
        with torch.no_grad():
            return self.model(x)
