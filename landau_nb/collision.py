"""The Landau collision kernel and the particle velocity field (book: "The Landau equation as
a continuity equation" and "Maxwellian molecules in O(n)").

Kernel (paper, after (2.2), with the constant B of Example 5.1)::

    A(z) = B |z|^gamma (|z|^2 I - z z^T)

Particle velocity (paper (3.1) on particles)::

    v_i = -(B/n) sum_j |z_ij|^gamma (|z_ij|^2 w_ij - (z_ij . w_ij) z_ij),
    z_ij = x_i - x_j,  w_ij = s_i - s_j.

Two evaluation methods: ``"direct"`` (tiled pair sum, O(n^2 d) time, O(n * tile) memory,
any gamma) and ``"moments"`` (gamma = 0 only: A is a quadratic polynomial in z, so the sum
over j collapses into moments of the particles; exact, O(n d^2)).
"""

from __future__ import annotations

import torch

from ._checks import check_choice, check_gamma, check_int, check_like, check_points, check_positive

__all__ = [
    "collision_kernel",
    "landau_velocity",
    "collision_matrix",
    "collision_divergence",
    "velocity_divergence",
    "VELOCITY_METHODS",
]

VELOCITY_METHODS = ("auto", "direct", "moments")

#: number of scalar entries of one (tile, n, d) temporary in the tiled sums
_TILE_BUDGET = 2**22


def _tile_rows(n: int, width: int, tile: int | None) -> int:
    if tile is not None:
        return check_int("tile", tile, low=1)
    return max(1, min(n, _TILE_BUDGET // max(1, n * width)))


def _radial_weight(r2: torch.Tensor, gamma: float) -> torch.Tensor:
    """|z|^gamma from r2 = |z|^2, set to exactly 0 where z = 0 (the j = i term).

    For gamma < 0 the j = i term of every sum below is 0 * inf; its true contribution is 0
    (the bracket vanishes like |z|^2), so it is dropped exactly, with no epsilon added to
    other pairs. Coincident distinct particles are treated the same way.
    """
    if gamma == 0:
        return torch.ones_like(r2)
    positive = r2 > 0
    safe = torch.where(positive, r2, torch.ones_like(r2))
    return torch.where(positive, safe.pow(0.5 * gamma), torch.zeros_like(r2))


def _resolve_method(method: str, gamma: float) -> str:
    check_choice("method", method, VELOCITY_METHODS)
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
    a = r2[..., None, None] * eye - z[..., :, None] * z[..., None, :]
    return B * _radial_weight(r2, gamma)[..., None, None] * a


def landau_velocity(x: torch.Tensor, s: torch.Tensor, *, gamma: float, B: float = 1 / 24,
                    method: str = "auto", tile: int | None = None) -> torch.Tensor:
    """Particle velocity v_i = -(B/n) sum_j A(x_i - x_j)(s_i - s_j), paper (3.1).

    Parameters
    ----------
    x, s : (n, d) tensors of positions and scores (same device and dtype).
    gamma : kernel exponent in [-d-1, 1]; 0 = Maxwellian molecules, -3 = Coulomb (d = 3).
    B : kernel constant (> 0); the paper's experiments use 1/24.
    method : ``"direct"`` (tiled pair sum), ``"moments"`` (gamma = 0 only, exact O(n d^2)),
        or ``"auto"`` (moments for gamma = 0, direct otherwise).
    tile : rows per tile of the direct sum (default: keeps temporaries near 2^22 entries).

    Book sections: "Particles and conservation" (the sum) and "Maxwellian molecules in O(n)"
    (the moment form).
    """
    x = check_points("x", x)
    s = check_like("s", s, "x", x)
    d = x.shape[1]
    gamma = check_gamma(gamma, d)
    B = check_positive("B", B)
    method = _resolve_method(method, gamma)
    if tile is not None:
        check_int("tile", tile, low=1)
    if method == "moments":
        return _velocity_moments(x, s, B)
    return _velocity_direct(x, s, gamma, B, tile)


def _velocity_direct(x, s, gamma, B, tile):
    n, d = x.shape
    rows = _tile_rows(n, d, tile)
    out = torch.empty_like(x)
    for i0 in range(0, n, rows):
        z = x[i0:i0 + rows, None, :] - x[None, :, :]
        w = s[i0:i0 + rows, None, :] - s[None, :, :]
        r2 = (z * z).sum(-1)
        zw = (z * w).sum(-1)
        c = _radial_weight(r2, gamma)
        out[i0:i0 + rows] = ((c * r2)[..., None] * w - (c * zw)[..., None] * z).sum(1)
    return out.mul_(-B / n)


def _velocity_moments(x, s, B):
    """Exact gamma = 0 velocity from moments of the centred particles (derivation in the book).

    With X = x - mean(x), S = s - mean(s) (the pair sum only sees differences)::

        sum_j [|z|^2 w - (z.w) z] = n|X_i|^2 S_i - n (X_i.S_i) X_i + 2 C X_i - C^T X_i - q X_i
                                   + e S_i - G S_i - m3 + m4,

    C = sum_j S_j X_j^T, q = tr C, e = sum_j |X_j|^2, G = sum_j X_j X_j^T,
    m3 = sum_j |X_j|^2 S_j, m4 = sum_j (X_j.S_j) X_j.
    """
    n = x.shape[0]
    X = x - x.mean(0)
    S = s - s.mean(0)
    x2 = (X * X).sum(1)
    xs = (X * S).sum(1)
    C = S.T @ X
    G = X.T @ X
    q = torch.trace(C)
    e = x2.sum()
    m3 = x2 @ S
    m4 = xs @ X
    total = (n * x2)[:, None] * S - (n * xs)[:, None] * X
    total += X @ (2 * C.T - C) - q * X + e * S - S @ G
    total += m4 - m3
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
    rows = _tile_rows(n, d * d, tile)
    out = torch.empty(y.shape[0], d, d, dtype=x.dtype, device=x.device)
    for i0 in range(0, y.shape[0], rows):
        z = y[i0:i0 + rows, None, :] - x[None, :, :]
        r2 = (z * z).sum(-1)
        c = _radial_weight(r2, gamma)
        out[i0:i0 + rows] = (c * r2).sum(1)[:, None, None] * eye - torch.einsum("tj,tja,tjb->tab", c, z, z)
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
    rows = _tile_rows(n, d, tile)
    out = torch.empty_like(y)
    for i0 in range(0, y.shape[0], rows):
        z = y[i0:i0 + rows, None, :] - x[None, :, :]
        c = _radial_weight((z * z).sum(-1), gamma)
        out[i0:i0 + rows] = (c[..., None] * z).sum(1)
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
        rows = _tile_rows(n, d, tile)
        pair = torch.empty(n, dtype=x.dtype, device=x.device)
        for i0 in range(0, n, rows):
            z = x[i0:i0 + rows, None, :] - x[None, :, :]
            w = s[i0:i0 + rows, None, :] - s[None, :, :]
            pair[i0:i0 + rows] = (_radial_weight((z * z).sum(-1), gamma) * (z * w).sum(-1)).sum(1)
    D = collision_matrix(x, gamma=gamma, B=B, tile=tile)
    return (d - 1) * (B / n) * pair - torch.einsum("nak,nka->n", D, jac)
