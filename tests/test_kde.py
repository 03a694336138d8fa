"""KDE reconstruction and its L2 error estimate."""

import math

import torch

import landau_nb as ln
from conftest import gen

F64 = torch.float64


def gauss_pdf(z, cov):
    d = z.shape[-1]
    L = torch.linalg.cholesky(cov)
    flat = z.reshape(-1, d)
    w = torch.linalg.solve_triangular(L, flat.T, upper=False).T.reshape(z.shape)
    return torch.exp(-0.5 * (w * w).sum(-1)) / ((2 * math.pi) ** (d / 2) * torch.diagonal(L).prod())


def test_kde_log_density_by_hand():
    x = torch.randn(30, 2, dtype=F64, generator=gen(1))
    y = torch.randn(7, 2, dtype=F64, generator=gen(2))
    H = ln.scott_covariance(x)
    expected = gauss_pdf(y[:, None, :] - x[None], H).mean(1).log()
    torch.testing.assert_close(ln.kde_log_density(x, y, H), expected)


def test_kde_l2_error_matches_closed_form():
    # u* = N(0, I): every term of int (u* - u_h)^2 is a Gaussian integral, so the exact L2
    # error is available; the importance-sampling estimate with m = 2^15 must be within 5%.
    for d in (2, 5):
        x = torch.randn(300, d, dtype=F64, generator=gen(d)) * 1.1 + 0.1
        H = ln.scott_covariance(x)
        eye = torch.eye(d, dtype=F64)
        uu = (4 * math.pi) ** (-d / 2)
        uh = gauss_pdf(x, eye + H).mean()
        hh = gauss_pdf(x[:, None, :] - x[None], 2 * H).mean()
        exact = math.sqrt(uu - 2 * uh + hh)
        logu = lambda y: -0.5 * (y * y).sum(1) - 0.5 * d * math.log(2 * math.pi)
        sample = lambda m, g: torch.randn(m, d, dtype=F64, generator=g)
        est = ln.kde_l2_error(x, logu, sample, m=2**15, generator=gen(9))
        assert abs(est / exact - 1) < 0.05, (d, est, exact)
