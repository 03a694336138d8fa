"""Fused CPU training step of SBTM (numba; imported lazily by :mod:`landau_nb.scores.sbtm`).

One call runs K Adam steps of the denoising loss (3.5) for S independent networks
s(y) = W2 softsign(W1 y + b1) + b2 (depth 1, R^d -> R^d, width w), each on its own
particles, with the noise draws given. Book: "Score matching" and "Runtime".

Per Adam step and particle X_i (noise Z_i), the three points y in {X_i, X_i + aZ_i, X_i - aZ_i}
are pushed forward and back together (three sweeps over the hidden units, see
:func:`_denoising_kernels`); the loss (1/n) sum |s(X)|^2 + (s(X+aZ) - s(X-aZ)).Z / a
has the output cotangents g = 2 s(X) / n, Z / (a n) and -Z / (a n), so with u = W1 y + b1,
h = softsign(u) = u / (1 + |u|), softsign'(u) = 1 / (1 + |u|)^2:

    dW2 += g h^T,  db2 += g,  delta = softsign'(u) * (W2^T g),  dW1 += delta y^T,  db1 += delta.

The two noisy points enter these sums only through their sum and difference (their cotangents
are opposite), which the sweeps carry instead of the points, and the loss's cross term is summed
in the backward sweep: fewer multiply-adds, and the output sweep keeps only the sums for s(X)
(:func:`_particle` gives the formulas).

Nothing of size (3n x w) is stored: each task (a member and a CHUNK of particles) keeps its
gradient in registers / L1 and writes one row of a (S, chunks, P) float64 buffer (at most
MAX_CHUNKS rows per member), summed over chunks in a fixed order. Results therefore do not
depend on the thread count, and member s of an ensemble gets bit for bit what it gets alone. Adam follows torch.optim.Adam's
single-tensor CPU update (lerp for the first moment, then bias-corrected step).

The three reciprocals 1 / (1 + |u|) of a particle's points come from one division, and the
kernels are compiled with 512-bit vectors where the CPU has them (``landau_nb._jit.wide_vectors``):
division and LLVM's 256-bit preference were the two largest costs left (benchmarks/sbtm_step.py,
part "denoising").

Parameter layout of one member (flat vector of P = 2dw + w + d): W1^T (d, w), b1 (w),
W2 (d, w), b2 (d); inner loops run over the w hidden units (contiguous, SIMD).
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np
from numba import prange

from .._jit import share_cached_code

#: particles per parallel task: CHUNK, or more when n > CHUNK * MAX_CHUNKS (a function of n
#: only, so the reduction order never depends on the thread count or on the other members)
CHUNK = 64
MAX_CHUNKS = 256

_JIT = dict(fastmath=True, cache=True, nogil=True)


@nb.njit(inline="always", **_JIT)
def _chunk_size(n):
    return max(CHUNK, (n + MAX_CHUNKS - 1) // MAX_CHUNKS)


def n_params(d: int, w: int) -> int:
    return 2 * d * w + w + d


@nb.njit(inline="always", **_JIT)
def _adam(theta, m1, m2, grad, consts, step_size, bc2_sqrt):
    """torch.optim.Adam's single-tensor update of one member (consts[4:8] = 1 - beta1, beta2,
    1 - beta2, eps)."""
    for p in range(theta.shape[0]):
        gp = grad[p]
        mp = m1[p]
        mp = mp + consts[4] * (gp - mp)                      # exp_avg.lerp_(grad, 1 - beta1)
        vp = consts[5] * m2[p] + consts[6] * (gp * gp)
        m1[p] = mp
        m2[p] = vp
        denom = np.sqrt(vp) / bc2_sqrt + consts[7]
        theta[p] = theta[p] - step_size * mp / denom


@nb.njit(inline="always", **_JIT)
def _particle(xi, zi, th, alpha, c, grad, hs, pts, gs, D, W):
    """Forward and backward of the three points X, X + aZ, X - aZ of one particle, fused.
    c = [1, 2/n, 1/(a n)] in the working dtype; scratch hs (5, W), pts and gs (2, D). Returns
    |s(X)|^2 and (s(X + aZ) - s(X - aZ)).Z (float64). D, W: dimension and width, constants of
    the kernel this is inlined into.

    The two noisy points enter only through their sum and difference, which the sweeps carry
    instead of the points: with v = W1 aZ, u(X +- aZ) = u0 +- v; the cotangents of s(X + aZ)
    and s(X - aZ) are +-Z / (a n), so with dh = h(X + aZ) - h(X - aZ),
    t+- = softsign'(u(X +- aZ)) and e1 = W2^T Z / (a n), the gradient is
    dW2 += g0 h0^T + (Z / (a n)) dh^T, db1 += t0 e0 + (t+ - t-) e1,
    dW1 += (t0 e0 + (t+ - t-) e1) X^T + ((t+ + t-) e1) (aZ)^T (e0 = W2^T g0,
    t0 = softsign'(u0)), and db2 += g0 (the two noisy cotangents cancel). The same derivatives
    with fewer operations: the kernel alone ran 1.07-1.15x as fast as the three-point form
    (alternated in one run), and summing the loss's cross term in sweep 3 gained another
    1.03-1.09x in float32."""
    O_B1 = D * W
    O_W2 = O_B1 + W
    O_B2 = O_W2 + D * W
    one = c[0]
    for k in range(D):
        pts[0, k] = xi[k]
        pts[1, k] = alpha * zi[k]
    # sweep 1: u0 = W1 X + b1, v = W1 aZ, softsign of u0, u0 + v, u0 - v via r = 1 / (1 + |u|);
    # kept: h0, dh and the three softsign' = r^2 as r0^2, r+^2 - r-^2, r+^2 + r-^2
    for j in range(W):
        u0 = th[O_B1 + j]
        v = u0 - u0
        for k in range(D):
            wkj = th[k * W + j]
            u0 += wkj * pts[0, k]
            v += wkj * pts[1, k]
        u1 = u0 + v
        u2 = u0 - v
        # r_i = 1 / d_i with one division for the three points (d_i >= 1, so the product
        # neither overflows nor underflows for |u| < 1e12): division is the slowest vector
        # operation here (float64 above all), three of them cost more than the rest of the sweep
        d0 = one + abs(u0)
        d1 = one + abs(u1)
        d2 = one + abs(u2)
        d01 = d0 * d1
        inv = one / (d01 * d2)
        r2 = d01 * inv
        t2 = d2 * inv
        r0 = d1 * t2
        r1 = d0 * t2
        s1 = r1 * r1
        s2 = r2 * r2
        hs[0, j] = u0 * r0
        hs[1, j] = u1 * r1 - u2 * r2
        hs[2, j] = r0 * r0
        hs[3, j] = s1 - s2
        hs[4, j] = s1 + s2
    # sweep 2 (one per output): s(X) = W2 h0 + b2, |s(X)|^2 and the cotangents g0 = 2 s(X) / n,
    # g1 = Z / (a n). The loss's other term (s(X + aZ) - s(X - aZ)).Z = (W2 dh).Z is summed in
    # sweep 3 as sum_j e1_j dh_j / (1 / (a n)), e1 = W2^T g1 (the same number): the only sum
    # over the hidden units left here is the one sweep 3 waits for
    quad = 0.0
    for m in range(D):
        base = O_W2 + m * W
        a0 = th[O_B2 + m]
        for j in range(W):
            a0 += th[base + j] * hs[0, j]
        gs[0, m] = c[1] * a0
        gs[1, m] = c[2] * zi[m]
        grad[O_B2 + m] += gs[0, m]
        quad += float(a0) * float(a0)
    # sweep 3: dW2, e = W2^T g, the softsign' factors, db1 and dW1 (see the docstring), and the
    # loss's cross term
    cr = one - one
    for j in range(W):
        h0 = hs[0, j]
        dh = hs[1, j]
        e0 = h0 - h0
        e1 = e0
        for m in range(D):
            base = O_W2 + m * W
            wmj = th[base + j]
            q0 = gs[0, m]
            q1 = gs[1, m]
            grad[base + j] += q0 * h0 + q1 * dh
            e0 += wmj * q0
            e1 += wmj * q1
        cr += e1 * dh
        tx = e0 * hs[2, j] + e1 * hs[3, j]
        tz = e1 * hs[4, j]
        grad[O_B1 + j] += tx
        for k in range(D):
            grad[k * W + j] += tx * pts[0, k] + tz * pts[1, k]
    return quad, float(cr) / float(c[2])


@nb.njit(inline="always", **_JIT)
def _chunk(x, z, th, alpha, c, i0, i1, out, D, W):
    """Gradient of the chunk's share of the loss into out[:P] (float64), loss sum into out[P]."""
    P = th.shape[0]
    grad = np.zeros(P, dtype=th.dtype)
    hs = np.empty((5, W), dtype=th.dtype)
    pts = np.empty((2, D), dtype=th.dtype)
    gs = np.empty((2, D), dtype=th.dtype)
    quad = 0.0
    cross = 0.0
    for i in range(i0, i1):
        q, cr = _particle(x[i], z[i], th, alpha, c, grad, hs, pts, gs, D, W)
        quad += q
        cross += cr
    for p in range(P):
        out[p] = grad[p]
    out[P] = quad + cross / float(alpha)


def _denoising_kernels(D: int, W: int):
    """The two entry points compiled for d = D and width = W as constants (closure variables are
    constants to numba; :func:`_chunk` and :func:`_particle` are inlined into them): every loop
    over the input and output dimension is unrolled and every row offset is known, so each of
    the three sweeps over the hidden units vectorises with its accumulators in registers
    (1.4-1.8x the same arithmetic with d and w as run-time values, both dtypes;
    ``benchmarks/sbtm_step.py --parts denoising``). The closure holds only D and W, which
    numba's on-disk cache key includes: compiled once per (D, W, dtype) and machine."""

    @nb.njit(parallel=True, **_JIT)
    def adam_steps(x, z, theta, m1, m2, consts, adam, losses):
        S, n = x.shape[0], x.shape[1]
        K = z.shape[1]
        P = 2 * D * W + W + D
        chunk_n = _chunk_size(n)
        nch = (n + chunk_n - 1) // chunk_n
        buf = np.empty((S, nch, P + 1), dtype=np.float64)
        alpha = consts[1]
        c = consts[np.array([0, 2, 3])]
        for k in range(K):
            for task in prange(S * nch):
                sm = task // nch
                ch = task - sm * nch
                i0 = ch * chunk_n
                _chunk(x[sm], z[sm, k], theta[sm], alpha, c, i0, min(n, i0 + chunk_n), buf[sm, ch], D, W)
            for sm in prange(S):
                tot = 0.0
                for ch in range(nch):
                    tot += buf[sm, ch, P]
                losses[sm, k] = tot / n
                acc = np.zeros(P, dtype=np.float64)
                for ch in range(nch):                   # fixed order: chunk 0, 1, ...
                    for p in range(P):
                        acc[p] += buf[sm, ch, p]
                _adam(theta[sm], m1[sm], m2[sm], acc.astype(theta.dtype), consts, adam[sm, k, 0], adam[sm, k, 1])

    @nb.njit(parallel=True, **_JIT)
    def gradient(x, z, theta, consts, out):
        n = x.shape[0]
        P = 2 * D * W + W + D
        chunk_n = _chunk_size(n)
        nch = (n + chunk_n - 1) // chunk_n
        buf = np.empty((nch, P + 1), dtype=np.float64)
        alpha = consts[1]
        c = consts[np.array([0, 2, 3])]
        for ch in prange(nch):
            i0 = ch * chunk_n
            _chunk(x, z, theta, alpha, c, i0, min(n, i0 + chunk_n), buf[ch], D, W)
        out[:] = 0.0
        for ch in range(nch):
            for p in range(P + 1):
                out[p] += buf[ch, p]
        out[P] /= n

    # every process runs the cached code (landau_nb._jit): the child process that compiles them
    # on a cache miss rebuilds them through denoising_kernels(D, W); with 512-bit vectors where
    # the CPU has them (LLVM's tuning would otherwise pick 256-bit ones)
    return tuple(share_cached_code(k, (__name__, "denoising_kernels", (D, W), i), wide=True)
                 for i, k in enumerate((adam_steps, gradient)))


@functools.lru_cache(maxsize=None)
def denoising_kernels(d: int, w: int):
    """(adam_steps, gradient) for input dimension d and width w (see :func:`_denoising_kernels`)."""
    return _denoising_kernels(int(d), int(w))


def _check_sizes(x, z, theta, d, w):
    """The compiled kernels do not bounds-check: refuse arrays of another network or dimension."""
    if theta.shape[-1] != n_params(d, w):
        raise ValueError(f"theta has {theta.shape[-1]} parameters per member; d = {d}, w = {w} need "
                         f"{n_params(d, w)}")
    if x.shape[-1] != d or z.shape[-1] != d:
        raise ValueError(f"x and z must have d = {d} columns, not {x.shape[-1]} and {z.shape[-1]}")


#: float64 kernels run at a width padded to a multiple of this many hidden units (zero units):
#: a loop over w = 100 float64 values leaves a scalar remainder of 4 behind its 8-lane vectors,
#: which cost 1.0-1.3x the time of the padded loop (benchmarks/sbtm_step.py, part "padding");
#: float32 loops keep their width (padded to 104 or 112 they measured 0.8-0.9x as fast)
PAD_FLOAT64 = 8


def padded_width(w: int, dtype) -> int:
    """The width the kernels run at for a network of width ``w`` in ``dtype``."""
    if np.dtype(dtype) == np.float64:
        return -(-w // PAD_FLOAT64) * PAD_FLOAT64
    return w


def _unit_slices(d, w, wp):
    """Pairs (slice in the width-w layout, slice in the width-wp layout) of the rows W1^T[k], b1
    and W2[m] (w entries each) and of b2 (d entries)."""
    rows = [(k * w, k * wp) for k in range(d)] + [(d * w, d * wp)] \
        + [((d + 1 + m) * w, (d + 1 + m) * wp) for m in range(d)]
    pairs = [(slice(a, a + w), slice(b, b + w)) for a, b in rows]
    return pairs + [(slice(n_params(d, w) - d, None), slice(n_params(d, wp) - d, None))]


@functools.lru_cache(maxsize=None)
def _unit_index(d, w, wp):
    """Where each entry of the width-w layout sits in the width-wp layout (an int array of
    length P(d, w), read-only): :func:`_unit_slices` as one gather/scatter index."""
    idx = np.empty(n_params(d, w), dtype=np.intp)
    for a, b in _unit_slices(d, w, wp):
        idx[a] = np.arange(n_params(d, wp))[b]
    idx.flags.writeable = False
    return idx


def _pad(v, d, w, wp):
    """Flat vectors (S, P(d, w)) in the kernels' layout -> (S, P(d, wp)), hidden units w..wp-1
    zero. A zero unit (zero weights in and out, zero bias) has a zero gradient, so Adam leaves
    it zero: the padded network is the network."""
    out = np.zeros((v.shape[0], n_params(d, wp)), dtype=v.dtype)
    out[:, _unit_index(d, w, wp)] = v
    return out


def _unpad(vp, v, d, w, wp):
    """Write the real units of padded vectors ``vp`` back into ``v`` (the inverse of :func:`_pad`)."""
    v[...] = vp[:, _unit_index(d, w, wp)]


def adam_denoising(x, z, theta, m1, m2, consts, adam, losses, d, w):
    """K fused Adam steps of the denoising loss (3.5) for S members, in place.

    x (S, n, d) particles; z (S, K, n, d) noise; theta, m1, m2 (S, P) parameters and Adam
    moments (exp_avg, exp_avg_sq); consts [1, alpha, 2/n, 1/(alpha n), 1 - beta1, beta2,
    1 - beta2, eps] in the working dtype; adam (S, K, 2) = (lr / bias_correction1,
    sqrt(bias_correction2)) of each step (computed as torch does, in Python, then cast to the
    working dtype); losses (S, K) float64 receives the loss before each step.
    """
    _check_sizes(x, z, theta, d, w)
    wp = padded_width(w, theta.dtype)
    if wp == w:
        denoising_kernels(d, w)[0](x, z, theta, m1, m2, consts, adam, losses)
        return
    padded = [_pad(v, d, w, wp) for v in (theta, m1, m2)]
    denoising_kernels(d, wp)[0](x, z, *padded, consts, adam, losses)
    for v, vp in zip((theta, m1, m2), padded):
        _unpad(vp, v, d, w, wp)


def denoising_gradient(x, z, theta, consts, d, w, out):
    """Loss (3.5) and its gradient for one member (the sweep of :func:`adam_denoising`):
    x, z (n, d), theta (P,), consts as there; out (P + 1,) float64 gets (gradient, loss)."""
    _check_sizes(x, z, theta, d, w)
    if out.shape != (theta.shape[-1] + 1,):
        raise ValueError(f"out must have shape ({theta.shape[-1] + 1},) (gradient and loss), not {out.shape}")
    wp = padded_width(w, theta.dtype)
    if wp == w:
        denoising_kernels(d, w)[1](x, z, theta, consts, out)
        return
    out_p = np.empty(n_params(d, wp) + 1)
    denoising_kernels(d, wp)[1](x, z, _pad(theta[None], d, w, wp)[0], consts, out_p)
    grad = out[None, :-1]
    _unpad(out_p[None, :-1], grad, d, w, wp)
    out[-1] = out_p[-1]


@nb.njit(inline="always", **_JIT)
def _fit_chunk(x, t, rows, th, scale, one, i0, i1, d, w, out):
    """Gradient of sum_b |s(x_b) - t_b|^2 * scale over rows[i0:i1] into out[:P], the sum into out[P]."""
    P = th.shape[0]
    o_b1 = d * w
    o_w2 = o_b1 + w
    o_b2 = o_w2 + d * w
    grad = np.zeros(P, dtype=th.dtype)
    u = np.empty(w, dtype=th.dtype)
    h = np.empty(w, dtype=th.dtype)
    e = np.empty(w, dtype=th.dtype)
    g = np.empty(d, dtype=th.dtype)
    zero = one - one
    total = 0.0
    for b in range(i0, i1):
        xi = x[rows[b]]
        ti = t[rows[b]]
        for j in range(w):
            u[j] = th[o_b1 + j]
        for k in range(d):
            xk = xi[k]
            for j in range(w):
                u[j] += th[k * w + j] * xk
        for j in range(w):
            r = one / (one + abs(u[j]))
            h[j] = u[j] * r
            u[j] = r * r
            e[j] = zero
        for m in range(d):
            acc = th[o_b2 + m]
            for j in range(w):
                acc += th[o_w2 + m * w + j] * h[j]
            diff = acc - ti[m]
            total += float(diff) * float(diff)
            g[m] = scale * diff
        for m in range(d):
            gm = g[m]
            grad[o_b2 + m] += gm
            base = o_w2 + m * w
            for j in range(w):
                grad[base + j] += gm * h[j]
                e[j] += th[base + j] * gm
        for j in range(w):
            dj = e[j] * u[j]
            e[j] = dj
            grad[o_b1 + j] += dj
        for k in range(d):
            xk = xi[k]
            for j in range(w):
                grad[k * w + j] += e[j] * xk
    for p in range(P):
        out[p] = grad[p]
    out[P] = total


@share_cached_code
@nb.njit(parallel=True, **_JIT)
def adam_regression(x, t, rows, theta, m1, m2, consts, adam, losses, d, w):
    """K Adam steps of the initial fit: minibatch k = rows[k] (B indices into x, t (n, d)),
    loss sum_b |s(x_b) - t_b|^2 / sum_b |t_b|^2 (the relative L2 error of the batch); theta,
    m1, m2 (P,) in place; consts and adam (K, 2) as in :func:`adam_denoising`; losses (K,)."""
    K, B = rows.shape
    P = theta.shape[0]
    chunk = _chunk_size(B)
    nch = (B + chunk - 1) // chunk
    buf = np.empty((nch, P + 1), dtype=np.float64)
    one = consts[0]
    for k in range(K):
        norm = 0.0
        for b in range(B):
            for m in range(d):
                norm += float(t[rows[k, b], m]) ** 2
        scale = one * (2.0 / norm)
        for ch in prange(nch):
            i0 = ch * chunk
            _fit_chunk(x, t, rows[k], theta, scale, one, i0, min(B, i0 + chunk), d, w, buf[ch])
        acc = np.zeros(P + 1, dtype=np.float64)
        for ch in range(nch):
            for p in range(P + 1):
                acc[p] += buf[ch, p]
        losses[k] = acc[P] / norm
        _adam(theta, m1, m2, acc[:P].astype(theta.dtype), consts, adam[k, 0], adam[k, 1])
