"""Closed forms of the test problems: densities, scores, samplers, second moments."""

import math

import pytest
import torch

import landau_nb as ln
from conftest import gen

F64 = torch.float64


def autograd_score(problem, x, t):
    xx = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(problem.log_density(xx, t).sum(), xx)
    return g


def all_exact_problems():
    return [ln.bkw(2), ln.bkw(3), ln.bkw(5), ln.heat(3), ln.fokker_planck(2)]


@pytest.mark.parametrize("problem", all_exact_problems(), ids=lambda p: f"{p.name}-d{p.d}")
def test_score_is_gradient_of_log_density(problem):
    x = problem.sample(200, gen())
    for t in (problem.t0, 0.5 * (problem.t0 + problem.t_end), problem.t_end):
        torch.testing.assert_close(problem.score(x, t), autograd_score(problem, x, t), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("problem", [ln.anisotropic_gaussian(3), ln.anisotropic_gaussian(4, -3.0),
                                     ln.gaussian_mixture(3), ln.gaussian_mixture(2)],
                         ids=lambda p: f"{p.name}-d{p.d}-g{p.gamma}")
def test_initial_score_is_gradient_of_log_density(problem):
    x = problem.sample(200, gen())
    torch.testing.assert_close(problem.initial_score(x), autograd_score(problem, x, problem.t0))
    with pytest.raises(NotImplementedError, match="only at"):
        problem.score(x, problem.t0 + 1.0)


@pytest.mark.parametrize("problem", [ln.bkw(3), ln.bkw(4), ln.anisotropic_gaussian(3), ln.gaussian_mixture(3),
                                     ln.heat(2)], ids=lambda p: f"{p.name}-d{p.d}")
def test_sampler_second_moments(problem):
    # 10^5 draws: each entry of the second-moment matrix has standard error <= ~0.01
    x = problem.sample(100_000, gen(1))
    sigma = ln.second_moment(x)
    assert (sigma - problem.initial_second_moment()).abs().max().item() < 0.04
    assert x.mean(0).abs().max().item() < 0.02


@pytest.mark.parametrize("d", [2, 3, 6])
def test_bkw_constants_and_fourth_moment(d):
    p = ln.bkw(d)
    K, P, Q = p.constants(p.t0)
    assert P > 0 and math.isclose(P + Q * K * d, 1.0, rel_tol=1e-12)
    # E|X|^4 from draws: relative standard error ~ sqrt(Var|X|^4 / m) < 1% for m = 2e5
    x = p.sample(200_000, gen(2))
    assert abs(ln.fourth_moment(x).item() / p.fourth_moment(p.t0) - 1) < 0.03
    # and from the density by Monte Carlo over a Gaussian proposal: E|X|^2 = d
    m = 400_000
    y = torch.randn(m, d, dtype=F64, generator=gen(3)) * 1.5
    w = torch.exp(p.log_density(y, p.t0) - (-0.5 * (y * y).sum(1) / 2.25 - 0.5 * d * math.log(2 * math.pi * 2.25)))
    assert abs(w.mean().item() - 1) < 0.02                      # integrates to one
    assert abs((w * (y * y).sum(1)).mean().item() / d - 1) < 0.03


def test_bkw_t0_rule_matches_paper():
    p = ln.bkw(3)
    assert p.t0 == 5.5 and p.t_end == 9.5 and p.dt == 0.01
    assert 5.49 < ln.BKW.singular_time(3, 1 / 24) < 5.5
    with pytest.raises(ValueError, match="t0"):
        ln.bkw(3, t0=5.4)


def test_bkw_exact_velocity_matches_particle_sum():
    # The particle velocity with exact scores is a Monte Carlo estimate of v*(X_i): with
    # n = 40000 the relative RMS error is ~ n^(-1/2) times a constant of order one.
    p = ln.bkw(3)
    x = p.sample(40_000, gen(4))
    s = p.score(x, p.t0)
    v = ln.landau_velocity(x, s, gamma=0, B=p.B)
    v_star = p.exact_velocity(x, p.t0)
    assert ((v - v_star).norm() / v_star.norm()).item() < 0.03


def test_maxwell_second_moment_solves_the_ode():
    # d Sigma / dt = -4 d B (Sigma - Sigma_inf), Sigma_inf = (2E - |V|^2)/d I + V V^T
    g = gen(5)
    a = torch.randn(3, 3, dtype=F64, generator=g)
    V = torch.randn(3, dtype=F64, generator=g)
    sigma0 = a @ a.T + torch.outer(V, V)
    B, h = 1 / 24, 1e-5
    f = lambda tau: ln.maxwell_second_moment(sigma0, tau, B=B, mean=V)
    dsig = (f(0.7 + h) - f(0.7 - h)) / (2 * h)
    inf = (torch.trace(sigma0) - V @ V) / 3 * torch.eye(3, dtype=F64) + torch.outer(V, V)
    torch.testing.assert_close(dsig, -4 * 3 * B * (f(0.7) - inf), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(f(0.0), sigma0)
    assert torch.allclose(torch.trace(f(5.0)), torch.trace(sigma0))  # energy conserved


def test_fokker_planck_form_of_the_particle_collision_matrix():
    # Prop. 2.1 for the empirical measure: (B/n) sum_j A(y - X_j) equals
    # B[(|y - V|^2 + 2E - |V|^2) I - (y - V)(y - V)^T - (Sigma - V V^T)] with the sample's
    # V, 2E and Sigma, to round-off, at arbitrary points y.
    g = gen(6)
    x = torch.randn(500, 3, dtype=F64, generator=g) * torch.tensor([1.3, 0.4, 1.0], dtype=F64) + 0.3
    y = torch.randn(40, 3, dtype=F64, generator=g) * 2
    B = 1 / 24
    V, sigma, two_e = x.mean(0), ln.second_moment(x), ln.energy(x)
    yv = y - V
    eye = torch.eye(3, dtype=F64)
    formula = B * (((yv * yv).sum(1) + two_e - V @ V)[:, None, None] * eye - yv[:, :, None] * yv[:, None, :]
                   - (sigma - torch.outer(V, V)))
    torch.testing.assert_close(ln.collision_matrix(x, gamma=0, at=y, method="direct"), formula,
                               rtol=1e-12, atol=1e-13)
    # and the drift: (B/n) sum_j div A(y - X_j) = -B(d-1)(y - V)
    torch.testing.assert_close(ln.collision_divergence(x, gamma=0, at=y), -B * 2 * yv)


def test_particle_second_moment_rate_matches_closed_form():
    # At t0 with the exact initial score, (1/n) sum (x v^T + v x^T) estimates dSigma/dt =
    # -4dB(Sigma - Sigma_inf) (Prop. 2.1). Monte Carlo error ~ n^(-1/2) relative to the rate.
    p = ln.anisotropic_gaussian(3)
    x = p.sample(40_000, gen(7))
    v = ln.landau_velocity(x, p.initial_score(x), gamma=0)
    rate = (x.T @ v + v.T @ x) / x.shape[0]
    sigma0 = p.initial_second_moment()
    expected = -4 * 3 * p.B * (sigma0 - torch.eye(3, dtype=F64))
    assert (rate - expected).abs().max().item() < 0.05 * expected.abs().max().item()


def test_coulomb_defaults_and_gaussian_mixture_defaults():
    c = ln.anisotropic_gaussian(3, -3.0)
    assert (c.dt, c.t_end, c.has_closed_covariance) == (1.0, 300.0, False)
    with pytest.raises(NotImplementedError):
        c.covariance(1.0)
    torch.testing.assert_close(c.equilibrium_second_moment(), torch.eye(3, dtype=F64))
    m = ln.gaussian_mixture(3)
    torch.testing.assert_close(m.initial_second_moment(), torch.diag(torch.tensor([1.8, 0.2, 1.0], dtype=F64)))
    with pytest.raises(ValueError, match="gamma=-1: no default"):
        ln.anisotropic_gaussian(3, -1.0)
    assert ln.anisotropic_gaussian(3, -1.0, dt=0.1, t_end=10).dt == 0.1


def test_linear_equations_second_moments():
    h, f = ln.heat(2), ln.fokker_planck(3)
    torch.testing.assert_close(h.covariance(3.0), 2 * 0.25 * 3.0 * torch.eye(2, dtype=F64))
    torch.testing.assert_close(f.covariance(2.0), -math.expm1(-4.0) * torch.eye(3, dtype=F64))
    x = torch.randn(10, 2, dtype=F64)
    s = h.score(x, 1.0)
    torch.testing.assert_close(h.velocity(x, s), -0.25 * s)
