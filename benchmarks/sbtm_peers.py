"""SBTM training side by side with Huang and Wang's recipe (issue 25; book: "Runtime").

    python benchmarks/sbtm_peers.py [--parts train,score] [--ns 400,1600,6400] [--repeats 5]
                                    [--out benchmarks/results/sbtm_peers.json]

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

The first author's JAX code (Vilin97/Vlasov-Landau-SBTM) is skipped when ``jax`` is not
installed (it is not a dependency of this project). Not a test; pytest collects only tests/.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

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


def ours_estimator(x, backend, init_tol=0.5):
    est = ln.SBTM(**RECIPE, backend=backend, init_tol=init_tol, init_batch_size=x.shape[0], init_max_iter=300)
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
    3e-3 on minibatches of 256 (the fastest of the settings tried). Steps, error reached and CPU time."""
    import warnings
    from landau_nb.scores.sbtm import fit_initial_score
    rows = []
    configs = {"landau_nb_peer_choices": ("adamax", INIT_LR, None), "landau_nb_defaults": ("adam", 1e-3, 256),
               "landau_nb_adam_lr3e-3": ("adam", 3e-3, 256)}
    for n in ns:
        x = particles(n)
        row = {"n": n, "tol": tol, "load_average": os.getloadavg()[0]}
        net = PeerMLP(generator=torch.Generator().manual_seed(0))
        c0 = time.process_time()
        steps, err = peer_l2_train(net, x, T_PEER0, tol=tol, max_iter=max_iter)
        row["peer"] = {"steps": steps, "relative_error": err, "cpu_s": time.process_time() - c0}
        target = problem().score(x.double(), T0).float()
        for name, (opt, lr, bs) in configs.items():
            model = ln.score_mlp(D, width=WIDTH, depth=LAYERS - 1, generator=torch.Generator().manual_seed(0),
                                 dtype=torch.float32, activation="silu", init="trunc_normal")
            c0 = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                r = fit_initial_score(model, x, target, tol=tol, lr=lr, max_iter=max_iter, batch_size=bs or n,
                                      generator=torch.Generator().manual_seed(1), optimizer=opt)
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="train,score")
    ap.add_argument("--ns", default="400,1600,6400")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--score-n", type=int, default=1600)
    ap.add_argument("--score-steps", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sbtm_peers.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        import numba
        numba.set_num_threads(1)
    except ImportError:                                  # pragma: no cover
        pass
    parts = args.parts.split(",")
    record = {"threads": 1, "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
              "cores": os.cpu_count(), "load_average_start": os.getloadavg()}
    try:
        import jax  # noqa: F401
        record["jax"] = "installed, not yet compared (the first author's recipe is KDE-score Landau)"
    except ImportError:
        record["jax"] = "not installed: the first author's JAX code skipped"
        print("jax not installed: the first author's JAX code skipped", flush=True)
    if "train" in parts:
        record["train"] = part_train([int(v) for v in args.ns.split(",")], args.repeats)
    if "fit" in parts:
        record["fit"] = part_fit([int(v) for v in args.ns.split(",")])
    if "score" in parts:
        record["score"] = part_score(args.score_n, args.score_steps)
    record["load_average_end"] = os.getloadavg()
    out = Path(args.out)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
