"""The fused SBTM training step (landau_nb.scores._sbtm_numba) against the torch reference path."""

import logging

import numba
import numpy as np
import pytest
import torch

import landau_nb as ln
from landau_nb.scores import _sbtm_numba as kern
from landau_nb.solver.checkpoint import load_checkpoint
from landau_nb.scores.sbtm import SBTM, fused_unsupported

F64 = torch.float64


def _estimator(d, width, n, seed=0, dtype=F64, **kw):
    p = ln.anisotropic_gaussian(d)
    x = p.sample(n, ln.make_generator(seed, "test-x")).to(dtype)
    est = ln.SBTM(width=width, init_tol=0.9, init_lr=1e-2, init_max_iter=500, **kw)
    est.initialize(p, x, 0.0, seed)
    return p, x, est


def _autograd_gradient(est, x, z):
    est.model.zero_grad(set_to_none=True)
    loss = ln.denoising_loss(est.model, x, z, est.alpha)
    loss.backward()
    l1, l2 = est.model[0], est.model[2]
    grad = torch.cat([l1.weight.grad.t().reshape(-1), l1.bias.grad, l2.weight.grad.reshape(-1), l2.bias.grad])
    return grad.numpy(), float(loss.detach())


@pytest.mark.parametrize("d", [2, 3, 10])
@pytest.mark.parametrize("width", [1, 7, 100])
def test_fused_gradient_equals_autograd(d, width):
    # n = 150 spans three chunks (one partial): the chunk reduction is part of what is tested.
    _, x, est = _estimator(d, width, 150)
    z = torch.randn(x.shape, dtype=F64, generator=ln.make_generator(1, "test-z"))
    ref, ref_loss = _autograd_gradient(est, x, z)
    theta = est.pack()[0].numpy()
    out = np.empty(theta.size + 1)
    kern.denoising_gradient(x.numpy(), z.numpy(), theta, est.kernel_constants(150, np.float64), d, width, out)
    # both are sums of ~450 O(1) terms in float64: agreement to 1e-13 of the largest entry
    np.testing.assert_allclose(out[:-1], ref, rtol=0, atol=1e-13 * np.abs(ref).max())
    assert abs(out[-1] - ref_loss) <= 1e-13 * max(1.0, abs(ref_loss))


def test_fused_gradient_with_large_chunks():
    # n > CHUNK * MAX_CHUNKS: the chunks grow with n (at most MAX_CHUNKS partial sums).
    n = kern.CHUNK * kern.MAX_CHUNKS + 999
    _, x, est = _estimator(2, 7, n)
    z = torch.randn(x.shape, dtype=F64, generator=ln.make_generator(2, "test-z"))
    ref, ref_loss = _autograd_gradient(est, x, z)
    theta = est.pack()[0].numpy()
    out = np.empty(theta.size + 1)
    kern.denoising_gradient(x.numpy(), z.numpy(), theta, est.kernel_constants(n, np.float64), 2, 7, out)
    np.testing.assert_allclose(out[:-1], ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    assert abs(out[-1] - ref_loss) <= 1e-12 * max(1.0, abs(ref_loss))


def test_fused_kernel_refuses_parameters_of_another_network():
    # the kernels are compiled for (d, width): a parameter vector of another shape is refused,
    # not read out of bounds
    _, x, est = _estimator(3, 7, 64)
    theta = est.pack()[0].numpy()
    out = np.empty(theta.size + 1)
    with pytest.raises(ValueError, match=r"theta has 52 parameters per member; d = 3, w = 8 need 59"):
        kern.denoising_gradient(x.numpy(), x.numpy(), theta, est.kernel_constants(64, np.float64), 3, 8, out)
    with pytest.raises(ValueError, match=r"out must have shape \(53,\)"):
        kern.denoising_gradient(x.numpy(), x.numpy(), theta, est.kernel_constants(64, np.float64), 3, 7, out[:-1])
    with pytest.raises(ValueError, match="x and z must have d = 3 columns, not 2 and 2"):
        kern.denoising_gradient(x.numpy()[:, :2], x.numpy()[:, :2], theta, est.kernel_constants(64, np.float64),
                                3, 7, out)
    assert kern.denoising_kernels(3, 7) is kern.denoising_kernels(3, 7)      # compiled once per (d, width)


def test_pack_unpack_round_trip_keeps_the_torch_layout():
    _, x, est = _estimator(3, 5, 40)
    est(x, 0.0)                                         # Adam state now exists
    before = {k: v.clone() for k, v in est.model.state_dict().items()}
    moments = [{k: t.clone() for k, t in st.items()} for st in est.optimizer.state.values()]
    est.unpack(*est.pack())
    for k, v in est.model.state_dict().items():
        assert torch.equal(v, before[k])
    for st, old in zip(est.optimizer.state.values(), moments):
        assert sorted(st) == sorted(old) and all(torch.equal(st[k], old[k]) for k in st)


def test_the_kept_flat_buffers_carry_nothing_between_calls():
    # train_fused packs into flat buffers kept on the first member (rebuilt when the number of
    # members changes). A member trained through it alone, then first of a pair, alternately,
    # ends bit for bit where the same member ends when each call packs fresh copies (pack, the
    # kernel, unpack), and its partner's weights do not leak into it
    from landau_nb.scores.sbtm import train_fused
    _, x, fresh = _estimator(3, 6, 70, seed=1)
    _, _, kept = _estimator(3, 6, 70, seed=1)
    _, y, partner = _estimator(3, 6, 70, seed=4)
    for call in range(4):
        z = fresh.draw_noise(x, 5)
        theta, m1, m2, step = fresh.pack()
        kern.adam_denoising(x.numpy()[None], z.numpy()[None], theta.numpy()[None], m1.numpy()[None],
                            m2.numpy()[None], fresh.kernel_constants(70, np.float64),
                            fresh.adam_constants(step, 5)[None], np.empty((1, 5)), 3, 6)
        fresh.unpack(theta, m1, m2, step + 5)
        train_fused([kept, partner] if call % 2 else [kept], [x, y] if call % 2 else [x], 5)
    for pa, pb in zip(fresh.model.parameters(), kept.model.parameters()):
        assert torch.equal(pa, pb)
        sa, sb = fresh.optimizer.state[pa], kept.optimizer.state[pb]
        assert all(torch.equal(sa[k], sb[k]) for k in ("step", "exp_avg", "exp_avg_sq"))
    assert float(kept.optimizer.state[kept.model[0].weight]["step"]) == 20
    assert not torch.equal(partner.model[0].weight, kept.model[0].weight)


@pytest.mark.parametrize("dtype,rtol", [(F64, 1e-10), (torch.float32, 2e-4)])
def test_fused_training_follows_the_torch_path(dtype, rtol):
    # Five time steps (six trainings of K = 25 Adam steps each): the two paths differ by
    # round-off only (float64: ~1e-15 measured, 1e-10 asked; float32: ~1e-7 measured on the
    # weights, amplified by Adam's m / sqrt(v) on small gradients, hence 2e-4 on the positions).
    p = ln.anisotropic_gaussian(3)
    kw = dict(n=130, seed=2, t_end=5 * p.dt, init_tol=1e-2, init_lr=1e-2, dtype=dtype, record_losses=True)
    ref = ln.solve(p, "sbtm", backend="torch", **kw)
    new = ln.solve(p, "sbtm", backend="fused", **kw)
    scale = np.abs(ref.x[-1]).max()
    np.testing.assert_allclose(new.x[-1], ref.x[-1], rtol=0, atol=rtol * scale)
    la, lb = ref.saved["loss_log"], new.saved["loss_log"]
    assert la.shape == lb.shape == (6 * 25, 2) and np.array_equal(la[:, 0], lb[:, 0])
    np.testing.assert_allclose(lb[:, 1], la[:, 1], rtol=10 * rtol, atol=10 * rtol)
    assert new.meta["estimator"]["backend"] == "fused"


def test_fused_state_has_the_torch_checkpoint_format():
    _, x, a = _estimator(3, 9, 50, backend="torch")
    _, _, b = _estimator(3, 9, 50, backend="fused")
    a(x, 0.0)
    b(x, 0.0)
    (arr_a, meta_a), (arr_b, meta_b) = a.get_state(), b.get_state()
    assert sorted(arr_a) == sorted(arr_b) and meta_a["optimizer_keys"] == meta_b["optimizer_keys"]
    for k in arr_a:
        assert arr_a[k].dtype == arr_b[k].dtype and arr_a[k].shape == arr_b[k].shape
    np.testing.assert_array_equal(arr_a["noise_gen"], arr_b["noise_gen"])     # same draws consumed
    assert float(b.optimizer.state[b.model[0].weight]["step"]) == 25


def test_fused_is_deterministic_and_independent_of_threads():
    p = ln.anisotropic_gaussian(3)
    kw = dict(n=200, seed=5, t_end=3 * p.dt, init_tol=1e-2, init_lr=1e-2, backend="fused")
    old = numba.get_num_threads()
    try:
        a = ln.solve(p, "sbtm", **kw)
        b = ln.solve(p, "sbtm", **kw)
        numba.set_num_threads(1)
        c = ln.solve(p, "sbtm", **kw)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.x, c.x)
    assert np.array_equal(a["entropy_rate"], c["entropy_rate"])


class _Stop(Exception):
    pass


def test_interrupted_fused_solve_resumes_bit_identically(tmp_path):
    p = ln.anisotropic_gaussian(3)
    kw = dict(n=70, seed=3, t_end=12 * p.dt, init_tol=1e-2, init_lr=1e-2, backend="fused", record_losses=True)
    full = ln.solve(p, "sbtm", **kw)

    def stop(k, *args):
        if k == 9:
            raise _Stop

    with pytest.raises(_Stop):
        ln.solve(p, "sbtm", checkpoint=tmp_path, checkpoint_every=4, callback=stop, **kw)
    assert load_checkpoint(tmp_path)[0] == 8
    resumed = ln.solve(p, "sbtm", checkpoint=tmp_path, checkpoint_every=4, **kw)
    assert np.array_equal(full.x, resumed.x)
    assert np.array_equal(full.saved["loss_log"], resumed.saved["loss_log"])
    for k in full.steps:
        if not k.startswith("time_"):
            assert np.array_equal(full.steps[k], resumed.steps[k], equal_nan=True), k


def test_unsupported_fused_configurations_raise():
    SBTM(backend="fused", loss="implicit")                 # the analytic implicit step (tests/test_sbtm_implicit.py)
    with pytest.raises(ValueError, match=r"backend='fused' does not support activation='silu' with the denoising"):
        SBTM(backend="fused", activation="silu")
    with pytest.raises(ValueError, match=r"optimizer='adamax' with the denoising loss"):
        SBTM(backend="fused", optimizer="adamax")
    with pytest.raises(ValueError, match=r"loss='weighted_denoising'"):
        SBTM(backend="fused", loss="weighted_denoising", depth=2)
    with pytest.raises(ValueError, match=r"backend=.*allowed: 'auto', 'torch', 'fused'"):
        SBTM(backend="gpu")
    assert "device='meta'" in fused_unsupported(depth=1, loss="denoising", device="meta")
    assert fused_unsupported(depth=1, loss="denoising", device="cuda") is None     # the CUDA-graph step
    assert fused_unsupported(depth=1, loss="denoising", device="cpu") is None


def test_auto_falls_back_to_torch_and_says_so_once(caplog):
    SBTM._fallback_said.clear()
    with caplog.at_level(logging.INFO, logger="landau_nb.scores.sbtm"):
        for _ in range(2):
            _, x, est = _estimator(3, 8, 30, loss="weighted_denoising")
            assert est.backend_used == "torch"
            est(x, 0.0)
    notes = [r for r in caplog.records if "trains with torch" in r.getMessage()]
    assert len(notes) == 1 and "loss='weighted_denoising'" in notes[0].getMessage()
    _, _, est = _estimator(3, 8, 30, depth=2)
    assert est.backend_used == "fused"            # the chunked analytic step (2x autograd at n = 3200)
    _, _, est = _estimator(3, 8, 30, depth=2, backend="fused")
    assert est.backend_used == "fused"
    _, _, est = _estimator(3, 8, 30)
    assert est.backend_used == "fused"


def test_adaptive_training_runs_on_the_fused_path():
    # The adaptive strategy checks the exact implicit loss with torch between fused chunks:
    # the network written back after each chunk must be the one checked.
    p, x, a = _estimator(2, 12, 80, adaptive=True, check_every=5, max_steps=60, backend="torch")
    _, _, b = _estimator(2, 12, 80, adaptive=True, check_every=5, max_steps=60, backend="fused")
    a(x * 1.2, 0.1)
    b(x * 1.2, 0.1)
    assert a.stats["gd_steps"] == b.stats["gd_steps"]
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        torch.testing.assert_close(va, vb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(F64, 1e-12), (torch.float32, 1e-4)])
def test_batched_torch_step_equals_the_numba_kernel(dtype, tol):
    # The GPU path's computation (batched products, analytic gradient, Adam), run on the CPU
    # for three members: the same parameters as the numba kernel after 10 steps, to round-off.
    from landau_nb.scores import _sbtm_torch
    S, n, d, w, steps = 3, 90, 3, 16, 10
    g = ln.make_generator(0, "test")
    x = torch.randn(S, n, d, generator=g, dtype=F64).to(dtype)
    z = torch.randn(S, steps, n, d, generator=g, dtype=F64).to(dtype)
    theta = (0.3 * torch.randn(S, kern.n_params(d, w), generator=g, dtype=F64)).to(dtype)
    est = ln.SBTM(width=w)
    consts = est.kernel_constants(n, np.float64 if dtype == F64 else np.float32)
    adam = np.stack([est.adam_constants(0, steps)] * S)
    out = {}
    for name in ("numba", "torch"):
        th, m1, m2 = theta.clone(), torch.zeros_like(theta), torch.zeros_like(theta)
        losses = np.empty((S, steps)) if name == "numba" else torch.empty(S, steps, dtype=dtype)
        if name == "numba":
            kern.adam_denoising(x.numpy(), z.numpy(), th.numpy(), m1.numpy(), m2.numpy(), consts,
                                adam.astype(consts.dtype), losses, d, w)
        else:
            _sbtm_torch.adam_denoising_torch(x, z, th, m1, m2, consts, torch.as_tensor(adam, dtype=dtype),
                                             losses, d, w)
        out[name] = th, m1, m2, np.asarray(losses, dtype=np.float64)
    for a, b in zip(out["numba"][:3], out["torch"][:3]):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol)
    np.testing.assert_allclose(out["torch"][3], out["numba"][3], rtol=tol)


def test_float64_kernels_run_padded_and_the_padding_stays_zero():
    # float64 runs at a width padded to a multiple of 8 (zero hidden units): the same Adam steps
    # as the kernel compiled at the network's own width, to round-off, and the zero units stay zero
    S, n, d, w, steps = 2, 300, 3, 13, 12
    wp = kern.padded_width(w, np.float64)
    assert (wp, kern.padded_width(w, np.float32), kern.padded_width(16, np.float64)) == (16, 13, 16)
    g = ln.make_generator(0, "test")
    x = torch.randn(S, n, d, generator=g, dtype=F64).numpy()
    z = torch.randn(S, steps, n, d, generator=g, dtype=F64).numpy()
    theta = 0.3 * torch.randn(S, kern.n_params(d, w), generator=g, dtype=F64).numpy()
    est = ln.SBTM(width=w)
    consts = est.kernel_constants(n, np.float64)
    adam = np.stack([est.adam_constants(0, steps)] * S)
    th, m1, m2 = theta.copy(), np.zeros_like(theta), np.zeros_like(theta)
    kern.adam_denoising(x, z, th, m1, m2, consts, adam, np.empty((S, steps)), d, w)      # padded to wp
    own = [theta.copy(), np.zeros_like(theta), np.zeros_like(theta)]
    kern.denoising_kernels(d, w)[0](x, z, *own, consts, adam, np.empty((S, steps)))      # at width w
    for a, b in zip((th, m1, m2), own):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    padded = [kern._pad(v, d, w, wp) for v in (theta, np.zeros_like(theta), np.zeros_like(theta))]
    kern.denoising_kernels(d, wp)[0](x, z, *padded, consts, adam, np.empty((S, steps)))
    back = np.empty_like(theta)
    kern._unpad(padded[0], back, d, w, wp)
    np.testing.assert_array_equal(back, th)                                             # the wrapper's sweep
    zero_units = np.ones(kern.n_params(d, wp), bool)
    for _, b in kern._unit_slices(d, w, wp):
        zero_units[b] = False
    assert zero_units.sum() == 2 * d * (wp - w) + (wp - w)
    assert all((v[:, zero_units] == 0).all() for v in padded)


@pytest.mark.parametrize("n", [90, 700])
def test_fused_initial_fit_follows_the_torch_fit(n):
    # n = 90 trains on all particles, n = 700 on minibatches of 256 drawn from the same
    # generator stream: the same fit to round-off (float64), stopping at the same step.
    from landau_nb.scores.sbtm import fit_initial_score
    p = ln.anisotropic_gaussian(3)
    x = p.sample(n, ln.make_generator(0, "x"))
    target = p.initial_score(x)
    out = {}
    for backend in ("torch", "fused"):
        model = ln.score_mlp(3, width=20, generator=ln.make_generator(0, "net"))
        report = fit_initial_score(model, x, target, tol=1e-3, lr=1e-2, max_iter=2000,
                                   generator=ln.make_generator(0, "batches"), backend=backend)
        out[backend] = model, report
    assert out["torch"][1]["steps"] == out["fused"][1]["steps"] < 2000
    assert out["fused"][1]["relative_error"] == pytest.approx(out["torch"][1]["relative_error"], rel=1e-9)
    for a, b in zip(out["torch"][0].parameters(), out["fused"][0].parameters()):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="score_mlp's form"):
        fit_initial_score(torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)),
                          x, target, backend="fused")


@pytest.mark.parametrize("activation,depth,optimizer,n", [("softsign", 2, "adam", 700), ("silu", 4, "adamax", 90),
                                                          ("silu", 1, "adam", 700), ("softsign", 1, "adamax", 90)])
def test_analytic_initial_fit_follows_the_torch_fit(activation, depth, optimizer, n):
    # networks the numba kernel does not take (deeper, SiLU, Adamax: BKW's and Huang and Wang's):
    # the analytic backward in batched products, the same minibatches and update as autograd and
    # torch.optim to round-off (float64), stopping at the same step
    from landau_nb.scores.sbtm import fit_initial_score
    p = ln.anisotropic_gaussian(2)
    x = p.sample(n, ln.make_generator(1, "x"))
    target = p.initial_score(x)
    out = {}
    for backend in ("torch", "fused"):
        model = ln.score_mlp(2, width=16, depth=depth, activation=activation, generator=ln.make_generator(0, "net"))
        report = fit_initial_score(model, x, target, tol=2e-2, lr=3e-3, max_iter=3000, optimizer=optimizer,
                                   generator=ln.make_generator(0, "batches"), backend=backend)
        out[backend] = model, report
    assert 0 < out["torch"][1]["steps"] == out["fused"][1]["steps"] < 3000
    assert out["fused"][1]["relative_error"] == pytest.approx(out["torch"][1]["relative_error"], rel=1e-9)
    for a, b in zip(out["torch"][0].parameters(), out["fused"][0].parameters()):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-11)


def test_sbtm_fits_a_deep_network_without_autograd_only_when_asked():
    # backend="fused": the analytic fit (same fit to round-off); "auto" keeps autograd's fit for a
    # depth-2 network (committed runs were made with it), and the numba fit for depth 1
    p = ln.bkw(3)
    x = p.sample(300, ln.make_generator(0, "x"))
    reports = {}
    for backend in ("torch", "auto", "fused"):
        est = ln.SBTM(depth=2, width=12, init_tol=5e-2, init_lr=3e-3, backend=backend)
        est.initialize(p, x, p.t0, seed=0)
        reports[backend] = est.init_report, torch.cat([q.detach().reshape(-1) for q in est.model.parameters()])
    assert reports["auto"][0] == reports["torch"][0]
    assert torch.equal(reports["auto"][1], reports["torch"][1])
    assert reports["fused"][0]["steps"] == reports["torch"][0]["steps"]
    torch.testing.assert_close(reports["fused"][1], reports["torch"][1], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dtype,rtol", [(F64, 1e-10), (torch.float32, 2e-4)])
def test_deep_fused_training_follows_the_torch_path(dtype, rtol):
    # Depth 2 (the paper's BKW network) on the batched torch step with the analytic gradient;
    # the checkpoint state keeps torch's layout.
    p = ln.bkw(3)
    kw = dict(n=90, seed=1, t_end=p.t0 + 4 * p.dt, depth=2, width=30, init_tol=1e-1, init_lr=1e-2,
              init_max_iter=300, dtype=dtype, record_losses=True)
    ref = ln.solve(p, "sbtm", backend="torch", **kw)
    new = ln.solve(p, "sbtm", backend="fused", **kw)
    scale = np.abs(ref.x[-1]).max()
    np.testing.assert_allclose(new.x[-1], ref.x[-1], rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(new.saved["loss_log"][:, 1], ref.saved["loss_log"][:, 1], rtol=10 * rtol,
                               atol=10 * rtol)
    _, x, a = _estimator(3, 6, 40, depth=3, backend="torch")
    _, _, b = _estimator(3, 6, 40, depth=3, backend="fused")
    a(x, 0.0)
    b(x, 0.0)
    (arr_a, meta_a), (arr_b, meta_b) = a.get_state(), b.get_state()
    assert sorted(arr_a) == sorted(arr_b) and meta_a["optimizer_keys"] == meta_b["optimizer_keys"]
    for k in arr_a:
        if k != "noise_gen":
            np.testing.assert_allclose(arr_b[k], arr_a[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_chunked_cpu_step_sums_the_same_gradient(depth):
    # The CPU step sums the analytic gradient over chunks of particles (cache-sized); any chunk
    # size gives the one-pass step's parameters, Adam moments and losses to round-off, for every
    # member of a batch (the gradient accumulates into strided views of the (S, P) buffer).
    from landau_nb.scores import _sbtm_torch
    S, n, d, w, steps = 3, 50, 3, 12, 5
    g = ln.make_generator(0, "chunks")
    x = torch.randn(S, n, d, generator=g, dtype=F64)
    z = torch.randn(S, steps, n, d, generator=g, dtype=F64)
    theta = 0.3 * torch.randn(S, _sbtm_torch.n_params(d, w, depth), generator=g, dtype=F64)
    est = ln.SBTM(width=w)
    consts = [float(c) for c in est.kernel_constants(n, np.float64)]
    adam = torch.as_tensor(np.stack([est.adam_constants(0, steps)] * S))
    out = {}
    for chunk in (n, 7, 512):
        th, m1, m2 = theta.clone(), torch.zeros_like(theta), torch.zeros_like(theta)
        losses = []
        for k in range(steps):
            losses.append(_sbtm_torch.denoising_step(x, z[:, k], th, m1, m2, consts, adam[:, k], d, w, depth,
                                                     chunk=chunk))
        out[chunk] = th, m1, m2, torch.stack(losses)
    for chunk in (7, 512):
        for a, b in zip(out[n], out[chunk]):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-14)
    assert not torch.equal(out[n][0], theta)                 # the steps moved the parameters


_CHILD = """
import hashlib, sys
import numpy as np
from landau_nb.scores import _sbtm_numba as k
d, w, n, K = 3, 32, 30, 5
rng = np.random.default_rng(0)
x = rng.standard_normal((1, n, d)).astype(np.float32)
z = rng.standard_normal((1, K, n, d)).astype(np.float32)
theta = (0.1 * rng.standard_normal((1, k.n_params(d, w)))).astype(np.float32)
m1, m2 = np.zeros_like(theta), np.zeros_like(theta)
consts = np.array([1, 0.1, 2 / n, 1 / (0.1 * n), 0.1, 0.999, 0.001, 1e-8], dtype=np.float32)
adam = np.tile(np.array([1e-3, 1.0], dtype=np.float32), (1, K, 1))
k.adam_denoising(x, z, theta, m1, m2, consts, adam, np.zeros((1, K)), d, w)
out = np.zeros(theta.shape[1] + 1)
k.denoising_gradient(x[0], z[0, 0], theta[0], consts, d, w, out)
print(hashlib.sha256(theta.tobytes() + out.tobytes()).hexdigest())
"""


def test_a_process_that_compiles_the_kernel_runs_the_cached_code(tmp_path):
    """numba runs its fresh compilation of a parallel kernel, but caches a copy optimised once more,
    which can round differently (measured on this kernel in float32): the first process on a cold
    cache must get what every later process loading the cache gets (landau_nb._jit), or a run
    resumed or computed on a worker would not be bit-identical to the run in one piece."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
        assert "RuntimeWarning" not in r.stderr, r.stderr[-2000:]
    assert any((tmp_path / "cache").rglob("*adam_steps*.nbi"))          # the cache was written
    assert runs[0].stdout == runs[1].stdout                              # cold and warm: the same bits


def test_wide_vectors_mark_only_the_code_compiled_under_them():
    """The denoising kernels are compiled with LLVM's prefer-vector-width=512 (landau_nb._jit:
    LLVM's tuning for recent Xeons picks 256-bit vectors, half the arithmetic per instruction on
    AVX-512 CPUs): the attribute reaches the compiled functions, and only those compiled under it."""
    from landau_nb import _jit

    def kernel():
        @numba.njit(fastmath=True)
        def axpy(a, x, y):
            for i in range(x.shape[0]):
                y[i] += a * x[i]
        return axpy

    x = np.ones(64)
    wide, plain = kernel(), kernel()
    with _jit.wide_vectors():
        wide(2.0, x, x.copy())
    plain(2.0, x, x.copy())
    def attributes(disp):
        """The attributes of the kernel's own function (the module's first definition; numba's
        runtime helpers are linked in from a library compiled once per process)."""
        import re
        ir = next(iter(disp.inspect_llvm().values()))
        group = re.search(r"^define [^\n]*axpy[^\n]*#(\d+)", ir, re.M).group(1)
        return re.search(rf"^attributes #{group} = ([^\n]*)", ir, re.M).group(1)

    assert _jit.WIDE_VECTORS in attributes(wide)
    assert _jit.WIDE_VECTORS not in attributes(plain)
    with _jit.wide_vectors():
        pass
    from numba.core.codegen import CPUCodeLibrary
    assert CPUCodeLibrary.add_ir_module.__qualname__ == "CPUCodeLibrary.add_ir_module"   # restored
    assert all(k._landau_wide for k in kern.denoising_kernels(3, 100))
    assert not kern.adam_regression._landau_wide
