"""SBTM training side by side with Huang and Wang's recipe (issue 25; book: "Runtime").

    python benchmarks/sbtm_peers.py [--parts train,score,jax] [--ns 400,1600,6400] [--repeats 5]
                                    [--out benchmarks/results/sbtm_peers.json]
                                    [--jax-out benchmarks/results/sbtm_peers_jax.json] [--jax-own-n N]

The peer, Huang and Wang's PyTorch code for the score-based particle method (the repository
Hv1000/Score-based-particle-methods-for-Landau-equation, ``ScoreLandau_BKW.py``), is written
here as a user of that code runs it, from reading it (not copied): 2-D BKW with C = 1/16, an MLP
2 -> 32 x 4 -> 2 with SiLU and truncated-normal weights (std 1/sqrt(fan_in), zero biases),
float32; each time step builds a fresh ``torch.optim.Adamax(lr=5e-4)`` and takes K = 50
full-batch steps of the exact implicit loss (3.4), the divergence by
``torch.vmap(torch.func.jacrev(net))`` (their ``ism_train``, with the relative L2 check every
10 epochs that it prints); the initial fit is full-batch Adamax (lr 1e-3) on the relative L2
error until 1e-4 (their ``L2_train``); particles move by their random-batch velocity (batches
of 1280, forward Euler).

landau_nb runs the same recipe through ``SBTM(width=32, depth=4, activation="silu",
weight_init="trunc_normal", optimizer="adamax", restart_optimizer=True, loss="implicit", K=50,
lr=5e-4)``: ``backend="fused"`` (the analytic implicit step: forward tangents, exact
divergence, analytic backward) and ``backend="torch"`` (autograd, what ``backend="auto"`` does
for this loss) side by side. Same particles (BKW at the peer's t = 0.01, one sample), one thread
each, the contenders alternated, min and median of ``--repeats`` of the wall time and of the
process's CPU time (the machine is shared: the CPU time does not count preemptions; the load
average is recorded). Parts:

* ``train``: the training of one time step (K = 50 optimiser steps from the same network).
* ``fit``: the initial fit (relative L2 below 1e-4) of each, steps and CPU time.
* ``score``: a short run (``--score-steps`` time steps, n = ``--score-n``) of each recipe from the
  same particles; the normalised score error sum |s - grad log u|^2 / sum |grad log u|^2 at
  the end (the peer's velocity is its random-batch one, landau_nb's the exact gamma = 0 sum).
* ``jax``: the first author's JAX code (the repository Vilin97/Vlasov-Landau-SBTM at commit
  5da5d22, its files as last changed in 0d146d5), written here as a user of that code runs it,
  from reading it (not copied): its SBTM is for the 1D-dV Vlasov-Landau equation
  (``experiments/vlasov-landau-damping.py``, ``--score_method sbtm``), so only its
  score-training step is timed, on velocity samples of the same dimension (the same 2-D BKW
  particles as ``train``; dv = 2 is its default) with its network's position input fed positions
  drawn from its Landau-damping density (1 + 0.1 cos(x/2)) / 4 pi. Its recipe (argparse defaults
  of that script; ``src/score_model.py``, ``src/loss.py``, ``src/utils.py``):
  ``MLPScoreModel(dx=1, dv=2, hidden_dims=(256, 256))``, i.e. (x, v) in R^3 -> 256 -> 256 -> R^2
  with softsign, flax ``nnx.Linear`` defaults (LeCun-normal kernels: truncated normal, variance
  1/fan_in; zero biases), float32 layers; the implicit loss (3.4) with the divergence by
  Hutchinson's estimator (one Rademacher vector per particle, a forward-mode JVP;
  ``implicit_score_matching_loss``); ``optax.adamw(2e-4)`` (weight decay 1e-4) built once before
  the time loop, so its state persists across time steps; per time step ``train_score_model``:
  100 steps on minibatches of 20 000 from a fresh permutation each pass (full batch, shuffled,
  for n <= 20 000), each step one ``nnx.jit``-compiled call. Run here on the installed flax
  (``nnx.List`` for the layer list, ``nnx.Optimizer(..., wrt=nnx.Param)`` and ``update(model,
  grads)``: the current API of what the peer writes) with x64 off (its ``--fp32``; its layers
  compute in float32 either way). Compiled and warmed up before timing, ``block_until_ready`` at
  the end; one thread (``XLA_FLAGS`` and ``OMP_NUM_THREADS`` are set before jax is imported, and
  the CPU client's asynchronous dispatch is off: with it the Python loop runs beside the
  computation on a second core, the same CPU time, a shorter wall time where a core is free).
  Beside it, landau_nb's ``SBTM`` at that recipe as closely as its options allow
  (``JAX_RECIPE``: width 256, depth 2, softsign, truncated-normal init, Adam without weight
  decay, persistent optimiser, K = 100 full-batch steps, lr 2e-4, float32; started from the
  peer's weights, the position column dropped) with the exact-divergence implicit loss
  (``backend="fused"``) and with its stochastic analogue, the denoising loss (3.5)
  (``backend="fused"``), and landau_nb's own default ``SBTM()`` (width 100, depth 1, K = 25,
  denoising, Adam lr 4e-4, float64). Written to ``benchmarks/results/sbtm_peers_jax.json``
  (``--jax-out``). ``--jax-own-n N`` also times the peer alone at its own particle number (10^6:
  its 100 minibatch steps of 20 000; landau_nb trains full batch, so it is not run there). In
  the default parts only when jax is importable; otherwise skipped with a message (jax is not a
  dependency of this project: run it from a separate environment that also sees this one's
  packages, e.g. a venv with a ``.pth`` file naming this environment's site-packages). Measured
  (2 shared cores, load 4-5; CPU time, min of 5): the peer over landau_nb's implicit step 1.7x,
  1.9x, 2.2x at n = 400, 1600, 6400; over its denoising step 1.9x, 2.0x, 2.4x.

Not a test; pytest collects only tests/.
"""

from __future__ import annotations

import os

# one thread for XLA's CPU backend and OpenMP: set before jax (and torch) are imported
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import landau_nb as ln  # noqa: E402

C, D, WIDTH, LAYERS, K, LR, INIT_LR = 1 / 16, 2, 32, 5, 50, 5e-4, 1e-3
T_PEER0 = 0.01                                    # the peer fits its first network at t = dt
T0 = 8 * math.log(2) + T_PEER0                    # landau_nb's BKW time of the peer's t (B = C)
RECIPE = dict(width=WIDTH, depth=LAYERS - 1, activation="silu", weight_init="trunc_normal", optimizer="adamax",
              restart_optimizer=True, loss="implicit", K=K, lr=LR, init_lr=INIT_LR)


# ------------------------------------------------------------------ the peer, as its users run it
class PeerMLP(nn.Module):
    """Huang and Wang's network: Linear layers with SiLU between, truncated-normal weights."""

    def __init__(self, d=D, width=WIDTH, layers=LAYERS, generator=None):
        super().__init__()
        sizes = [d] + [width] * (layers - 1) + [d]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = nn.SiLU()
        for lin in self.layers:
            nn.init.trunc_normal_(lin.weight, mean=0.0, std=math.sqrt(1 / lin.in_features), generator=generator)
            nn.init.constant_(lin.bias, 0.0)

    def forward(self, v):
        for lin in self.layers[:-1]:
            v = self.act(lin(v))
        return self.layers[-1](v)


def peer_exact_score(v, t):
    """Their 2-D BKW score at their time t (K = 1 - exp(-2Ct)/2)."""
    k = 1 - math.exp(-2 * C * t) / 2
    r2 = (v**2).sum(1, keepdim=True)
    return (-1 / k + (1 - k) / ((2 * k - 1) * k + (1 - k) / 2 * r2)) * v


def peer_ism_train(net, v, t, lr=LR, epochs=K, log=None):
    """Their per-step training: a fresh Adamax, full-batch implicit score matching, the exact
    divergence by vmap(jacrev), the relative L2 error checked every 10 epochs."""
    opt = torch.optim.Adamax(net.parameters(), lr=lr)
    for epoch in range(epochs):
        opt.zero_grad()
        s = net(v)
        div = torch.einsum("bii->b", torch.vmap(torch.func.jacrev(net))(v))
        loss = (torch.sum(s**2) + 2 * torch.sum(div)) / v.shape[0]
        loss.backward()
        opt.step()
        if (epoch + 1) % 10 == 0:
            with torch.no_grad():
                ex = peer_exact_score(v, t)
                l2 = float(((net(v) - ex) ** 2).sum() / (ex**2).sum())
            if log is not None:
                log.append((float(loss.detach()), l2))


def peer_l2_train(net, v, t, lr=INIT_LR, tol=1e-4, max_iter=50_000):
    """Their initial fit: full-batch Adamax on the relative L2 error until below tol."""
    opt = torch.optim.Adamax(net.parameters(), lr=lr)
    ex = peer_exact_score(v, t)
    err, it = 1.0, 0
    while err > tol and it < max_iter:
        opt.zero_grad()
        loss = ((net(v) - ex) ** 2).sum() / (ex**2).sum()
        loss.backward()
        opt.step()
        err, it = float(loss.detach()), it + 1
    return it, err


def peer_rbm_step(net, v, dt, batch=1280, generator=None):
    """Their particle update: random batches of ``batch``; within a batch the Maxwellian
    Landau velocity -(C/B) sum_j A(v_i - v_j)(s_i - s_j), forward Euler."""
    s = net(v).detach()
    out = torch.empty_like(v)
    perm = torch.randperm(v.shape[0], generator=generator)
    for idx in perm.split(batch):
        vb, sb = v[idx], s[idx]
        z = vb[:, None, :] - vb[None, :, :]
        w = sb[:, None, :] - sb[None, :, :]
        a = (z * z).sum(-1, keepdim=True) * w - (z * w).sum(-1, keepdim=True) * z
        out[idx] = vb - dt * C * a.mean(1)
    return out


# ------------------------------------------------------------------------------ landau_nb
def problem():
    return ln.bkw(D, B=C, t0=T0, dt=0.01, t_end=T0 + 1.0)


def particles(n):
    return problem().sample(n, ln.make_generator(0, "sbtm-peers")).to(torch.float32)


def ours_estimator(x, backend, init_tol=0.5, recipe=RECIPE):
    est = ln.SBTM(**recipe, backend=backend, init_tol=init_tol, init_batch_size=x.shape[0], init_max_iter=300)
    est.initialize(problem(), x, T0, 0)
    return est


def copy_peer_into(est, net):
    """Start landau_nb's network from the peer's weights (the same network for both)."""
    lins = [m for m in est.model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for a, b in zip(lins, net.layers):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)


def timed(f):
    """(wall seconds, CPU seconds of this process): on a shared machine the CPU time is what the
    work cost (one thread: preemptions by other processes do not count)."""
    t0, c0 = time.perf_counter(), time.process_time()
    f()
    return time.perf_counter() - t0, time.process_time() - c0


def part_train(ns, repeats):
    rows = []
    for n in ns:
        x = particles(n)
        net0 = PeerMLP(generator=torch.Generator().manual_seed(0))
        state = {k: v.clone() for k, v in net0.state_dict().items()}
        contenders = {}
        net = PeerMLP()

        def peer():
            net.load_state_dict(state)
            peer_ism_train(net, x, T_PEER0, log=[])
        contenders["peer"] = peer
        for backend in ("fused", "torch"):
            est = ours_estimator(x, backend)

            def ours(est=est):
                copy_peer_into(est, net0)
                est.train(x, T0)
            contenders[f"landau_nb_{backend}"] = ours
        for f in contenders.values():
            f()                                          # warm-up
        times = {k: [] for k in contenders}
        for _ in range(repeats):                         # alternate: the same load for each
            for k, f in contenders.items():
                times[k].append(timed(f))
        row = {"n": n, "repeats": repeats, "load_average": os.getloadavg()[0]}
        for k, v in times.items():
            for j, kind in enumerate(("", "cpu_")):
                vals = [t[j] for t in v]
                row[f"{k}_{kind}min_s"], row[f"{k}_{kind}median_s"] = min(vals), statistics.median(vals)
        for k in ("landau_nb_fused", "landau_nb_torch"):
            for kind in ("", "cpu_"):
                for stat in ("min", "median"):
                    row[f"peer_over_{k}_{kind}{stat}"] = row[f"peer_{kind}{stat}_s"] / row[f"{k}_{kind}{stat}_s"]
        print(f"train n={n:5d} (one time step, K = {K}): peer {row['peer_cpu_min_s'] * 1e3:7.1f} ms CPU, fused "
              f"{row['landau_nb_fused_cpu_min_s'] * 1e3:7.1f} ms, autograd "
              f"{row['landau_nb_torch_cpu_min_s'] * 1e3:7.1f} ms | "
              f"peer/fused CPU {row['peer_over_landau_nb_fused_cpu_min']:.2f}x (median "
              f"{row['peer_over_landau_nb_fused_cpu_median']:.2f}x), wall {row['peer_over_landau_nb_fused_min']:.2f}x "
              f"(median {row['peer_over_landau_nb_fused_median']:.2f}x); peer/autograd CPU "
              f"{row['peer_over_landau_nb_torch_cpu_min']:.2f}x  (load {row['load_average']:.1f})", flush=True)
        rows.append(row)
    return rows


def part_fit(ns, tol=1e-4, max_iter=20_000):
    """The initial fit to the known score at the peer's t = 0.01 until the relative L2 error is
    below ``tol``: the peer's (full-batch Adamax, lr 1e-3) beside landau_nb's fit_initial_score with
    the peer's choices, with its defaults (Adam, lr 1e-3, minibatches of 256) and with Adam at lr
    3e-3 on minibatches of 256 (the fastest of the settings tried), each with autograd (backend
    "torch") and with the analytic backward (backend "fused", suffix _fused; the same fit to
    round-off). Steps, error reached and CPU time."""
    import warnings
    from landau_nb.scores.sbtm import fit_initial_score
    rows = []
    configs = {}
    for suffix, backend in (("", "torch"), ("_fused", "fused")):
        configs.update({f"landau_nb_peer_choices{suffix}": ("adamax", INIT_LR, None, backend),
                        f"landau_nb_defaults{suffix}": ("adam", 1e-3, 256, backend),
                        f"landau_nb_adam_lr3e-3{suffix}": ("adam", 3e-3, 256, backend)})
    for n in ns:
        x = particles(n)
        row = {"n": n, "tol": tol, "load_average": os.getloadavg()[0]}
        net = PeerMLP(generator=torch.Generator().manual_seed(0))
        c0 = time.process_time()
        steps, err = peer_l2_train(net, x, T_PEER0, tol=tol, max_iter=max_iter)
        row["peer"] = {"steps": steps, "relative_error": err, "cpu_s": time.process_time() - c0}
        target = problem().score(x.double(), T0).float()
        for name, (opt, lr, bs, backend) in configs.items():
            model = ln.score_mlp(D, width=WIDTH, depth=LAYERS - 1, generator=torch.Generator().manual_seed(0),
                                 dtype=torch.float32, activation="silu", init="trunc_normal")
            c0 = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                r = fit_initial_score(model, x, target, tol=tol, lr=lr, max_iter=max_iter, batch_size=bs or n,
                                      generator=torch.Generator().manual_seed(1), optimizer=opt, backend=backend)
            row[name] = {"steps": r["steps"], "relative_error": r["relative_error"], "cpu_s": time.process_time() - c0}
            row[f"peer_over_{name}_cpu"] = row["peer"]["cpu_s"] / row[name]["cpu_s"]
        print(f"fit n={n:5d}: peer {row['peer']['steps']} steps {row['peer']['cpu_s']:.1f} s CPU; "
              + "; ".join(f"{k} {row[k]['steps']} steps {row[k]['cpu_s']:.1f} s ({row[f'peer_over_{k}_cpu']:.2f}x)"
                          for k in configs) + f"  (load {row['load_average']:.1f})", flush=True)
        rows.append(row)
    return rows


def part_score(n, steps):
    """Both recipes from the same particles and the same fitted initial network, ``steps`` time
    steps; the normalised score error at the end (and the time each took)."""
    x0 = particles(n)
    net = PeerMLP(generator=torch.Generator().manual_seed(0))
    t_fit = timed(lambda: peer_l2_train(net, x0, T_PEER0, tol=1e-3))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    dt = 0.01
    # the peer: ism_train then the random-batch Euler step, per time step
    g = torch.Generator().manual_seed(1)
    v, t = x0.clone(), T_PEER0
    t_peer = time.perf_counter()
    for _ in range(steps):
        peer_ism_train(net, v, t)
        v = peer_rbm_step(net, v, dt, generator=g)
        t += dt
    t_peer = time.perf_counter() - t_peer
    ex = peer_exact_score(v, t)
    with torch.no_grad():
        err_peer = float(((net(v) - ex) ** 2).sum() / (ex**2).sum())
    # landau_nb: the same recipe, fused step, started from the same fitted network
    est = ours_estimator(x0, "fused")
    net.load_state_dict(state)
    copy_peer_into(est, net)
    p = problem()
    y, tt = x0.clone(), T0
    t_ours = time.perf_counter()
    for _ in range(steps):
        s = est(y, tt)
        y = y + dt * p.velocity(y, s)
        tt += dt
    t_ours = time.perf_counter() - t_ours
    with torch.no_grad():
        ex2 = p.score(y.double(), tt)
        err_ours = float(((est.model(y).double() - ex2) ** 2).sum() / (ex2**2).sum())
    row = {"n": n, "steps": steps, "initial_fit_s": t_fit, "peer_score_error": err_peer,
           "landau_nb_score_error": err_ours, "ratio_ours_over_peer": err_ours / err_peer,
           "peer_run_s": t_peer, "landau_nb_run_s": t_ours, "load_average": os.getloadavg()[0]}
    print(f"score n={n} after {steps} steps: peer {err_peer:.4f}, landau_nb {err_ours:.4f} "
          f"(ratio {err_ours / err_peer:.2f}); run time peer {t_peer:.1f} s, landau_nb {t_ours:.1f} s", flush=True)
    return row


# ------------------------------------------------- the first author's JAX code, as its users run it
JAX_REPO = "Vilin97/Vlasov-Landau-SBTM"
JAX_COMMIT = "5da5d2257e8c7de3ed59bd7a74b2c2fd4f15995e"          # HEAD read (2026-04-01)
JAX_FILES_COMMIT = "0d146d59a060e0a6b554b1573f9a642ddaf0b02c"    # last change of the files below
JAX_PATHS = {"network": "src/score_model.py (MLPScoreModel)",
             "loss": "src/loss.py (implicit_score_matching_loss, div_mode='approximate_rademacher', n_samples=1)",
             "training": "src/utils.py (ism_loss, score_step, train_score_model)",
             "settings": "experiments/vlasov-landau-damping.py (argparse defaults, the sbtm branch of main)"}
JAX_DX, JAX_HIDDEN, JAX_LR, JAX_STEPS, JAX_BATCH, JAX_OWN_N = 1, (256, 256), 2e-4, 100, 20_000, 10**6
JAX_K, JAX_L, JAX_ALPHA = 0.5, 4 * math.pi, 0.1                  # its Landau damping: k, box 2 pi / k, amplitude
JAX_RECIPE = dict(width=JAX_HIDDEN[0], depth=len(JAX_HIDDEN), activation="softsign", weight_init="trunc_normal",
                  optimizer="adam", restart_optimizer=False, K=JAX_STEPS, lr=JAX_LR)


def jax_available() -> bool:
    return importlib.util.find_spec("jax") is not None and importlib.util.find_spec("flax") is not None


def jax_peer():
    """The peer's network, loss and per-time-step training (a namespace), on jax/flax/optax."""
    import types
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import optax
    from flax import nnx

    # one thread: the CPU client's asynchronous dispatch would run the Python loop beside the
    # computation on a second core (the same CPU time; a shorter wall time where a core is free)
    jax.config.update("jax_cpu_enable_async_dispatch", False)

    class MLPScoreModel(nnx.Module):
        """Its network: concat(x, v) -> Linear/softsign x len(hidden_dims) -> Linear to dv."""

        def __init__(self, dx, dv, hidden_dims=JAX_HIDDEN, activation=nnx.soft_sign, seed=0, dtype=jnp.float32):
            rngs = nnx.Rngs(seed)
            self.activation = activation
            self.layers = nnx.List()
            fan_in = dx + dv
            for h in hidden_dims:
                self.layers.append(nnx.Linear(fan_in, h, rngs=rngs, dtype=dtype))
                fan_in = h
            self.final_layer = nnx.Linear(fan_in, dv, rngs=rngs, dtype=dtype)

        def __call__(self, x, v):
            if x.ndim < v.ndim:
                x = x[:, None]
            h = jnp.concatenate([x, v], axis=-1)
            for layer in self.layers:
                h = self.activation(layer(h))
            return self.final_layer(h)

    def implicit_loss(s, x, v, key, n_samples=1):
        """mean over the batch of |s|^2 + 2 div_v s, the divergence by Hutchinson's estimator
        (Rademacher vectors, forward-mode JVP), one noise tensor for the batch."""
        if x.ndim < v.ndim:
            x = x[:, None]
        eps = jr.rademacher(key, (n_samples,) + v.shape, dtype=v.dtype)

        def one(xi, vi, ei):
            score = s(xi, vi)

            def one_eps(e):
                _, tangent = jax.jvp(lambda vv: s(xi, vv), (vi,), (e,))
                return jnp.vdot(tangent, e)
            return jnp.sum(score * score) + 2.0 * jax.vmap(one_eps)(ei).mean()
        return jax.vmap(one)(x, v, eps.transpose(1, 0, 2)).mean()

    @nnx.jit
    def score_step(model, optimizer, batch, key):
        loss, grads = nnx.value_and_grad(lambda m, b, k: implicit_loss(m, b[0], b[1], k))(model, batch, key)
        optimizer.update(model, grads)
        return loss

    def train(model, optimizer, x, v, key, batch_size=JAX_BATCH, num_batch_steps=JAX_STEPS):
        """Its train_score_model: num_batch_steps minibatch steps, a fresh permutation each pass."""
        n, count, loss = x.shape[0], 0, None
        while count < num_batch_steps:
            key, sub = jr.split(key)
            perm = jr.permutation(sub, n)
            x, v = x[perm], v[perm]
            start = 0
            while start < n and count < num_batch_steps:
                end = min(start + batch_size, n)
                key, sub = jr.split(key)
                loss = score_step(model, optimizer, (x[start:end], v[start:end]), sub)
                start, count = end, count + 1
        return loss

    def make(dv=D, seed=0):
        model = MLPScoreModel(JAX_DX, dv, seed=seed)
        return model, nnx.Optimizer(model, optax.adamw(JAX_LR), wrt=nnx.Param)

    def positions(n, seed=0):
        """Its Landau-damping positions, density (1 + alpha cos(k x)) / L on [0, L), by rejection."""
        rng, out = np.random.default_rng(seed), np.empty(0)
        while out.size < n:
            y = rng.uniform(0, JAX_L, 2 * n)
            out = np.concatenate([out, y[rng.uniform(0, 1 + JAX_ALPHA, 2 * n) < 1 + JAX_ALPHA * np.cos(JAX_K * y)]])
        return out[:n]

    return types.SimpleNamespace(jax=jax, jnp=jnp, jr=jr, nnx=nnx, make=make, train=train, positions=positions,
                                 versions={"jax": jax.__version__, "jaxlib": jax.lib.__version__,
                                           "flax": importlib.import_module("flax").__version__,
                                           "optax": optax.__version__})


def copy_jax_into(est, model):
    """Start landau_nb's network from the peer's weights (flax kernels are (in, out)); the peer's
    first layer has a position column (its row 0), which landau_nb's velocity network has not."""
    kernels = [np.array(lay.kernel[...]) for lay in model.layers] + [np.array(model.final_layer.kernel[...])]
    biases = [np.array(lay.bias[...]) for lay in model.layers] + [np.array(model.final_layer.bias[...])]
    kernels[0] = kernels[0][JAX_DX:]
    lins = [m for m in est.model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for lin, k, b in zip(lins, kernels, biases):
            lin.weight.copy_(torch.from_numpy(k.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))


def summarise(times, row, peer="peer_jax"):
    """min and median of wall and CPU times per contender, and the peer's over each other's."""
    for k, v in times.items():
        for j, kind in enumerate(("", "cpu_")):
            vals = [t[j] for t in v]
            row[f"{k}_{kind}min_s"], row[f"{k}_{kind}median_s"] = min(vals), statistics.median(vals)
    for k in times:
        if k != peer:
            for kind in ("", "cpu_"):
                for stat in ("min", "median"):
                    row[f"{peer}_over_{k}_{kind}{stat}"] = row[f"{peer}_{kind}{stat}_s"] / row[f"{k}_{kind}{stat}_s"]
    return row


def part_jax(ns, repeats, own_n=0):
    """One time step's score training: the JAX peer, landau_nb at its recipe (implicit and
    denoising, fused) and landau_nb's default, from the same particles; contenders alternated."""
    jp = jax_peer()
    jax = jp.jax
    rows = []
    for n in ns:
        x = particles(n)
        xj, vj = jp.jnp.asarray(jp.positions(n), dtype=jp.jnp.float32), jp.jnp.asarray(x.numpy())
        model, opt = jp.make()
        start = jp.nnx.clone(model)                       # the network every repeat starts from
        key = jp.jr.PRNGKey(0)                            # its time step's key (jr.PRNGKey(istep))

        def peer():
            jp.nnx.update(model, jp.nnx.state(start, jp.nnx.Param))
            jax.block_until_ready(jp.train(model, opt, xj, vj, key))
            jax.block_until_ready(jp.nnx.state(model))
        contenders = {"peer_jax": peer}
        for name, loss in (("landau_nb_recipe_implicit", "implicit"), ("landau_nb_recipe_denoising", "denoising")):
            est = ours_estimator(x, "fused", recipe=dict(JAX_RECIPE, loss=loss))
            copy_jax_into(est, start)

            def ours(est=est, state={k: v.clone() for k, v in est.model.state_dict().items()}):
                est.model.load_state_dict(state)
                est.train(x, T0)
            contenders[name] = ours
        x64 = x.double()                                  # landau_nb's default precision
        est_def = ours_estimator(x64, "auto", recipe={})

        def ours_default(state={k: v.clone() for k, v in est_def.model.state_dict().items()}):
            est_def.model.load_state_dict(state)
            est_def.train(x64, T0)
        contenders["landau_nb_default"] = ours_default
        for f in contenders.values():
            f()                                          # warm-up (jax: compile; numba: load)
        times = {k: [] for k in contenders}
        for _ in range(repeats):                         # alternate: the same load for each
            for k, f in contenders.items():
                times[k].append(timed(f))
        row = summarise(times, {"n": n, "repeats": repeats, "load_average": os.getloadavg()})
        row["landau_nb_backend_used"] = {"recipe": "fused", "default": est_def.backend_used}
        print(f"jax n={n:5d} (one time step, {JAX_STEPS} steps): CPU min peer {row['peer_jax_cpu_min_s']:7.3f} s, "
              f"recipe implicit {row['landau_nb_recipe_implicit_cpu_min_s']:7.3f} s, denoising "
              f"{row['landau_nb_recipe_denoising_cpu_min_s']:7.3f} s, default "
              f"{row['landau_nb_default_cpu_min_s'] * 1e3:6.1f} ms | peer/implicit CPU "
              f"{row['peer_jax_over_landau_nb_recipe_implicit_cpu_min']:.2f}x (median "
              f"{row['peer_jax_over_landau_nb_recipe_implicit_cpu_median']:.2f}x, wall "
              f"{row['peer_jax_over_landau_nb_recipe_implicit_min']:.2f}x), peer/denoising "
              f"{row['peer_jax_over_landau_nb_recipe_denoising_cpu_min']:.2f}x, peer/default "
              f"{row['peer_jax_over_landau_nb_default_cpu_min']:.0f}x  (load {row['load_average'][0]:.1f})",
              flush=True)
        rows.append(row)
    out = {"rows": rows}
    if own_n:
        # the peer alone at its own n: 100 minibatch steps of 20 000 (landau_nb trains full batch)
        v = problem().sample(own_n, ln.make_generator(0, "sbtm-peers")).to(torch.float32)
        xj, vj = jp.jnp.asarray(jp.positions(own_n), dtype=jp.jnp.float32), jp.jnp.asarray(v.numpy())
        model, opt = jp.make()
        key = jp.jr.PRNGKey(0)
        jax.block_until_ready(jp.train(model, opt, xj, vj, key))
        runs = [timed(lambda: jax.block_until_ready(jp.train(model, opt, xj, vj, key))) for _ in range(min(repeats, 2))]
        out["peer_own_n"] = {"n": own_n, "batch_size": JAX_BATCH, "steps": JAX_STEPS, "runs": len(runs),
                             "wall_s": [r[0] for r in runs], "cpu_s": [r[1] for r in runs],
                             "load_average": os.getloadavg()}
        print(f"jax peer alone at n={own_n} (its {JAX_STEPS} minibatch steps of {JAX_BATCH}): CPU "
              f"{min(r[1] for r in runs):.2f} s, wall {min(r[0] for r in runs):.2f} s", flush=True)
    out["versions"] = jp.versions
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="train,score" + (",jax" if jax_available() else ""))
    ap.add_argument("--ns", default="400,1600,6400")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--score-n", type=int, default=1600)
    ap.add_argument("--score-steps", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sbtm_peers.json"))
    ap.add_argument("--jax-out", default=str(ROOT / "benchmarks" / "results" / "sbtm_peers_jax.json"))
    ap.add_argument("--jax-own-n", type=int, default=0, help=f"also time the JAX peer alone at this n (its own: "
                    f"{JAX_OWN_N}); 0: not")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        import numba
        numba.set_num_threads(1)
    except ImportError:                                  # pragma: no cover
        pass
    parts = args.parts.split(",")
    ns = [int(v) for v in args.ns.split(",")]
    machine = {"threads": 1, "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
               "cores": os.cpu_count(), "python": platform.python_version()}
    record = dict(machine, load_average_start=os.getloadavg())
    if "jax" in parts and not jax_available():
        print("jax not installed: the first author's JAX code skipped", flush=True)
        parts.remove("jax")
        record["jax"] = "not installed: the first author's JAX code skipped"
    if "jax" in parts:
        jrec = {"peer": {"repo": JAX_REPO, "commit": JAX_COMMIT, "files_commit": JAX_FILES_COMMIT, "paths": JAX_PATHS,
                         "written": "re-written from reading the code, not copied"},
                "problem": "the peer's SBTM is for the 1D-dv Vlasov-Landau equation; only its score training of one "
                           "time step is timed, on the same 2-D BKW velocity samples as the train part (t = 0.01 of "
                           "Huang and Wang's clock), its position input fed positions from its Landau-damping "
                           f"density (1 + {JAX_ALPHA} cos({JAX_K} x)) / L on [0, {JAX_L:.4f})",
                "peer_settings": {"network": f"MLP (x, v) in R^{JAX_DX + D} -> {list(JAX_HIDDEN)} -> R^{D}, softsign, "
                                             "flax nnx.Linear defaults (LeCun normal kernels, zero biases), float32",
                                  "loss": "implicit score matching (3.4), divergence by Hutchinson: one Rademacher "
                                          "vector per particle, forward-mode JVP",
                                  "optimizer": f"optax.adamw(lr={JAX_LR}) (weight decay 1e-4), built once, its state "
                                               "kept across time steps",
                                  "steps_per_time_step": JAX_STEPS, "batch_size": JAX_BATCH,
                                  "batches": "a fresh permutation each pass; full batch (shuffled) when n <= "
                                             f"{JAX_BATCH}",
                                  "dtype": "float32 (x64 off, its --fp32; its layers compute in float32 either way)",
                                  "own_n": JAX_OWN_N,
                                  "api_note": "run on the installed flax: nnx.List for the layer list, "
                                              "nnx.Optimizer(model, tx, wrt=nnx.Param), update(model, grads)"},
                "landau_nb_recipe": dict(JAX_RECIPE, loss=["implicit", "denoising"], backend="fused", dtype="float32",
                                         init="started from the peer's weights, position column dropped"),
                "landau_nb_default": "SBTM() (width 100, depth 1, softsign, uniform init, denoising alpha 0.4, Adam "
                                     "lr 4e-4, K 25, persistent optimiser, backend auto), float64",
                "mismatches": ["Hutchinson divergence (peer) vs exact divergence (landau_nb 'implicit') or the "
                               "denoising loss (3.5) (landau_nb 'denoising')",
                               "AdamW weight decay 1e-4 (peer) vs Adam without weight decay (landau_nb)",
                               "position input x (peer, a phase-space network) vs velocity only (landau_nb)",
                               "minibatches of 20 000 (peer) vs full batch (landau_nb): the same for n <= 20 000; the "
                               "peer shuffles the batch each step",
                               "flax's truncation at 2 standard deviations (variance kept 1/fan_in) vs torch's at "
                               "+-2 (irrelevant here: landau_nb starts from the peer's weights)"],
                "timing": "one time step's training from the same network; jit-compiled, warm-up excluded, "
                          "block_until_ready; contenders alternated; min and median of wall and process CPU time",
                "env": dict({k: os.environ.get(k) for k in ("XLA_FLAGS", "OMP_NUM_THREADS")},
                            jax_cpu_enable_async_dispatch=False),
                "machine": dict(machine, load_average_start=os.getloadavg())}
        jrec.update(part_jax(ns, args.repeats, args.jax_own_n))
        jrec["machine"]["load_average_end"] = os.getloadavg()
        out = Path(args.jax_out)
        out.write_text(json.dumps(jrec, indent=1) + "\n")
        print(f"written {out}")
        record["jax"] = f"see {out.name}"
    if "train" in parts:
        record["train"] = part_train(ns, args.repeats)
    if "fit" in parts:
        record["fit"] = part_fit(ns)
    if "score" in parts:
        record["score"] = part_score(args.score_n, args.score_steps)
    if set(parts) - {"jax"}:
        record["load_average_end"] = os.getloadavg()
        out = Path(args.out)
        out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"written {out}")

if __name__ == "__main__":
    main()
