"""Fused CPU training step of SBTM (numba; imported lazily by :mod:`landau_nb.sbtm`).

One call runs K Adam steps of the denoising loss (3.5) for S independent networks
s(y) = W2 softsign(W1 y + b1) + b2 (depth 1, R^d -> R^d, width w), each on its own
particles, with the noise draws given. Book: "Score matching" and "Runtime".

Per Adam step and particle X_i (noise Z_i), the three points y in {X_i, X_i + aZ_i, X_i - aZ_i}
are pushed forward and back in one sweep; the loss (1/n) sum |s(X)|^2 + (s(X+aZ) - s(X-aZ)).Z / a
has the output cotangents g = 2 s(X) / n, Z / (a n) and -Z / (a n), so with u = W1 y + b1,
h = softsign(u) = u / (1 + |u|), softsign'(u) = 1 / (1 + |u|)^2:

    dW2 += g h^T,  db2 += g,  delta = softsign'(u) * (W2^T g),  dW1 += delta y^T,  db1 += delta.

Nothing of size (3n x w) is stored: each task (a member and a CHUNK of particles) keeps its
gradient in registers / L1 and writes one row of a (S, chunks, P) float64 buffer, summed
over chunks in a fixed order. Results therefore do not depend on the thread count, and member
s of an ensemble gets bit for bit what it gets alone. Adam follows torch.optim.Adam's
single-tensor CPU update (lerp for the first moment, then bias-corrected step).

Parameter layout of one member (flat vector of P = 2dw + w + d): W1^T (d, w), b1 (w),
W2 (d, w), b2 (d); inner loops run over the w hidden units (contiguous, SIMD).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import prange

#: particles per parallel task (fixed, so the reduction order never depends on the threads)
CHUNK = 64

_JIT = dict(fastmath=True, cache=True, nogil=True)


def n_params(d: int, w: int) -> int:
    return 2 * d * w + w + d


@nb.njit(inline="always", **_JIT)
def _point(y, th, g_out, grad, u, r, h, dl, s, d, w, kind, zi, c):
    """Forward and backward of one point y; kind 0: X (g = 2s/n), 1: X + aZ, 2: X - aZ.
    c = [1, 2/n, 1/(a n)] in the working dtype. Returns the point's loss term (float64)."""
    o_b1 = d * w
    o_w2 = o_b1 + w
    o_b2 = o_w2 + d * w
    for j in range(w):
        u[j] = th[o_b1 + j]
    for k in range(d):
        yk = y[k]
        for j in range(w):
            u[j] += th[k * w + j] * yk
    for j in range(w):
        rj = c[0] / (c[0] + abs(u[j]))
        r[j] = rj
        h[j] = u[j] * rj
    for m in range(d):
        acc = th[o_b2 + m]
        for j in range(w):
            acc += th[o_w2 + m * w + j] * h[j]
        s[m] = acc
    loss = 0.0
    if kind == 0:
        for m in range(d):
            g_out[m] = c[1] * s[m]
            loss += float(s[m]) * float(s[m])
    elif kind == 1:
        for m in range(d):
            g_out[m] = c[2] * zi[m]
            loss += float(s[m]) * float(zi[m])
    else:
        for m in range(d):
            g_out[m] = -(c[2] * zi[m])
            loss -= float(s[m]) * float(zi[m])
    for j in range(w):
        dl[j] = 0.0
    for m in range(d):
        gm = g_out[m]
        grad[o_b2 + m] += gm
        base = o_w2 + m * w
        for j in range(w):
            grad[base + j] += gm * h[j]
            dl[j] += th[base + j] * gm
    for j in range(w):
        dj = dl[j] * r[j] * r[j]
        dl[j] = dj
        grad[o_b1 + j] += dj
    for k in range(d):
        yk = y[k]
        for j in range(w):
            grad[k * w + j] += dl[j] * yk
    return loss


@nb.njit(inline="always", **_JIT)
def _chunk(x, z, th, alpha, c, i0, i1, d, w, out):
    """Gradient of the chunk's share of the loss into out[:P] (float64), loss into out[P]."""
    P = th.shape[0]
    grad = np.zeros(P, dtype=th.dtype)
    u = np.empty(w, dtype=th.dtype)
    r = np.empty(w, dtype=th.dtype)
    h = np.empty(w, dtype=th.dtype)
    dl = np.empty(w, dtype=th.dtype)
    s = np.empty(d, dtype=th.dtype)
    g = np.empty(d, dtype=th.dtype)
    y = np.empty(d, dtype=th.dtype)
    quad = 0.0
    cross = 0.0
    for i in range(i0, i1):
        xi = x[i]
        zi = z[i]
        quad += _point(xi, th, g, grad, u, r, h, dl, s, d, w, 0, zi, c)
        for k in range(d):
            y[k] = xi[k] + alpha * zi[k]
        cross += _point(y, th, g, grad, u, r, h, dl, s, d, w, 1, zi, c)
        for k in range(d):
            y[k] = xi[k] - alpha * zi[k]
        cross += _point(y, th, g, grad, u, r, h, dl, s, d, w, 2, zi, c)
    for p in range(P):
        out[p] = grad[p]
    out[P] = quad + cross / float(alpha)


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
    nch = (n + CHUNK - 1) // CHUNK
    buf = np.empty((S, nch, P + 1), dtype=np.float64)
    alpha = consts[1]
    c = consts[np.array([0, 2, 3])]
    for k in range(K):
        for task in prange(S * nch):
            sm = task // nch
            ch = task - sm * nch
            i0 = ch * CHUNK
            i1 = min(n, i0 + CHUNK)
            _chunk(x[sm], z[sm, k], theta[sm], alpha, c, i0, i1, d, w, buf[sm, ch])
        for sm in prange(S):
            step_size = adam[sm, k, 0]
            bc2_sqrt = adam[sm, k, 1]
            tot = 0.0
            for ch in range(nch):
                tot += buf[sm, ch, P]
            losses[sm, k] = tot / n
            grad = np.empty(P, dtype=theta.dtype)
            for p in range(P):
                acc = 0.0
                for ch in range(nch):
                    acc += buf[sm, ch, p]
                grad[p] = acc
            for p in range(P):
                gp = grad[p]
                mp = m1[sm, p]
                mp = mp + consts[4] * (gp - mp)
                vp = consts[5] * m2[sm, p] + consts[6] * (gp * gp)
                m1[sm, p] = mp
                m2[sm, p] = vp
                denom = np.sqrt(vp) / bc2_sqrt + consts[7]
                theta[sm, p] = theta[sm, p] - step_size * mp / denom


@nb.njit(parallel=True, **_JIT)
def denoising_gradient(x, z, theta, consts, d, w, out):
    """Loss (3.5) and its gradient for one member (the sweep of :func:`adam_denoising`):
    x, z (n, d), theta (P,), consts as there; out (P + 1,) float64 gets (gradient, loss)."""
    n = x.shape[0]
    P = theta.shape[0]
    nch = (n + CHUNK - 1) // CHUNK
    buf = np.empty((nch, P + 1), dtype=np.float64)
    alpha = consts[1]
    c = consts[np.array([0, 2, 3])]
    for ch in prange(nch):
        i0 = ch * CHUNK
        _chunk(x, z, theta, alpha, c, i0, min(n, i0 + CHUNK), d, w, buf[ch])
    for p in range(P + 1):
        acc = 0.0
        for ch in range(nch):
            acc += buf[ch, p]
        out[p] = acc
    out[P] /= n
