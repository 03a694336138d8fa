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

Score quality (collisional runs, from the first stage of the last collision evaluation, at the
particles it was evaluated on): ``score_error`` Σ w|s − s_LM|² / Σ w|s_LM|², the relative
squared distance of the estimator's score s to the local-Maxwellian score
s_LM = −(v − u(x))/T(x) of the same particles (CIC moments; :class:`~.scores.LocalMaxwellianScore`),
and its profile ``score_error_x`` (M,) (the two sums deposited on the mesh). NaN before the
first collision evaluation. Near a local equilibrium s_LM is the score up to O(‖f/f_LM − 1‖):
what the estimator adds beyond that is noise, which acts as spurious collisions.

Against a known score (``solve_vlasov(reference_score=...)``, e.g. the exact score of the
noise-free collisionless solution): ``score_error_ref`` Σ w|s − s_ref|² / Σ w|s_ref|² of the
estimator and ``lm_error_ref`` the same of the local-Maxwellian score s_LM, on the same sample.
Away from equilibrium s_LM is not the score: ``lm_error_ref`` measures how far f is from a local
Maxwellian, and an estimator with ``score_error_ref`` below it resolves structure s_LM lacks.
"""

from __future__ import annotations

import torch

from .stepping import PHASES, PhaseSpaceState

__all__ = ["measure", "score_error", "reference_score_errors", "SCALARS", "PROFILES", "phase_space_histogram"]

SCALARS = ("E_norm", "E_mode_re", "E_mode_im", "field_energy", "kinetic_energy", "total_energy", "mass",
           "kick_work", "collision_energy", "energy_error_vp", "entropy_production",
           "time_push", "time_field", "time_score", "time_collision", "score_error")
PROFILES = ("density", "u", "T", "T_ratio", "score_error_x")


def _local_maxwellian_score(x: torch.Tensor, v: torch.Tensor, w: torch.Tensor, mesh) -> torch.Tensor:
    """s_LM = −(v − u(x))/T(x) in float64, u and T the CIC moments of (x, v, w) gathered at x."""
    _, u, T, _, _ = mesh.moments(x, v, w)
    ui = torch.stack([mesh.gather(u[:, a].double(), x) for a in range(v.shape[1])], dim=1)
    return -(v.double() - ui) / mesh.gather(T.double(), x)[:, None]


def score_error(x: torch.Tensor, v: torch.Tensor, w: torch.Tensor, s: torch.Tensor, mesh) -> tuple[float, "object"]:
    """(Σ w|s − s_LM|² / Σ w|s_LM|², its (M,) mesh profile) with s_LM = −(v − u(x))/T(x) from
    the CIC moments of (x, v, w) (module docstring)."""
    s_lm = _local_maxwellian_score(x, v, w, mesh)
    sd, wd = s.double(), w.double()
    num = ((sd - s_lm) ** 2).sum(1)
    den = (s_lm ** 2).sum(1)
    prof = (mesh.deposit(x, (wd * num).to(x.dtype)).double()
            / mesh.deposit(x, (wd * den).to(x.dtype)).double())
    return float((wd * num).sum() / (wd * den).sum()), prof.cpu().numpy()


def reference_score_errors(x: torch.Tensor, v: torch.Tensor, w: torch.Tensor, s: torch.Tensor,
                           s_ref: torch.Tensor, mesh) -> tuple[float, float]:
    """(Σ w|s − s_ref|² / Σ w|s_ref|², the same of s_LM = −(v − u(x))/T(x)) (module docstring)."""
    s_lm = _local_maxwellian_score(x, v, w, mesh)
    sd, wd, rd = s.double(), w.double(), s_ref.double()
    den = (wd * (rd ** 2).sum(1)).sum()
    return (float((wd * ((sd - rd) ** 2).sum(1)).sum() / den),
            float((wd * ((s_lm - rd) ** 2).sum(1)).sum() / den))


def measure(state: PhaseSpaceState, mesh, k: float, field_energy0: float | None = None, *,
            score_sample: tuple | None = None, reference=None) -> dict:
    """All diagnostics of ``state`` (module docstring) as floats / numpy arrays;
    ``score_sample`` = (v, s) of the last collision evaluation adds ``score_error`` and
    ``score_error_x``; with it, ``reference`` (a callable (x, v, t) -> score tensor) adds
    ``score_error_ref`` and ``lm_error_ref``."""
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
    if score_sample is not None:
        out["score_error"], out["score_error_x"] = score_error(state.x, score_sample[0], state.w,
                                                               score_sample[1], mesh)
        if reference is not None:
            s_ref = reference(state.x, score_sample[0], state.t)
            out["score_error_ref"], out["lm_error_ref"] = reference_score_errors(
                state.x, score_sample[0], state.w, score_sample[1], s_ref, mesh)
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
