"""KDE reconstruction and its L2 error estimate."""

import math

import pytest
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


@pytest.mark.parametrize("d", [2, 3, 10])
@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_compiled_kde_log_density_equals_the_torch_path(monkeypatch, d, dtype, rtol):
    # The numba kernel (CPU, n >= 64) against the tiled torch log-sum-exp, with query points
    # far from every centre (log-density about -r^2/2 = -2e4: no underflow to -inf).
    from landau_nb.equation import kde
    g = torch.Generator().manual_seed(d)
    x = torch.randn(300, d, generator=g, dtype=torch.float64).to(dtype)
    y = torch.cat([torch.randn(70, d, generator=g, dtype=torch.float64),
                   torch.full((3, d), 200.0 / d**0.5, dtype=torch.float64)]).to(dtype)
    assert kde.compiled_usable(x, y)
    fast = ln.kde_log_density(x, y)
    monkeypatch.setattr(kde, "compiled_usable", lambda *a: False)
    ref = ln.kde_log_density(x, y)
    assert fast.dtype == ref.dtype == dtype and torch.isfinite(fast).all()
    assert float(fast[-1]) < -1e4
    torch.testing.assert_close(fast, ref, rtol=rtol, atol=0)
