"""The Landau collision kernel and the particle velocity field (book: "The Landau equation as
a continuity equation" and "Maxwellian molecules in O(n)").

Kernel (paper, after (2.2), with the constant B of Example 5.1)::

    A(z) = B |z|^gamma (|z|^2 I - z z^T)

Particle velocity (paper (3.1) on particles)::

    v_i = -(B/n) sum_j |z_ij|^gamma (|z_ij|^2 w_ij - (z_ij . w_ij) z_ij),
    z_ij = x_i - x_j,  w_ij = s_i - s_j.

Evaluation methods: ``"direct"`` (tiled torch pair sum, O(n^2 d) time, O(n * tile) memory,
any gamma, any device: the reference), ``"compiled"`` (the same sum by a fused numba kernel on
the CPU, :mod:`landau_nb.equation.pairsum`), ``"moments"`` (gamma = 0 only: A is a quadratic polynomial
in z, so the sum over j collapses into moments of the particles; exact, O(n d^2)) and
``"random_batch"`` (the sum inside random batches only, O(n * batch)).
"""

from __future__ import annotations

import torch

from .._checks import check_choice, check_gamma, check_int, check_like, check_points, check_positive
from .._stop import poll_stop
from .pairsum import (check_compiled_inputs, compiled_usable, compiled_velocity_sum, tile_rows)

__all__ = [
    "collision_kernel",
    "landau_velocity",
    "collision_matrix",
    "collision_divergence",
    "velocity_divergence",
    "VELOCITY_METHODS",
    "pair_sum",
    "radial_factors",
]

VELOCITY_METHODS = ("auto", "direct", "moments", "compiled", "random_batch")
#: the methods of :func:`collision_matrix` (no compiled or random-batch form)
MATRIX_METHODS = ("auto", "direct", "moments")


def radial_factors(r2: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(|z|^(gamma+2), 1/|z|^2) from r2 = |z|^2, both exactly 0 where z = 0 (gamma != 0).

    The sums below need |z|^gamma (|z|^2 w - (z.w) z), |z|^gamma z z^T or |z|^gamma z, and
    evaluate them as |z|^(gamma+2) (w - (z.w / r2) z), |z|^(gamma+2) (z/|z|)(z/|z|)^T and
    |z|^(gamma+2) (z / r2): |z|^gamma alone overflows float32 for |z| < 1e-13 at gamma = -3
    where the results do not; here no intermediate exceeds the result's size (or |w|/|z|). For gamma < 0 the j = i term of every sum is 0 * inf; its true contribution is
    0 (the bracket vanishes like |z|^2), so it is dropped exactly, with no epsilon added to
    other pairs. Coincident distinct particles, and pairs with r2 below the dtype's smallest
    normal number (|z| < 1e-19 in float32, where 1/r2 would overflow), are treated the same way.
    """
    positive = r2 > torch.finfo(r2.dtype).tiny
    safe = torch.where(positive, r2, torch.ones_like(r2))
    zero = torch.zeros_like(r2)
    return torch.where(positive, safe.pow(0.5 * gamma + 1), zero), torch.where(positive, 1 / safe, zero)


def _resolve_method(method: str, gamma: float, allowed=MATRIX_METHODS) -> str:
    check_choice("method", method, allowed)
    if method == "auto":
        return "moments" if gamma == 0 else "direct"
    if method == "moments" and gamma != 0:
        raise ValueError(f"method='moments' needs gamma=0 (Maxwellian molecules), got gamma={gamma:g}; "
                         "use method='direct'")
    return method


def collision_kernel(z: torch.Tensor, *, gamma: float, B: float = 1 / 24) -> torch.Tensor:
    """The matrix A(z) = B |z|^gamma (|z|^2 I - z z^T) for a batch z of shape (..., d).

    Returns shape (..., d, d); A(0) = 0 for every gamma. Section: "The Landau equation as a
    continuity equation", kernel after (2.2).
    """
    if not isinstance(z, torch.Tensor) or z.dtype not in (torch.float32, torch.float64) or z.ndim < 1:
        raise TypeError("z must be a floating torch.Tensor of shape (..., d)")
    d = z.shape[-1]
    if d < 2:
        raise ValueError(f"z has dimension d={d}; need d >= 2")
    gamma = check_gamma(gamma, d)
    B = check_positive("B", B)
    r2 = (z * z).sum(-1)
    eye = torch.eye(d, dtype=z.dtype, device=z.device)
    if gamma == 0:
        return B * (r2[..., None, None] * eye - z[..., :, None] * z[..., None, :])
    a, inv_r2 = radial_factors(r2, gamma)
    zh = z * inv_r2.sqrt()[..., None]                   # z / |z| (0 at z = 0)
    return B * a[..., None, None] * (eye - zh[..., :, None] * zh[..., None, :])


def landau_velocity(x: torch.Tensor, s: torch.Tensor, *, gamma: float, B: float = 1 / 24,
                    method: str = "auto", tile: int | None = None, batch_size: int | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Particle velocity v_i = -(B/n) sum_j A(x_i - x_j)(s_i - s_j), paper (3.1).

    Parameters
    ----------
    x, s : (n, d) tensors of positions and scores (same device and dtype).
    gamma : kernel exponent in [-d-1, 1]; 0 = Maxwellian molecules, -3 = Coulomb (d = 3).
    B : kernel constant (> 0); the paper's experiments use 1/24.
    method :
        * ``"direct"``: tiled torch pair sum (any device, autograd; the reference);
        * ``"compiled"``: the same sum by the fused numba kernel (CPU tensors, no autograd;
          needs numba), equal to "direct" to float tolerance;
        * ``"moments"``: gamma = 0 only, exact O(n d^2);
        * ``"auto"``: moments for gamma = 0; otherwise compiled on the CPU when numba is
          importable, n >= ``pairsum.COMPILED_MIN_N`` and no gradient is needed, else direct;
        * ``"random_batch"``: random-batch interactions (see below), needs ``batch_size``.
    tile : rows per tile of the torch sums (default: keeps temporaries near 2^22 entries);
        for random_batch on the torch path, batches per chunk. Not used by the compiled kernels.
    batch_size : for ``"random_batch"`` only: an int p >= 2. The particles are shuffled by a
        random permutation drawn from ``generator`` and cut into q = max(1, n // p) batches of
        p consecutive shuffled particles; the last batch also takes the n - q p left over, so
        its size is in [p, 2p) (or n if n < p). Each particle interacts only with its batch b:
        v_i = -(B/n) (n-1)/(|b|-1) sum_{j in b} A(x_i - x_j)(s_i - s_j), cost O(n p). Each
        of the |b| - 1 partners stands for (n-1)/(|b|-1) particles, so averaged over
        permutations v_i is exactly the full-sum velocity (unbiased; the random-batch method
        of Jin, Li & Liu). Momentum sum v and energy sum x.v are conserved exactly (to
        round-off) within every batch, and p >= n gives the full sum.
    generator : torch.Generator for the permutation (random_batch only; default: torch's
        global CPU generator). Draw a fresh permutation every step by reusing one generator.

    Book sections: "Particles and conservation" (the sum) and "Maxwellian molecules in O(n)"
    (the moment form).
    """
    x = check_points("x", x)
    s = check_like("s", s, "x", x)
    d = x.shape[1]
    gamma = check_gamma(gamma, d)
    B = check_positive("B", B)
    check_choice("method", method, VELOCITY_METHODS)
    if tile is not None:
        check_int("tile", tile, low=1)
    if method == "random_batch":
        if batch_size is None:
            raise ValueError("method='random_batch' needs batch_size (an int >= 2, the number of "
                             "particles per batch)")
        batch_size = check_int("batch_size", batch_size, low=2)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        return _velocity_random_batch(x, s, gamma, B, batch_size, generator, tile)
    for name, value in (("batch_size", batch_size), ("generator", generator)):
        if value is not None:
            raise ValueError(f"{name} is used by method='random_batch' only, got method={method!r}")
    if method == "compiled":
        check_compiled_inputs(("x", x), ("s", s))
        return compiled_velocity_sum(x, s, gamma).mul_(-B / x.shape[0])
    if method == "auto" and gamma != 0 and compiled_usable(x, s):
        return compiled_velocity_sum(x, s, gamma).mul_(-B / x.shape[0])
    method = _resolve_method(method, gamma, VELOCITY_METHODS)
    if method == "moments":
        return _velocity_moments(x, s, B)
    return _velocity_direct(x, s, gamma, B, tile)


def pair_sum(xi, x, si, s, gamma):
    """sum_j c_ij (|z_ij|^2 w_ij - (z_ij.w_ij) z_ij) for rows xi against partners x, with any
    leading batch dimensions: xi (..., m, d), x (..., n, d) -> (..., m, d)."""
    z = xi[..., :, None, :] - x[..., None, :, :]
    w = si[..., :, None, :] - s[..., None, :, :]
    r2 = (z * z).sum(-1)
    zw = (z * w).sum(-1)
    if gamma == 0:
        return (r2[..., None] * w - zw[..., None] * z).sum(-2)
    a, inv_r2 = radial_factors(r2, gamma)         # |z|^(gamma+2) (w - (z.w / r2) z): bounded intermediates
    return (a[..., None] * (w - (zw * inv_r2)[..., None] * z)).sum(-2)


def _velocity_direct(x, s, gamma, B, tile):
    n, d = x.shape
    rows = tile_rows(n, d, tile)
    out = torch.empty_like(x)
    for i0 in range(0, n, rows):
        if i0:
            poll_stop()                     # a long sum stops between its tiles
        out[i0:i0 + rows] = pair_sum(x[i0:i0 + rows], x, s[i0:i0 + rows], s, gamma)
    return out.mul_(-B / n)


def _velocity_random_batch(x, s, gamma, B, p, generator, tile):
    """Random-batch velocity (see :func:`landau_velocity`): shuffle, cut into batches, sum
    inside each batch (compiled kernel where "auto" would use it, else batched torch)."""
    n, d = x.shape
    dev = generator.device if generator is not None else torch.device("cpu")
    perm = torch.randperm(n, generator=generator, device=dev).to(x.device)
    q = max(1, n // p)
    full = p * (q - 1)                      # particles in the q - 1 batches of exactly p
    xp, sp = x[perm], s[perm]
    if compiled_usable(x, s):
        bounds = list(range(0, full + 1, p)) + [n] if q > 1 else [0, n]
        vp = compiled_velocity_sum(xp, sp, gamma, bounds)
    else:
        vp = torch.empty_like(xp)
        if q > 1:
            xb = xp[:full].view(q - 1, p, d)
            sb = sp[:full].view(q - 1, p, d)
            chunk = tile_rows(p, p * d, tile, rows=q - 1)    # batches per torch temporary
            for b0 in range(0, q - 1, chunk):
                xc, sc = xb[b0:b0 + chunk], sb[b0:b0 + chunk]
                vp[b0 * p:(b0 + chunk) * p] = pair_sum(xc, xc, sc, sc, gamma).reshape(-1, d)
        xl, sl = xp[full:], sp[full:]
        rows = tile_rows(xl.shape[0], d, tile)
        for i0 in range(0, xl.shape[0], rows):
            vp[full + i0:full + i0 + rows] = pair_sum(xl[i0:i0 + rows], xl, sl[i0:i0 + rows], sl, gamma)
    # unbiased: each of the |b| - 1 partners stands for (n - 1)/(|b| - 1) particles
    scale = torch.full((n, 1), -B / n * (n - 1) / (p - 1), dtype=x.dtype, device=x.device)
    scale[full:] = -B / n * (n - 1) / (n - full - 1)
    out = torch.empty_like(x)
    out[perm] = vp * scale
    return out


def _velocity_moments(x, s, B):
    """Exact gamma = 0 velocity from moments of the centred particles (derivation in the book).

    With X = x - mean(x), S = s - mean(s) (the pair sum only sees differences)::

        sum_j [|z|^2 w - (z.w) z] = n|X_i|^2 S_i - n (X_i.S_i) X_i + 2 C X_i - C^T X_i - q X_i
                                   + e S_i - G S_i - m3 + m4,

    C = sum_j S_j X_j^T, q = tr C, e = sum_j |X_j|^2, G = sum_j X_j X_j^T,
    m3 = sum_j |X_j|^2 S_j, m4 = sum_j (X_j.S_j) X_j.
    """
    n, d = x.shape
    X = x - x.mean(0)
    S = s - s.mean(0)
    x2 = torch.einsum("ij,ij->i", X, X)          # no n x d temporary
    xs = torch.einsum("ij,ij->i", X, S)
    C = S.T @ X
    G = X.T @ X
    q = torch.trace(C)
    e = x2.sum()
    m3 = x2 @ S
    m4 = xs @ X
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    # few n x d temporaries and in-place updates: at n = 10^6 the time is memory traffic
    total = torch.addmm(m4 - m3, X, 2 * C.T - C - q * eye)
    total.addmm_(S, e * eye - G)
    total.addcmul_(S, x2[:, None], value=n)
    total.addcmul_(X, xs[:, None], value=-n)
    return total.mul_(-B / n)


def collision_matrix(x: torch.Tensor, *, gamma: float, B: float = 1 / 24, at: torch.Tensor | None = None,
                     method: str = "auto", tile: int | None = None) -> torch.Tensor:
    """D(y) = (B/n) sum_j A(y - x_j) at y = ``at`` (default: at the particles), shape (m, d, d).

    This is the diffusion matrix A * u of Prop. 2.1 for the empirical measure of ``x`` and the
    weight of the weighted score-matching loss (3.3). Book: "The Landau equation as a
    continuity equation" (Prop. 2.1) and "Score matching" (weighted loss).
    """
    x = check_points("x", x)
    y = x if at is None else check_points("at", at, min_n=1)
    if y is not x:
        if y.device != x.device or y.dtype != x.dtype or y.shape[1] != x.shape[1]:
            raise ValueError("at must have the dimension, dtype and device of x")
    n, d = x.shape
    gamma = check_gamma(gamma, d)
    B = check_positive("B", B)
    method = _resolve_method(method, gamma)
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    if method == "moments":
        mean = x.mean(0)
        X = x - mean
        Y = y - mean
        G = X.T @ X
        e = (X * X).sum()
        y2 = (Y * Y).sum(1)
        D = (n * y2 + e)[:, None, None] * eye - n * Y[:, :, None] * Y[:, None, :] - G
        return D.mul_(B / n)
    rows = tile_rows(n, d * d, tile)
    out = torch.empty(y.shape[0], d, d, dtype=x.dtype, device=x.device)
    for i0 in range(0, y.shape[0], rows):
        z = y[i0:i0 + rows, None, :] - x[None, :, :]
        r2 = (z * z).sum(-1)
        if gamma == 0:
            a, c, zh = r2, torch.ones_like(r2), z
        else:                                           # |z|^gamma z z^T = |z|^(gamma+2) zh zh^T
            a, inv_r2 = radial_factors(r2, gamma)
            c, zh = a, z * inv_r2.sqrt()[..., None]
        out[i0:i0 + rows] = a.sum(1)[:, None, None] * eye - torch.einsum("tj,tja,tjb->tab", c, zh, zh)
    return out.mul_(B / n)


def collision_divergence(x: torch.Tensor, *, gamma: float, B: float = 1 / 24, at: torch.Tensor | None = None,
                         tile: int | None = None) -> torch.Tensor:
    """(div D)(y) = -(B/n)(d-1) sum_j |y - x_j|^gamma (y - x_j), shape (m, d).

    Uses div A(z) = -(d-1)|z|^gamma z (row-wise divergence). The j-th term with y = x_j is
    left out (it is 0 for gamma > -1 and singular otherwise). Book: "Score matching".
    """
    x = check_points("x", x)
    y = x if at is None else check_points("at", at, min_n=1)
    n, d = x.shape
    gamma = check_gamma(gamma, d)
    B = check_positive("B", B)
    if gamma == 0:
        return (y - x.mean(0)).mul(-B * (d - 1))
    rows = tile_rows(n, d, tile)
    out = torch.empty_like(y)
    for i0 in range(0, y.shape[0], rows):
        z = y[i0:i0 + rows, None, :] - x[None, :, :]
        a, inv_r2 = radial_factors((z * z).sum(-1), gamma)     # |z|^gamma z = |z|^(gamma+2) (z / r2)
        out[i0:i0 + rows] = (a[..., None] * (z * inv_r2[..., None])).sum(1)
    return out.mul_(-B * (d - 1) / n)


def velocity_divergence(x: torch.Tensor, s: torch.Tensor, jac: torch.Tensor, *, gamma: float,
                        B: float = 1 / 24, tile: int | None = None) -> torch.Tensor:
    """div v at the particles for the velocity FIELD v(y) = -(B/n) sum_j A(y - x_j)(s(y) - s_j),
    where s is a differentiable score field with values s_i = s(x_i) and Jacobians
    jac[i, k, a] = d s_k / d y_a at x_i. With div A(z) = -(d-1)|z|^gamma z::

        div v(x_i) = (d-1)(B/n) sum_j |z_ij|^gamma z_ij.(s_i - s_j) - tr(D(x_i) J_i).

    The j = i term is left out (zero for gamma > -1, singular otherwise). Along a trajectory
    d/dt log u(X_i) = -div v(X_i): this transports the particle system's log-density (the
    idea of Huang & Wang), used for entropy and KL estimates. Book: "The KL bound".
    """
    x = check_points("x", x)
    s = check_like("s", s, "x", x)
    n, d = x.shape
    if not isinstance(jac, torch.Tensor) or jac.shape != (n, d, d):
        raise ValueError(f"jac must be a tensor of shape (n, d, d) = {(n, d, d)}")
    gamma = check_gamma(gamma, d)
    B = check_positive("B", B)
    if gamma == 0:
        X = x - x.mean(0)
        S = s - s.mean(0)
        pair = n * (X * S).sum(1) + (X * S).sum()      # sum_j (X_i - X_j).(S_i - S_j)
    else:
        rows = tile_rows(n, d, tile)
        pair = torch.empty(n, dtype=x.dtype, device=x.device)
        for i0 in range(0, n, rows):
            z = x[i0:i0 + rows, None, :] - x[None, :, :]
            w = s[i0:i0 + rows, None, :] - s[None, :, :]
            a, inv_r2 = radial_factors((z * z).sum(-1), gamma)
            pair[i0:i0 + rows] = (a * ((z * w).sum(-1) * inv_r2)).sum(1)
    D = collision_matrix(x, gamma=gamma, B=B, tile=tile)
    return (d - 1) * (B / n) * pair - torch.einsum("nak,nka->n", D, jac)
