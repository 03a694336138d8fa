"""The Landau collision velocity in space (book: "Vlasov–Landau", the spatial collision operator).

With particles (xᵢ, vᵢ, wᵢ) and scores sᵢ ≈ ∇ᵥ log f(xᵢ, vᵢ), the collision step moves the
velocities only, dvᵢ/dt = Uᵢ with

    Uᵢ = −B Σⱼ wⱼ ψ(xᵢ, xⱼ) A(vᵢ − vⱼ)(sᵢ − sⱼ),      A(z) = |z|^γ (|z|² I − z zᵀ),

the particle form of B Q(f, f) = −∇ᵥ·(f U) for f ≈ Σⱼ wⱼ ψ(·, xⱼ) δ(v − vⱼ) (ψ: a symmetric,
nonnegative spatial weight of unit mass, :mod:`landau_nb.vlasov.spatial`).

Invariants (at the ODE level, for any score):

* momentum: Σᵢ wᵢ Uᵢ = −B Σᵢⱼ wᵢwⱼψᵢⱼ A(zᵢⱼ)σᵢⱼ = 0, the (i, j) and (j, i) terms cancel
  (ψ symmetric, A even, σᵢⱼ = sᵢ − sⱼ odd);
* energy: Σᵢ wᵢ vᵢ·Uᵢ = −(B/2) Σᵢⱼ wᵢwⱼψᵢⱼ zᵢⱼ·A(zᵢⱼ)σᵢⱼ = 0 since A(z)z = 0;
* entropy: −Σᵢ wᵢ sᵢ·Uᵢ = (B/2) Σᵢⱼ wᵢwⱼψᵢⱼ σᵢⱼ·A(zᵢⱼ)σᵢⱼ ≥ 0 (A positive semidefinite,
  ψ ≥ 0): the estimated entropy never increases;
* Maxwellian: sᵢ = −(vᵢ − u)/T with uniform u, T gives σᵢⱼ = −zᵢⱼ/T and A(z)z = 0: U = 0.

In the discrete sums each pair term is computed once per ordered pair with the (j, i) term
the exact negative of the (i, j) term, so momentum is conserved to round-off; energy to
round-off of the sum. Normalisation: with one cell, ψ ≡ 1/L and equal weights w = ρ_ion L/n,
Uᵢ = −(B ρ_ion/n) Σⱼ A(zᵢⱼ)σᵢⱼ: the homogeneous package's ``landau_velocity`` at density ρ_ion.

Evaluation (``method``):

* ``"direct"``: torch, particles sorted into the cells of ψ, each cell's rows against the
  particles of the neighbouring cells in padded tiles (CPU and CUDA, any γ, the reference);
* ``"compiled"``: the same neighbour sum by a numba kernel on the CPU (any γ); for
  ``"cell"`` with equal weights, the homogeneous package's compiled pair sum restricted to
  groups (one group per cell). (A kernel visiting each unordered pair of a cell once,
  ``_numba_kernels.cell_collision_sum``, is there for comparison: half the pair terms, but
  its scatter does not vectorise.)
* ``"moments"``: γ = 0 and ψ ∈ {"cell", "cic"} (ψ a finite sum of products a(xᵢ)a(xⱼ)): the
  pair sum of each cell / node collapses into weighted moments, exact, O(n dv²), any device;
* ``"auto"``: moments where exact, compiled on the CPU where numba is available, else direct.
"""

from __future__ import annotations

import torch

from ._deps import check_choice, compiled_usable, compiled_velocity_sum, numba_available
from .spatial import CellList, SpatialWeight

__all__ = ["collision_velocity", "COLLISION_METHODS", "pair_count"]

COLLISION_METHODS = ("auto", "direct", "compiled", "moments")


def _resolve(method: str, weight: SpatialWeight, gamma: float, device) -> str:
    check_choice("collision_method", method, COLLISION_METHODS)
    if method == "moments" and (gamma != 0 or weight.kind == "hat"):
        raise ValueError(f"collision_method='moments' needs gamma=0 and spatial_weight 'cell' or 'cic', "
                         f"got gamma={gamma:g}, spatial_weight={weight.kind!r}; use 'direct' or 'compiled'")
    if method == "compiled" and torch.device(device).type != "cpu":
        raise ValueError(f"collision_method='compiled' runs on the CPU only, the particles are on {device}; "
                         "use 'direct' or 'auto'")
    if method == "compiled" and not numba_available():
        raise ImportError("collision_method='compiled' needs numba, which is not installed; use 'direct'")
    if method != "auto":
        return method
    if gamma == 0 and weight.kind != "hat":
        return "moments"
    if torch.device(device).type == "cpu" and numba_available():
        return "compiled"
    return "direct"


def collision_velocity(x: torch.Tensor, v: torch.Tensor, s: torch.Tensor, w: torch.Tensor, *,
                       weight: SpatialWeight, gamma: float, B: float, method: str = "auto",
                       cells: CellList | None = None) -> torch.Tensor:
    """Uᵢ = −B Σⱼ wⱼ ψ(xᵢ, xⱼ) A(vᵢ − vⱼ)(sᵢ − sⱼ) (see the module docstring), shape (n, dv).

    Parameters
    ----------
    x (n,), v (n, dv), s (n, dv), w (n,) : positions, velocities, scores, weights (one dtype
        and device; dv ≥ 2).
    weight : the spatial weight ψ (:class:`SpatialWeight`).
    gamma : kernel exponent (the homogeneous package's range [−dv − 1, 1]).
    B : collision strength ≥ 0 (B = 0 returns zeros).
    method : "auto", "direct", "compiled" or "moments" (module docstring).
    cells : a :class:`CellList` of x for ``weight`` (built here when None; reuse it across
        calls at the same positions).
    """
    n, dv = v.shape
    if dv < 2:
        raise ValueError(f"v has dv={dv} velocity dimensions; the Landau kernel needs dv >= 2")
    if s.shape != v.shape or x.shape != (n,) or w.shape != (n,):
        raise ValueError(f"shapes x {tuple(x.shape)}, v {tuple(v.shape)}, s {tuple(s.shape)}, w {tuple(w.shape)} "
                         "do not match: need x (n,), v (n, dv), s (n, dv), w (n,)")
    if B == 0:
        return torch.zeros_like(v)
    method = _resolve(method, weight, gamma, v.device)
    if method == "moments":
        return _moments(x, v, s, w, weight, B)
    cl = cells if cells is not None else CellList(weight, x)
    if method == "compiled":
        return _compiled(x, v, s, w, weight, gamma, B, cl)
    return _direct(x, v, s, w, weight, gamma, B, cl)


def pair_count(x: torch.Tensor, weight: SpatialWeight) -> int:
    """Ordered pairs (i, j) visited by the neighbour sums at positions x."""
    return CellList(weight, x).pair_count()


# ------------------------------------------------------------------------------- torch, direct
def pair_term(z: torch.Tensor, sig: torch.Tensor, gamma: float) -> torch.Tensor:
    """|z|^γ (|z|² σ − (z·σ) z) along the last axis, evaluated as |z|^(γ+2)(σ − (z·σ/|z|²) z)
    for γ ≠ 0 (no intermediate larger than the result; 0 where |z|² is below the dtype's
    smallest normal number, e.g. the i = j term)."""
    r2 = (z * z).sum(-1)
    zs = (z * sig).sum(-1)
    if gamma == 0:
        return r2[..., None] * sig - zs[..., None] * z
    tiny = torch.finfo(z.dtype).tiny
    pos = r2 > tiny
    safe = torch.where(pos, r2, torch.ones_like(r2))
    a = torch.where(pos, safe.pow(0.5 * gamma + 1), torch.zeros_like(r2))
    u = torch.where(pos, zs / safe, torch.zeros_like(r2))
    return a[..., None] * (sig - u[..., None] * z)


def padded(cl: CellList, *tensors):
    """Each tensor with one dummy row of zeros appended (index n of the cell table)."""
    out = []
    for t in tensors:
        pad = torch.zeros((1,) + tuple(t.shape[1:]), dtype=t.dtype, device=t.device)
        out.append(torch.cat([t, pad]))
    return out


def psi_block(weight: SpatialWeight, cl: CellList, xp, lp, tp, rows, parts):
    """ψ for the rows (b, r) against the partners (b, P): shape (b, r, P)."""
    return weight.pair(xp[rows][:, :, None], lp[rows][:, :, None], tp[rows][:, :, None],
                       xp[parts][:, None, :], lp[parts][:, None, :], tp[parts][:, None, :])


def _direct(x, v, s, w, weight, gamma, B, cl):
    n, dv = v.shape
    xp, vp, sp, wp = padded(cl, x, v, s, w)
    lp, tp = padded(cl, cl.cell, cl.theta)
    out = torch.zeros(n + 1, dv, dtype=v.dtype, device=v.device)
    for rows, parts, _ in cl.blocks(width=3 * dv):
        c = psi_block(weight, cl, xp, lp, tp, rows, parts) * wp[parts][:, None, :]
        z = vp[rows][:, :, None, :] - vp[parts][:, None, :, :]
        sig = sp[rows][:, :, None, :] - sp[parts][:, None, :, :]
        contrib = torch.einsum("brp,brpd->brd", c, pair_term(z, sig, gamma))
        out.index_add_(0, rows.reshape(-1), contrib.reshape(-1, dv))
    return out[:n].mul_(-B)


# ------------------------------------------------------------------------------- moments, gamma = 0
def _memberships(x, weight: SpatialWeight):
    """(particle index, group, a) with ψ(xᵢ, xⱼ) = Σ_g a_ig a_jg / h: cells (a = 1) or CIC
    nodes (a = 1 − θ at the left node, θ at the right one)."""
    n = x.shape[0]
    cell, theta = weight.locate(x)
    idx = torch.arange(n, device=x.device)
    if weight.kind == "cell":
        return idx, cell, torch.ones_like(x)
    right = (cell + 1).remainder(weight.cells)
    return torch.cat([idx, idx]), torch.cat([cell, right]), torch.cat([1 - theta, theta])


def _moments(x, v, s, w, weight, B):
    """Exact γ = 0 sum by group moments. For one group with partner weights c_j (Σ c = W,
    means taken with c, X = v − v̄, S = s − s̄)::

        Σⱼ cⱼ [|z|² σ − (z·σ) z] = W|Xᵢ|² Sᵢ − W (Xᵢ·Sᵢ) Xᵢ + 2 C Xᵢ − Cᵀ Xᵢ − q Xᵢ
                                   + e Sᵢ − G Sᵢ − m3 + m4,

    C = Σ c S Xᵀ, q = tr C, e = Σ c |X|², G = Σ c X Xᵀ, m3 = Σ c |X|² S, m4 = Σ c (X·S) X
    (the homogeneous package's moment form with weights)."""
    n, dv = v.shape
    p, g, a = _memberships(x, weight)
    G_n = weight.cells
    c = w[p] * a
    dt = v.dtype

    def seg(vals):                                    # per-group sums of (m, ...) values
        out = torch.zeros((G_n,) + tuple(vals.shape[1:]), dtype=dt, device=v.device)
        return out.index_add_(0, g, vals)

    W = seg(c)
    safeW = torch.where(W > 0, W, torch.ones_like(W))
    vbar = seg(c[:, None] * v[p]) / safeW[:, None]
    sbar = seg(c[:, None] * s[p]) / safeW[:, None]
    X = v[p] - vbar[g]
    S = s[p] - sbar[g]
    x2 = (X * X).sum(1)
    xs = (X * S).sum(1)
    Cm = seg(c[:, None, None] * S[:, :, None] * X[:, None, :])        # C_ab = Σ c S_a X_b
    Gm = seg(c[:, None, None] * X[:, :, None] * X[:, None, :])
    e = seg(c * x2)
    q = torch.diagonal(Cm, dim1=1, dim2=2).sum(1)
    m3 = seg((c * x2)[:, None] * S)
    m4 = seg((c * xs)[:, None] * X)
    Cg, Gg = Cm[g], Gm[g]
    total = (W[g] * x2)[:, None] * S - (W[g] * xs)[:, None] * X
    total += 2 * torch.einsum("mab,mb->ma", Cg, X) - torch.einsum("mba,mb->ma", Cg, X) - q[g][:, None] * X
    total += e[g][:, None] * S - torch.einsum("mab,mb->ma", Gg, S) - m3[g] + m4[g]
    out = torch.zeros(n, dv, dtype=dt, device=v.device)
    out.index_add_(0, p, (a / weight.h)[:, None] * total)
    return out.mul_(-B)


# ------------------------------------------------------------------------------- compiled (CPU)
def _equal_weights(w) -> bool:
    return bool((w == w[0]).all())


def _compiled(x, v, s, w, weight, gamma, B, cl, *, pairs_once: bool = False):
    n, dv = v.shape
    order = cl.order
    if weight.kind == "cell" and pairs_once:
        # each unordered pair once, added to both rows (half the pair terms of the paths below;
        # opt-in: the scatter to row j keeps the inner loop from vectorising, and on the book's
        # machine it was not faster than the vectorised paths, see benchmarks/vlasov.py cell_kernels)
        from . import _numba_kernels as kern
        return kern.cell_collision_sum(weight, cl, v, s, w, gamma).mul_(-B)
    if weight.kind == "cell" and _equal_weights(w) and compiled_usable(v, s):
        # each cell is a homogeneous problem: the package's pair sum within groups
        counts = cl.counts.tolist()
        bounds = [0]
        for cnt in counts:
            if cnt:
                bounds.append(bounds[-1] + cnt)
        if len(bounds) == 1:
            return torch.zeros_like(v)
        sums = compiled_velocity_sum(v[order], s[order], gamma, bounds)
        out = torch.empty_like(v)
        out[order] = sums * (-B * float(w[0]) / weight.h)
        return out
    from . import _numba_kernels as kern
    out = kern.collision_sum(weight, cl, x, v, s, w, gamma)
    return out.mul_(-B)
