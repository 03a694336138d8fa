"""numba kernels for the neighbour-cell pair sums on the CPU (imported on first use).

The particles are copied in cell order (the :class:`~landau_nb.vlasov.spatial.CellList`
permutation) as structure-of-arrays float64 columns, so the partners of one neighbour cell
are a contiguous range; ``prange`` runs over cells and each row i accumulates over the
partners of its neighbour cells. Velocities and scores are padded to three components
(zeros for dv = 2), which leaves every sum unchanged. The inner loops are branch-free
(selects), specialised per spatial weight and radial mode by inlining a block function with
constant arguments (the technique of the homogeneous package's kernels), so they vectorise.
ψ is the expression of :meth:`SpatialWeight.pair` (symmetric in i, j). Compiled once and
cached on disk (``cache=True``); Gaussian factors use the package's vectorisable exp(−q).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import torch

from .._jit import share_cached_code
from ._deps import numba_exp_neg

exp_neg = numba_exp_neg()

_JIT = dict(fastmath=True, cache=True, nogil=True)
_IJIT = dict(_JIT, inline="always")
_PJIT = dict(_JIT, parallel=True)

KINDS = {"cell": 0, "hat": 1, "cic": 2}


@nb.njit(**_IJIT)
def _psi(kind, L, h, C, xi, li, ti, xj, lj, tj):
    """ψ(xᵢ, xⱼ) (branch-free for each constant kind); 0 outside the support."""
    if kind == 0:
        return 1.0 / h if li == lj else 0.0
    if kind == 1:
        d = xi - xj
        d = d - L * math.floor(d / L + 0.5)
        r = 1.0 - abs(d) / h
        return max(r, 0.0) / h
    same = ((1.0 - ti) * (1.0 - tj) + ti * tj) if li == lj else 0.0
    nxt = li + 1
    nxt = nxt - C if nxt >= C else nxt
    prv = lj + 1
    prv = prv - C if prv >= C else prv
    up = ti * (1.0 - tj) if nxt == lj else 0.0
    down = (1.0 - ti) * tj if prv == li else 0.0
    return (same + (up + down)) / h


@nb.njit(**_IJIT)
def _psi_fast(kind, okind, L, h, C, shift, xi, li, ti, xj, lj, tj):
    """ψ with the partner cell's offset known (C >= 3): kind 0 cell, 1 hat (periodic image by
    the constant shift of the cell pair), 2 cic (okind 0 same cell, 1 partner one cell up, 2 one
    cell down); kinds 3, 4: hat, cic for C <= 2 by the general expression. Each form is
    symmetric in (i, j) in floating point ((xᵢ − xⱼ) − s is the exact negative of (xⱼ − xᵢ) + s)."""
    if kind == 0:
        return 1.0 / h
    if kind == 1:
        d = (xi - xj) - shift
        return max(1.0 - abs(d) / h, 0.0) / h
    if kind == 2:
        if okind == 0:
            return ((1.0 - ti) * (1.0 - tj) + ti * tj) / h
        if okind == 1:
            return (ti * (1.0 - tj)) / h
        return ((1.0 - ti) * tj) / h
    return _psi(kind - 2, L, h, C, xi, li, ti, xj, lj, tj)


@nb.njit(**_IJIT)
def _radial(r2, mode, hg, tiny):
    """(a, 1/r2) with a = |z|^(gamma+2): mode 0 gamma = 0, 1 gamma = -3, 2 gamma = -2, 3 pow; both
    0 where r2 <= tiny (the i = j term, coincident particles)."""
    pos = r2 > tiny
    safe = r2 if pos else 1.0
    if mode == 0:
        a = safe
    elif mode == 1:
        a = 1.0 / math.sqrt(safe)
    elif mode == 2:
        a = 1.0
    else:
        a = safe ** hg
    return (a if pos else 0.0), (1.0 / safe if pos else 0.0)


@nb.njit(**_IJIT)
def _collide_block(kind, okind, mode, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2, s0, s1, s2,
                   X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1):
    # the partner cell as slices: loops over an array's own length vectorise (~2x faster than
    # indexing the whole columns from j0 to j1)
    X, LC, TH, V0, V1, V2 = X[j0:j1], LC[j0:j1], TH[j0:j1], V0[j0:j1], V1[j0:j1], V2[j0:j1]
    S0, S1, S2, W = S0[j0:j1], S1[j0:j1], S2[j0:j1], W[j0:j1]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    for j in range(W.shape[0]):
        psi = _psi_fast(kind, okind, L, h, C, shift, xi, li, ti, X[j], LC[j], TH[j])
        z0 = v0 - V0[j]
        z1 = v1 - V1[j]
        z2 = v2 - V2[j]
        g0 = s0 - S0[j]
        g1 = s1 - S1[j]
        g2 = s2 - S2[j]
        r2 = z0 * z0 + z1 * z1 + z2 * z2
        zs = z0 * g0 + z1 * g1 + z2 * g2
        a, inv = _radial(r2, mode, hg, tiny)
        u = zs * inv
        c = psi * W[j] * a
        a0 += c * (g0 - u * z0)
        a1 += c * (g1 - u * z1)
        a2 += c * (g2 - u * z2)
    return a0, a1, a2


@share_cached_code
@nb.njit(**_PJIT)
def _collide(kind, mode, L, h, C, hg, tiny, X, LC, TH, V0, V1, V2, S0, S1, S2, W, starts, counts, offsets, out):
    """out[i] = Σⱼ wⱼ ψᵢⱼ |z|^γ (|z|² σ − (z·σ) z) over the neighbour cells (no −B)."""
    for c in nb.prange(C):
        for i in range(starts[c], starts[c] + counts[c]):
            xi, li, ti = X[i], LC[i], TH[i]
            v0, v1, v2 = V0[i], V1[i], V2[i]
            s0, s1, s2 = S0[i], S1[i], S2[i]
            b0 = 0.0
            b1 = 0.0
            b2 = 0.0
            for oi in range(offsets.shape[0]):
                o = offsets[oi]
                cc = c + o
                shift = 0.0
                if cc >= C:
                    cc -= C
                    shift = L
                elif cc < 0:
                    cc += C
                    shift = -L
                okind = 0 if o == 0 else (1 if o == 1 else 2)
                j0 = starts[cc]
                j1 = j0 + counts[cc]
                if kind == 0 and mode == 0:
                    a0, a1, a2 = _collide_block(0, 0, 0, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 1 and mode == 0:
                    a0, a1, a2 = _collide_block(1, 0, 0, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 0 and mode == 0:
                    a0, a1, a2 = _collide_block(2, 0, 0, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 1 and mode == 0:
                    a0, a1, a2 = _collide_block(2, 1, 0, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 2 and mode == 0:
                    a0, a1, a2 = _collide_block(2, 2, 0, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 3 and mode == 0:
                    a0, a1, a2 = _collide_block(3, 0, 0, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 4 and mode == 0:
                    a0, a1, a2 = _collide_block(4, 0, 0, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 0 and mode == 1:
                    a0, a1, a2 = _collide_block(0, 0, 1, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 1 and mode == 1:
                    a0, a1, a2 = _collide_block(1, 0, 1, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 0 and mode == 1:
                    a0, a1, a2 = _collide_block(2, 0, 1, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 1 and mode == 1:
                    a0, a1, a2 = _collide_block(2, 1, 1, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 2 and mode == 1:
                    a0, a1, a2 = _collide_block(2, 2, 1, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 3 and mode == 1:
                    a0, a1, a2 = _collide_block(3, 0, 1, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 4 and mode == 1:
                    a0, a1, a2 = _collide_block(4, 0, 1, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 0 and mode == 2:
                    a0, a1, a2 = _collide_block(0, 0, 2, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 1 and mode == 2:
                    a0, a1, a2 = _collide_block(1, 0, 2, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 0 and mode == 2:
                    a0, a1, a2 = _collide_block(2, 0, 2, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 1 and mode == 2:
                    a0, a1, a2 = _collide_block(2, 1, 2, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 2 and mode == 2:
                    a0, a1, a2 = _collide_block(2, 2, 2, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 3 and mode == 2:
                    a0, a1, a2 = _collide_block(3, 0, 2, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 4 and mode == 2:
                    a0, a1, a2 = _collide_block(4, 0, 2, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 0 and mode == 3:
                    a0, a1, a2 = _collide_block(0, 0, 3, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 1 and mode == 3:
                    a0, a1, a2 = _collide_block(1, 0, 3, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 0 and mode == 3:
                    a0, a1, a2 = _collide_block(2, 0, 3, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 1 and mode == 3:
                    a0, a1, a2 = _collide_block(2, 1, 3, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 2 and okind == 2 and mode == 3:
                    a0, a1, a2 = _collide_block(2, 2, 3, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 3 and mode == 3:
                    a0, a1, a2 = _collide_block(3, 0, 3, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                elif kind == 4 and mode == 3:
                    a0, a1, a2 = _collide_block(4, 0, 3, L, h, C, shift, hg, tiny, xi, li, ti, v0, v1, v2,
                        s0, s1, s2, X, LC, TH, V0, V1, V2, S0, S1, S2, W, j0, j1)
                else:
                    a0, a1, a2 = 0.0, 0.0, 0.0
                b0 += a0
                b1 += a1
                b2 += a2
            out[i, 0] = b0
            out[i, 1] = b1
            out[i, 2] = b2


@nb.njit(**_IJIT)
def _density_block(kind, okind, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, X, LC, TH, V0, V1, V2, W, j0, j1):
    X, LC, TH, V0, V1, V2, W = X[j0:j1], LC[j0:j1], TH[j0:j1], V0[j0:j1], V1[j0:j1], V2[j0:j1], W[j0:j1]
    acc = 0.0
    for j in range(W.shape[0]):
        psi = _psi_fast(kind, okind, L, h, C, shift, xi, li, ti, X[j], LC[j], TH[j])
        z0 = v0 - V0[j]
        z1 = v1 - V1[j]
        z2 = v2 - V2[j]
        acc += psi * W[j] * exp_neg((z0 * z0 + z1 * z1 + z2 * z2) * hie)
    return acc


@share_cached_code
@nb.njit(**_PJIT)
def _blob_density(kind, L, h, C, hie, X, LC, TH, V0, V1, V2, W, starts, counts, offsets, out):
    """out[i] = Σⱼ wⱼ ψᵢⱼ exp(−|vᵢ − vⱼ|²/(2ε)) (hie = 1/(2ε))."""
    for c in nb.prange(C):
        for i in range(starts[c], starts[c] + counts[c]):
            xi, li, ti = X[i], LC[i], TH[i]
            v0, v1, v2 = V0[i], V1[i], V2[i]
            acc = 0.0
            for oi in range(offsets.shape[0]):
                o = offsets[oi]
                cc = c + o
                shift = 0.0
                if cc >= C:
                    cc -= C
                    shift = L
                elif cc < 0:
                    cc += C
                    shift = -L
                okind = 0 if o == 0 else (1 if o == 1 else 2)
                j0 = starts[cc]
                j1 = j0 + counts[cc]
                if kind == 0:
                    acc += _density_block(0, 0, L, h, C, shift, hie, xi, li, ti, v0, v1, v2,
                        X, LC, TH, V0, V1, V2, W, j0, j1)
                elif kind == 1:
                    acc += _density_block(1, 0, L, h, C, shift, hie, xi, li, ti, v0, v1, v2,
                        X, LC, TH, V0, V1, V2, W, j0, j1)
                elif kind == 2 and okind == 0:
                    acc += _density_block(2, 0, L, h, C, shift, hie, xi, li, ti, v0, v1, v2,
                        X, LC, TH, V0, V1, V2, W, j0, j1)
                elif kind == 2 and okind == 1:
                    acc += _density_block(2, 1, L, h, C, shift, hie, xi, li, ti, v0, v1, v2,
                        X, LC, TH, V0, V1, V2, W, j0, j1)
                elif kind == 2 and okind == 2:
                    acc += _density_block(2, 2, L, h, C, shift, hie, xi, li, ti, v0, v1, v2,
                        X, LC, TH, V0, V1, V2, W, j0, j1)
                elif kind == 3:
                    acc += _density_block(3, 0, L, h, C, shift, hie, xi, li, ti, v0, v1, v2,
                        X, LC, TH, V0, V1, V2, W, j0, j1)
                elif kind == 4:
                    acc += _density_block(4, 0, L, h, C, shift, hie, xi, li, ti, v0, v1, v2,
                        X, LC, TH, V0, V1, V2, W, j0, j1)
            out[i] = acc


@nb.njit(**_IJIT)
def _pull_block(kind, okind, two, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i, X, LC, TH, V0, V1, V2, W, INV, j0, j1):
    X, LC, TH, V0, V1, V2 = X[j0:j1], LC[j0:j1], TH[j0:j1], V0[j0:j1], V1[j0:j1], V2[j0:j1]
    W, INV = W[j0:j1], INV[j0:j1]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    for j in range(W.shape[0]):
        psi = _psi_fast(kind, okind, L, h, C, shift, xi, li, ti, X[j], LC[j], TH[j])
        z0 = v0 - V0[j]
        z1 = v1 - V1[j]
        z2 = v2 - V2[j]
        k = psi * W[j] * exp_neg((z0 * z0 + z1 * z1 + z2 * z2) * hie)
        if two:
            k = k * (inv_i + INV[j])
        else:
            k = k * inv_i
        a0 += k * z0
        a1 += k * z1
        a2 += k * z2
    return a0, a1, a2


@share_cached_code
@nb.njit(**_PJIT)
def _blob_pull(kind, two, L, h, C, hie, X, LC, TH, V0, V1, V2, W, INV, starts, counts, offsets, out):
    """out[i] = Σⱼ wⱼ ψᵢⱼ φᵢⱼ (1/ρᵢ + 1/ρⱼ)(vᵢ − vⱼ) (two) or Σⱼ wⱼ ψᵢⱼ φᵢⱼ (vᵢ − vⱼ)/ρᵢ."""
    for c in nb.prange(C):
        for i in range(starts[c], starts[c] + counts[c]):
            xi, li, ti = X[i], LC[i], TH[i]
            v0, v1, v2 = V0[i], V1[i], V2[i]
            inv_i = INV[i]
            b0 = 0.0
            b1 = 0.0
            b2 = 0.0
            for oi in range(offsets.shape[0]):
                o = offsets[oi]
                cc = c + o
                shift = 0.0
                if cc >= C:
                    cc -= C
                    shift = L
                elif cc < 0:
                    cc += C
                    shift = -L
                okind = 0 if o == 0 else (1 if o == 1 else 2)
                j0 = starts[cc]
                j1 = j0 + counts[cc]
                if kind == 0 and two == True:
                    a0, a1, a2 = _pull_block(0, 0, True, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 1 and two == True:
                    a0, a1, a2 = _pull_block(1, 0, True, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 2 and okind == 0 and two == True:
                    a0, a1, a2 = _pull_block(2, 0, True, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 2 and okind == 1 and two == True:
                    a0, a1, a2 = _pull_block(2, 1, True, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 2 and okind == 2 and two == True:
                    a0, a1, a2 = _pull_block(2, 2, True, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 3 and two == True:
                    a0, a1, a2 = _pull_block(3, 0, True, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 4 and two == True:
                    a0, a1, a2 = _pull_block(4, 0, True, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 0 and two == False:
                    a0, a1, a2 = _pull_block(0, 0, False, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 1 and two == False:
                    a0, a1, a2 = _pull_block(1, 0, False, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 2 and okind == 0 and two == False:
                    a0, a1, a2 = _pull_block(2, 0, False, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 2 and okind == 1 and two == False:
                    a0, a1, a2 = _pull_block(2, 1, False, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 2 and okind == 2 and two == False:
                    a0, a1, a2 = _pull_block(2, 2, False, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 3 and two == False:
                    a0, a1, a2 = _pull_block(3, 0, False, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                elif kind == 4 and two == False:
                    a0, a1, a2 = _pull_block(4, 0, False, L, h, C, shift, hie, xi, li, ti, v0, v1, v2, inv_i,
                        X, LC, TH, V0, V1, V2, W, INV, j0, j1)
                else:
                    a0, a1, a2 = 0.0, 0.0, 0.0
                b0 += a0
                b1 += a1
                b2 += a2
            out[i, 0] = b0
            out[i, 1] = b1
            out[i, 2] = b2


def _sorted_inputs(weight, cl, x, *vecs):
    """Cell-ordered float64 columns: geometry (kind, L, h, C, X, LC, TH), the columns of each
    (n,) or (n, dv) tensor in ``vecs`` (dv padded to 3), starts, counts, offsets."""
    order = cl.order
    X = np.ascontiguousarray(x[order].detach().cpu().numpy(), dtype=np.float64)
    LC = np.ascontiguousarray(cl.cell[order].cpu().numpy(), dtype=np.int64)
    TH = np.ascontiguousarray(cl.theta[order].detach().cpu().numpy(), dtype=np.float64)
    cols = []
    for t in vecs:
        a = t[order].detach().cpu().numpy().astype(np.float64)
        if a.ndim == 1:
            cols.append(np.ascontiguousarray(a))
        else:
            for k in range(3):
                cols.append(np.ascontiguousarray(a[:, k]) if k < a.shape[1] else np.zeros(a.shape[0]))
    kind = KINDS[weight.kind]
    if weight.cells <= 2 and kind > 0:
        kind += 2                 # neighbour offsets coincide mod C: the general expression of ψ
    geo = (kind, float(weight.L), float(weight.h), int(weight.cells))
    counts = cl.counts.cpu().numpy().astype(np.int64)
    starts = cl.starts.cpu().numpy().astype(np.int64)
    # signed offsets (0, +1, -1) so that the kernels know the periodic image of each neighbour cell
    offsets = np.asarray([0, 1, -1] if (weight.kind != "cell" and weight.cells >= 3) else weight.offsets,
                         dtype=np.int64)
    return geo, (X, LC, TH), cols, starts, counts, offsets


def _unsort(cl, arr, like):
    out = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    res = torch.from_numpy(np.ascontiguousarray(arr[:, :like.shape[1]]) if arr.ndim == 2 else arr)
    out[cl.order] = res.to(like.dtype)
    return out


def radial_mode(gamma):
    """(mode, (gamma + 2)/2) of :func:`_radial`."""
    if gamma == 0:
        return 0, 1.0
    if gamma == -3:
        return 1, -0.5
    if gamma == -2:
        return 2, 0.0
    return 3, 0.5 * (gamma + 2)


def _threads():
    """numba uses as many threads as torch (at most its own limit)."""
    wanted = torch.get_num_threads()
    nb.set_num_threads(max(1, min(wanted, nb.config.NUMBA_NUM_THREADS)))
    if torch.get_num_threads() != wanted:          # numba's OpenMP start-up can reset torch's count
        torch.set_num_threads(wanted)


def collision_sum(weight, cl, x, v, s, w, gamma) -> torch.Tensor:
    """Σⱼ wⱼ ψᵢⱼ |z|^γ(|z|²σ − (z·σ)z) for every i (no −B factor), accumulated in float64."""
    _threads()
    (kind, L, h, C), (X, LC, TH), cols, starts, counts, offsets = _sorted_inputs(weight, cl, x, v, s, w)
    V0, V1, V2, S0, S1, S2, W = cols
    out = np.zeros((v.shape[0], 3))
    mode, hg = radial_mode(float(gamma))
    tiny = float(torch.finfo(v.dtype).tiny)       # closer pairs count as coincident (as the torch path)
    _collide(kind, mode, L, h, C, hg, tiny, X, LC, TH, V0, V1, V2, S0, S1, S2, W, starts, counts, offsets, out)
    return _unsort(cl, out, v)


def blob_sums(weight, cl, x, v, w, eps, two_term) -> torch.Tensor:
    """The blob (two_term) or KDE score: −(1/ε) Σⱼ wⱼψᵢⱼφᵢⱼ(1/ρᵢ [+ 1/ρⱼ])(vᵢ − vⱼ)."""
    _threads()
    (kind, L, h, C), (X, LC, TH), cols, starts, counts, offsets = _sorted_inputs(weight, cl, x, v, w)
    V0, V1, V2, W = cols
    hie = 0.5 / eps
    rho = np.zeros(v.shape[0])
    _blob_density(kind, L, h, C, hie, X, LC, TH, V0, V1, V2, W, starts, counts, offsets, rho)
    inv = 1.0 / rho
    out = np.zeros((v.shape[0], 3))
    _blob_pull(kind, bool(two_term), L, h, C, hie, X, LC, TH, V0, V1, V2, W, inv, starts, counts, offsets, out)
    out *= -1.0 / eps
    return _unsort(cl, out, v)


# ---------------------------------------------------------------- the cell weight: each pair once
# With ψ = 1/h inside a cell and 0 across cells, the pair sums of one cell are those of a small
# homogeneous problem, and the pair terms are symmetric (Gaussian factor) or antisymmetric (z,
# σ): each unordered pair is visited once and added to both rows, half the work of the
# neighbour loops above. prange runs over cells, whose rows no other cell touches.

@share_cached_code
@nb.njit(**_PJIT)
def _cell_blob_density(hie, V0, V1, V2, W, starts, counts, out):
    """out[i] = Σ_{j in the cell of i} wⱼ exp(−|vᵢ − vⱼ|² hie) (the 1/h factor left out)."""
    for c in nb.prange(starts.shape[0]):
        j0 = starts[c]
        j1 = j0 + counts[c]
        for i in range(j0, j1):
            out[i] += W[i]
        for i in range(j0, j1):
            v0, v1, v2, wi = V0[i], V1[i], V2[i], W[i]
            acc = 0.0
            for j in range(i + 1, j1):
                z0 = v0 - V0[j]
                z1 = v1 - V1[j]
                z2 = v2 - V2[j]
                k = exp_neg((z0 * z0 + z1 * z1 + z2 * z2) * hie)
                acc += W[j] * k
                out[j] += wi * k
            out[i] += acc


@share_cached_code
@nb.njit(**_PJIT)
def _cell_blob_pull(two, hie, V0, V1, V2, W, INV, starts, counts, out):
    """out[i] = Σ_{j in the cell} wⱼ φᵢⱼ (1/ρᵢ + 1/ρⱼ)(vᵢ − vⱼ) (two) or wⱼ φᵢⱼ (vᵢ − vⱼ)/ρᵢ."""
    for c in nb.prange(starts.shape[0]):
        j0 = starts[c]
        j1 = j0 + counts[c]
        for i in range(j0, j1):
            v0, v1, v2, wi, ii = V0[i], V1[i], V2[i], W[i], INV[i]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            for j in range(i + 1, j1):
                z0 = v0 - V0[j]
                z1 = v1 - V1[j]
                z2 = v2 - V2[j]
                k = exp_neg((z0 * z0 + z1 * z1 + z2 * z2) * hie)
                if two:
                    ki = W[j] * k * (ii + INV[j])
                    kj = wi * k * (ii + INV[j])
                else:
                    ki = W[j] * k * ii
                    kj = wi * k * INV[j]
                a0 += ki * z0
                a1 += ki * z1
                a2 += ki * z2
                out[j, 0] -= kj * z0
                out[j, 1] -= kj * z1
                out[j, 2] -= kj * z2
            out[i, 0] += a0
            out[i, 1] += a1
            out[i, 2] += a2


@share_cached_code
@nb.njit(**_PJIT)
def _cell_collide(mode, hg, tiny, V0, V1, V2, S0, S1, S2, W, starts, counts, out):
    """out[i] = Σ_{j in the cell} wⱼ |z|^γ (|z|² σ − (z·σ) z) (1/h and −B left out); the (j, i)
    term is the exact negative of the (i, j) term times wᵢ/wⱼ."""
    for c in nb.prange(starts.shape[0]):
        j0 = starts[c]
        j1 = j0 + counts[c]
        for i in range(j0, j1):
            v0, v1, v2, wi = V0[i], V1[i], V2[i], W[i]
            s0, s1, s2 = S0[i], S1[i], S2[i]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            for j in range(i + 1, j1):
                z0 = v0 - V0[j]
                z1 = v1 - V1[j]
                z2 = v2 - V2[j]
                g0 = s0 - S0[j]
                g1 = s1 - S1[j]
                g2 = s2 - S2[j]
                r2 = z0 * z0 + z1 * z1 + z2 * z2
                zs = z0 * g0 + z1 * g1 + z2 * g2
                a, inv = _radial(r2, mode, hg, tiny)
                u = zs * inv
                p0 = a * (g0 - u * z0)
                p1 = a * (g1 - u * z1)
                p2 = a * (g2 - u * z2)
                a0 += W[j] * p0
                a1 += W[j] * p1
                a2 += W[j] * p2
                out[j, 0] -= wi * p0
                out[j, 1] -= wi * p1
                out[j, 2] -= wi * p2
            out[i, 0] += a0
            out[i, 1] += a1
            out[i, 2] += a2


def _cell_inputs(cl, *vecs):
    """Cell-ordered float64 columns of ``vecs`` (dv padded to 3), starts, counts."""
    order = cl.order
    cols = []
    for t in vecs:
        a = t[order].detach().cpu().numpy().astype(np.float64)
        if a.ndim == 1:
            cols.append(np.ascontiguousarray(a))
        else:
            for k in range(3):
                cols.append(np.ascontiguousarray(a[:, k]) if k < a.shape[1] else np.zeros(a.shape[0]))
    return cols, cl.starts.cpu().numpy().astype(np.int64), cl.counts.cpu().numpy().astype(np.int64)


def cell_collision_sum(weight, cl, v, s, w, gamma) -> torch.Tensor:
    """:func:`collision_sum` for the cell weight, each pair visited once (no −B factor)."""
    _threads()
    (V0, V1, V2, S0, S1, S2, W), starts, counts = _cell_inputs(cl, v, s, w)
    out = np.zeros((v.shape[0], 3))
    mode, hg = radial_mode(float(gamma))
    tiny = float(torch.finfo(v.dtype).tiny)
    _cell_collide(mode, hg, tiny, V0, V1, V2, S0, S1, S2, W, starts, counts, out)
    out *= 1.0 / weight.h
    return _unsort(cl, out, v)


def cell_blob_sums(weight, cl, v, w, eps, two_term) -> torch.Tensor:
    """:func:`blob_sums` for the cell weight, each pair's Gaussian evaluated once per pass."""
    _threads()
    (V0, V1, V2, W), starts, counts = _cell_inputs(cl, v, w)
    hie = 0.5 / eps
    rho = np.zeros(v.shape[0])
    _cell_blob_density(hie, V0, V1, V2, W, starts, counts, rho)
    inv = 1.0 / rho                     # (ψ = 1/h cancels between ρ and the pull: both left out)
    out = np.zeros((v.shape[0], 3))
    _cell_blob_pull(bool(two_term), hie, V0, V1, V2, W, inv, starts, counts, out)
    out *= -1.0 / eps
    return _unsort(cl, out, v)
