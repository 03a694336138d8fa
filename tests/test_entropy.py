"""Entropies, the Stein-rate diagnostic, value_and_jacobian and show_source (algorithms the
book's chapters use, moved into the package)."""

import math

import numpy as np
import pytest
import torch

import landau_nb as ln
from conftest import gen


class ScaledExactScore(ln.ScoreEstimator):
    """(1 + eta) times the exact BKW score: a fixed, deliberately wrong score field."""

    name = "scaled"

    def __init__(self, eta):
        super().__init__()
        self.eta = eta

    def __call__(self, x, t):
        return (1 + self.eta) * self.problem.score(x, t)

    def field(self, t):
        return lambda y: (1 + self.eta) * self.problem.score(y, t)

    def params(self):
        return {"name": self.name, "eta": self.eta}


def test_regularised_entropy_matches_its_formula_and_its_gradient_is_the_blob_score():
    x = torch.randn(60, 3, dtype=torch.float64, generator=gen(1))
    eps = 0.3
    z2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    phi = torch.exp(-z2 / (2 * eps)) / (2 * math.pi * eps) ** 1.5
    direct = torch.log(phi.mean(1)).mean()
    torch.testing.assert_close(ln.regularised_entropy(x, eps), direct, rtol=1e-12, atol=1e-12)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(ln.regularised_entropy(xg, eps), xg)
    torch.testing.assert_close(60 * grad, ln.blob_score(x, eps, method="direct"), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="eps"):
        ln.regularised_entropy(x, 0.0)


@pytest.mark.parametrize("d", [2, 3])
def test_bkw_entropy_matches_a_monte_carlo_average_and_decreases(d):
    bkw = ln.bkw(d)
    t = bkw.t0 + 0.5
    y = bkw.sample_at(200_000, t, gen(2))
    log_u = bkw.log_density(y, t)
    mc, se = float(log_u.mean()), float(log_u.std()) / math.sqrt(len(y))
    H = ln.bkw_entropy(bkw, t)
    assert abs(H - mc) < 4 * se, (H, mc, se)
    assert ln.bkw_entropy(bkw, t + 1.0) < H
    with pytest.raises(TypeError, match="BKW"):
        ln.bkw_entropy(ln.heat(3), 1.0)


def test_estimated_entropy_is_the_cumulative_rate_and_does_not_increase():
    problem = ln.anisotropic_gaussian(3)
    traj = ln.solve(problem, "blob", n=60, t_end=problem.t0 + 0.2, dt=0.02)
    E = ln.estimated_entropy(traj)
    assert E[0] == 0.0 and len(E) == len(traj.t)
    np.testing.assert_allclose(E[-1], 0.02 * traj["entropy_rate"][1:].sum(), rtol=1e-12)
    assert np.all(np.diff(E) <= 0) and E[-1] < 0


def test_value_and_jacobian_of_an_affine_field():
    M = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    x = torch.randn(7, 3, dtype=torch.float64, generator=gen(3))
    val, J = ln.value_and_jacobian(lambda y: y @ M.T + 1.0, x)
    torch.testing.assert_close(val, x @ M.T + 1.0)
    torch.testing.assert_close(J, M.expand(7, 3, 3))
    assert not val.requires_grad and not J.requires_grad
    with pytest.raises(ValueError, match="x"):
        ln.value_and_jacobian(lambda y: y, torch.zeros(4, 1, dtype=torch.float64))


def test_stein_rate_is_the_slope_of_the_in_sample_kl_estimate():
    # d/dt KL_n = -(1/n) sum (S w)(X_i): the recorded rate matches the finite-difference slope
    # of the transported estimate up to the O(dt) of the Euler step.
    bkw = ln.bkw(3)
    est = ScaledExactScore(0.3)
    rates, callback = ln.stein_recorder(bkw, est)
    traj = ln.solve(bkw, est, n=200, dt=0.01, t_end=bkw.t0 + 0.3, track_log_density=True, callback=callback)
    slope = np.diff(traj["kl"]) / np.diff(traj.t)
    rates = np.asarray(rates)
    assert len(rates) == len(traj.t) and np.abs(rates).max() > 0.005
    assert np.abs(slope - rates[:-1]).max() < 0.1 * np.abs(rates).max()
    with pytest.raises(ValueError, match="exact Landau velocity"):
        ln.stein_recorder(ln.anisotropic_gaussian(3), est)


def test_stein_identity_holds_for_points_independent_of_the_field():
    bkw = ln.bkw(3)
    t = bkw.t0
    est = ScaledExactScore(0.3)
    est.initialize(bkw, None, t)
    particles = bkw.sample_at(400, t, gen(4))
    fresh = bkw.sample_at(2000, t, gen(5))
    res = ln.at_and_away_from_particles(bkw, est.field(t), particles, fresh, t)
    for where, (mean, se, loss) in res.items():
        assert abs(mean) < 3 * se, (where, mean, se)
        assert loss > 0
    exact = ln.at_and_away_from_particles(bkw, lambda y: bkw.score(y, t), particles, fresh, t)
    assert all(abs(m) < 1e-12 and loss < 1e-24 for m, _, loss in exact.values())


def test_show_source_prints_the_def_line_and_the_chosen_lines():
    text = ln.show_source(ln.blob_score, "inv_rho =")
    lines = text.splitlines()
    assert lines[0].startswith("def blob_score(")
    assert "..." in lines[2] and "check_points" not in text and '"""' not in text
    assert lines[-1].strip() == "return out"
    part = ln.show_source("equation.collision._velocity_moments", "X = x - x.mean(0)", "C = S.T @ X")
    assert part.splitlines()[-2].strip() == "C = S.T @ X" and part.splitlines()[-1].strip() == "..."
    assert '"""' in ln.show_source(ln.mean, docstring=True)
    with pytest.raises(ValueError, match="start"):
        ln.show_source(ln.blob_score, "no such line")
    with pytest.raises(ValueError, match="no function"):
        ln.show_source("collision.nothing_here")
    with pytest.raises(TypeError, match="landau_nb"):
        ln.show_source(np.polyfit)
