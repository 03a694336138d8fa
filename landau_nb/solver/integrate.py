"""The ``solve`` entry point and its run loop (book: "Particles and conservation").

A run is: check the arguments, draw or take the initial particles, then
:func:`~landau_nb.solver.stepping.time_march`: at every step the score is refreshed at the current positions (:class:`ParticleVelocity`),
the step's diagnostics are recorded (:class:`Recorder`), the invariants are watched
(:class:`HealthMonitor`), and the particles are stepped by forward Euler, the paper's
scheme, or Heun (:func:`advance`). Checkpoints are written by :func:`save_run_state` and
read back by :func:`restore_run_state`.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from .._checks import (check_bool, check_choice, check_device, check_dtype, check_int, check_points,
                      check_positive, check_real, check_request_size, run_memory_bytes)
from .._seeding import make_generator
from .._state import generator_state, set_generator_state
from ..equation.collision import VELOCITY_METHODS
from ..equation.problems import Problem
from ..scores.base import ExactScore
from ..scores.registry import make_estimator
from .checkpoint import CheckpointError, has_checkpoint, load_checkpoint, save_checkpoint
from .health import Blowup, HealthMonitor, check_initial_sample
from .recording import Recorder
from .stepping import Carried, ParticleVelocity, get_stepper, log_density_rate, time_march
from .tracers import TRACER_KEYS, TracerFlow, TracerParticles
from .trajectory import Trajectory, environment_versions

__all__ = ["solve", "NonFiniteError", "save_run_state", "restore_run_state"]

class NonFiniteError(FloatingPointError):
    """A run produced NaN or Inf. Attributes: ``step``, ``time``, ``quantity`` and
    ``trajectory`` (the run up to the last finite state)."""

    def __init__(self, message, *, step, time, quantity, trajectory):
        super().__init__(message)
        self.step, self.time, self.quantity, self.trajectory = step, time, quantity, trajectory


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


# --------------------------------------------------------------------------- checkpoints
def save_run_state(folder, k, x, *, estimator, recorder, health, identity, elapsed, batch_gen=None,
                   carried=()) -> None:
    """Checkpoint the state at the start of step k (positions X^k, the estimator, the records,
    the random streams, the carried quantities, the health flags) into ``folder``."""
    arrays, est_meta = estimator.get_state()
    arrays = {f"estimator.{name}": a for name, a in arrays.items()}
    arrays.update(recorder.state())
    arrays["x"] = x.detach().cpu().numpy()
    if batch_gen is not None:
        arrays["batch_gen"] = generator_state(batch_gen)
    for c in carried:
        arrays.update({f"carried.{c.name}{suffix}": a for suffix, a in c.arrays().items()})
    save_checkpoint(folder, k, arrays, {"identity": identity, "estimator": est_meta,
                                        "drift_warned": health.momentum_warned,
                                        "energy_warned": health.energy_warned, "elapsed": elapsed})


def restore_run_state(folder, identity, *, problem, estimator, recorder, health, x, seed, batch_gen=None):
    """Read the checkpoint in ``folder`` written by :func:`save_run_state` for the run with
    this ``identity`` (else :class:`CheckpointError`); restores the estimator, recorder,
    random stream and health flags in place. Returns (k, X^k, the carried quantities' arrays
    by name (``Carried.load`` takes them back), elapsed seconds)."""
    k, arrays, cmeta = load_checkpoint(folder)
    if cmeta.get("identity") != identity:
        old = cmeta.get("identity") or {}
        diff = sorted(key for key in set(old) | set(identity) if old.get(key) != identity.get(key))
        raise CheckpointError(f"the checkpoint in {folder} belongs to a different run (differs in "
                              f"{diff}); use another folder or resume=False")
    est_arrays = {name[10:]: a for name, a in arrays.items() if name.startswith("estimator.")}
    estimator.set_state(problem, x, problem.t0, seed, est_arrays, cmeta["estimator"])
    recorder.restore(arrays)
    if batch_gen is not None:
        set_generator_state(batch_gen, arrays["batch_gen"])
    health.momentum_warned = bool(cmeta["drift_warned"])
    health.energy_warned = bool(cmeta.get("energy_warned", False))
    dev = x.device
    carried = {name[8:]: a for name, a in arrays.items() if name.startswith("carried.")}
    return k, torch.from_numpy(arrays["x"]).to(device=dev), carried, float(cmeta["elapsed"])


# --------------------------------------------------------------------------- solve
def solve(problem: Problem, method="sbtm", *, n: int | None = None, x0: torch.Tensor | None = None,
          seed: int = 0, device="cpu", dtype=torch.float64, stepper="euler",
          dt: float | None = None, t_end: float | None = None, save_every: int | None = None,
          velocity_method: str = "auto", batch_size: int | None = None, kde_l2: bool = False, kde_samples: int = 2**14,
          track_log_density: bool = False, tracers: int | None = None, progress: bool = False, callback=None,
          checkpoint=None, checkpoint_every: int = 50, resume: bool = True,
          **options) -> Trajectory:
    """Solve ``problem`` with particles moved by its velocity field and scores from ``method``.

    Parameters
    ----------
    problem : a :class:`~landau_nb.equation.problems.Problem` (e.g. ``anisotropic_gaussian(3)``).
    method : "sbtm", "blob", "exact" or a :class:`ScoreEstimator`; ``options`` go to its
        constructor (e.g. ``lr=1e-3``, ``bandwidth="reference"``).
    n, x0 : number of particles drawn from u_{t0} with ``seed`` (CPU, float64, then cast), or
        the initial particles themselves (their device and dtype then rule the run).
    seed : seeds the initial sample and the estimator's random streams.
    device, dtype : where and in which precision to run ("cpu"/"cuda", float32/float64).
    stepper : "euler" (the paper's), "heun", or a :class:`~landau_nb.solver.stepping.Stepper`.
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
    tracers : a number m >= 2 of held-out tracers (:class:`~landau_nb.solver.tracers.TracerParticles`,
        own random stream): drawn from u_{t0}, moved by the same velocity field, carrying log u
        (and grad log u where the initial score is known), no part in training or in the
        interaction sum; the particles' run is unchanged. For exact-solution problems records
        ``kl_tracers`` and ``kl_tracers_se``, an unbiased estimate of KL(u_t || u*_t) and its
        standard error; for Landau problems ``score_loss_tracers`` = (1/m) sum |s - grad log u_t|^2_D
        at the tracers with the transported score of u_t (the loss of Theorem 4.2), and
        ``score_loss_D_tracers``, the same with grad log u*_t.
    progress : show a tqdm progress bar. callback : called as ``callback(k, t, x, s, v)``.
    checkpoint : a folder for checkpoints (written atomically every ``checkpoint_every``
        steps, with the network, optimiser and random-stream states). With ``resume=True`` a
        run that finds a checkpoint of the same run there continues from it and ends
        bit-identical (on CPU) to an uninterrupted run; a checkpoint of a different run, or a
        damaged one, raises :class:`~landau_nb.solver.checkpoint.CheckpointError`. The folder is
        left in place at the end (the caller removes it once the result is saved).

    Health (book: "Particles and conservation"): degenerate initial particles (n <= d, a
    zero-variance direction, coincident particles) warn before the run (the blob method's
    bandwidth rules refuse them); in Landau runs a momentum drift beyond round-off and an
    energy drift beyond ``health.ENERGY_DRIFT_RTOL`` warn once each, with step, time and advice.

    Returns a :class:`Trajectory`. Raises :class:`NonFiniteError` (with the partial run, whose
    last snapshot is the last finite state, labelled with its own time) if positions, scores
    or velocities stop being finite.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a landau_nb Problem, got {type(problem).__name__}")
    scheme = get_stepper(stepper)
    stepper = scheme.name
    check_choice("velocity_method", velocity_method, VELOCITY_METHODS)
    if not problem.equation.collisional and (velocity_method != "auto" or batch_size is not None):
        given = f"velocity_method={velocity_method!r}" if velocity_method != "auto" else f"batch_size={batch_size!r}"
        raise ValueError(f"{given} chooses how the Landau pair sum is evaluated; the {problem.equation.name} "
                         f"problem {problem.name!r} has a velocity without pair sum: leave velocity_method='auto' "
                         "and batch_size=None")
    seed = check_int("seed", seed, low=0)
    kde_l2 = check_bool("kde_l2", kde_l2)
    track_log_density = check_bool("track_log_density", track_log_density)
    progress = check_bool("progress", progress)
    resume = check_bool("resume", resume)
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

    def check_size(n, dtype):
        """The runner's bounds, before anything is allocated: n <= MAX_PARTICLES and the
        run's memory estimate below the memory available."""
        check_request_size(n=n)
        units = 0
        if (isinstance(method, str) and method == "sbtm") or getattr(method, "name", None) == "sbtm":
            width = getattr(method, "width", None) or options.get("width", 100)
            depth = getattr(method, "depth", None) or options.get("depth", 1)
            units = int(width) * int(depth) if isinstance(width, int) and isinstance(depth, int) else 0
        snapshots = 2 + (N // save_every if save_every else 0)
        check_request_size(nbytes=run_memory_bytes(n=n, d=problem.d, steps=N, snapshots=snapshots,
                                                   itemsize=torch.finfo(dtype).bits // 8, sbtm_units=units),
                           what=f"a run of n={n} particles over {N} steps")

    if x0 is None:
        if n is None:
            raise ValueError("give the number of particles n (n >= 2) or the initial particles x0")
        n = check_int("n", n, low=2)
        dtype = check_dtype(dtype)
        dev = check_device(device)
        check_size(n, dtype)
        x = problem.sample(n, make_generator(seed, "initial-sample")).to(device=dev, dtype=dtype)
    else:
        check_size(check_points("x0", x0).shape[0], x0.dtype)
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
    if tracers is not None:
        tracers = check_int("tracers", tracers, low=2)
    recorder = Recorder(problem, x, times, track_log_density=track_log_density, kde_l2=kde_l2,
                        kde_samples=kde_samples, seed=seed, extra_keys=TRACER_KEYS if tracers else ())
    batch_gen = make_generator(seed, "random-batch") if batch_size is not None else None
    batch = {"batch_size": batch_size, "generator": batch_gen} if batch_gen is not None else {}
    velocity = ParticleVelocity(problem, estimator, velocity_method=velocity_method, batch=batch)
    health = HealthMonitor(problem.equation, dtype, dt)

    meta = {
        "problem": problem.params(), "n": n, "d": d, "seed": seed, "dtype": str(dtype).replace("torch.", ""),
        "device": str(dev), "stepper": stepper, "dt": dt, "t_end": float(times[-1]), "steps": N,
        "velocity_method": velocity_method, "batch_size": batch_size,
        "track_log_density": bool(track_log_density),
        "versions": environment_versions(),
    }
    if tracers is not None:
        meta["tracers"] = tracers
    # identity of the run: a checkpoint is only resumed by the same run
    identity = {k: v for k, v in meta.items() if k != "versions"}
    identity.update(estimator=estimator.params(), save_every=save_every, kde_l2=bool(kde_l2),
                    kde_samples=kde_samples, x0_sha=_array_digest(x))
    identity = json.loads(json.dumps(identity, sort_keys=True, default=float))

    def result(upto):
        loss_log = getattr(estimator, "loss_log", None)
        extra = {"loss_log": np.asarray(loss_log, dtype=np.float64)} if loss_log else {}
        meta_out = dict(meta, estimator=estimator.params(), completed_steps=upto,
                        wall_time={"total": time.perf_counter() - wall0,
                                   "score": float(np.nansum(recorder.rec["time_score"])),
                                   "velocity": float(np.nansum(recorder.rec["time_velocity"]))})
        return recorder.trajectory(upto, n, meta_out, extra)

    wall0 = time.perf_counter()
    k_start, restored = 0, {}
    if checkpoint is not None and resume and has_checkpoint(checkpoint):
        k_start, x, restored, elapsed = restore_run_state(
            checkpoint, identity, problem=problem, estimator=estimator, recorder=recorder, health=health,
            x=x, seed=seed, batch_gen=batch_gen)
        wall0 -= elapsed
    else:
        estimator.initialize(problem, x, t0, seed)      # the blob's bandwidth rules refuse degenerate x
        for trouble in check_initial_sample(x, "x0" if x0 is not None else f"the initial sample (seed={seed})"):
            warnings.warn(f"degenerate initial particles: {trouble}", RuntimeWarning, stacklevel=2)
    carried = []
    if track_log_density:
        if estimator.field(t0) is None:
            raise ValueError(f"track_log_density=True needs a score field; method={estimator.name!r} only "
                             "gives values at the particles (use 'sbtm' or 'exact')")
        log_u = None
        if "log_u" not in restored:
            try:
                log_u = problem.log_density(x, t0)
            except NotImplementedError:
                raise ValueError(f"track_log_density=True needs the initial density; {problem.name} has none") from None
        carried.append(Carried("log_u", log_u, log_density_rate(problem, estimator)))
    if tracers is not None:
        if estimator.field(t0) is None:
            raise ValueError(f"tracers need a score field; method={estimator.name!r} only gives values at "
                             "the particles (use 'sbtm' or 'exact')")
        carried.append(TracerFlow(TracerParticles(problem, tracers, seed=seed, device=dev, dtype=dtype),
                                  estimator))
    for c in carried:                                     # resumed: the values of the checkpoint
        part = {key[len(c.name):]: a for key, a in restored.items()
                if key == c.name or key.startswith(c.name + ".")}
        if part:
            c.load(part, dev)

    def save_state(k, xk):
        if k % checkpoint_every == 0:
            save_run_state(checkpoint, k, xk, estimator=estimator, recorder=recorder, health=health,
                           identity=identity, elapsed=time.perf_counter() - wall0, batch_gen=batch_gen,
                           carried=carried)

    bar = tqdm(total=N, initial=k_start, disable=not progress, desc=f"{problem.name}/{estimator.name} n={n}")
    try:
        time_march(x, times, dt, scheme, velocity, recorder, health, carried=carried, k_start=k_start,
                   save_every=save_every, callback=callback,
                   checkpoint=save_state if checkpoint is not None else None, bar=bar)
    except Blowup as b:
        last = b.last_step
        if not recorder.saved_t or recorder.saved_t[-1] != times[last]:
            recorder.snapshot(last, b.last_x)
        raise NonFiniteError(f"non-finite {b.quantity} at step {b.step} (t={times[b.step]:.6g}) with method="
                             f"{estimator.name!r}, dt={dt:g}; the run up to the last finite state (step "
                             f"{last}, t={times[last]:.6g}) is in the exception's .trajectory; {_ADVICE}",
                             step=b.step, time=float(times[b.step]), quantity=b.quantity,
                             trajectory=result(max(b.step - 1, 0))) from None
    finally:
        bar.close()
    return result(N)
