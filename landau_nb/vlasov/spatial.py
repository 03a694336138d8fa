"""Spatial weights ψ(x, y) and the cell lists that find the particle pairs they couple.

The collision operator and the blob scores in space couple particles i, j through a
symmetric, nonnegative weight of unit mass, ψ(x, y) = ψ(y, x) ≥ 0, ∫₀ᴸ ψ(x, y) dy = 1, on a
grid of C cells of width h = L/C (cells [c h, (c+1) h), periodic):

* ``"cell"``: ψ = 1/h if x and y lie in the same cell, else 0 (each cell is a homogeneous
  Landau problem; C = 1 gives ψ ≡ 1/L, the homogeneous equation);
* ``"hat"``: ψ = max(0, 1 − |x − y|_L/h)/h, |·|_L the periodic distance (Bailo–Carrillo–Hu and
  the successor code's pair weight); it equals (1/h²) ∫ 1_{|x−z|<h/2} 1_{|y−z|<h/2} dz;
* ``"cic"``: ψ = Σ_c S(x − X_c) S(y − X_c)/h with S the CIC (hat) shape of the deposit on the
  nodes X_c = c h: particles share the nodes they deposit to (the discrete analogue of the hat).

All three vanish unless the cells of x and y differ by at most one (``offsets``), so a pair
sum runs over the particles of neighbouring cells only: O(n · 3n/C) instead of O(n²).
ψ is evaluated so that ψ(xᵢ, xⱼ) and ψ(xⱼ, xᵢ) are the same floating-point number.
"""

from __future__ import annotations

import torch

from ._deps import check_choice, check_int, check_positive

__all__ = ["SpatialWeight", "CellList", "SPATIAL_WEIGHTS"]

SPATIAL_WEIGHTS = ("cell", "hat", "cic")


class SpatialWeight:
    """ψ of one kind (``"cell"``, ``"hat"`` or ``"cic"``) on C ≥ 1 cells of [0, L)."""

    def __init__(self, kind: str, L: float, cells: int):
        self.kind = check_choice("spatial_weight", kind, SPATIAL_WEIGHTS)
        self.L = check_positive("L", L)
        self.cells = check_int("collision_cells", cells, low=1)
        self.h = self.L / self.cells

    def params(self) -> dict:
        return {"kind": self.kind, "cells": self.cells, "h": self.h}

    @property
    def offsets(self) -> tuple[int, ...]:
        """Distinct cell offsets (mod C) of the partners that can have ψ > 0."""
        if self.kind == "cell":
            return (0,)
        return tuple(sorted({0, 1 % self.cells, (-1) % self.cells}))

    def locate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cell index (long), fraction θ ∈ [0, 1) within the cell) of positions x."""
        s = x / self.h
        fl = torch.floor(s)
        return fl.long().remainder(self.cells), s - fl

    def pair(self, xi, li, ti, xj, lj, tj) -> torch.Tensor:
        """ψ(xᵢ, xⱼ) for broadcastable position, cell and fraction tensors."""
        h, C = self.h, self.cells
        if self.kind == "cell":
            return (li == lj).to(xi.dtype) / h
        if self.kind == "hat":
            d = xi - xj
            d = d - self.L * torch.round(d / self.L)
            return torch.clamp(1 - d.abs() / h, min=0) / h
        same = (li == lj).to(xi.dtype) * ((1 - ti) * (1 - tj) + ti * tj)
        up = ((li + 1).remainder(C) == lj).to(xi.dtype) * (ti * (1 - tj))
        down = ((lj + 1).remainder(C) == li).to(xi.dtype) * ((1 - ti) * tj)
        return (same + (up + down)) / h


class CellList:
    """Particles sorted by cell: ``order`` (the sorting permutation, stable), ``starts`` and
    ``counts`` per cell, the padded index table ``table`` (C, P) of particle indices per cell
    (P the largest count; padding slots hold n, the index of a dummy particle of zero weight),
    and each particle's cell ``cell`` and fraction ``theta``."""

    def __init__(self, weight: SpatialWeight, x: torch.Tensor):
        n = x.shape[0]
        C = weight.cells
        self.cell, self.theta = weight.locate(x)
        self.order = torch.argsort(self.cell, stable=True)
        self.counts = torch.bincount(self.cell, minlength=C)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.P = int(self.counts.max()) if n else 0
        sorted_cell = self.cell[self.order]
        slot = torch.arange(n, device=x.device) - self.starts[sorted_cell]
        self.table = torch.full((C, max(self.P, 1)), n, dtype=torch.long, device=x.device)
        self.table[sorted_cell, slot] = self.order
        self.n = n
        self.weight = weight

    def pair_count(self) -> int:
        """Number of (i, j) pairs the neighbour sums visit (ordered pairs, i = j included)."""
        c = self.counts.double()
        total = 0.0
        for o in self.weight.offsets:
            total += float((c * torch.roll(c, -o)).sum())
        return int(total)

    def blocks(self, width: int, budget: int | None = None):
        """Yield (rows (b, r), partners (b, P), offset) index blocks covering every (cell, row,
        neighbour cell) with b·r·P·width ≤ budget where possible: rows hold the particle
        indices of r slots of b consecutive cells, partners those of the neighbour cells.

        budget : elements of the largest (b, r, P, width) temporary; None picks 2²² on the CPU
            (cache-sized) and 2²⁶ on a GPU (few, large kernels: each block costs launches and
            one host synchronisation). The sums do not depend on it beyond round-off order."""
        if budget is None:
            budget = 2**22 if self.table.device.type == "cpu" else 2**26
        budget = check_int("budget", budget, low=1)
        C, P = self.weight.cells, max(self.P, 1)
        per_row = P * max(1, width)
        if per_row * P <= budget:
            r = P
            b = max(1, min(C, budget // (per_row * P)))
        else:
            b = 1
            r = max(1, budget // per_row)
        cells = torch.arange(C, device=self.table.device)
        for c0 in range(0, C, b):
            cb = cells[c0:c0 + b]
            for s0 in range(0, P, r):
                rows = self.table[cb, s0:s0 + r]
                if bool((rows == self.n).all()):
                    continue
                for o in self.weight.offsets:
                    yield rows, self.table[(cb + o).remainder(C)], o
