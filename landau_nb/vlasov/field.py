"""The periodic mesh: CIC charge deposit, spectral Poisson solve, CIC field gather.

Nodes X_c = c Δx, c = 0..M−1, Δx = L/M. A particle at x lies in cell l = ⌊x/Δx⌋ with
fraction θ = x/Δx − l ∈ [0, 1); its CIC shape S(x − X_c) gives weight 1 − θ to node l and θ
to node l + 1 (mod M); Σ_c S = 1 and ∫ S = Δx.

* deposit   ρ_c = (1/Δx) Σᵢ wᵢ S(xᵢ − X_c)
* Poisson   ∂ₓE = ρ − ρ_ion by FFT on the nodes: Ê_m = ρ̂_m/(iκ_m), κ_m = 2πm/L, with the mean
            (m = 0) and, for even M, the Nyquist mode set to 0 (exact Gauss law for every
            other mode of the mesh)
* gather    E(xᵢ) = Σ_c E_c S(xᵢ − X_c)  (the same shape as the deposit)

The mesh force on particle i from particle j is wᵢwⱼ Σ_{c,c'} S(xᵢ − X_c) G_{cc'} S(xⱼ − X_c')/Δx
with G the circulant matrix of the symbol 1/(iκ), which is real and odd, so G is
antisymmetric: the forces are equal and opposite pairwise (total momentum Σ wᵢ E(xᵢ) =
Δx Σ_c E_c ρ_c = 0 to round-off) and the self-force G_{cc'} S S vanishes.
"""

from __future__ import annotations

import math

import torch

from ._deps import check_int, check_positive

__all__ = ["PeriodicMesh"]


class PeriodicMesh:
    """A periodic 1D mesh of M ≥ 2 nodes on [0, L) (see the module docstring)."""

    def __init__(self, L: float, M: int, *, dtype=torch.float64, device="cpu"):
        self.L = check_positive("L", L)
        self.M = check_int("M", M, low=2)
        self.dx = self.L / self.M
        self.dtype, self.device = dtype, torch.device(device)
        m = torch.arange(self.M // 2 + 1, dtype=torch.float64)
        kappa = 2 * math.pi * m / self.L
        inv = torch.zeros(self.M // 2 + 1, dtype=torch.complex128)
        inv[1:] = 1 / (1j * kappa[1:])
        if self.M % 2 == 0:
            inv[-1] = 0
        ctype = torch.complex64 if dtype == torch.float32 else torch.complex128
        self._inv_ik = inv.to(dtype=ctype, device=self.device)
        self.nodes = torch.arange(self.M, dtype=torch.float64).mul(self.dx).to(dtype=dtype, device=self.device)

    def cic(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(l, θ): left node index (long, in [0, M)) and fraction θ ∈ [0, 1) of positions x."""
        s = x / self.dx
        fl = torch.floor(s)
        theta = s - fl
        l = fl.long().remainder(self.M)
        # x just below L can round to s = M exactly: l wraps to 0 with theta = 0 (consistent)
        return l, theta

    def deposit(self, x: torch.Tensor, w: torch.Tensor, q: torch.Tensor | None = None) -> torch.Tensor:
        """(1/Δx) Σᵢ wᵢ qᵢ S(xᵢ − X_c): the density (q = None, shape (M,)) or the moments of
        per-particle quantities q (n, p) -> (M, p)."""
        l, theta = self.cic(x)
        r = (l + 1).remainder(self.M)
        a, b = w * (1 - theta), w * theta
        if q is None:
            out = torch.zeros(self.M, dtype=x.dtype, device=x.device)
            out.index_add_(0, l, a)
            out.index_add_(0, r, b)
        else:
            out = torch.zeros(self.M, q.shape[1], dtype=x.dtype, device=x.device)
            out.index_add_(0, l, a[:, None] * q)
            out.index_add_(0, r, b[:, None] * q)
        return out / self.dx

    def solve(self, rho: torch.Tensor, rho_ion: float = 1.0) -> torch.Tensor:
        """E on the nodes from ∂ₓE = ρ − ρ_ion, mean-free (spectral; see the module docstring)."""
        rk = torch.fft.rfft(rho - rho_ion)
        return torch.fft.irfft(rk * self._inv_ik, n=self.M)

    def gather(self, E: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """E(xᵢ) = (1 − θᵢ) E_l + θᵢ E_{l+1}."""
        l, theta = self.cic(x)
        r = (l + 1).remainder(self.M)
        return E[l] * (1 - theta) + E[r] * theta

    def field(self, x: torch.Tensor, w: torch.Tensor, rho_ion: float = 1.0):
        """(ρ, E on the nodes, E at the particles)."""
        rho = self.deposit(x, w)
        E = self.solve(rho, rho_ion)
        return rho, E, self.gather(E, x)

    def field_energy(self, E: torch.Tensor) -> float:
        """½ ∫ E² dx = ½ Δx Σ_c E_c² (exact for the trigonometric interpolant of E)."""
        return 0.5 * self.dx * float((E.double() ** 2).sum())

    def norm(self, E: torch.Tensor) -> float:
        """‖E‖ = (∫₀ᴸ E² dx)^{1/2}."""
        return math.sqrt(self.dx * float((E.double() ** 2).sum()))

    def mode(self, E: torch.Tensor, k: float) -> complex:
        """Ê_k = (2/M) Σ_c E_c e^{−ikX_c}: |Ê_k| is the amplitude a of E = a sin(kx + φ)."""
        X = self.nodes.double()
        Ed = E.double()
        re = float((Ed * torch.cos(k * X)).sum())
        im = -float((Ed * torch.sin(k * X)).sum())
        return complex(2 * re / self.M, 2 * im / self.M)

    def moments(self, x: torch.Tensor, v: torch.Tensor, w: torch.Tensor):
        """Mesh fluid moments from CIC deposits: density n (M,), mean velocity u (M, dv),
        temperature T = tr(P)/(n dv) (M,), T_par = P₁₁/n and T_perp = mean of the other
        diagonal entries of P/n (M,) (NaN for dv = 1), P the pressure tensor's diagonal."""
        dv = v.shape[1]
        q = torch.cat([v, v * v], dim=1)
        mom = self.deposit(x, w, q).double()
        dens = self.deposit(x, w).double()
        safe = torch.where(dens > 0, dens, torch.ones_like(dens))
        u = mom[:, :dv] / safe[:, None]
        var = mom[:, dv:] / safe[:, None] - u * u
        T = var.sum(1) / dv
        T_par = var[:, 0]
        T_perp = var[:, 1:].mean(1) if dv > 1 else torch.full_like(T, float("nan"))
        return dens, u, T, T_par, T_perp
