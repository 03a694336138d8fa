"""What a run records (book: "Particles and conservation"): per-step diagnostics at X^k with
the score used there, and snapshots of the positions. The rows become a :class:`Trajectory`.
"""

from __future__ import annotations

import numpy as np
import torch

from . import diagnostics as dg
from ..equation.kde import kde_l2_error
from ..scores.losses import relative_score_error
from .._seeding import make_generator
from .trajectory import Trajectory

__all__ = ["Recorder", "STEP_KEYS"]

#: per-step records of every run (see :class:`Trajectory`)
STEP_KEYS = ("energy", "entropy_rate", "score_error", "cov_error", "cov_error_sample",
             "cov_error_equilibrium", "momentum_drift", "time_score", "time_velocity", "gd_steps")
#: per-step records of runs that transport the log-density
LOG_DENSITY_KEYS = ("entropy", "kl", "score_loss_D")


class Recorder:
    """Rows k = 0..N of the per-step diagnostics and the position snapshots of one run.

    problem, x0 : the problem and the initial particles (the closed-form references of the
        second moments start from them); times : the N + 1 step times.
    track_log_density : also record entropy, KL and the D-weighted score loss.
    kde_l2, kde_samples, seed : the KDE L2 error at each snapshot (exact-solution problems).
    extra_keys : further per-step records, filled by :meth:`record_values` (the tracers' KL
        estimate, say).
    """

    def __init__(self, problem, x0: torch.Tensor, times: np.ndarray, *, track_log_density: bool = False,
                 kde_l2: bool = False, kde_samples: int = 2**14, seed: int = 0, extra_keys=()):
        f64 = torch.float64
        dev = x0.device
        self.problem, self.times, self.d = problem, times, problem.d
        self.kde_l2, self.kde_samples = kde_l2 and problem.has_exact_solution, kde_samples
        N = len(times) - 1
        x64 = x0.to(f64)
        t = torch.as_tensor(times)
        closed = problem.has_closed_covariance
        self.sigma_analytic = problem.covariance(t).to(dev) if closed else None
        self.sigma_sample = (problem.second_moment_from(dg.second_moment(x64).cpu(), dg.mean(x64).cpu(), t)
                             .to(dev) if closed else None)
        self.sigma_eq = problem.equilibrium_second_moment().to(dev)
        self.mean0 = dg.mean(x64)
        keys = STEP_KEYS + (LOG_DENSITY_KEYS if track_log_density else ()) + tuple(extra_keys)
        self.rec = {k: np.full(N + 1, np.nan) for k in keys}
        self.rec["mean"] = np.full((N + 1, self.d), np.nan)
        self.rec["second_moment"] = np.full((N + 1, self.d, self.d), np.nan)
        self.saved_t, self.saved_x, self.fourth, self.kde = [], [], [], []
        self.kde_gen = make_generator(seed, "kde-l2")

    def record(self, k: int, x: torch.Tensor, s: torch.Tensor, v: torch.Tensor,
               carried: dict | None = None) -> None:
        """Diagnostics of step k at X^k = x, with its score s and velocity v; ``carried``: the
        values of the carried quantities by name (the log-density "log_u", if tracked)."""
        p, rec, f64 = self.problem, self.rec, torch.float64
        log_u = (carried or {}).get("log_u")
        tk = float(self.times[k])
        with torch.no_grad():
            xk = x.to(f64)
            m = dg.mean(xk)
            sig = dg.second_moment(xk)
            rec["mean"][k] = m.cpu().numpy()
            rec["energy"][k] = float(dg.energy(xk))
            rec["second_moment"][k] = sig.cpu().numpy()
            rec["entropy_rate"][k] = float(dg.entropy_rate(s.to(f64), v.to(f64)))
            rec["momentum_drift"][k] = float((m - self.mean0).norm())
            rec["cov_error_equilibrium"][k] = float(dg.frobenius(sig, self.sigma_eq))
            if self.sigma_analytic is not None:
                rec["cov_error"][k] = float(dg.frobenius(sig, self.sigma_analytic[k]))
                rec["cov_error_sample"][k] = float(dg.frobenius(sig, self.sigma_sample[k]))
            if p.has_exact_solution:
                s_true = p.score(xk, tk)
                rec["score_error"][k] = float(relative_score_error(s.to(f64), s_true))
            if log_u is not None:
                rec["entropy"][k] = float(log_u.to(f64).mean())
                if p.has_exact_solution:
                    rec["kl"][k] = float((log_u.to(f64) - p.log_density(xk, tk)).mean())
                    if p.equation.collisional:
                        err = s.to(f64) - s_true
                        D = p.equation.collision_matrix(xk)
                        rec["score_loss_D"][k] = float(torch.einsum("na,nab,nb->n", err, D, err).mean())

    def record_values(self, k: int, values: dict) -> None:
        """Per-step records of step k given by name (each name one of ``extra_keys``)."""
        for name, value in values.items():
            self.rec[name][k] = value

    def record_cost(self, k: int, time_score: float, time_velocity: float, gd_steps: float) -> None:
        """Seconds spent at step k in the score and in the velocity, and the estimator's
        gradient steps."""
        self.rec["time_score"][k], self.rec["time_velocity"][k] = time_score, time_velocity
        self.rec["gd_steps"][k] = gd_steps

    def add_cost(self, k: int, time_score: float, time_velocity: float) -> None:
        """Seconds of a second stage of step k (Heun's corrector)."""
        self.rec["time_score"][k] += time_score
        self.rec["time_velocity"][k] += time_velocity

    def snapshot(self, k: int, x: torch.Tensor) -> None:
        """Keep the positions of step k (and the snapshot diagnostics)."""
        self.saved_t.append(self.times[k])
        self.saved_x.append(x.detach().cpu().numpy().copy())
        self.fourth.append(float(dg.fourth_moment(x.to(torch.float64))))
        if self.kde_l2:
            tk, p = float(self.times[k]), self.problem
            self.kde.append(kde_l2_error(x, lambda y: p.log_density(y, tk), lambda m, g: p.sample_at(m, tk, g),
                                         m=self.kde_samples, generator=self.kde_gen))

    def trajectory(self, upto: int, n: int, meta: dict, saved_extra: dict | None = None) -> Trajectory:
        """The rows 0..upto and the snapshots so far, as a Trajectory with metadata ``meta``."""
        saved = {"fourth_moment": self.fourth}
        if self.kde:
            saved["kde_l2"] = self.kde
        saved.update(saved_extra or {})
        sl = slice(0, upto + 1)
        return Trajectory(t=self.times[sl], steps={k: v[sl] for k, v in self.rec.items()}, saved_t=self.saved_t,
                          x=np.stack(self.saved_x) if self.saved_x else np.zeros((0, n, self.d)),
                          saved=saved, meta=meta)

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> dict:
        """Arrays for a checkpoint (the names of the checkpoint format)."""
        from .._state import generator_state
        arrays = {f"rec.{name}": a for name, a in self.rec.items()}
        arrays["kde_gen"] = generator_state(self.kde_gen)
        if self.saved_x:
            arrays["saved_x"] = np.stack(self.saved_x)
        arrays["saved_t"] = np.asarray(self.saved_t, dtype=np.float64)
        arrays["fourth"] = np.asarray(self.fourth, dtype=np.float64)
        arrays["kde"] = np.asarray(self.kde, dtype=np.float64)
        return arrays

    def restore(self, arrays: dict) -> None:
        """Undo :meth:`state` (from a checkpoint's arrays)."""
        from .._state import set_generator_state
        for name in self.rec:
            self.rec[name][:] = arrays[f"rec.{name}"]
        set_generator_state(self.kde_gen, arrays["kde_gen"])
        self.saved_t.extend(arrays["saved_t"].tolist())
        if "saved_x" in arrays:
            self.saved_x.extend(list(arrays["saved_x"]))
        self.fourth.extend(arrays["fourth"].tolist())
        self.kde.extend(arrays["kde"].tolist())
