"""Reading collisional Vlasov–Landau runs ("Vlasov–Landau II"): paired shifts of the damping
rate and frequency with seed confidence intervals, their convergence in n, the linear
Dougherty curve they are set against, and the relaxation checks.

Runs come as a mapping ``{(label, n, seed): PhaseSpaceTrajectory}`` (what
``landau_nb.experiments.vlasov_results(name, by="run")`` returns), labels ``collisionless``
and ``SCORE_B<B>`` (``blob_B0.1``, ...).

* :func:`paired_shifts` — per (score, B, n): Δ = q(B) − q(0) at equal seeds (the same initial
  particles, so most sampling noise cancels), mean ± Student-t 95 % half-width.
* :func:`convergence` — the n₀ → 4n₀ change of each shift against the acceptance rule
  |change| < 10 % of |shift| + 0.003.
* :func:`dougherty_shift` — the conserving Dougherty operator's linear shift at ν = λB/2
  (λ the isotropisation rate), and the successor code's heuristic line, as context.
* :func:`relaxation_checks` — temperature, anisotropy, field energy and the distance of the v₁
  marginal to N(0, T_eq) of a relaxation run.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ._deps import check_choice, t_interval
from .fitting import fit_frequency, fit_rate
from .reference import collisional_root, isotropisation_rate, landau_root, successor_line

__all__ = ["parse_label", "run_quantity", "paired_shifts", "agreement", "convergence", "dougherty_shift", "relaxation_checks",
           "run_seconds", "effective_collision_strength", "marginal_distance", "marginal_kurtosis", "QUANTITIES", "RATE_WINDOW"]

#: the fit window of the collisional comparison: ‖E‖ is above the particle noise to t ≈ 10 at
#: n = 2·10⁴ (on (0.2, 15) the seed spread of the collisionless rate is 6x larger)
RATE_WINDOW = (0.2, 10.0)
QUANTITIES = ("rate", "omega")
_LABEL = re.compile(r"([a-zA-Z][a-zA-Z0-9.-]*)_B([0-9.eE+-]+)")


def parse_label(label: str) -> tuple[str, float]:
    """(score, B) of a damping-curve label: ``collisionless`` -> ("collisionless", 0.0),
    ``blob_B0.1`` -> ("blob", 0.1), ``sbtm-a0.1_B0.4`` -> ("sbtm-a0.1", 0.4) and
    ``sbtm-K40_B0.05`` -> ("sbtm-K40", 0.05) (variants)."""
    if label == "collisionless":
        return "collisionless", 0.0
    m = _LABEL.fullmatch(label)
    if not m:
        raise ValueError(f"label {label!r} is not a damping-curve label (collisionless or SCORE_B<number>)")
    return m.group(1), float(m.group(2))


def run_quantity(traj, quantity: str, window=RATE_WINDOW) -> float:
    """The damping rate (peaks of ‖E‖) or ω (zero crossings of the k-mode) of one run on ``window``."""
    check_choice("quantity", quantity, QUANTITIES)
    if quantity == "rate":
        return fit_rate(traj.t, traj.records["E_norm"], window)["rate"]
    return fit_frequency(traj.t, traj.E_mode, window)["omega"]


def _covariance(traj) -> np.ndarray:
    """(R, dv, dv) velocity covariance per record: the second moment less u uᵀ, u = P / mass."""
    r = traj.records
    u = np.asarray(r["momentum"], dtype=float) / np.asarray(r["mass"], dtype=float)[:, None]
    return np.asarray(r["second_moment"], dtype=float) - u[:, :, None] * u[:, None, :]


def effective_collision_strength(traj, window=None) -> dict:
    """How strong are the collisions a score estimator delivers? The decay rate of the global
    temperature anisotropy a(t) = T_∥ − T_⊥ (from the recorded second moments, the mean velocity
    removed), fitted as log|a| linear in t on ``window`` (default: the whole run), divided by the
    Landau operator's rate λB (:func:`~landau_nb.vlasov.isotropisation_rate`, unit temperature).
    Near 1 for the exact score of a Gaussian (:class:`~landau_nb.vlasov.LocalGaussianScore`, small
    anisotropy); a smoothed score sees a smoothed anisotropy and relaxes it more slowly. Returns
    ``{"strength", "rate", "reference", "t", "anisotropy"}``. Section "Vlasov–Landau II"."""
    model = traj.meta["model"]
    B, dv, gamma = float(model["B"]), int(model["dv"]), float(model["gamma"])
    if not B > 0:
        raise ValueError(f"the run has B = {B:g}: effective_collision_strength needs a collisional run (B > 0)")
    if dv < 2:
        raise ValueError("effective_collision_strength needs dv >= 2 (an anisotropy to relax)")
    t = np.asarray(traj.t, dtype=float)
    cov = _covariance(traj)
    a = cov[:, 0, 0] - np.mean([cov[:, j, j] for j in range(1, dv)], axis=0)
    lo, hi = (t[0], t[-1]) if window is None else window
    sel = (t >= lo) & (t <= hi) & (np.abs(a) > 0)
    if sel.sum() < 3:
        raise ValueError(f"window {window}: fewer than 3 records with an anisotropy to fit")
    rate = -float(np.polyfit(t[sel], np.log(np.abs(a[sel])), 1)[0])
    ref = isotropisation_rate(dv, gamma) * B
    return {"strength": rate / ref, "rate": rate, "reference": ref, "t": t, "anisotropy": a}


def run_seconds(traj) -> float:
    """Compute seconds of one run: the score's initial fit plus the cumulative per-phase timers
    (push, field, score, collision) at the last record. Unlike the wall time of the call that
    finished a run, this counts every call of a run resumed from checkpoints (the timers are
    checkpointed); it leaves out the diagnostics (score error, profiles), the same for every score."""
    phases = sum(float(traj.records[f"time_{p}"][-1]) for p in ("push", "field", "score", "collision"))
    return phases + float(traj.meta.get("score_init_seconds") or 0.0)


def paired_shifts(runs: dict, quantity: str = "rate", *, window=RATE_WINDOW, level: float = 0.95) -> list[dict]:
    """Rows ``{"score", "B", "n", "seeds", "values", "base", "shift", "ci", "mean", "mean_ci"}``:
    per (score, B, n) the seeds present with their collisionless partner, ``values`` the
    quantity per seed, ``base`` the partners', ``shift`` the mean paired difference with its
    half-width ``ci``, ``mean`` ± ``mean_ci`` the quantity itself. Sorted by score, n, B."""
    vals: dict = {}
    for (label, n, seed), tr in runs.items():
        vals[(label, n, seed)] = run_quantity(tr, quantity, window)
    groups: dict = {}
    for (label, n, seed), q in vals.items():
        if label == "collisionless" or ("collisionless", n, seed) not in vals:
            continue
        score, B = parse_label(label)
        groups.setdefault((score, n, B), []).append((seed, q, vals[("collisionless", n, seed)]))
    rows = []
    for (score, n, B), items in sorted(groups.items()):
        items.sort()
        q = np.array([it[1] for it in items])
        b = np.array([it[2] for it in items])
        rows.append({"score": score, "B": B, "n": n, "seeds": [it[0] for it in items], "values": q.tolist(),
                     "base": b.tolist(), "shift": float(np.mean(q - b)), "ci": t_interval(q - b, level),
                     "mean": float(np.mean(q)), "mean_ci": t_interval(q, level)})
    return rows


def agreement(rows: list[dict], a: str = "blob", b: str = "sbtm") -> list[dict]:
    """Do the estimators ``a`` and ``b`` measure the same shift? For each (B, n) of ``rows``
    (:func:`paired_shifts`) where both have at least two common seeds: ``{"B", "n", "seeds",
    "diff", "sigma", "agree"}`` with diff = mean over the common seeds of shift_a − shift_b
    (the same seed's runs start from the same particles, so this is paired again), sigma its
    standard error and agree = |diff| ≤ 2 sigma (issue 26's rule)."""
    by = {(r["score"], r["B"], r["n"]): r for r in rows}
    out = []
    for (score, B, n), ra in sorted(by.items()):
        rb = by.get((b, B, n))
        if score != a or rb is None:
            continue
        da = {s: q - base for s, q, base in zip(ra["seeds"], ra["values"], ra["base"])}
        db = {s: q - base for s, q, base in zip(rb["seeds"], rb["values"], rb["base"])}
        common = sorted(set(da) & set(db))
        if len(common) < 2:
            continue
        d = np.array([da[s] - db[s] for s in common])
        sigma = float(d.std(ddof=1) / np.sqrt(d.size))
        out.append({"B": B, "n": n, "seeds": common, "diff": float(d.mean()), "sigma": sigma,
                    "agree": bool(abs(d.mean()) <= 2 * sigma)})
    return out


def convergence(rows: list[dict], *, rel: float = 0.10, abs_tol: float = 0.003) -> list[dict]:
    """For each (score, B) with at least two particle numbers in ``rows`` (:func:`paired_shifts`),
    the last refinement n0 < n1 (the two largest n):
    ``{"score", "B", "n0", "n1", "shift0", "shift1", "change", "bound", "converged", "seeds0", "seeds1"}``
    with bound = rel·|shift1| + abs_tol (issue 26's rule: change < 10 % of |Δγ| + 0.003); ``seeds0``,
    ``seeds1`` the seed counts behind each shift (a verdict needs both complete). Book:
    "Vlasov–Landau II" (the damping curve)."""
    by: dict = {}
    for r in rows:
        by.setdefault((r["score"], r["B"]), {})[r["n"]] = r
    out = []
    for (score, B), per_n in sorted(by.items()):
        ns = sorted(per_n)
        if len(ns) < 2:
            continue
        a, b = per_n[ns[-2]], per_n[ns[-1]]
        change = b["shift"] - a["shift"]
        bound = rel * abs(b["shift"]) + abs_tol
        out.append({"score": score, "B": B, "n0": ns[-2], "n1": ns[-1], "shift0": a["shift"], "shift1": b["shift"],
                    "change": change, "bound": bound, "converged": bool(abs(change) < bound),
                    "seeds0": len(a["seeds"]), "seeds1": len(b["seeds"])})
    return out


def dougherty_shift(B, *, k: float = 0.5, dv: int = 3, gamma: float = -3.0) -> dict:
    """The linear context curves at collision strengths ``B`` (array): the conserving Dougherty
    operator with ν = λB/2 (λ = :func:`isotropisation_rate`, the matched isotropisation rate
    2ν = λB): ``rate_shift`` γ_D(ν) − γ_L and ``omega`` ω_D(ν); the Lenard–Bernstein operator at
    the same ν (``lb_rate_shift``); the successor code's line ``successor_shift`` = −B√(2/(9π))
    (its rate minus its own collisionless prefactor)."""
    B = np.atleast_1d(np.asarray(B, dtype=float))
    lam = isotropisation_rate(dv, gamma)
    wl, gl = landau_root(k)
    d = [collisional_root(k, lam * b / 2, dv=dv) for b in B]
    lb = [collisional_root(k, lam * b / 2, dv=dv, model="lenard_bernstein") for b in B]
    succ = [successor_line(k, b) - successor_line(k, 0.0) for b in B]
    return {"B": B, "nu": lam * B / 2, "lambda": lam, "rate_shift": np.array([g for _, g in d]) - gl,
            "omega": np.array([w for w, _ in d]), "lb_rate_shift": np.array([g for _, g in lb]) - gl,
            "successor_shift": np.array(succ), "landau": (wl, gl)}


def _v1_marginal(traj) -> tuple[np.ndarray, np.ndarray, float]:
    """(bin centres (bins,), g (snapshots, bins), bin width): the v₁ marginal of each snapshot,
    its (x, v₁) density averaged over x and divided by ρ_ion (unit mass on [−vmax, vmax))."""
    S = np.asarray(traj.snapshots, dtype=float)                   # (snapshots, M, bins_v)
    vm = float(traj.meta["snapshot_vmax"])
    width = 2 * vm / S.shape[2]
    centres = -vm + width * (np.arange(S.shape[2]) + 0.5)
    return centres, S.mean(1) / float(traj.meta["model"]["rho_ion"]), width


def marginal_distance(traj, T_eq: float) -> np.ndarray:
    """Per snapshot: the L¹ distance ∫|g(v₁) − N(v₁; 0, T_eq)| dv₁ of the v₁ marginal g (the
    snapshot's (x, v₁) density averaged over x) to the equilibrium Gaussian, on the snapshot's
    v-grid [−vmax, vmax) (the mass outside, ~1e-7 at vmax = 6, is not counted)."""
    c, g, width = _v1_marginal(traj)
    gauss = np.exp(-c**2 / (2 * T_eq)) / math.sqrt(2 * math.pi * T_eq)
    return np.abs(g - gauss[None, :]).sum(1) * width


def marginal_kurtosis(traj) -> np.ndarray:
    """Per snapshot: the kurtosis ∫v₁⁴g / (∫v₁²g)² of the v₁ marginal g of the snapshot's (x, v₁)
    density (3 for a Gaussian; bin centres, so a bin width h biases it by O(h²))."""
    c, g, _ = _v1_marginal(traj)
    m2 = (g * c**2).sum(1) / g.sum(1)
    m4 = (g * c**4).sum(1) / g.sum(1)
    return m4 / m2**2


def relaxation_checks(traj) -> dict:
    """The relaxation checks of a run from the anisotropic start (issue 26): ``T_eq`` from the
    discrete initial energies, (2/dv)(KE₀ + FE₀)/(ρ_ion L); the final global temperature
    ``T_end`` and ``T_error`` = T_end/T_eq − 1; the final anisotropy ``anisotropy`` =
    T_∥/T_⊥ − 1 of the global second moment; ``field_ratio`` FE(end)/FE(0); ``distance``
    the v₁-marginal distances (:func:`marginal_distance`) and ``kurtosis``
    (:func:`marginal_kurtosis`) at the snapshot times ``distance_t``;
    ``relaxation_time`` 1/(λB) and ``t_end``."""
    m = traj.meta["model"]
    dv, L, rho = int(m["dv"]), float(m["L"]), float(m["rho_ion"])
    r = traj.records
    T_eq = (2 / dv) * (r["kinetic_energy"][0] + r["field_energy"][0]) / (rho * L)
    cov = _covariance(traj)[-1]
    T_end = float(np.trace(cov) / dv)
    T_par, T_perp = float(cov[0, 0]), float(np.mean(np.diag(cov)[1:]))
    lam = isotropisation_rate(dv, float(m["gamma"])) if float(m["B"]) > 0 else float("nan")
    return {"T_eq": float(T_eq), "T_end": T_end, "T_error": T_end / T_eq - 1, "anisotropy": T_par / T_perp - 1,
            "field_ratio": float(r["field_energy"][-1] / r["field_energy"][0]),
            "distance": marginal_distance(traj, T_eq), "kurtosis": marginal_kurtosis(traj),
            "distance_t": np.asarray(traj.snapshot_t),
            "relaxation_time": 1 / (lam * float(m["B"])) if float(m["B"]) > 0 else float("inf"),
            "t_end": float(traj.t[-1])}
