"""numba kernels for the compiled CPU pair sums (imported lazily by :mod:`landau_nb.equation.pairsum`).

Layout and loop structure (written for the SIMD units, measured in ``benchmarks/pair_sums.py``):

* structure of arrays: positions and scores come as (d, n) C-contiguous arrays, so the inner
  loop over partners j reads contiguous rows;
* the inner j loop has no branches: the j = i term (and coincident particles, r = 0) is
  removed by a select (``r2 > 0``) that compiles to a blend, never by an ``if``/``continue``;
* ``prange`` over tiles of TI rows i; inside a tile the partners come in blocks of JB, so the
  block's data stays in cache while the tile's rows sweep it;
* per (i, block) the sum is accumulated in registers in the input precision, then added into
  a float64 accumulator: in float32 the rounding error of one partial sum grows with JB, not
  with n (measured relative error ~1e-7 at n = 20 000, see the benchmark).

Every function is compiled once per dtype (float32, float64) on first use (about 25 s of CPU
for all of them) and cached on disk (``cache=True``: in ``landau_nb/__pycache__``, or numba's
user cache directory when that is read-only, or ``NUMBA_CACHE_DIR``); later processes load
the machine code in well under a second. Nothing is downloaded.

Radial weights, selected once per call by ``mode`` (see :func:`radial_mode`): the kernels
sum |z|^gamma (|z|^2 w - (z.w) z), evaluated as a (w - u z) with a = |z|^(gamma+2) and
u = z.w / |z|^2, so that no intermediate exceeds the term's size or |w|/|z| (|z|^gamma alone
overflows float32 for |z| < 1e-13 at gamma = -3). 0: gamma = 0 (r2 w - (z.w) z as it is);
1: gamma = -3 (a = 1/r from one sqrt and one division); 2: any other integer gamma with
|gamma + 2| < 32 (r^m or (1/r)^|m|, m = gamma + 2, by repeated squaring with selects);
3: any other gamma (r2^((gamma+2)/2) by ``pow``, not vectorised: about 10x slower). Pairs with
r2 below the dtype's smallest normal number ``tiny`` (z = 0, coincident particles) get 0.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .._jit import share_cached_code

#: rows i per parallel task
TI = 32
#: partners j per block (float32 partial sums run over at most JB terms)
JB = 1024

_JIT = dict(fastmath=True, cache=True, nogil=True)
_IJIT = dict(_JIT, inline="always")
_PJIT = dict(_JIT, parallel=True)


def radial_mode(gamma: float) -> tuple[int, int, float]:
    """(mode, m = gamma + 2, (gamma + 2) / 2) for the kernels' radial weights (see the module
    docstring)."""
    if gamma == 0:
        return 0, 2, 1.0
    if gamma == -3:
        return 1, -1, -0.5
    if float(gamma).is_integer() and abs(gamma + 2) < 32:
        return 2, int(gamma) + 2, 0.5 * (gamma + 2)
    return 3, 0, 0.5 * (gamma + 2)


# --------------------------------------------------------------------------- exp(-q), q >= 0
@intrinsic
def _bits_as_float(typingctx, bits):
    """Reinterpret int32 / int64 bits as float32 / float64 (a no-op bitcast)."""
    if bits == types.int32:
        sig, llty = types.float32(types.int32), ir.FloatType()
    elif bits == types.int64:
        sig, llty = types.float64(types.int64), ir.DoubleType()
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llty)

    return sig, codegen


def exp_neg(q):  # pragma: no cover - replaced by the overload inside compiled code
    """exp(-q) for q >= 0, vectorisable (no libm call): see the overload below."""
    return math.exp(-q)


@overload(exp_neg, jit_options={"fastmath": True})
def _exp_neg_impl(q):
    # exp(-q) = 2^-k * 2^f, y = q log2(e), k = round(y), f = k - y in [-1/2, 1/2];
    # 2^f = exp(f ln 2) by its Taylor series (|f ln 2| <= 0.347: degree 7 leaves 6e-9 in
    # float32, degree 13 leaves 1e-17 in float64); 2^-k is built from its exponent bits.
    # Below 2^-126 (float32) / 2^-1022 (float64) the result is 0 (no subnormals); the
    # error of y itself is that of rounding q, as for any exp(-q) of a rounded q.
    if q == types.float32:
        def impl(q):
            y = q * np.float32(1.4426950408889634)
            big = y < np.float32(126.0)
            y = y if big else np.float32(126.0)
            k = np.int32(y + np.float32(0.5))
            t = (np.float32(k) - y) * np.float32(0.6931471805599453)
            p = np.float32(1 / 5040)
            p = p * t + np.float32(1 / 720)
            p = p * t + np.float32(1 / 120)
            p = p * t + np.float32(1 / 24)
            p = p * t + np.float32(1 / 6)
            p = p * t + np.float32(0.5)
            p = p * t + np.float32(1.0)
            p = p * t + np.float32(1.0)
            e = p * _bits_as_float(np.int32((127 - k) << 23))
            return e if big else np.float32(0.0)
        return impl
    if q == types.float64:
        def impl(q):
            y = q * 1.4426950408889634
            big = y < 1022.0
            y = y if big else 1022.0
            k = np.int64(y + 0.5)
            t = (np.float64(k) - y) * 0.6931471805599453
            p = 1 / 6227020800
            p = p * t + 1 / 479001600
            p = p * t + 1 / 39916800
            p = p * t + 1 / 3628800
            p = p * t + 1 / 362880
            p = p * t + 1 / 40320
            p = p * t + 1 / 5040
            p = p * t + 1 / 720
            p = p * t + 1 / 120
            p = p * t + 1 / 24
            p = p * t + 1 / 6
            p = p * t + 0.5
            p = p * t + 1.0
            p = p * t + 1.0
            e = p * _bits_as_float(np.int64((1023 - k) << 52))
            return e if big else 0.0
        return impl
    return None


@nb.njit(**_JIT)
def exp_neg_array(q, out):
    """out = exp(-q) elementwise (for the tests of the polynomial exp)."""
    for i in range(q.shape[0]):
        out[i] = exp_neg(q[i])


def make_tiles(bounds) -> np.ndarray:
    """Work items (i0, i1, g0, g1) for the Landau kernels: rows i0..i1-1, partners g0..g1-1.

    ``bounds`` = [b_0 = 0, b_1, ..., b_G = n] splits the particles into G groups that
    interact only within themselves ([0, n]: the full sum); each group's rows are cut into
    tiles of at most TI rows."""
    bounds = np.asarray(bounds, dtype=np.int64)
    g0, g1 = bounds[:-1], bounds[1:]
    count = (g1 - g0 + TI - 1) // TI
    group = np.repeat(np.arange(g0.shape[0]), count)
    first = np.cumsum(count) - count
    i0 = g0[group] + TI * (np.arange(group.shape[0]) - first[group])
    i1 = np.minimum(i0 + TI, g1[group])
    return np.stack([i0, i1, g0[group], g1[group]], axis=1)


# --------------------------------------------------------------------------- radial weights
@nb.njit(**_IJIT)
def _weights(r2, zw, one, tiny, zero, mode, m, hg):
    """(a, u) = (|z|^(gamma+2), z.w / |z|^2) from r2 = |z|^2 and zw = z.w, both 0 where
    r2 <= tiny (no branch); the pair's term is a (w - u z). Not for mode 0. m = gamma + 2,
    hg = m / 2; one, tiny, zero, hg come in r2's dtype so that float32 stays float32."""
    pos = r2 > tiny
    rs = r2 if pos else one
    if mode == 3:
        a = rs ** hg
        a = a if pos else zero
        q = one / rs
        q = q if pos else zero
        return a, zw * q
    ir_ = one / math.sqrt(rs)
    ir_ = ir_ if pos else zero
    u = zw * ir_ * ir_              # ir_^2 = 1 / r2 <= 1 / tiny: finite
    if mode == 1:
        return ir_, u
    # mode 2: integer m: b^|m| with b = 1/r (m < 0) or r (m > 0), by repeated squaring
    # with selects (the bits of |m| are the same for every pair: no data-dependent branch)
    b = ir_ if m < 0 else rs * ir_
    k = -m if m < 0 else m
    a = one
    for bit in range(5):
        a = a * (b if (k >> bit) & 1 else one)
        b = b * b
    a = a if pos else zero
    return a, u


# --------------------------------------------------------------------------- Landau, d = 3
@nb.njit(**_IJIT)
def _landau3_block(xi0, xi1, xi2, si0, si1, si2, x0, x1, x2, s0, s1, s2, one, tiny, zero, mode, m, hg):
    """Partial sum of row i over one block of partners (x0..s2: the block's rows, sliced so
    that the loop index starts at 0: numba then emits contiguous vector loads)."""
    a0 = zero
    a1 = zero
    a2 = zero
    for j in range(x0.shape[0]):
        z0 = xi0 - x0[j]
        z1 = xi1 - x1[j]
        z2 = xi2 - x2[j]
        w0 = si0 - s0[j]
        w1 = si1 - s1[j]
        w2 = si2 - s2[j]
        r2 = z0 * z0 + z1 * z1 + z2 * z2
        zw = z0 * w0 + z1 * w1 + z2 * w2
        if mode == 0:
            a0 += r2 * w0 - zw * z0
            a1 += r2 * w1 - zw * z1
            a2 += r2 * w2 - zw * z2
        else:
            a, u = _weights(r2, zw, one, tiny, zero, mode, m, hg)
            a0 += a * (w0 - u * z0)
            a1 += a * (w1 - u * z1)
            a2 += a * (w2 - u * z2)
    return a0, a1, a2


@share_cached_code
@nb.njit(**_PJIT)
def landau3(x, s, tiles, out, mode, m, hg, tiny):
    """out[i] = sum_j |z|^gamma (|z|^2 w - (z.w) z), z = x_i - x_j, w = s_i - s_j (d = 3),
    the sum over the partners j of row i's group (see :func:`make_tiles`).

    x, s: (3, n) C-contiguous; tiles: (T, 4) int64 rows (i0, i1, g0, g1); out: (n, 3) float64;
    mode, m, hg from :func:`radial_mode`; tiny: the smallest normal number of x's dtype."""
    one = x.dtype.type(1.0)
    tny = x.dtype.type(tiny)
    zero = x.dtype.type(0.0)
    hgt = x.dtype.type(hg)
    for t in nb.prange(tiles.shape[0]):
        i0 = tiles[t, 0]
        i1 = tiles[t, 1]
        g0 = tiles[t, 2]
        g1 = tiles[t, 3]
        for i in range(i0, i1):
            out[i, 0] = 0.0
            out[i, 1] = 0.0
            out[i, 2] = 0.0
        for j0 in range(g0, g1, JB):
            j1 = min(g1, j0 + JB)
            x0 = x[0, j0:j1]
            x1 = x[1, j0:j1]
            x2 = x[2, j0:j1]
            s0 = s[0, j0:j1]
            s1 = s[1, j0:j1]
            s2 = s[2, j0:j1]
            for i in range(i0, i1):
                xi0 = x[0, i]
                xi1 = x[1, i]
                xi2 = x[2, i]
                si0 = s[0, i]
                si1 = s[1, i]
                si2 = s[2, i]
                # the mode test sits outside the j loop: each branch inlines a constant mode
                if mode == 1:
                    a0, a1, a2 = _landau3_block(xi0, xi1, xi2, si0, si1, si2, x0, x1, x2, s0, s1, s2,
                                                one, tny, zero, 1, m, hgt)
                elif mode == 0:
                    a0, a1, a2 = _landau3_block(xi0, xi1, xi2, si0, si1, si2, x0, x1, x2, s0, s1, s2,
                                                one, tny, zero, 0, m, hgt)
                elif mode == 2:
                    a0, a1, a2 = _landau3_block(xi0, xi1, xi2, si0, si1, si2, x0, x1, x2, s0, s1, s2,
                                                one, tny, zero, 2, m, hgt)
                else:
                    a0, a1, a2 = _landau3_block(xi0, xi1, xi2, si0, si1, si2, x0, x1, x2, s0, s1, s2,
                                                one, tny, zero, 3, m, hgt)
                out[i, 0] += a0
                out[i, 1] += a1
                out[i, 2] += a2


# --------------------------------------------------------------------------- Landau, any d
@nb.njit(**_IJIT)
def _weights_block(r2, zw, jn, one, tiny, zero, mode, m, hg):
    """In place: r2[j], zw[j] <- a, u of :func:`_weights` (the term is a (w - u z))."""
    for j in range(jn):
        r2[j], zw[j] = _weights(r2[j], zw[j], one, tiny, zero, mode, m, hg)


@share_cached_code
@nb.njit(**_PJIT)
def landau_any(x, s, tiles, out, mode, m, hg, tiny):
    """Same sum as :func:`landau3` for any d (x, s: (d, n) C-contiguous; out (n, d) float64).

    Per (row i, block of partners): r2 and z.w in two buffers (a loop over j per
    coordinate), the weights in place, then one reduction over j per coordinate."""
    d = x.shape[0]
    one = x.dtype.type(1.0)
    tny = x.dtype.type(tiny)
    zero = x.dtype.type(0.0)
    hgt = x.dtype.type(hg)
    for t in nb.prange(tiles.shape[0]):
        i0 = tiles[t, 0]
        i1 = tiles[t, 1]
        g0 = tiles[t, 2]
        g1 = tiles[t, 3]
        r2 = np.empty(JB, x.dtype)
        zw = np.empty(JB, x.dtype)
        for i in range(i0, i1):
            for k in range(d):
                out[i, k] = 0.0
        for j0 in range(g0, g1, JB):
            j1 = min(g1, j0 + JB)
            jn = j1 - j0
            for i in range(i0, i1):
                for j in range(jn):
                    r2[j] = zero
                    zw[j] = zero
                for k in range(d):
                    xk = x[k, i]
                    sk = s[k, i]
                    xr = x[k, j0:j1]
                    sr = s[k, j0:j1]
                    for j in range(jn):
                        dz = xk - xr[j]
                        r2[j] += dz * dz
                        zw[j] += dz * (sk - sr[j])
                if mode == 1:
                    _weights_block(r2, zw, jn, one, tny, zero, 1, m, hgt)
                elif mode == 2:
                    _weights_block(r2, zw, jn, one, tny, zero, 2, m, hgt)
                elif mode == 3:
                    _weights_block(r2, zw, jn, one, tny, zero, 3, m, hgt)
                for k in range(d):
                    xk = x[k, i]
                    sk = s[k, i]
                    xr = x[k, j0:j1]
                    sr = s[k, j0:j1]
                    acc = zero
                    if mode == 0:
                        for j in range(jn):
                            acc += r2[j] * (sk - sr[j]) - zw[j] * (xk - xr[j])
                    else:
                        for j in range(jn):
                            acc += r2[j] * ((sk - sr[j]) - zw[j] * (xk - xr[j]))
                    out[i, k] += acc


# --------------------------------------------------------------------------- blob score
#: rows i that share each load of the partners' coordinates in the blob kernels for d != 3
IB = 4


@nb.njit(**_IJIT)
def _sq_dists(x, i, j0, jn, r2, zero):
    """r2[j] <- |x_i - x_{j0+j}|^2 for j < jn, one loop over j per coordinate (any d)."""
    for j in range(jn):
        r2[j] = zero
    for k in range(x.shape[0]):
        xk = x[k, i]
        xr = x[k, j0:j0 + jn]
        for j in range(jn):
            dz = xk - xr[j]
            r2[j] += dz * dz


@nb.njit(**_IJIT)
def _sq_dists_rows(x, ia, na, j0, jn, r2, zero):
    """r2[a, j] <- |x_{ia+a} - x_{j0+j}|^2 for a < na <= IB: for na = IB the four rows share
    each load of x[k, j] (the same arithmetic, in the same order, as :func:`_sq_dists`)."""
    if na < IB:
        for a in range(na):
            _sq_dists(x, ia + a, j0, jn, r2[a], zero)
        return
    for a in range(IB):
        for j in range(jn):
            r2[a, j] = zero
    r0, r1, r2_, r3 = r2[0], r2[1], r2[2], r2[3]
    for k in range(x.shape[0]):
        xr = x[k, j0:j0 + jn]
        x0 = x[k, ia]
        x1 = x[k, ia + 1]
        x2 = x[k, ia + 2]
        x3 = x[k, ia + 3]
        for j in range(jn):
            xj = xr[j]
            d0 = x0 - xj
            d1 = x1 - xj
            d2 = x2 - xj
            d3 = x3 - xj
            r0[j] += d0 * d0
            r1[j] += d1 * d1
            r2_[j] += d2 * d2
            r3[j] += d3 * d3


@share_cached_code
@nb.njit(**_PJIT)
def gauss_density(x, half_inv_eps, out, t0, t1):
    """out[i] = sum_j exp(-|x_i - x_j|^2 / (2 eps)), half_inv_eps = 1 / (2 eps) (any d), for
    the rows of tiles t0..t1-1 (tile t: rows t TI .. (t + 1) TI - 1; all: 0, ceil(n / TI))."""
    d, n = x.shape
    h = x.dtype.type(half_inv_eps)
    zero = x.dtype.type(0.0)
    for tt in nb.prange(t1 - t0):
        i0 = (t0 + tt) * TI
        i1 = min(n, i0 + TI)
        r2 = np.empty((IB, JB), x.dtype)
        for i in range(i0, i1):
            out[i] = 0.0
        for j0 in range(0, n, JB):
            j1 = min(n, j0 + JB)
            jn = j1 - j0
            if d == 3:
                for i in range(i0, i1):
                    xi0 = x[0, i]
                    xi1 = x[1, i]
                    xi2 = x[2, i]
                    x0 = x[0, j0:j1]
                    x1 = x[1, j0:j1]
                    x2 = x[2, j0:j1]
                    acc = zero
                    for j in range(jn):
                        z0 = xi0 - x0[j]
                        z1 = xi1 - x1[j]
                        z2 = xi2 - x2[j]
                        acc += exp_neg((z0 * z0 + z1 * z1 + z2 * z2) * h)
                    out[i] += acc
            else:
                for ia in range(i0, i1, IB):
                    na = min(i1, ia + IB) - ia
                    _sq_dists_rows(x, ia, na, j0, jn, r2, zero)
                    for a in range(na):
                        ra = r2[a]
                        acc = zero
                        for j in range(jn):
                            acc += exp_neg(ra[j] * h)
                        out[ia + a] += acc


@share_cached_code
@nb.njit(**_PJIT)
def blob_pull(x, inv_rho, half_inv_eps, out, t0, t1):
    """out[i] = sum_j K_ij (inv_rho_i + inv_rho_j) (x_i - x_j), K_ij = exp(-|x_i - x_j|^2/(2 eps)),
    for the rows of tiles t0..t1-1 (as :func:`gauss_density`).

    x: (d, n) C-contiguous; inv_rho: (n,) in x's dtype; out: (n, d) float64. The blob score
    is -out / eps. For d != 3 the rows come in blocks of IB, which share each load of the
    partners' coordinates (x1.4 at d = 10, the same sums)."""
    d, n = x.shape
    h = x.dtype.type(half_inv_eps)
    zero = x.dtype.type(0.0)
    for tt in nb.prange(t1 - t0):
        i0 = (t0 + tt) * TI
        i1 = min(n, i0 + TI)
        kk = np.empty((IB, JB), x.dtype)
        for i in range(i0, i1):
            for k in range(d):
                out[i, k] = 0.0
        for j0 in range(0, n, JB):
            j1 = min(n, j0 + JB)
            jn = j1 - j0
            rr = inv_rho[j0:j1]
            if d == 3:
                for i in range(i0, i1):
                    ri = inv_rho[i]
                    xi0 = x[0, i]
                    xi1 = x[1, i]
                    xi2 = x[2, i]
                    x0 = x[0, j0:j1]
                    x1 = x[1, j0:j1]
                    x2 = x[2, j0:j1]
                    a0 = zero
                    a1 = a0
                    a2 = a0
                    for j in range(jn):
                        z0 = xi0 - x0[j]
                        z1 = xi1 - x1[j]
                        z2 = xi2 - x2[j]
                        c = exp_neg((z0 * z0 + z1 * z1 + z2 * z2) * h) * (ri + rr[j])
                        a0 += c * z0
                        a1 += c * z1
                        a2 += c * z2
                    out[i, 0] += a0
                    out[i, 1] += a1
                    out[i, 2] += a2
                continue
            for ia in range(i0, i1, IB):
                na = min(i1, ia + IB) - ia
                _sq_dists_rows(x, ia, na, j0, jn, kk, zero)
                for a in range(na):                            # kk <- K_ij (inv_rho_i + inv_rho_j)
                    ka = kk[a]
                    ri = inv_rho[ia + a]
                    for j in range(jn):
                        ka[j] = exp_neg(ka[j] * h) * (ri + rr[j])
                for k in range(d):
                    xr = x[k, j0:j1]
                    if na == IB:
                        k0, k1, k2, k3 = kk[0], kk[1], kk[2], kk[3]
                        x0 = x[k, ia]
                        x1 = x[k, ia + 1]
                        x2 = x[k, ia + 2]
                        x3 = x[k, ia + 3]
                        a0 = zero
                        a1 = zero
                        a2 = zero
                        a3 = zero
                        for j in range(jn):
                            xj = xr[j]
                            a0 += k0[j] * (x0 - xj)
                            a1 += k1[j] * (x1 - xj)
                            a2 += k2[j] * (x2 - xj)
                            a3 += k3[j] * (x3 - xj)
                        out[ia, k] += a0
                        out[ia + 1, k] += a1
                        out[ia + 2, k] += a2
                        out[ia + 3, k] += a3
                    else:
                        for a in range(na):
                            ka = kk[a]
                            xa = x[k, ia + a]
                            acc = zero
                            for j in range(jn):
                                acc += ka[j] * (xa - xr[j])
                            out[ia + a, k] += acc


# --------------------------------------------------------------------------- KDE log-density
@share_cached_code
@nb.njit(**_PJIT)
def gauss_logsumexp(y, x, out, t0, t1):
    """out[i] = log sum_j exp(-|y_i - x_j|^2 / 2) for query points y (d, m) and centres
    x (d, n), both C-contiguous in one dtype; out (m,) float64; the rows of tiles t0..t1-1
    (tile t: rows t TI .. (t + 1) TI - 1; all: 0, ceil(m / TI)).

    Per row i the squared distances go into a buffer of n entries (in the cache) while their
    minimum q is found; the sum runs over exp(-(r2_j - q) / 2) <= 1, whose largest term is 1,
    so nothing underflows however far y_i lies from every centre; out = log(sum) - q / 2."""
    d, m = y.shape
    n = x.shape[1]
    zero = x.dtype.type(0.0)
    half = x.dtype.type(0.5)
    for tt in nb.prange(t1 - t0):
        t = t0 + tt
        r2 = np.empty(n, x.dtype)
        for i in range(t * TI, min(m, t * TI + TI)):
            if d == 3:
                y0 = y[0, i]
                y1 = y[1, i]
                y2 = y[2, i]
                for j in range(n):
                    z0 = y0 - x[0, j]
                    z1 = y1 - x[1, j]
                    z2 = y2 - x[2, j]
                    r2[j] = z0 * z0 + z1 * z1 + z2 * z2
            else:
                for j in range(n):
                    r2[j] = zero
                for k in range(d):
                    yk = y[k, i]
                    xr = x[k]
                    for j in range(n):
                        dz = yk - xr[j]
                        r2[j] += dz * dz
            q = r2[0]
            for j in range(n):
                q = min(q, r2[j])
            acc = zero
            acc64 = 0.0
            for j0 in range(0, n, JB):                 # float32 partial sums over at most JB terms
                acc = zero
                for j in range(j0, min(n, j0 + JB)):
                    acc += exp_neg((r2[j] - q) * half)
                acc64 += acc
            out[i] = math.log(acc64) - 0.5 * float(q)
