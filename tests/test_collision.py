"""The collision kernel, the particle velocity and the collision matrix."""

import pytest
import torch

import landau_nb as ln
from conftest import cuda_devices, gen

F64 = torch.float64


def rand_pair(n, d, *, shift=0.0, scale=1.0, dtype=F64, seed=0, device="cpu"):
    g = gen(seed)
    x = (torch.randn(n, d, dtype=F64, generator=g) * scale + shift).to(device=device, dtype=dtype)
    s = torch.randn(n, d, dtype=F64, generator=g).to(device=device, dtype=dtype)
    return x, s


@pytest.mark.parametrize("d", [2, 3, 5, 10])
@pytest.mark.parametrize("shift", [0.0, 30.0])
def test_moments_equal_direct(d, shift):
    # Both are exact formulas for the same finite sum; in float64 they may differ only by
    # round-off. The moment form centres x and s first, so a shift of the cloud far from the
    # origin (30 standard deviations) must not cost accuracy: the issue asks for 1e-12.
    x, s = rand_pair(400, d, shift=shift)
    vd = ln.landau_velocity(x, s, gamma=0, method="direct")
    vm = ln.landau_velocity(x, s, gamma=0, method="moments")
    assert ((vd - vm).norm() / vd.norm()).item() < 1e-12
    assert torch.equal(ln.landau_velocity(x, s, gamma=0), vm)  # "auto" picks moments


@pytest.mark.parametrize("gamma,d", [(g, d) for d in (2, 3) for g in (0.0, -3.0, -1.0, 1.0, -d - 1.0)])
def test_invariants_for_any_field(gamma, d):
    # Prop. 3.1: sum_i v_i = 0, sum_i x_i.v_i = 0 and (1/n) sum s.v <= 0 for ANY s.
    # Round-off scale: each sum adds n terms of size ~|v| (<= B n max|z|^(2+gamma)|w| / n).
    x, s = rand_pair(300, d, seed=1)
    v = ln.landau_velocity(x, s, gamma=gamma, method="direct")
    assert torch.isfinite(v).all()
    scale = v.abs().max().item() * x.shape[0]
    eps = torch.finfo(F64).eps
    assert v.sum(0).abs().max().item() < 50 * eps * scale
    assert abs((x * v).sum().item()) < 50 * eps * scale * x.abs().max().item()
    assert ln.entropy_rate(s, v).item() <= 0


def test_invariants_for_untrained_network():
    # Remark 3.1: the conservation does not depend on the score being any good.
    x, _ = rand_pair(500, 3, seed=2)
    net = ln.score_mlp(3, width=32, generator=gen(3))
    with torch.no_grad():
        s = net(x)
    for gamma in (0.0, -3.0):
        v = ln.landau_velocity(x, s, gamma=gamma)
        assert v.sum(0).abs().max().item() < 1e-12 * v.abs().max().item() * 500
        assert abs((x * v).sum().item()) < 1e-11 * (x.abs() * v.abs()).sum().item()
        assert ln.entropy_rate(s, v).item() < 0


def test_self_interaction_is_exactly_zero_for_singular_kernels():
    # Two particles: the j = i terms must vanish exactly (no NaN, no epsilon), so v_1 is the
    # single pair term, which we compute by hand.
    x = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]], dtype=F64)
    s = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.5]], dtype=F64)
    z, w = x[0] - x[1], s[0] - s[1]
    r = z.norm()
    for gamma in (-3.0, -4.0, 0.0, 1.0):
        expected = -(1 / 24) / 2 * r**gamma * (r**2 * w - (z @ w) * z)
        v = ln.landau_velocity(x, s, gamma=gamma, method="direct")
        torch.testing.assert_close(v[0], expected, rtol=1e-14, atol=0)
        torch.testing.assert_close(v[1], -expected, rtol=1e-14, atol=0)


def test_coincident_particles_give_no_nan():
    x, s = rand_pair(50, 3)
    x[7] = x[3]
    v = ln.landau_velocity(x, s, gamma=-3.0)
    assert torch.isfinite(v).all()


def test_tiling_does_not_change_the_sum():
    x, s = rand_pair(257, 3)
    a = ln.landau_velocity(x, s, gamma=-3.0, method="direct", tile=1)
    b = ln.landau_velocity(x, s, gamma=-3.0, method="direct", tile=64)
    c = ln.landau_velocity(x, s, gamma=-3.0, method="direct")
    torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(a, c, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("device", cuda_devices())
def test_float32_agrees_with_float64(device):
    # float32 sums of ~n terms: relative error ~ sqrt(n) * 6e-8 << 1e-4
    x, s = rand_pair(300, 3, device=device)
    for gamma in (0.0, -3.0):
        v64 = ln.landau_velocity(x, s, gamma=gamma)
        v32 = ln.landau_velocity(x.float(), s.float(), gamma=gamma)
        assert v32.dtype == torch.float32 and v32.device == x.device
        assert ((v32.double() - v64).norm() / v64.norm()).item() < 1e-4


def test_kernel_properties():
    z = torch.randn(20, 4, dtype=F64, generator=gen())
    for gamma in (0.0, -3.0, 1.0):
        A = ln.collision_kernel(z, gamma=gamma)
        torch.testing.assert_close(A, A.transpose(-1, -2))
        # A(z) z = 0 and A is positive semi-definite (eigenvalues >= 0)
        assert torch.einsum("nab,nb->na", A, z).abs().max() < 1e-12
        assert torch.linalg.eigvalsh(A).min() > -1e-12
    assert torch.equal(ln.collision_kernel(torch.zeros(2, 3, dtype=F64), gamma=-3.0),
                       torch.zeros(2, 3, 3, dtype=F64))


def test_velocity_is_the_kernel_sum():
    x, s = rand_pair(30, 3)
    for gamma in (0.0, -3.0):
        A = ln.collision_kernel(x[:, None, :] - x[None, :, :], gamma=gamma)
        w = s[:, None, :] - s[None, :, :]
        ref = -torch.einsum("ijab,ijb->ia", A, w) / 30
        torch.testing.assert_close(ln.landau_velocity(x, s, gamma=gamma, method="direct"), ref)


@pytest.mark.parametrize("d", [2, 3, 6])
def test_collision_matrix_forms_agree(d):
    x, _ = rand_pair(200, d, shift=5.0)
    y = torch.randn(17, d, dtype=F64, generator=gen(4)) * 3
    for at in (None, y):
        Dd = ln.collision_matrix(x, gamma=0, method="direct", at=at)
        Dm = ln.collision_matrix(x, gamma=0, method="moments", at=at)
        assert ((Dd - Dm).norm() / Dd.norm()).item() < 1e-12


def test_collision_matrix_is_the_kernel_average():
    x, _ = rand_pair(40, 3)
    for gamma in (0.0, -3.0):
        A = ln.collision_kernel(x[:, None, :] - x[None, :, :], gamma=gamma)
        torch.testing.assert_close(ln.collision_matrix(x, gamma=gamma, method="direct"), A.mean(1))


@pytest.mark.parametrize("gamma", [0.0, -3.0])
def test_collision_divergence_matches_autograd(gamma):
    # div D(y) computed in closed form vs autograd of y -> D(y) away from the particles
    x, _ = rand_pair(60, 3)
    y = torch.randn(5, 3, dtype=F64, generator=gen(5)) * 2 + 0.1
    yy = y.clone().requires_grad_(True)
    D = ln.collision_matrix(x, gamma=gamma, method="direct", at=yy)
    div = torch.stack([sum(torch.autograd.grad(D[:, a, b].sum(), yy, retain_graph=True)[0][:, a]
                           for a in range(3)) for b in range(3)], dim=1)
    torch.testing.assert_close(ln.collision_divergence(x, gamma=gamma, at=y), div, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 1.0, -3.0])
def test_velocity_divergence_matches_autograd_of_the_field(gamma):
    # v(y) = -(B/n) sum_{j != i} A(y - x_j)(net(y) - s_j): autograd divergence at y = x_i,
    # leaving out the j = i term (as the formula does) for each checked i.
    x, _ = rand_pair(40, 3, seed=8)
    net = ln.score_mlp(3, width=16, generator=gen(9))
    with torch.no_grad():
        s = net(x)
    _, jac = ln.scores.losses._value_and_jacobian(net, x, False)
    div = ln.velocity_divergence(x, s, jac, gamma=gamma)
    for i in (0, 17, 39):
        others = torch.cat([x[:i], x[i + 1:]])
        s_others = torch.cat([s[:i], s[i + 1:]])
        y = x[i:i + 1].clone().requires_grad_(True)
        A = ln.collision_kernel(y - others, gamma=gamma)           # (n-1, d, d)
        v = -torch.einsum("jab,jb->a", A, net(y) - s_others) / 40
        auto = sum(torch.autograd.grad(v[a], y, retain_graph=True)[0][0, a] for a in range(3))
        torch.testing.assert_close(div[i], auto.detach(), rtol=1e-10, atol=1e-12)
