"""numba kernels for the neighbour-cell pair sums on the CPU (imported on first use).

The particles are copied in cell order (the :class:`~landau_nb.vlasov.spatial.CellList`
permutation), so the partners of one neighbour cell are a contiguous range; ``prange`` runs
over cells, each row i accumulates over the partners of its neighbour cells in float64.
Velocities and scores are padded to three components (zeros for dv = 2), which leaves every
sum unchanged. ψ is evaluated exactly as :meth:`SpatialWeight.pair` (the same symmetric
floating-point expression). Compiled once per dtype and cached on disk (``cache=True``).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import torch

_JIT = dict(fastmath=False, cache=True, nogil=True)
_PJIT = dict(_JIT, parallel=True)

KINDS = {"cell": 0, "hat": 1, "cic": 2}


@nb.njit(**_JIT, inline="always")
def _psi(kind, L, h, C, xi, li, ti, xj, lj, tj):
    if kind == 0:
        return 1.0 / h if li == lj else 0.0
    if kind == 1:
        d = xi - xj
        d = d - L * math.floor(d / L + 0.5)
        r = 1.0 - abs(d) / h
        return r / h if r > 0.0 else 0.0
    same = ((1.0 - ti) * (1.0 - tj) + ti * tj) if li == lj else 0.0
    up = ti * (1.0 - tj) if (li + 1) % C == lj else 0.0
    down = (1.0 - ti) * tj if (lj + 1) % C == li else 0.0
    return (same + (up + down)) / h


@nb.njit(**_PJIT)
def _collide(kind, L, h, C, X, LC, TH, V, S, W, starts, counts, offsets, mode, hg, tiny, out):
    for c in nb.prange(C):
        for i in range(starts[c], starts[c] + counts[c]):
            xi, li, ti = X[i], LC[i], TH[i]
            v0, v1, v2 = V[i, 0], V[i, 1], V[i, 2]
            s0, s1, s2 = S[i, 0], S[i, 1], S[i, 2]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            for oi in range(offsets.shape[0]):
                cc = (c + offsets[oi]) % C
                for j in range(starts[cc], starts[cc] + counts[cc]):
                    psi = _psi(kind, L, h, C, xi, li, ti, X[j], LC[j], TH[j])
                    if psi == 0.0:
                        continue
                    z0 = v0 - V[j, 0]
                    z1 = v1 - V[j, 1]
                    z2 = v2 - V[j, 2]
                    g0 = s0 - S[j, 0]
                    g1 = s1 - S[j, 1]
                    g2 = s2 - S[j, 2]
                    r2 = z0 * z0 + z1 * z1 + z2 * z2
                    zs = z0 * g0 + z1 * g1 + z2 * g2
                    cw = psi * W[j]
                    if mode == 0:
                        t0 = r2 * g0 - zs * z0
                        t1 = r2 * g1 - zs * z1
                        t2 = r2 * g2 - zs * z2
                    else:
                        if r2 <= tiny:
                            continue
                        if mode == 1:
                            a = 1.0 / math.sqrt(r2)
                        elif mode == 2:
                            a = 1.0
                        else:
                            a = r2 ** hg
                        u = zs / r2
                        t0 = a * (g0 - u * z0)
                        t1 = a * (g1 - u * z1)
                        t2 = a * (g2 - u * z2)
                    a0 += cw * t0
                    a1 += cw * t1
                    a2 += cw * t2
            out[i, 0] = a0
            out[i, 1] = a1
            out[i, 2] = a2


@nb.njit(**_PJIT)
def _blob_density(kind, L, h, C, X, LC, TH, V, W, starts, counts, offsets, half_inv_eps, out):
    for c in nb.prange(C):
        for i in range(starts[c], starts[c] + counts[c]):
            xi, li, ti = X[i], LC[i], TH[i]
            v0, v1, v2 = V[i, 0], V[i, 1], V[i, 2]
            acc = 0.0
            for oi in range(offsets.shape[0]):
                cc = (c + offsets[oi]) % C
                for j in range(starts[cc], starts[cc] + counts[cc]):
                    psi = _psi(kind, L, h, C, xi, li, ti, X[j], LC[j], TH[j])
                    if psi == 0.0:
                        continue
                    z0 = v0 - V[j, 0]
                    z1 = v1 - V[j, 1]
                    z2 = v2 - V[j, 2]
                    acc += psi * W[j] * math.exp(-(z0 * z0 + z1 * z1 + z2 * z2) * half_inv_eps)
            out[i] = acc


@nb.njit(**_PJIT)
def _blob_pull(kind, L, h, C, X, LC, TH, V, W, INV, starts, counts, offsets, half_inv_eps, two_term, out):
    """Σⱼ wⱼ ψᵢⱼ φᵢⱼ (1/ρᵢ + 1/ρⱼ) (vᵢ − vⱼ) (two_term) or Σⱼ wⱼ ψᵢⱼ φᵢⱼ (vᵢ − vⱼ)/ρᵢ."""
    for c in nb.prange(C):
        for i in range(starts[c], starts[c] + counts[c]):
            xi, li, ti = X[i], LC[i], TH[i]
            v0, v1, v2 = V[i, 0], V[i, 1], V[i, 2]
            inv_i = INV[i]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            for oi in range(offsets.shape[0]):
                cc = (c + offsets[oi]) % C
                for j in range(starts[cc], starts[cc] + counts[cc]):
                    psi = _psi(kind, L, h, C, xi, li, ti, X[j], LC[j], TH[j])
                    if psi == 0.0:
                        continue
                    z0 = v0 - V[j, 0]
                    z1 = v1 - V[j, 1]
                    z2 = v2 - V[j, 2]
                    k = psi * W[j] * math.exp(-(z0 * z0 + z1 * z1 + z2 * z2) * half_inv_eps)
                    if two_term:
                        k *= inv_i + INV[j]
                    else:
                        k *= inv_i
                    a0 += k * z0
                    a1 += k * z1
                    a2 += k * z2
            out[i, 0] = a0
            out[i, 1] = a1
            out[i, 2] = a2


def _sorted_inputs(weight, cl, x, *vecs):
    order = cl.order
    np_x = x[order].detach().cpu().numpy().astype(np.float64)
    LC = cl.cell[order].cpu().numpy().astype(np.int64)
    TH = cl.theta[order].detach().cpu().numpy().astype(np.float64)
    out = []
    for t in vecs:
        t = t[order].detach().cpu().numpy().astype(np.float64)
        if t.ndim == 2 and t.shape[1] < 3:
            t = np.concatenate([t, np.zeros((t.shape[0], 3 - t.shape[1]))], axis=1)
        out.append(np.ascontiguousarray(t))
    geo = (KINDS[weight.kind], float(weight.L), float(weight.h), int(weight.cells), np_x, LC, TH)
    counts = cl.counts.cpu().numpy().astype(np.int64)
    starts = cl.starts.cpu().numpy().astype(np.int64)
    offsets = np.asarray(weight.offsets, dtype=np.int64)
    return geo, out, starts, counts, offsets


def _unsort(cl, arr, like):
    out = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    res = torch.from_numpy(arr[:, :like.shape[1]] if arr.ndim == 2 else arr).to(like.dtype)
    out[cl.order] = res
    return out


def _mode(gamma):
    if gamma == 0:
        return 0, 0.0
    if gamma == -3:
        return 1, 0.0
    if gamma == -2:
        return 2, 0.0
    return 3, 0.5 * (gamma + 2)


def collision_sum(weight, cl, x, v, s, w, gamma) -> torch.Tensor:
    """Σⱼ wⱼ ψᵢⱼ |z|^γ(|z|²σ − (z·σ)z) for every i (no −B factor), computed in float64."""
    geo, (V, S, W), starts, counts, offsets = _sorted_inputs(weight, cl, x, v, s, w)
    out = np.zeros((v.shape[0], 3))
    mode, hg = _mode(float(gamma))
    # pairs closer than the input dtype's smallest normal number count as coincident
    tiny = float(torch.finfo(v.dtype).tiny)
    _collide(*geo, V, S, W, starts, counts, offsets, mode, hg, tiny, out)
    return _unsort(cl, out, v)


def blob_sums(weight, cl, x, v, w, eps, two_term) -> torch.Tensor:
    """The blob (two_term) or KDE score Σ-form: −(1/ε) Σⱼ wⱼψᵢⱼφᵢⱼ(1/ρᵢ [+ 1/ρⱼ])(vᵢ − vⱼ)."""
    geo, (V, W), starts, counts, offsets = _sorted_inputs(weight, cl, x, v, w)
    half_inv_eps = 0.5 / eps
    rho = np.zeros(v.shape[0])
    _blob_density(*geo, V, W, starts, counts, offsets, half_inv_eps, rho)
    inv = 1.0 / rho
    out = np.zeros((v.shape[0], 3))
    _blob_pull(*geo, V, W, inv, starts, counts, offsets, half_inv_eps, bool(two_term), out)
    out *= -1.0 / eps
    return _unsort(cl, out, v)
