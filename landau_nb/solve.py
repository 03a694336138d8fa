"""Time stepping and the ``solve`` entry point (book: "Particles and conservation").

Forward Euler is the paper's scheme: at each step the score is refreshed at the current
positions, then X^{k+1} = X^k + dt v(X^k, s^k). Heun (explicit trapezoid, 2nd order) uses a
second score evaluation at the predicted positions. Both keep momentum exactly (up to
round-off) because each stage's velocity sums to zero.
"""

from __future__ import annotations

import json
import math
import time
import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from . import diagnostics as dg
from ._checks import (check_choice, check_device, check_dtype, check_int, check_points,
                      check_positive, check_real)
from .blob import Blob
from .checkpoint import (CheckpointError, generator_state, has_checkpoint, load_checkpoint,
                         save_checkpoint, set_generator_state)
from .collision import VELOCITY_METHODS, collision_matrix
from .kde import kde_l2_error
from .losses import _value_and_jacobian, relative_score_error
from .problems import Problem
from .sbtm import SBTM
from .score import ExactScore, ScoreEstimator
from .seeding import make_generator
from .tracers import TracerParticles
from .trajectory import Trajectory, environment_versions

__all__ = ["solve", "make_estimator", "NonFiniteError", "STEPPERS", "ESTIMATORS"]

STEPPERS = ("euler", "heun")
ESTIMATORS = {"sbtm": SBTM, "blob": Blob, "exact": ExactScore}


class NonFiniteError(FloatingPointError):
    """A run produced NaN or Inf. Attributes: ``step``, ``time``, ``quantity`` and
    ``trajectory`` (the run up to the last finite state)."""

    def __init__(self, message, *, step, time, quantity, trajectory):
        super().__init__(message)
        self.step, self.time, self.quantity, self.trajectory = step, time, quantity, trajectory


def make_estimator(method, **options) -> ScoreEstimator:
    """A score estimator from a name ("sbtm", "blob", "exact") and its options."""
    if isinstance(method, ScoreEstimator):
        if options:
            raise TypeError(f"options {sorted(options)} cannot be combined with an estimator instance")
        return method
    check_choice("method", method, tuple(ESTIMATORS))
    cls = ESTIMATORS[method]
    try:
        return cls(**options)
    except TypeError as exc:
        raise TypeError(f"bad option for method={method!r}: {exc}") from None


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _number_of_steps(t0, t_end, dt):
    steps = (t_end - t0) / dt
    N = round(steps)
    if N < 1 or abs(N - steps) > 1e-6 * max(1.0, steps):
        raise ValueError(f"dt={dt:g} must divide t_end - t0 = {t_end - t0:g} into a whole number of steps "
                         f"(got {steps:.6g})")
    return N


_ADVICE = ("usual causes: a time step too large for the kernel (gamma < 0 makes close pairs stiff; "
           "lower dt), or a learning rate too high for SBTM (lower lr)")


def _array_digest(x: torch.Tensor) -> str:
    import hashlib
    return hashlib.sha256(np.ascontiguousarray(x.detach().cpu().numpy()).tobytes()).hexdigest()[:16]


def solve(problem: Problem, method="sbtm", *, n: int | None = None, x0: torch.Tensor | None = None,
          seed: int = 0, device="cpu", dtype=torch.float64, stepper: str = "euler",
          dt: float | None = None, t_end: float | None = None, save_every: int | None = None,
          velocity_method: str = "auto", batch_size: int | None = None, kde_l2: bool = False, kde_samples: int = 2**14,
          track_log_density: bool = False, tracers: int | None = None, progress: bool = False, callback=None,
          checkpoint=None, checkpoint_every: int = 50, resume: bool = True,
          **options) -> Trajectory:
    """Solve ``problem`` with particles moved by its velocity field and scores from ``method``.

    Parameters
    ----------
    problem : a :class:`~landau_nb.problems.Problem` (e.g. ``anisotropic_gaussian(3)``).
    method : "sbtm", "blob", "exact" or a :class:`ScoreEstimator`; ``options`` go to its
        constructor (e.g. ``lr=1e-3``, ``bandwidth="reference"``).
    n, x0 : number of particles drawn from u_{t0} with ``seed`` (CPU, float64, then cast), or
        the initial particles themselves (their device and dtype then rule the run).
    seed : seeds the initial sample and the estimator's random streams.
    device, dtype : where and in which precision to run ("cpu"/"cuda", float32/float64).
    stepper : "euler" (the paper's) or "heun".
    dt, t_end : override the problem's time step and end time.
    save_every : keep positions every this many steps (default: first and last only).
    velocity_method : passed to :func:`landau_velocity` ("auto", "direct", "moments",
        "compiled", or "random_batch" with ``batch_size``: particles reshuffled into random
        batches at every velocity evaluation, from the run's seeded stream).
    kde_l2 : at each snapshot, the KDE L2 error against the exact density (if known).
    track_log_density : transport log u along each trajectory, d/dt log u(X_i) = -div v(X_i)
        (needs an estimator with a score field: "sbtm" or "exact", and a known initial density).
        Records ``entropy`` = (1/n) sum log u(X_i), and for exact-solution problems ``kl`` =
        (1/n) sum [log u(X_i) - log u*(X_i)] (a Monte Carlo estimate of KL(u_t || u*_t)) and
        ``score_loss_D`` = (1/n) sum |s - grad log u*|^2_D (Landau problems).
    tracers : a number m >= 2 of held-out tracers (:class:`~landau_nb.tracers.TracerParticles`,
        own random stream): drawn from u_{t0}, moved by the same velocity field, carrying log u,
        no part in training or in the interaction sum; the particles' run is unchanged. For
        exact-solution problems records ``kl_tracers`` and ``kl_tracers_se``, an unbiased
        estimate of KL(u_t || u*_t) and its standard error; for Landau problems
        ``score_loss_tracers`` = (1/m) sum |s - grad log u_t|^2_D at the tracers, with the
        transported score of u_t (the loss of Theorem 4.2), and ``score_loss_D_tracers``, the
        same with grad log u*_t.
    progress : show a tqdm progress bar. callback : called as ``callback(k, t, x, s, v)``.
    checkpoint : a folder for checkpoints (written atomically every ``checkpoint_every``
        steps, with the network, optimiser and random-stream states). With ``resume=True`` a
        run that finds a checkpoint of the same run there continues from it and ends
        bit-identical (on CPU) to an uninterrupted run; a checkpoint of a different run, or a
        damaged one, raises :class:`~landau_nb.checkpoint.CheckpointError`. The folder is
        left in place at the end (the caller removes it once the result is saved).

    Returns a :class:`Trajectory`. Raises :class:`NonFiniteError` (with the partial run) if
    positions, scores or velocities stop being finite.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a landau_nb Problem, got {type(problem).__name__}")
    check_choice("stepper", stepper, STEPPERS)
    check_choice("velocity_method", velocity_method, VELOCITY_METHODS)
    seed = check_int("seed", seed, low=0)
    dt = problem.dt if dt is None else check_positive("dt", dt)
    t_end = problem.t_end if t_end is None else check_real("t_end", t_end)
    if t_end <= problem.t0:
        raise ValueError(f"t_end={t_end:g} must be greater than t0={problem.t0:g}")
    N = _number_of_steps(problem.t0, t_end, dt)
    if save_every is not None:
        save_every = check_int("save_every", save_every, low=1)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, low=1)
    if velocity_method == "random_batch":
        if batch_size is None:
            raise ValueError("velocity_method='random_batch' needs batch_size (an int >= 2)")
        batch_size = check_int("batch_size", batch_size, low=2)
    elif batch_size is not None:
        raise ValueError(f"batch_size is used by velocity_method='random_batch' only, got {velocity_method!r}")
    kde_samples = check_int("kde_samples", kde_samples, low=2)
    if x0 is None:
        if n is None:
            raise ValueError("give the number of particles n (n >= 2) or the initial particles x0")
        n = check_int("n", n, low=2)
        dtype = check_dtype(dtype)
        dev = check_device(device)
        x = problem.sample(n, make_generator(seed, "initial-sample")).to(device=dev, dtype=dtype)
    else:
        x = check_points("x0", x0).detach().clone()
        if x.shape[1] != problem.d:
            raise ValueError(f"x0 has dimension {x.shape[1]} but the problem has d={problem.d}")
        if n is not None and n != x.shape[0]:
            raise ValueError(f"n={n} disagrees with x0, which has {x.shape[0]} rows")
        n, dev, dtype = x.shape[0], x.device, x.dtype
    d = problem.d
    estimator = make_estimator(method, **options)
    if isinstance(estimator, ExactScore) and not problem.has_exact_solution:
        raise ValueError(f"method='exact' needs a problem with a known solution; {problem.name} has none")

    t0 = problem.t0
    times = t0 + dt * np.arange(N + 1)
    f64 = torch.float64
    exact = problem.has_exact_solution
    closed_cov = problem.has_closed_covariance
    # closed-form references for the second moments
    x64 = x.to(f64)
    sigma_analytic = problem.covariance(torch.as_tensor(times)).to(dev) if closed_cov else None
    sigma_sample = (problem.second_moment_from(dg.second_moment(x64).cpu(), dg.mean(x64).cpu(),
                                               torch.as_tensor(times)).to(dev) if closed_cov else None)
    sigma_eq = problem.equilibrium_second_moment().to(dev)
    mean0 = dg.mean(x64)
    eps = torch.finfo(dtype).eps

    keys = ["energy", "entropy_rate", "score_error", "cov_error", "cov_error_sample",
            "cov_error_equilibrium", "momentum_drift", "time_score", "time_velocity", "gd_steps"]
    if track_log_density:
        keys += ["entropy", "kl", "score_loss_D"]
    if tracers is not None:
        keys += ["kl_tracers", "kl_tracers_se", "score_loss_tracers", "score_loss_D_tracers"]
    rec = {k: np.full(N + 1, np.nan) for k in keys}
    rec["mean"] = np.full((N + 1, d), np.nan)
    rec["second_moment"] = np.full((N + 1, d, d), np.nan)
    saved_t, saved_x, fourth, kde = [], [], [], []
    kde_gen = make_generator(seed, "kde-l2")
    batch_gen = make_generator(seed, "random-batch") if batch_size is not None else None
    drift_warned = False

    meta = {
        "problem": problem.params(), "n": n, "d": d, "seed": seed, "dtype": str(dtype).replace("torch.", ""),
        "device": str(dev), "stepper": stepper, "dt": dt, "t_end": float(times[-1]), "steps": N,
        "velocity_method": velocity_method, "batch_size": batch_size,
        "track_log_density": bool(track_log_density),
        "versions": environment_versions(),
    }
    if tracers is not None:
        meta["tracers"] = tracers = check_int("tracers", tracers, low=2)

    def snapshot(k, xk):
        saved_t.append(times[k])
        saved_x.append(xk.detach().cpu().numpy().copy())
        fourth.append(float(dg.fourth_moment(xk.to(f64))))
        if kde_l2 and exact:
            tk = float(times[k])
            kde.append(kde_l2_error(xk, lambda y: problem.log_density(y, tk),
                                    lambda m, g: problem.sample_at(m, tk, g),
                                    m=kde_samples, generator=kde_gen))

    def build(upto):
        sl = slice(0, upto + 1)
        saved = {"fourth_moment": fourth}
        if kde:
            saved["kde_l2"] = kde
        if getattr(estimator, "loss_log", None):
            saved["loss_log"] = np.asarray(estimator.loss_log, dtype=np.float64)
        meta_out = dict(meta, estimator=estimator.params(), completed_steps=upto,
                        wall_time={"total": time.perf_counter() - wall0,
                                   "score": float(np.nansum(rec["time_score"])),
                                   "velocity": float(np.nansum(rec["time_velocity"]))})
        steps_out = {k: v[sl] for k, v in rec.items()}
        return Trajectory(t=times[sl], steps=steps_out, saved_t=saved_t, x=np.stack(saved_x) if saved_x
                          else np.zeros((0, n, d)), saved=saved, meta=meta_out)

    def fail(k, quantity, last_x):
        if not saved_t or saved_t[-1] != times[k]:
            snapshot(k, last_x)
        traj = build(max(k - 1, 0))
        raise NonFiniteError(f"non-finite {quantity} at step {k} (t={times[k]:.6g}) with method="
                             f"{estimator.name!r}, dt={dt:g}; the run up to the last finite state is in "
                             f"the exception's .trajectory; {_ADVICE}",
                             step=k, time=float(times[k]), quantity=quantity, trajectory=traj)

    def score_at(xk, tk):
        _sync(dev)
        c = time.perf_counter()
        s = estimator(xk, tk)
        _sync(dev)
        return s, time.perf_counter() - c

    def velocity_at(xk, sk):
        c = time.perf_counter()
        batch = {"batch_size": batch_size, "generator": batch_gen} if batch_gen is not None else {}
        v = problem.velocity(xk, sk, method=velocity_method, **batch)
        _sync(dev)
        return v, time.perf_counter() - c

    def log_density_rate(xk, sk, tk):
        """-div v at the particles (the rate of change of log u along trajectories)."""
        _, jac = _value_and_jacobian(estimator.field(tk), xk, False)
        return -problem.velocity_divergence(xk, sk, jac.detach())

    # identity of the run: a checkpoint is only resumed by the same run
    identity = {k: v for k, v in meta.items() if k != "versions"}
    identity.update(estimator=estimator.params(), save_every=save_every, kde_l2=bool(kde_l2),
                    kde_samples=kde_samples, x0_sha=_array_digest(x))
    identity = json.loads(json.dumps(identity, sort_keys=True, default=float))

    def save_state(k, xk, log_uk):
        arrays, est_meta = estimator.get_state()
        arrays = {f"estimator.{name}": a for name, a in arrays.items()}
        arrays.update({f"rec.{name}": a for name, a in rec.items()})
        arrays["x"] = xk.detach().cpu().numpy()
        arrays["kde_gen"] = generator_state(kde_gen)
        if batch_gen is not None:
            arrays["batch_gen"] = generator_state(batch_gen)
        if saved_x:
            arrays["saved_x"] = np.stack(saved_x)
        arrays["saved_t"] = np.asarray(saved_t, dtype=np.float64)
        arrays["fourth"] = np.asarray(fourth, dtype=np.float64)
        arrays["kde"] = np.asarray(kde, dtype=np.float64)
        if log_uk is not None:
            arrays["log_u"] = log_uk.detach().cpu().numpy()
        if tr is not None:
            arrays.update({f"tracers.{i}": a.cpu().numpy() for i, a in enumerate(tr.state) if a is not None})
        save_checkpoint(checkpoint, k, arrays,
                        {"identity": identity, "estimator": est_meta, "drift_warned": drift_warned,
                         "elapsed": time.perf_counter() - wall0})

    wall0 = time.perf_counter()
    k_start = 0
    log_u = None
    tr = TracerParticles(problem, tracers, seed=seed, device=dev, dtype=dtype) if tracers is not None else None
    if checkpoint is not None and resume and has_checkpoint(checkpoint):
        k_start, arrays, cmeta = load_checkpoint(checkpoint)
        if cmeta.get("identity") != identity:
            old = cmeta.get("identity") or {}
            diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise CheckpointError(f"the checkpoint in {checkpoint} belongs to a different run (differs in "
                                  f"{diff}); use another folder or resume=False")
        est_arrays = {k[10:]: v for k, v in arrays.items() if k.startswith("estimator.")}
        estimator.set_state(problem, x, t0, seed, est_arrays, cmeta["estimator"])
        for name in rec:
            rec[name][:] = arrays[f"rec.{name}"]
        x = torch.from_numpy(arrays["x"]).to(device=dev)
        set_generator_state(kde_gen, arrays["kde_gen"])
        if batch_gen is not None:
            set_generator_state(batch_gen, arrays["batch_gen"])
        saved_t.extend(arrays["saved_t"].tolist())
        if "saved_x" in arrays:
            saved_x.extend(list(arrays["saved_x"]))
        fourth.extend(arrays["fourth"].tolist())
        kde.extend(arrays["kde"].tolist())
        if "log_u" in arrays:
            log_u = torch.from_numpy(arrays["log_u"]).to(device=dev)
        if tr is not None:
            tr.y, tr.log_u, tr.grad_log_u = (torch.from_numpy(arrays[f"tracers.{i}"]).to(device=dev)
                                             if f"tracers.{i}" in arrays else None for i in range(3))
        drift_warned = bool(cmeta["drift_warned"])
        wall0 -= float(cmeta["elapsed"])
    else:
        estimator.initialize(problem, x, t0, seed)
    if tr is not None and estimator.field(t0) is None:
        raise ValueError(f"tracers need a score field; method={estimator.name!r} only gives values at "
                         "the particles (use 'sbtm' or 'exact')")
    if track_log_density:
        if estimator.field(t0) is None:
            raise ValueError(f"track_log_density=True needs a score field; method={estimator.name!r} only "
                             "gives values at the particles (use 'sbtm' or 'exact')")
        if log_u is None:
            try:
                log_u = problem.log_density(x, t0)
            except NotImplementedError:
                raise ValueError(f"track_log_density=True needs the initial density; {problem.name} has none") from None
    bar = tqdm(total=N, initial=k_start, disable=not progress, desc=f"{problem.name}/{estimator.name} n={n}")
    for k in range(k_start, N + 1):
        if checkpoint is not None and k > k_start and k % checkpoint_every == 0:
            save_state(k, x, log_u)
        tk = float(times[k])
        s, ts = score_at(x, tk)
        if not bool(torch.isfinite(s).all()):
            fail(k, "scores", x)
        v, tv = velocity_at(x, s)
        if not bool(torch.isfinite(v).all()):
            fail(k, "velocities", x)
        # -- diagnostics at X^k with the score used there --------------------------------
        with torch.no_grad():
            xk = x.to(f64)
            m = dg.mean(xk)
            sig = dg.second_moment(xk)
            rec["mean"][k] = m.cpu().numpy()
            rec["energy"][k] = float(dg.energy(xk))
            rec["second_moment"][k] = sig.cpu().numpy()
            rec["entropy_rate"][k] = float(dg.entropy_rate(s.to(f64), v.to(f64)))
            drift = float((m - mean0).norm())
            rec["momentum_drift"][k] = drift
            rec["cov_error_equilibrium"][k] = float(dg.frobenius(sig, sigma_eq))
            if closed_cov:
                rec["cov_error"][k] = float(dg.frobenius(sig, sigma_analytic[k]))
                rec["cov_error_sample"][k] = float(dg.frobenius(sig, sigma_sample[k]))
            if exact:
                s_true = problem.score(xk, tk)
                rec["score_error"][k] = float(relative_score_error(s.to(f64), s_true))
        if track_log_density:
            rate = log_density_rate(x, s, tk)
            with torch.no_grad():
                rec["entropy"][k] = float(log_u.to(f64).mean())
                if exact:
                    rec["kl"][k] = float((log_u.to(f64) - problem.log_density(xk, tk)).mean())
                    if problem.equation == "landau":
                        err = s.to(f64) - s_true
                        D = collision_matrix(xk, gamma=problem.gamma, B=problem.B)
                        rec["score_loss_D"][k] = float(torch.einsum("na,nab,nb->n", err, D, err).mean())
        if tr is not None:      # held-out tracers: the field at the current particles, no training
            tr_rate = tr.rate(estimator.field(tk), x, s)
            if exact:
                rec["kl_tracers"][k], rec["kl_tracers_se"][k] = tr.kl(tk)
            if problem.equation == "landau":
                rec["score_loss_tracers"][k] = tr.score_loss(estimator.field(tk), x, tk)
                if exact:
                    rec["score_loss_D_tracers"][k] = tr.score_loss(estimator.field(tk), x, tk, False)
        rec["time_score"][k], rec["time_velocity"][k] = ts, tv
        rec["gd_steps"][k] = estimator.stats.get("gd_steps", np.nan)
        scale = max(1.0, math.sqrt(rec["energy"][0]))
        if problem.equation == "landau" and not drift_warned and drift > 1e4 * eps * scale * math.sqrt(k + 1):
            warnings.warn(f"momentum drifted by {drift:.3e} at step {k} (t={tk:.6g}); the scheme keeps it to "
                          "round-off, so this signals a bug or an inconsistent velocity", RuntimeWarning,
                          stacklevel=2)
            drift_warned = True
        if k == 0 or k == N or (save_every and k % save_every == 0):
            snapshot(k, x)
        if callback is not None:
            callback(k, tk, x, s, v)
        if k == N:
            break
        # -- the step (scores are computed outside no_grad: SBTM trains inside) -------------
        if stepper == "euler":
            x_new = (x + dt * v).detach()
            if track_log_density:
                log_u = log_u + dt * rate
            if tr is not None:
                tr.advance(dt, tr_rate)
        else:
            x_pred = (x + dt * v).detach()
            if not bool(torch.isfinite(x_pred).all()):
                fail(k + 1, "positions", x)
            s2, ts2 = score_at(x_pred, tk + dt)
            if not bool(torch.isfinite(s2).all()):
                fail(k + 1, "scores", x)
            v2, tv2 = velocity_at(x_pred, s2)
            rec["time_score"][k] += ts2
            rec["time_velocity"][k] += tv2
            x_new = (x + 0.5 * dt * (v + v2)).detach()
            if track_log_density:
                log_u = log_u + 0.5 * dt * (rate + log_density_rate(x_pred, s2, tk + dt))
            if tr is not None:
                tr.advance(dt, tr_rate, tr.rate(estimator.field(tk + dt), x_pred, s2, tr.predict(dt, tr_rate)))
        if not bool(torch.isfinite(x_new).all()):
            fail(k + 1, "positions", x)
        x = x_new
        bar.update(1)
    bar.close()
    return build(N)
