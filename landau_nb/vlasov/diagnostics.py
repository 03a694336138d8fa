"""Diagnostics of a phase-space state, recorded per step by :func:`solve_vlasov`.

Scalars (one per record): ``E_norm`` ‖E‖ = (∫₀ᴸ E² dx)^{1/2}; ``E_mode_re``/``E_mode_im`` the
fundamental mode Ê_k = (2/M) Σ_c E_c e^{−ikX_c} (|Ê_k| = amplitude of a sin(kx + φ));
``field_energy`` ½∫E²; ``kinetic_energy`` ½ Σ w|v|²; ``total_energy``; ``mass`` Σ w;
``momentum`` (dv,) Σ w v (the field carries none); ``second_moment`` (dv, dv) Σ w v vᵀ / Σ w; the energy ledger ``kick_work``
(kinetic energy the kicks took from the field, cumulative), ``collision_energy`` (kinetic
energy change of the collision steps, cumulative), ``energy_error_vp`` = ΔFE + kick_work
(the transport/field discretisation's energy error) and ``entropy_production`` −Σ w s·U of
the last collision evaluation (≥ 0); ``time_push``, ``time_field``, ``time_score``,
``time_collision`` (cumulative seconds per phase).

Mesh profiles (per record, (M,) on the field mesh, CIC moments): ``density``, ``u``
(M, dv), ``T`` (tr of the local covariance / dv), ``T_ratio`` T_∥/T_⊥ (v₁ vs the rest).
"""

from __future__ import annotations

import torch

from .stepping import PHASES, PhaseSpaceState

__all__ = ["measure", "SCALARS", "PROFILES", "phase_space_histogram"]

SCALARS = ("E_norm", "E_mode_re", "E_mode_im", "field_energy", "kinetic_energy", "total_energy", "mass",
           "kick_work", "collision_energy", "energy_error_vp", "entropy_production",
           "time_push", "time_field", "time_score", "time_collision")
PROFILES = ("density", "u", "T", "T_ratio")


def measure(state: PhaseSpaceState, mesh, k: float, field_energy0: float | None = None) -> dict:
    """All diagnostics of ``state`` (module docstring) as floats / numpy arrays."""
    w = state.w.double()
    v = state.v.double()
    fe = mesh.field_energy(state.E)
    ke = 0.5 * float((w[:, None] * v * v).sum())
    mode = mesh.mode(state.E, k)
    dens, u, T, T_par, T_perp = mesh.moments(state.x, state.v, state.w)
    out = {
        "E_norm": mesh.norm(state.E), "E_mode_re": mode.real, "E_mode_im": mode.imag,
        "field_energy": fe, "kinetic_energy": ke, "total_energy": fe + ke, "mass": float(w.sum()),
        "momentum": (w[:, None] * v).sum(0).cpu().numpy(),
        "second_moment": ((w[:, None] * v).T @ v / w.sum()).cpu().numpy(),
        "kick_work": state.ledger["kick_work"], "collision_energy": state.ledger["collision_energy"],
        "energy_error_vp": (fe - field_energy0 if field_energy0 is not None else 0.0) + state.ledger["kick_work"],
        "entropy_production": state.ledger["entropy_production"],
        "density": dens.cpu().numpy(), "u": u.cpu().numpy(), "T": T.cpu().numpy(),
        "T_ratio": (T_par / T_perp).cpu().numpy(),
    }
    for p in PHASES:
        out[f"time_{p}"] = state.timers[p]
    return out


def phase_space_histogram(x: torch.Tensor, v1: torch.Tensor, w: torch.Tensor, *, L: float, bins_x: int,
                          vmax: float, bins_v: int = 64) -> torch.Tensor:
    """Weighted (x, v₁) histogram divided by the bin area: an estimate of ∫ f dv_⊥ on a
    (bins_x, bins_v) grid over [0, L) × [−vmax, vmax) (particles outside are dropped)."""
    ix = torch.clamp((x / (L / bins_x)).long(), 0, bins_x - 1)
    fv = (v1 + vmax) / (2 * vmax / bins_v)
    keep = (fv >= 0) & (fv < bins_v)
    iv = fv[keep].long()
    flat = torch.zeros(bins_x * bins_v, dtype=torch.float64, device=x.device)
    flat.index_add_(0, ix[keep] * bins_v + iv, w[keep].double())
    return flat.view(bins_x, bins_v) / ((L / bins_x) * (2 * vmax / bins_v))
