"""Fast pair sums (compiled numba kernels, random batches) against the torch reference sums."""

import numpy as np
import pytest
import torch

import landau_nb as ln
from conftest import gen
from landau_nb.equation import collision
from landau_nb.equation import pairsum

F32, F64 = torch.float32, torch.float64

needs_numba = pytest.mark.skipif(not pairsum.numba_available(), reason="numba is not installed")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def rand_pair(n, d, *, dtype=F64, seed=0, scale=1.0):
    g = gen(seed)
    x = (torch.randn(n, d, dtype=F64, generator=g) * scale).to(dtype)
    s = torch.randn(n, d, dtype=F64, generator=g).to(dtype)
    return x, s


def rel_err(a, ref):
    a, ref = a.double(), ref.double()
    return ((a - ref).norm() / ref.norm()).item()


def reference_velocity(x, s, gamma):
    """The torch direct sum in float64 on the same (possibly float32-rounded) inputs."""
    return ln.landau_velocity(x.double(), s.double(), gamma=gamma, method="direct")


# Tolerances (relative 2-norm over all entries). float64: both sums are exact formulas
# evaluated in different orders, with FMA contraction: round-off ~ 1e-16 * a small factor
# (measured <= 4e-16 for these sizes). float32: inputs are the same float32 numbers, so only
# the arithmetic differs: measured ~1e-7 (partial sums of <= 1024 terms in float32, added in
# float64).
TOL = {F64: 1e-13, F32: 2e-6}


def gammas(d):
    # 0: Maxwell, -3: Coulomb (d = 3), -1, 1, -d - 1 (the most singular allowed), and a
    # non-integer exponent (the pow fallback of the kernel)
    return sorted({0.0, -1.0, -3.0, 1.0, -d - 1.0, -2.5})


@needs_numba
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("gamma,d", [(g, d) for d in (2, 3, 5) for g in gammas(d)])
def test_compiled_velocity_matches_reference(gamma, d, dtype):
    x, s = rand_pair(90, d, dtype=dtype, seed=d)
    v = ln.landau_velocity(x, s, gamma=gamma, method="compiled")
    assert v.dtype == dtype and v.shape == x.shape
    assert rel_err(v, reference_velocity(x, s, gamma)) < TOL[dtype]


@needs_numba
@pytest.mark.parametrize("d", [3, 5])
def test_compiled_velocity_large_n_crosses_tiles_and_blocks(d):
    # n > 1024 partners per block and > 32 rows per tile, with an uneven last tile and block
    x, s = rand_pair(1100, d, seed=11)
    for dtype in (F64, F32):
        xx, ss = x.to(dtype), s.to(dtype)
        v = ln.landau_velocity(xx, ss, gamma=-3.0, method="compiled")
        assert rel_err(v, reference_velocity(xx, ss, -3.0)) < TOL[dtype]


@needs_numba
@pytest.mark.parametrize("d", [2, 3, 5])
def test_compiled_self_interaction_is_exactly_zero(d):
    # Two particles: v_1 is the single pair term (the j = i terms vanish exactly, no NaN)
    x = torch.zeros(2, d, dtype=F64)
    x[1] = torch.arange(1, d + 1, dtype=F64)
    s = torch.randn(2, d, dtype=F64, generator=gen(1))
    z, w = x[0] - x[1], s[0] - s[1]
    r = z.norm()
    for gamma in (-3.0, -d - 1.0, -2.5, 0.0, 1.0):
        expected = -(1 / 24) / 2 * r**gamma * (r**2 * w - (z @ w) * z)
        v = ln.landau_velocity(x, s, gamma=gamma, method="compiled")
        torch.testing.assert_close(v[0], expected, rtol=1e-13, atol=0)
        torch.testing.assert_close(v[1], -expected, rtol=1e-13, atol=0)


@needs_numba
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("d", [2, 3, 5])
def test_compiled_coincident_particles(d, dtype):
    # distinct particles at one point: their pair is dropped (as in the torch sum), no NaN
    x, s = rand_pair(60, d, dtype=dtype)
    x[7] = x[3]
    x[8] = x[3]
    for gamma in (-3.0, -d - 1.0, -2.5, 1.0):
        v = ln.landau_velocity(x, s, gamma=gamma, method="compiled")
        assert torch.isfinite(v).all()
        assert rel_err(v, reference_velocity(x, s, gamma)) < TOL[dtype]


@needs_numba
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
def test_compiled_velocity_conserves(dtype):
    # sum v = 0 and sum x.v = 0 to round-off, as for the reference sum
    x, s = rand_pair(300, 3, dtype=dtype, seed=4)
    v = ln.landau_velocity(x, s, gamma=-3.0, method="compiled").double()
    eps = torch.finfo(dtype).eps
    scale = v.abs().max().item() * x.shape[0]
    assert v.sum(0).abs().max().item() < 50 * eps * scale
    assert abs((x.double() * v).sum().item()) < 50 * eps * scale * x.abs().max().item()


@needs_numba
def test_auto_uses_compiled_on_cpu_and_torch_for_autograd():
    n = pairsum.COMPILED_MIN_N
    x, s = rand_pair(n, 3, seed=5)
    compiled = ln.landau_velocity(x, s, gamma=-3.0, method="compiled")
    assert torch.equal(ln.landau_velocity(x, s, gamma=-3.0), compiled)
    # below the crossover and when a gradient is needed: the torch sum
    small = ln.landau_velocity(x[:n - 1], s[:n - 1], gamma=-3.0)
    assert torch.equal(small, ln.landau_velocity(x[:n - 1], s[:n - 1], gamma=-3.0, method="direct"))
    xg = x.clone().requires_grad_(True)
    v = ln.landau_velocity(xg, s, gamma=-3.0)
    assert v.grad_fn is not None
    assert rel_err(v.detach(), compiled) < 1e-13
    # gamma = 0: "auto" keeps the moment form
    assert torch.equal(ln.landau_velocity(x, s, gamma=0), ln.landau_velocity(x, s, gamma=0, method="moments"))


def test_without_numba_compiled_raises_and_auto_falls_back(monkeypatch):
    monkeypatch.setattr(pairsum, "_HAVE_NUMBA", False)
    monkeypatch.setattr(pairsum, "_KERNELS", None)
    x, s = rand_pair(300, 3)
    with pytest.raises(ImportError, match="method='compiled' needs numba"):
        ln.landau_velocity(x, s, gamma=-3.0, method="compiled")
    with pytest.raises(ImportError, match="needs numba"):
        ln.blob_score(x, 0.5, method="compiled")
    direct = ln.landau_velocity(x, s, gamma=-3.0, method="direct")
    assert torch.equal(ln.landau_velocity(x, s, gamma=-3.0), direct)
    assert torch.equal(ln.blob_score(x, 0.5), ln.blob_score(x, 0.5, method="direct"))
    v = ln.landau_velocity(x, s, gamma=-3.0, method="random_batch", batch_size=50, generator=gen(2))
    assert torch.isfinite(v).all()


# --------------------------------------------------------------------------- blob score
@needs_numba
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("d", [2, 3, 5])
def test_compiled_blob_score_matches_reference(d, dtype):
    x, _ = rand_pair(120, d, dtype=dtype, seed=d)
    for eps in (ln.blob_bandwidth(x.double()), 0.05, 3.0):
        ref = ln.blob_score(x.double(), eps, method="direct")
        b = ln.blob_score(x, eps, method="compiled")
        assert b.dtype == dtype
        assert rel_err(b, ref) < TOL[dtype]


@needs_numba
@pytest.mark.parametrize("d", [3, 10])
def test_compiled_blob_score_large_n_and_far_particles(d):
    # n larger than a block of partners and not a multiple of the 4-row blocks (d = 10: the
    # last tile has 1101 mod 32 = 13 rows); one far-away particle (all its kernel values
    # underflow to 0 except its own: its score is 0) and a narrow kernel
    x, _ = rand_pair(1101, d, seed=6)
    x[5] = 1e3
    for dtype in (F64, F32):
        xx = x.to(dtype)
        # a narrow kernel: 0.01 in d = 3; in d = 10 every pair is then out of reach (the score is
        # round-off), so 0.3 there
        for eps in (0.01 if d == 3 else 0.3, ln.blob_bandwidth(x)):
            b = ln.blob_score(xx, eps, method="compiled")
            assert torch.isfinite(b).all()
            assert rel_err(b, ln.blob_score(xx.double(), eps, method="direct")) < TOL[dtype]
        assert torch.equal(ln.blob_score(xx, 0.5), ln.blob_score(xx, 0.5, method="compiled"))


@needs_numba
def test_blob_estimator_backend():
    x, _ = rand_pair(200, 3, seed=7)
    est = {b: ln.Blob(bandwidth=0.4, backend=b) for b in ("direct", "compiled")}
    out = {}
    for b, e in est.items():
        e.initialize(ln.bkw(3), x, 5.5)
        out[b] = e(x, 5.5)
    assert rel_err(out["compiled"], out["direct"]) < 1e-13


@needs_numba
def test_polynomial_exp_accuracy():
    kern = pairsum._kernels()
    q64 = np.concatenate([np.linspace(0, 40, 40001), np.linspace(40, 800, 7601), [0.0, 1e-300]])
    for dtype, rel, top in ((np.float64, 1e-13, 708.0), (np.float32, 1e-5, 87.0)):
        q = q64.astype(dtype)
        out = np.empty_like(q)
        kern.exp_neg_array(q, out)
        ref = np.exp(-q.astype(np.float64))
        normal = ref > np.finfo(dtype).tiny * 2
        assert out[0] == 1.0                            # exp(0) is exactly 1: rho_i >= 1
        assert np.all(np.abs(out - ref)[normal] <= rel * ref[normal])
        small = q < 10                                  # where the blob weights matter
        assert np.all(np.abs(out - ref)[small] <= 16 * np.finfo(dtype).eps * ref[small])
        assert np.all(out[q > top + 1] == 0)            # below the normal range: exactly 0
        assert np.all(out >= 0)


# --------------------------------------------------------------------------- random batches
def _torch_only(monkeypatch):
    monkeypatch.setattr(collision, "compiled_usable", lambda *t: False)


@pytest.mark.parametrize("backend", ["compiled", "torch"])
@pytest.mark.parametrize("gamma", [-3.0, 0.0, -4.0])
def test_random_batch_conserves_within_batches(backend, gamma, monkeypatch):
    if backend == "torch":
        _torch_only(monkeypatch)
    elif not pairsum.numba_available():
        pytest.skip("numba is not installed")
    n, p = 1003, 100                        # 9 batches of 100 and a last one of 103
    x, s = rand_pair(n, 3, seed=8)
    v = ln.landau_velocity(x, s, gamma=gamma, method="random_batch", batch_size=p, generator=gen(3))
    perm = torch.randperm(n, generator=gen(3))
    eps = torch.finfo(F64).eps
    bounds = list(range(0, 900 + 1, p)) + [n]
    for b0, b1 in zip(bounds[:-1], bounds[1:]):
        idx = perm[b0:b1]
        vb, xb = v[idx], x[idx]
        scale = vb.abs().max().item() * (b1 - b0)
        assert vb.sum(0).abs().max().item() < 20 * eps * scale
        assert abs((xb * vb).sum().item()) < 20 * eps * scale * xb.abs().max().item()
        # each batch is the full Landau sum of its own particles, rescaled by (n-1)/(|b|-1)
        m = b1 - b0
        ref = ln.landau_velocity(xb, s[idx], gamma=gamma, method="direct") * (m / n) * (n - 1) / (m - 1)
        assert rel_err(vb, ref) < 1e-13
    assert v.sum(0).abs().max().item() < 100 * eps * v.abs().max().item() * n


def test_random_batch_paths_agree_and_are_reproducible(monkeypatch):
    x, s = rand_pair(500, 3, seed=9)
    kw = dict(gamma=-3.0, method="random_batch", batch_size=64)
    a = ln.landau_velocity(x, s, generator=gen(4), **kw)
    assert torch.equal(a, ln.landau_velocity(x, s, generator=gen(4), **kw))
    assert not torch.equal(a, ln.landau_velocity(x, s, generator=gen(5), **kw))
    _torch_only(monkeypatch)
    assert rel_err(ln.landau_velocity(x, s, generator=gen(4), **kw), a) < 1e-13


@pytest.mark.parametrize("backend", ["compiled", "torch"])
def test_random_batch_with_batch_size_at_least_n_is_the_full_sum(backend, monkeypatch):
    if backend == "torch":
        _torch_only(monkeypatch)
    elif not pairsum.numba_available():
        pytest.skip("numba is not installed")
    x, s = rand_pair(300, 3, seed=10)
    full = ln.landau_velocity(x, s, gamma=-3.0, method="direct")
    for p in (300, 301, 10**6):
        v = ln.landau_velocity(x, s, gamma=-3.0, method="random_batch", batch_size=p, generator=gen(1))
        assert rel_err(v, full) < 1e-13
    # batches of n/2 and more than n/2: one batch (the last takes the remainder)
    v = ln.landau_velocity(x, s, gamma=-3.0, method="random_batch", batch_size=151)
    assert rel_err(v, full) < 1e-13


def test_random_batch_float32_and_autograd():
    x, s = rand_pair(400, 3, seed=12)
    v32 = ln.landau_velocity(x.float(), s.float(), gamma=-3.0, method="random_batch", batch_size=40,
                             generator=gen(6))
    v64 = ln.landau_velocity(x.float().double(), s.float().double(), gamma=-3.0, method="random_batch",
                             batch_size=40, generator=gen(6))
    assert v32.dtype == F32 and rel_err(v32, v64) < TOL[F32]
    xg = x.clone().requires_grad_(True)
    v = ln.landau_velocity(xg, s, gamma=-3.0, method="random_batch", batch_size=40, generator=gen(6))
    v.pow(2).sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()


def test_random_batch_error_decreases_with_batch_size():
    # the random-batch velocity approaches the full sum as the batch grows (error ~ 1/sqrt(p))
    x, s = rand_pair(2000, 3, seed=13)
    full = ln.landau_velocity(x, s, gamma=0.0, method="moments")
    errs = [rel_err(ln.landau_velocity(x, s, gamma=0.0, method="random_batch", batch_size=p,
                                       generator=gen(7)), full) for p in (10, 100, 1000)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.5


# --------------------------------------------------------------------------- bad inputs
X, S = rand_pair(20, 3)
BAD = [
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="random_batch"), ValueError,
     "method='random_batch' needs batch_size"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="random_batch", batch_size=1), ValueError,
     r"batch_size=1 is out of range; allowed range \[2, inf\]"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="random_batch", batch_size=0), ValueError, "batch_size=0"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="random_batch", batch_size=2.5), TypeError,
     "batch_size must be an integer, got 2.5"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="random_batch", batch_size=True), TypeError,
     "batch_size must be an integer"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="random_batch", batch_size=4, generator=3), TypeError,
     "generator must be a torch.Generator or None, got int"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="direct", batch_size=4), ValueError,
     "batch_size is used by method='random_batch' only"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, generator=gen()), ValueError,
     "generator is used by method='random_batch' only"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="compiled", tile=0), ValueError, "tile=0"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="fast"), ValueError,
     "method='fast' is not known; allowed: 'auto', 'direct', 'moments', 'compiled', 'random_batch'"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="moments"), ValueError, "method='moments' needs gamma=0"),
    (lambda: ln.collision_matrix(X, gamma=-3, method="compiled"), ValueError,
     "method='compiled' is not known; allowed: 'auto', 'direct', 'moments'"),
    (lambda: ln.blob_score(X, 0.5, method="fmm"), ValueError,
     "method='fmm' is not known; allowed: 'auto', 'direct', 'compiled'"),
    (lambda: ln.blob_score(X, 0.5, method="compiled", tile=-1), ValueError, "tile=-1"),
    (lambda: ln.Blob(backend="gpu"), ValueError, "backend='gpu' is not known"),
    (lambda: pairsum.tile_rows(10, 3, 0), ValueError, "tile=0 is out of range"),
]


@pytest.mark.parametrize("call,exc,match", BAD)
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@needs_numba
def test_compiled_rejects_autograd_inputs():
    x = X.clone().requires_grad_(True)
    with pytest.raises(ValueError, match="method='compiled' does not support autograd, but x requires grad"):
        ln.landau_velocity(x, S, gamma=-3, method="compiled")
    with pytest.raises(ValueError, match="does not support autograd"):
        ln.blob_score(x, 0.5, method="compiled")
    with torch.no_grad():
        assert torch.isfinite(ln.landau_velocity(x, S, gamma=-3, method="compiled")).all()


def test_tile_rows():
    assert pairsum.tile_rows(1000, 3) == min(1000, pairsum.TILE_BUDGET // 3000)
    assert pairsum.tile_rows(10, 3) == 10
    assert pairsum.tile_rows(10**8, 3) == 1
    assert pairsum.tile_rows(10, 3, 4) == 4
    assert pairsum.tile_rows(100, 3, rows=7) == 7
    with pytest.raises(TypeError, match="tile must be an integer"):
        pairsum.tile_rows(10, 3, 2.0)


# --------------------------------------------------------------------------- CUDA (skipped without)
@needs_cuda
def test_cuda_keeps_the_torch_path():
    x, s = rand_pair(500, 3)
    xc, sc = x.cuda(), s.cuda()
    v = ln.landau_velocity(xc, sc, gamma=-3.0)
    assert v.device.type == "cuda"
    assert rel_err(v.cpu(), ln.landau_velocity(x, s, gamma=-3.0, method="direct")) < 1e-12
    b = ln.blob_score(xc, 0.5)
    assert b.device.type == "cuda" and rel_err(b.cpu(), ln.blob_score(x, 0.5, method="direct")) < 1e-12
    with pytest.raises(ValueError, match="method='compiled' runs on the CPU only"):
        ln.landau_velocity(xc, sc, gamma=-3.0, method="compiled")
    with pytest.raises(ValueError, match="runs on the CPU only"):
        ln.blob_score(xc, 0.5, method="compiled")


@needs_cuda
def test_cuda_random_batch_conserves():
    x, s = rand_pair(1000, 3)
    g = torch.Generator(device="cuda")
    g.manual_seed(0)
    v = ln.landau_velocity(x.cuda(), s.cuda(), gamma=-3.0, method="random_batch", batch_size=100,
                           generator=g)
    assert v.device.type == "cuda"
    scale = v.abs().max().item() * 1000
    assert v.sum(0).abs().max().item() < 100 * torch.finfo(F64).eps * scale
    assert abs((x.cuda() * v).sum().item()) < 100 * torch.finfo(F64).eps * scale * x.abs().max().item()


def test_random_batch_is_unbiased():
    # documented: averaged over permutations, v_rb = v_full (scale (n-1)/(|b|-1)); check by
    # averaging over many permutations at small n (gamma = 0: exact moments reference);
    # n = 44, p = 8: five batches of 8 and a last one of 12
    n, p = 44, 8
    x, s = rand_pair(n, 2, seed=14)
    full = ln.landau_velocity(x, s, gamma=0.0, method="moments")
    g = gen(15)
    mean = sum(ln.landau_velocity(x, s, gamma=0.0, method="random_batch", batch_size=p, generator=g)
               for _ in range(3000)) / 3000
    assert rel_err(mean, full) < 0.05
    biased = (p - 1) / p * n / (n - 1)          # what a plain 1/|b| normalisation would give
    assert rel_err(mean, full) < rel_err(mean, biased * full)


def test_compiled_call_keeps_torch_thread_count():
    # numba's OpenMP pool launch resets the process-wide thread count; torch's must survive
    if not pairsum.numba_available():
        pytest.skip("numba is not installed")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        x, s = rand_pair(300, 3, seed=21)
        ln.landau_velocity(x, s, gamma=-3.0, method="compiled")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
