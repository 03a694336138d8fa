"""Fused CPU training step of SBTM (numba; imported lazily by :mod:`landau_nb.scores.sbtm`).

One call runs K Adam steps of the denoising loss (3.5) for S independent networks
s(y) = W2 softsign(W1 y + b1) + b2 (depth 1, R^d -> R^d, width w), each on its own
particles, with the noise draws given. Book: "Score matching" and "Runtime".

Per Adam step and particle X_i (noise Z_i), the three points y in {X_i, X_i + aZ_i, X_i - aZ_i}
are pushed forward and back in one sweep; the loss (1/n) sum |s(X)|^2 + (s(X+aZ) - s(X-aZ)).Z / a
has the output cotangents g = 2 s(X) / n, Z / (a n) and -Z / (a n), so with u = W1 y + b1,
h = softsign(u) = u / (1 + |u|), softsign'(u) = 1 / (1 + |u|)^2:

    dW2 += g h^T,  db2 += g,  delta = softsign'(u) * (W2^T g),  dW1 += delta y^T,  db1 += delta.

Nothing of size (3n x w) is stored: each task (a member and a CHUNK of particles) keeps its
gradient in registers / L1 and writes one row of a (S, chunks, P) float64 buffer (at most
MAX_CHUNKS rows per member), summed over chunks in a fixed order. Results therefore do not
depend on the thread count, and member s of an ensemble gets bit for bit what it gets alone. Adam follows torch.optim.Adam's
single-tensor CPU update (lerp for the first moment, then bias-corrected step).

Parameter layout of one member (flat vector of P = 2dw + w + d): W1^T (d, w), b1 (w),
W2 (d, w), b2 (d); inner loops run over the w hidden units (contiguous, SIMD).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import prange

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
def _particle(xi, zi, th, alpha, c, grad, ws, yp, ym, g0, gp, gm, d, w):
    """Forward and backward of the three points X, X + aZ, X - aZ of one particle, fused:
    each weight is loaded and each gradient entry updated once per particle, not once per
    point. c = [1, 2/n, 1/(a n)] in the working dtype; ws (9, w) scratch. Returns the
    particle's terms |s(X)|^2 and (s(X + aZ) - s(X - aZ)).Z (float64)."""
    o_b1 = d * w
    o_w2 = o_b1 + w
    o_b2 = o_w2 + d * w
    zero = c[0] - c[0]
    u0, up, um, h0, hp, hm = ws[0], ws[1], ws[2], ws[3], ws[4], ws[5]
    for k in range(d):
        az = alpha * zi[k]
        yp[k] = xi[k] + az
        ym[k] = xi[k] - az
    for j in range(w):
        b = th[o_b1 + j]
        u0[j] = b
        up[j] = b
        um[j] = b
    for k in range(d):
        x0, x1, x2 = xi[k], yp[k], ym[k]
        for j in range(w):
            wkj = th[k * w + j]
            u0[j] += wkj * x0
            up[j] += wkj * x1
            um[j] += wkj * x2
    # softsign: h = u r with r = 1 / (1 + |u|); the derivative r^2 is kept in u's place
    for j in range(w):
        r0 = c[0] / (c[0] + abs(u0[j]))
        r1 = c[0] / (c[0] + abs(up[j]))
        r2 = c[0] / (c[0] + abs(um[j]))
        h0[j] = u0[j] * r0
        hp[j] = up[j] * r1
        hm[j] = um[j] * r2
        u0[j] = r0 * r0
        up[j] = r1 * r1
        um[j] = r2 * r2
    quad = 0.0
    cross = 0.0
    for m in range(d):
        base = o_w2 + m * w
        a0 = th[o_b2 + m]
        a1 = th[o_b2 + m]
        a2 = th[o_b2 + m]
        for j in range(w):
            wmj = th[base + j]
            a0 += wmj * h0[j]
            a1 += wmj * hp[j]
            a2 += wmj * hm[j]
        g0[m] = c[1] * a0
        gp[m] = c[2] * zi[m]
        gm[m] = -(c[2] * zi[m])
        quad += float(a0) * float(a0)
        cross += (float(a1) - float(a2)) * float(zi[m])
    e0, ep, em = ws[6], ws[7], ws[8]
    for j in range(w):
        e0[j] = zero
        ep[j] = zero
        em[j] = zero
    for m in range(d):
        q0, q1, q2 = g0[m], gp[m], gm[m]
        grad[o_b2 + m] += q0 + q1 + q2
        base = o_w2 + m * w
        for j in range(w):
            wmj = th[base + j]
            grad[base + j] += q0 * h0[j] + q1 * hp[j] + q2 * hm[j]
            e0[j] += wmj * q0
            ep[j] += wmj * q1
            em[j] += wmj * q2
    # delta = softsign'(u) (W2^T g), one per point
    for j in range(w):
        t0 = e0[j] * u0[j]
        t1 = ep[j] * up[j]
        t2 = em[j] * um[j]
        e0[j] = t0
        ep[j] = t1
        em[j] = t2
        grad[o_b1 + j] += t0 + t1 + t2
    for k in range(d):
        x0, x1, x2 = xi[k], yp[k], ym[k]
        for j in range(w):
            grad[k * w + j] += e0[j] * x0 + ep[j] * x1 + em[j] * x2
    return quad, cross


@nb.njit(inline="always", **_JIT)
def _chunk(x, z, th, alpha, c, i0, i1, d, w, out):
    """Gradient of the chunk's share of the loss into out[:P] (float64), loss sum into out[P]."""
    P = th.shape[0]
    grad = np.zeros(P, dtype=th.dtype)
    ws = np.empty((9, w), dtype=th.dtype)
    yp = np.empty(d, dtype=th.dtype)
    ym = np.empty(d, dtype=th.dtype)
    g0 = np.empty(d, dtype=th.dtype)
    gp = np.empty(d, dtype=th.dtype)
    gm = np.empty(d, dtype=th.dtype)
    quad = 0.0
    cross = 0.0
    for i in range(i0, i1):
        q, cr = _particle(x[i], z[i], th, alpha, c, grad, ws, yp, ym, g0, gp, gm, d, w)
        quad += q
        cross += cr
    for p in range(P):
        out[p] = grad[p]
    out[P] = quad + cross / float(alpha)


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


@nb.njit(parallel=True, **_JIT)
def adam_denoising(x, z, theta, m1, m2, consts, adam, losses, d, w):
    """K fused Adam steps of the denoising loss (3.5) for S members, in place.

    x (S, n, d) particles; z (S, K, n, d) noise; theta, m1, m2 (S, P) parameters and Adam
    moments (exp_avg, exp_avg_sq); consts [1, alpha, 2/n, 1/(alpha n), 1 - beta1, beta2,
    1 - beta2, eps] in the working dtype; adam (S, K, 2) = (lr / bias_correction1,
    sqrt(bias_correction2)) of each step (computed as torch does, in Python, then cast to the
    working dtype); losses (S, K)
    float64 receives the loss before each step.
    """
    S, n = x.shape[0], x.shape[1]
    K = z.shape[1]
    P = theta.shape[1]
    chunk = _chunk_size(n)
    nch = (n + chunk - 1) // chunk
    buf = np.empty((S, nch, P + 1), dtype=np.float64)
    alpha = consts[1]
    c = consts[np.array([0, 2, 3])]
    for k in range(K):
        for task in prange(S * nch):
            sm = task // nch
            ch = task - sm * nch
            i0 = ch * chunk
            i1 = min(n, i0 + chunk)
            _chunk(x[sm], z[sm, k], theta[sm], alpha, c, i0, i1, d, w, buf[sm, ch])
        for sm in prange(S):
            step_size = adam[sm, k, 0]
            bc2_sqrt = adam[sm, k, 1]
            tot = 0.0
            for ch in range(nch):
                tot += buf[sm, ch, P]
            losses[sm, k] = tot / n
            acc = np.zeros(P, dtype=np.float64)
            for ch in range(nch):                   # fixed order: chunk 0, 1, ...
                for p in range(P):
                    acc[p] += buf[sm, ch, p]
            _adam(theta[sm], m1[sm], m2[sm], acc.astype(theta.dtype), consts, step_size, bc2_sqrt)


@nb.njit(parallel=True, **_JIT)
def denoising_gradient(x, z, theta, consts, d, w, out):
    """Loss (3.5) and its gradient for one member (the sweep of :func:`adam_denoising`):
    x, z (n, d), theta (P,), consts as there; out (P + 1,) float64 gets (gradient, loss)."""
    n = x.shape[0]
    P = theta.shape[0]
    chunk = _chunk_size(n)
    nch = (n + chunk - 1) // chunk
    buf = np.empty((nch, P + 1), dtype=np.float64)
    alpha = consts[1]
    c = consts[np.array([0, 2, 3])]
    for ch in prange(nch):
        i0 = ch * chunk
        _chunk(x, z, theta, alpha, c, i0, min(n, i0 + chunk), d, w, buf[ch])
    out[:] = 0.0
    for ch in range(nch):
        for p in range(P + 1):
            out[p] += buf[ch, p]
    out[P] /= n


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
