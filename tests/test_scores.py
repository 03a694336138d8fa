"""Score estimators and score-matching losses."""

import math

import pytest
import torch

import landau_nb as ln
from conftest import gen

F64 = torch.float64


def gaussian_sample(n, d=3, seed=0):
    return torch.randn(n, d, dtype=F64, generator=gen(seed))


def test_blob_score_converges_to_gaussian_score():
    # For N(0, I) samples the blob score should approach -x as n grows (bandwidth shrinking
    # by the paper's rule); we check the normalised error decreases monotonically and is
    # small at the largest n.
    errs = []
    for n in (200, 1600, 12800):
        x = gaussian_sample(n, 2, seed=n)
        s = ln.blob_score(x, ln.blob_bandwidth(x, "paper"))
        errs.append(ln.relative_score_error(s, -x).item())
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.06


def test_blob_score_two_terms_by_hand():
    x = gaussian_sample(7, 2, seed=1)
    eps = 0.3
    z = x[:, None, :] - x[None, :, :]
    phi = torch.exp(-(z * z).sum(-1) / (2 * eps))
    grad = -z / eps * phi[..., None]
    rho = phi.sum(1)
    expected = grad.sum(1) / rho[:, None] + (grad / rho[None, :, None]).sum(1)
    torch.testing.assert_close(ln.blob_score(x, eps), expected)
    torch.testing.assert_close(ln.kde_score(x, eps), grad.sum(1) / rho[:, None])
    torch.testing.assert_close(ln.blob_score(x, eps, tile=2), expected)


def test_kde_score_is_gradient_of_log_kde():
    x = gaussian_sample(50, 3, seed=2)
    y = gaussian_sample(9, 3, seed=3).requires_grad_(True)
    eps = 0.4
    logk = torch.logsumexp(-((y[:, None, :] - x[None]) ** 2).sum(-1) / (2 * eps), dim=1)
    (g,) = torch.autograd.grad(logk.sum(), y)
    torch.testing.assert_close(ln.kde_score(x, eps, at=y.detach()), g)


def test_bandwidth_rules():
    x = gaussian_sample(1000, 3, seed=4) * torch.tensor([1.8, 0.2, 1.0], dtype=F64).sqrt()
    geo = math.exp(torch.linalg.slogdet(torch.cov(x.T))[1].item() / 3)
    assert math.isclose(ln.blob_bandwidth(x, "paper"), 1000 ** (-1 / 9) * geo, rel_tol=1e-12)
    assert math.isclose(ln.blob_bandwidth(x, "reference"), 2 * geo * 1000 ** (-2 / 7), rel_tol=1e-12)
    assert abs(geo - (1.8 * 0.2) ** (1 / 3)) < 0.05


def test_divergence_and_denoising_divergence():
    net = ln.score_mlp(3, width=20, depth=2, generator=gen(5))
    x = gaussian_sample(40, 3, seed=6)
    # exact divergence by autograd vs central differences of the network
    h = 1e-5
    fd = sum((net(x + h * e)[:, k] - net(x - h * e)[:, k]) / (2 * h)
             for k, e in enumerate(torch.eye(3, dtype=F64)))
    torch.testing.assert_close(ln.divergence(net, x), fd.detach(), rtol=1e-6, atol=1e-8)
    # the denoising estimate averages to the divergence as alpha -> 0 (bias O(alpha^2))
    reps = 4000
    xr = x.repeat(reps, 1)
    z = torch.randn(xr.shape, dtype=F64, generator=gen(7))
    with torch.no_grad():
        est = ln.denoising_divergence(net, xr, z, 1e-3).view(reps, 40).mean(0)
    exact = ln.divergence(net, x)
    # Monte Carlo error of a mean of 4000 draws of z^T J z: a few percent of |J|
    assert (est - exact).abs().max().item() < 0.1 * exact.abs().max().item() + 0.02


def test_denoising_loss_is_implicit_loss_in_expectation():
    net = ln.score_mlp(2, width=16, generator=gen(8))
    x = gaussian_sample(500, 2, seed=9)
    with torch.no_grad():
        vals = [ln.denoising_loss(net, x, torch.randn(x.shape, dtype=F64, generator=gen(100 + k)), 0.05).item()
                for k in range(200)]
    mean = sum(vals) / len(vals)
    assert abs(mean - ln.implicit_loss(net, x).item()) < 0.02 * (1 + abs(mean))


def test_implicit_loss_is_true_loss_minus_constant():
    # E|s - grad log u|^2 = implicit(s) + E|grad log u|^2 for samples of u (integration by
    # parts); check it for two different fields with 2e5 Gaussian samples (MC error ~1%).
    x = gaussian_sample(200_000, 2, seed=10)
    true = -x
    const = (true**2).sum(1).mean()
    for seed in (11, 12):
        net = ln.score_mlp(2, width=8, generator=gen(seed))
        with torch.no_grad():
            lhs = ln.score_matching_loss(net(x), true)
        rhs = ln.implicit_loss(net, x) + const
        assert abs(lhs.item() - rhs.item()) < 0.02 * lhs.item()


def test_weighted_losses_agree():
    p = ln.anisotropic_gaussian(3)
    x = p.sample(300, gen(13))
    net = ln.score_mlp(3, width=16, generator=gen(14))
    D = ln.collision_matrix(x, gamma=0)
    divD = ln.collision_divergence(x, gamma=0)
    exact = ln.weighted_implicit_loss(net, x, D, divD).item()
    with torch.no_grad():
        vals = [ln.weighted_denoising_loss(net, x, torch.randn(x.shape, dtype=F64, generator=gen(200 + k)), 0.02,
                                           D, divD).item() for k in range(300)]
    assert abs(sum(vals) / len(vals) - exact) < 0.03 * (1 + abs(exact))
    # with D = I and div D = 0 the weighted loss is the unweighted one
    eye = torch.eye(3, dtype=F64).expand(300, 3, 3)
    torch.testing.assert_close(ln.weighted_implicit_loss(net, x, eye, torch.zeros_like(x)),
                               ln.implicit_loss(net, x))


def test_initial_fit_reaches_tolerance_and_is_deterministic():
    p = ln.anisotropic_gaussian(3)
    x = p.sample(100, gen(15))
    a, b = ln.SBTM(), ln.SBTM()
    a.initialize(p, x, 0.0, seed=3)
    b.initialize(p, x, 0.0, seed=3)
    assert a.init_report["relative_error"] < 1e-4
    with torch.no_grad():
        assert torch.equal(a.model(x), b.model(x))


def test_sbtm_training_lowers_the_true_loss():
    # After the initial fit at t0 (exact score known), move the particles with the exact
    # heat-equation flow; K steps of denoising training at the new positions must reduce
    # the error against the new exact score.
    p = ln.heat(2)
    x = p.sample(400, gen(16))
    est = ln.SBTM(K=200, lr=1e-3)
    est.initialize(p, x, p.t0, seed=0)
    y = x * math.sqrt(p.variance(2.0) / p.variance(p.t0))       # exact transport map to t = 2
    with torch.no_grad():
        before = ln.relative_score_error(est.model(y), p.score(y, 2.0)).item()
    s = est(y, 2.0)
    after = ln.relative_score_error(s, p.score(y, 2.0)).item()
    assert after < 0.5 * before


def test_adaptive_training_stops_and_records():
    p = ln.anisotropic_gaussian(2)
    x = p.sample(100, gen(17))
    est = ln.SBTM(adaptive=True, check_every=5, max_steps=200, record_losses=True)
    est.initialize(p, x, 0.0, seed=1)
    est(x * 1.2, 0.1)
    steps = est.stats["gd_steps"]
    assert 5 <= steps <= 200 and steps % 5 == 0
    assert len(est.loss_log) == steps
