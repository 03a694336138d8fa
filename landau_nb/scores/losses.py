"""Score-matching losses of §3.1 (book: "Score matching").

For a vector field s and particles X_1..X_n:

* (3.2) true loss           (1/n) sum |s(X_i) - grad log u(X_i)|^2            (needs the true score)
* (3.4) implicit loss       (1/n) sum |s(X_i)|^2 + 2 div s(X_i)               (autograd divergence)
* (3.5) denoising loss      (1/n) sum |s(X_i)|^2 + (s(X_i + aZ_i) - s(X_i - aZ_i)).Z_i / a
* (3.3) weighted versions   s^T D s + 2 div(D s) with D(X_i) = (B/n) sum_j A(X_i - X_j).

div(D s) = (div D).s + tr(D grad s); the denoising form of tr(D grad s) is
(s(X + aZ) - s(X - aZ)).(D Z) / (2a) (the same finite difference, tested against D Z).
"""

from __future__ import annotations

from typing import Callable

import torch

from .._checks import check_like, check_points, check_positive

__all__ = [
    "value_and_jacobian", "divergence", "denoising_divergence", "denoising_loss", "implicit_loss",
    "weighted_denoising_loss", "weighted_implicit_loss", "score_matching_loss",
    "relative_score_error",
]

Field = Callable[[torch.Tensor], torch.Tensor]


def _value_and_jacobian(s: Field, x: torch.Tensor, create_graph: bool):
    """s(x) (n, d) and its Jacobian J[i, k, a] = d s_k / d x_a at x_i, by d backward passes."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = s(x)
        rows = [torch.autograd.grad(out[:, k].sum(), x, create_graph=create_graph, retain_graph=True)[0]
                for k in range(x.shape[1])]
    return out, torch.stack(rows, dim=1)


def value_and_jacobian(f: Field, x: torch.Tensor, *, create_graph: bool = False):
    """f(x) (n, d) and its Jacobian J[i, k, a] = d f_k / d x_a at each row x_i of x, by d
    backward passes of automatic differentiation; both detached unless ``create_graph``.

    Used for div s (the implicit loss (3.4), book: "Score matching") and for div v, which
    transports log u along trajectories (book: "The KL bound").
    """
    x = check_points("x", x, min_n=1)
    out, J = _value_and_jacobian(f, x, create_graph)
    return (out, J) if create_graph else (out.detach(), J.detach())


def divergence(s: Field, x: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
    """Exact divergence of s at each row of x by automatic differentiation (d backward passes).

    Returns (n,). Use ``create_graph=True`` to train through it (the implicit loss).
    """
    return _value_and_jacobian(s, x, create_graph)[1].diagonal(dim1=1, dim2=2).sum(1)


def _shifted(s: Field, x: torch.Tensor, z: torch.Tensor, alpha: float):
    """s(x), s(x + alpha z), s(x - alpha z) from one batched forward pass."""
    n = x.shape[0]
    out = s(torch.cat([x, x + alpha * z, x - alpha * z]))
    return out[:n], out[n:2 * n], out[2 * n:]


def denoising_divergence(s: Field, x: torch.Tensor, z: torch.Tensor, alpha: float) -> torch.Tensor:
    """Denoising estimate of div s: (s(x + a z) - s(x - a z)).z / (2a), one draw z per point.

    Its mean tends to div s as alpha -> 0 (bias O(alpha^2) for smooth s); its variance does
    not vanish with alpha: the book's "Score matching" chapter measures the trade-off.
    """
    alpha = check_positive("alpha", alpha)
    n = x.shape[0]
    out = s(torch.cat([x + alpha * z, x - alpha * z]))
    return ((out[:n] - out[n:]) * z).sum(1) / (2 * alpha)


def denoising_loss(s: Field, x: torch.Tensor, z: torch.Tensor, alpha: float) -> torch.Tensor:
    """The loss SBTM minimises, paper (3.5), with one noise draw z_i per particle."""
    alpha = check_positive("alpha", alpha)
    s0, sp, sm = _shifted(s, x, z, alpha)
    return (s0 * s0).sum(1).mean() + ((sp - sm) * z).sum(1).mean() / alpha


def implicit_loss(s: Field, x: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
    """Hyvärinen's implicit score-matching loss (3.4): mean |s|^2 + 2 div s (exact divergence).

    Equals the true loss (3.2) minus the constant E|grad log u|^2 when the particles sample u.
    """
    out, J = _value_and_jacobian(s, x, create_graph)
    return (out * out).sum(1).mean() + 2 * J.diagonal(dim1=1, dim2=2).sum(1).mean()


def weighted_denoising_loss(s: Field, x: torch.Tensor, z: torch.Tensor, alpha: float,
                            D: torch.Tensor, div_D: torch.Tensor) -> torch.Tensor:
    """Denoising form of the D-weighted loss (3.3) on particles:
    mean[ s^T D s + 2 (div D).s + (s(x + a z) - s(x - a z)).(D z) / a ].

    ``D`` (n, d, d) and ``div_D`` (n, d) are the collision matrix and its divergence at the
    particles (:func:`landau_nb.collision_matrix`, :func:`landau_nb.collision_divergence`).
    """
    alpha = check_positive("alpha", alpha)
    s0, sp, sm = _shifted(s, x, z, alpha)
    Dz = torch.einsum("nab,nb->na", D, z)
    quad = torch.einsum("na,nab,nb->n", s0, D, s0)
    return (quad + 2 * (div_D * s0).sum(1) + ((sp - sm) * Dz).sum(1) / alpha).mean()


def weighted_implicit_loss(s: Field, x: torch.Tensor, D: torch.Tensor, div_D: torch.Tensor, *,
                           create_graph: bool = False) -> torch.Tensor:
    """The D-weighted implicit loss (3.3) with the exact Jacobian: mean[s^T D s + 2 div(D s)]."""
    out, J = _value_and_jacobian(s, x, create_graph)
    tr = torch.einsum("nak,nka->n", D, J)       # tr(D J), J[k, a] = d s_k / d x_a
    quad = torch.einsum("na,nab,nb->n", out, D, out)
    return (quad + 2 * (div_D * out).sum(1) + 2 * tr).mean()


def score_matching_loss(s_values: torch.Tensor, true_score: torch.Tensor) -> torch.Tensor:
    """The true score-matching loss (3.2) at the particles: mean |s - grad log u|^2."""
    return ((s_values - true_score) ** 2).sum(1).mean()


def relative_score_error(s_values: torch.Tensor, true_score: torch.Tensor) -> torch.Tensor:
    """Normalised score error of §5.2: sum |grad log u - s|^2 / sum |grad log u|^2."""
    check_points("true_score", true_score, min_n=1)
    check_like("s_values", s_values, "true_score", true_score)
    return ((s_values - true_score) ** 2).sum() / (true_score**2).sum()
