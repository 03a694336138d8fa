"""The analytic training step of the implicit losses (3.4) and (3.3) (forward tangents, exact
divergence, no autograd) against autograd, and the options that reproduce Huang and Wang's recipe
(SiLU, truncated-normal initialisation, Adamax, a fresh optimiser per step): issue 25."""

import math

import numpy as np
import pytest
import torch

import landau_nb as ln
from landau_nb.scores import _sbtm_torch
from landau_nb.scores.networks import score_mlp
from landau_nb.scores.sbtm import SBTM, fused_unsupported
from landau_nb.solver.checkpoint import load_checkpoint

F64, F32 = torch.float64, torch.float32


def _flat(model, tensors=None):
    """The network's parameters (or ``tensors`` shaped like them) in the fused layout."""
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    tensors = tensors or [t for lin in lins for t in (lin.weight, lin.bias)]
    out = []
    for k in range(len(lins)):
        w, b = tensors[2 * k].detach(), tensors[2 * k + 1].detach()
        out += [(w.t() if k < len(lins) - 1 else w).reshape(-1), b]
    return torch.cat(out)


@pytest.mark.parametrize("dtype,tol", [(F64, 1e-13), (F32, 2e-5)])
@pytest.mark.parametrize("activation", ["softsign", "silu"])
@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_implicit_gradient_equals_autograd(dtype, tol, activation, depth, weighted):
    # n = 700 in chunks of 256 (one partial): the chunk sum of the CPU step is part of what is tested
    d, w, n = 3, 7, 700
    gen = torch.Generator().manual_seed(depth)
    model = score_mlp(d, width=w, depth=depth, generator=gen, dtype=dtype, activation=activation,
                      init="trunc_normal" if activation == "silu" else "uniform")
    x = torch.randn(n, d, generator=gen, dtype=F64).to(dtype)
    if weighted:
        D, divD = ln.collision_matrix(x, gamma=0.0, B=1 / 24), ln.collision_divergence(x, gamma=0.0, B=1 / 24)
        loss = ln.weighted_implicit_loss(model, x, D, divD, create_graph=True)
    else:
        D = divD = None
        loss = ln.implicit_loss(model, x, create_graph=True)
    ref = _flat(model, list(torch.autograd.grad(loss, list(model.parameters()))))
    got_loss, got = _sbtm_torch.implicit_gradient(x[None], _flat(model)[None], d, w, depth, activation,
                                                  None if D is None else D[None], None if divD is None else divD[None],
                                                  chunk=256)
    assert abs(float(got_loss[0]) - float(loss.detach())) <= tol * abs(float(loss.detach()))
    assert float((got[0] - ref).abs().max()) <= tol * float(ref.abs().max())


@pytest.mark.parametrize("weighted", [False, True])
def test_batched_members_equal_single_ones(weighted):
    d, w, depth, n = 2, 8, 3, 300
    gen = torch.Generator().manual_seed(6)
    model = score_mlp(d, width=w, depth=depth, generator=gen, activation="silu", init="trunc_normal")
    x = torch.randn(2, n, d, generator=gen, dtype=F64)
    theta = torch.stack([_flat(model), _flat(model) * 0.9])
    D = torch.stack([ln.collision_matrix(xi, gamma=0.0, B=1 / 16) for xi in x]) if weighted else None
    divD = torch.stack([ln.collision_divergence(xi, gamma=0.0, B=1 / 16) for xi in x]) if weighted else None
    both = _sbtm_torch.implicit_gradient(x, theta, d, w, depth, "silu", D, divD)
    for s in range(2):
        one = _sbtm_torch.implicit_gradient(x[s:s + 1], theta[s:s + 1], d, w, depth, "silu",
                                            None if D is None else D[s:s + 1], None if divD is None else divD[s:s + 1])
        torch.testing.assert_close(both[0][s:s + 1], one[0], rtol=1e-13, atol=0)
        torch.testing.assert_close(both[1][s:s + 1], one[1], rtol=1e-13, atol=1e-15)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("weighted", [False, True])
def test_analytic_implicit_gradient_on_cuda_equals_the_cpu(weighted):
    d, w, depth, n = 2, 32, 4, 900
    gen = torch.Generator().manual_seed(5)
    model = score_mlp(d, width=w, depth=depth, generator=gen, activation="silu", init="trunc_normal")
    x = torch.randn(2, n, d, generator=gen, dtype=F64)
    theta = torch.stack([_flat(model), _flat(model) * 0.9])
    D = divD = None
    if weighted:
        D = torch.stack([ln.collision_matrix(xi, gamma=0.0, B=1 / 16) for xi in x])
        divD = torch.stack([ln.collision_divergence(xi, gamma=0.0, B=1 / 16) for xi in x])
    cpu = _sbtm_torch.implicit_gradient(x, theta, d, w, depth, "silu", D, divD)
    gpu = _sbtm_torch.implicit_gradient(x.cuda(), theta.cuda(), d, w, depth, "silu",
                                        None if D is None else D.cuda(), None if divD is None else divD.cuda())
    for a, b in zip(cpu, gpu):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-10, atol=1e-12)


def _bkw2():
    t0 = 8 * math.log(2) + 0.01                   # Huang and Wang's t = 0.01 (C = 1/16, d = 2)
    return ln.bkw(2, B=1 / 16, t0=t0, dt=0.01, t_end=t0 + 0.04)


PEER = dict(width=16, depth=4, activation="silu", weight_init="trunc_normal", optimizer="adamax",
            restart_optimizer=True, loss="implicit", K=6, lr=5e-4, init_lr=1e-3, init_tol=0.05, init_batch_size=400)


@pytest.mark.parametrize("opts", [PEER, {**PEER, "loss": "weighted_implicit", "optimizer": "adam",
                                         "restart_optimizer": False, "activation": "softsign", "depth": 2,
                                         "weight_init": "uniform", "init_tol": 0.5, "init_max_iter": 300}])
@pytest.mark.parametrize("dtype,atol", [(F64, 1e-10), (F32, 1e-4)])
def test_analytic_implicit_training_follows_autograd(opts, dtype, atol):
    # backend="fused" fits the initial score without autograd too (its own round-off, ~1e-11 in the
    # positions after four steps in float64, ~2e-5 in float32)
    p = _bkw2()
    kw = dict(n=200, seed=0, dtype=dtype, progress=False, record_losses=True, **opts)
    a = ln.solve(p, "sbtm", backend="torch", **kw)
    b = ln.solve(p, "sbtm", backend="fused", **kw)
    assert np.abs(a.x - b.x).max() <= atol
    la, lb = a.saved["loss_log"], b.saved["loss_log"]
    assert la.shape == lb.shape and np.allclose(la, lb, rtol=1e-4 if dtype == F32 else 1e-10, atol=0)


def test_auto_keeps_autograd_for_the_implicit_losses():
    # committed runs (results/paper/bkw_ablation/loss_implicit) were trained with autograd
    p = ln.anisotropic_gaussian(2)
    x = p.sample(50, ln.make_generator(0, "x"))
    for loss in ("implicit", "weighted_implicit"):
        est = SBTM(loss=loss, width=8, init_tol=0.9)
        est.initialize(p, x, 0.0, 0)
        assert est.backend_used == "torch"
        est = SBTM(loss=loss, width=8, init_tol=0.9, backend="fused")
        est.initialize(p, x, 0.0, 0)
        assert est.backend_used == "fused"
    assert fused_unsupported(depth=4, loss="implicit", device="cpu", activation="silu", optimizer="adamax") is None


def test_defaults_are_unchanged():
    # the defaults draw the same network as before the options existed, and add nothing to a run's identity
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = score_mlp(3, width=9, depth=2, generator=g1)
    b = score_mlp(3, width=9, depth=2, generator=g2, activation="softsign", init="uniform")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert isinstance(a[1], torch.nn.Softsign)
    g3 = torch.Generator().manual_seed(3)
    bound = 1 / math.sqrt(3)
    w = torch.rand(9, 3, dtype=F64, generator=g3) * 2 * bound - bound
    assert torch.equal(a[0].weight, w)                       # torch's Linear rule, drawn as before
    params = SBTM().params()
    for key in ("activation", "weight_init", "optimizer"):
        assert key not in params


def test_options_are_validated_and_recorded():
    for key, bad, allowed in (("activation", "relu", "'softsign', 'silu'"),
                              ("weight_init", "normal", "'uniform', 'trunc_normal'"),
                              ("optimizer", "sgd", "'adam', 'adamax'")):
        with pytest.raises(ValueError, match=rf"{key}='{bad}' is not known; allowed: {allowed}"):
            SBTM(**{key: bad})
    est = SBTM(activation="silu", weight_init="trunc_normal", optimizer="adamax")
    assert {k: est.params()[k] for k in ("activation", "weight_init", "optimizer")} == \
        {"activation": "silu", "weight_init": "trunc_normal", "optimizer": "adamax"}
    net = score_mlp(2, width=32, depth=4, generator=torch.Generator().manual_seed(0), activation="silu",
                    init="trunc_normal")
    lins = [m.requires_grad_(False) for m in net if isinstance(m, torch.nn.Linear)]
    assert isinstance(net[1], torch.nn.SiLU) and len(lins) == 5
    assert all(float(lin.bias.abs().max()) == 0 and float(lin.weight.abs().max()) <= 2 for lin in lins)
    assert abs(float(lins[1].weight.std()) - 1 / math.sqrt(32)) < 0.02


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_peer_recipe_resumes_bit_identically(tmp_path, backend):
    p = _bkw2()
    kw = dict(n=120, seed=4, progress=False, backend=backend, **{**PEER, "restart_optimizer": False})

    class Stop(Exception):
        pass

    def stop(k, *a):
        if k == 3:
            raise Stop
    whole = ln.solve(p, "sbtm", **kw)
    with pytest.raises(Stop):
        ln.solve(p, "sbtm", **kw, checkpoint=tmp_path, checkpoint_every=2, callback=stop)
    assert load_checkpoint(tmp_path)[0] == 2
    resumed = ln.solve(p, "sbtm", **kw, checkpoint=tmp_path, checkpoint_every=2)
    assert np.array_equal(whole.x, resumed.x)
    assert whole.meta["estimator"]["optimizer"] == "adamax"
