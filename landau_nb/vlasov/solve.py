"""Running the Vlasov–Landau particle solver: :func:`solve_vlasov` and its result
:class:`PhaseSpaceTrajectory` (saved as ``.npz`` + ``.json``, no pickle), with checkpoints
that resume bit-identically on the CPU."""

from __future__ import annotations

import json
import math
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ._deps import (CheckpointError, NonFiniteError, ResultFileError, __version__, check_bool,
                    file_sha256 as _sha256, save_npz_json,
                    check_choice, check_device, check_dtype, check_int, check_positive,
                    environment_versions, has_checkpoint, load_checkpoint, save_checkpoint)
from .collisions import COLLISION_METHODS
from .diagnostics import PROFILES, measure, phase_space_histogram
from .field import PeriodicMesh
from .fitting import fit_frequency, fit_rate
from .model import START_MODES, Particles, VlasovLandau, sample_particles
from .reference import ContinuumVlasovPoisson
from .scores import PhaseSpaceScore, make_score
from .spatial import SPATIAL_WEIGHTS, SpatialWeight
from .stepping import (COLLISION_SCHEMES, _clock, PHASES, SPLITTINGS, CollisionStep, NonFiniteQuantity,
                       PhaseSpaceState, VlasovPoissonStep, make_splitting)

__all__ = ["solve_vlasov", "continuum_reference_score", "PhaseSpaceTrajectory", "PLASMA_LIMIT", "CFL_LIMIT"]

#: dt·ω_p must not exceed this: the leapfrog is stable up to ω_p dt < 2, and at 0.5 its
#: Langmuir phase error (ω_p dt)²/24 is about 1 %.
PLASMA_LIMIT = 0.5
#: max|v₁|·dt / Δx (initial particles, field mesh) must not exceed this: the fastest particle
#: crosses at most four cells per step. The drift itself is exact for any dt; the limit guards the
#: deposit's resolution of the fastest particles (and leaves dt = 0.05 at M = 128, L = 4π).
CFL_LIMIT = 4.0

_SCALAR_VECTORS = ("momentum",)


# ------------------------------------------------------------------------------------------ result
class PhaseSpaceTrajectory:
    """The result of :func:`solve_vlasov`.

    Attributes
    ----------
    t : (R,) record times.
    records : dict of per-record arrays: the scalars of :mod:`landau_nb.vlasov.diagnostics`
        (R,), ``momentum`` (R, dv) and ``second_moment`` (R, dv, dv).
    profiles : dict of per-record mesh profiles ``density``, ``T``, ``T_ratio``,
        ``score_error_x`` (R, M) and ``u`` (R, M, dv) (a compact stored run keeps some rows:
        their times are :attr:`profile_t`).
    snapshot_t, snapshots : times (S,) and (x, v₁) phase-space densities (S, M, 64) on
        [0, L) × [−vmax, vmax) (``meta["snapshot_vmax"]``).
    final : dict ``x``, ``v``, ``w`` of the particles at the last time.
    meta : JSON-ready settings, model, score parameters, versions, timings; after
        :meth:`save`, ``npz_sha256`` (the SHA-256 of the .npz, checked by :meth:`load`).
    checksum : after :meth:`load`, "verified" or "unverified" (no recorded SHA-256); else None.
    """

    checksum = None

    def __init__(self, *, t, records: dict, profiles: dict, snapshot_t, snapshots, final: dict, meta: dict):
        self.t = np.asarray(t, dtype=np.float64)
        self.records = {k: np.asarray(v) for k, v in records.items()}
        self.profiles = {k: np.asarray(v) for k, v in profiles.items()}
        self.snapshot_t = np.asarray(snapshot_t, dtype=np.float64)
        self.snapshots = np.asarray(snapshots)
        self.final = {k: np.asarray(v) for k, v in final.items()}
        self.meta = meta

    def __getitem__(self, key):
        if key in self.records:
            return self.records[key]
        if key in self.profiles:
            return self.profiles[key]
        raise KeyError(f"{key!r} is not recorded; records: {sorted(self.records)}, profiles: {sorted(self.profiles)}")

    def __repr__(self):
        s = self.meta["settings"]
        return (f"PhaseSpaceTrajectory({self.meta['model']['initial']['name']}, n={s['n']}, M={s['M']}, "
                f"dt={s['dt']:g}, t=[{self.t[0]:g}, {self.t[-1]:g}], records={len(self.t)})")

    @property
    def profile_t(self) -> np.ndarray:
        """The times of the profile rows: ``t``, or its kept rows when a compact run thinned
        them (``meta["profile_rows"]``)."""
        rows = self.meta.get("profile_rows")
        return self.t if rows is None else self.t[np.asarray(rows, dtype=int)]

    @property
    def E_mode(self) -> np.ndarray:
        """The complex k-mode Ê_k(t)."""
        return self.records["E_mode_re"] + 1j * self.records["E_mode_im"]

    def damping_rate(self, window=(0.2, 15.0), *, method: str = "peaks") -> dict:
        """Least-squares rate of log‖E‖ on ``window`` (:func:`~landau_nb.vlasov.fitting.fit_rate`;
        ``method="peaks"``: the local maxima, as the facts note's reference rates)."""
        return fit_rate(self.t, self.records["E_norm"], window, method=method)

    def growth_rate(self, window=(12.0, 24.0), *, method: str = "all") -> dict:
        """Least-squares rate of log‖E‖ over every record in ``window`` (purely growing modes)."""
        return fit_rate(self.t, self.records["E_norm"], window, method=method)

    def frequency(self, window=(0.2, 15.0)) -> dict:
        """ω from the interpolated zero crossings of the k-mode (:func:`fit_frequency`)."""
        return fit_frequency(self.t, self.E_mode, window)

    def energy_drift(self) -> float:
        """max_t |E_tot(t) − E_tot(0)| / (initial field energy): the facts note's measure."""
        te = self.records["total_energy"]
        return float(np.max(np.abs(te - te[0])) / self.records["field_energy"][0])

    def momentum_drift(self) -> float:
        """max_t |P(t) − P(0)| / Σ w (per component, the largest)."""
        p = self.records["momentum"]
        return float(np.max(np.abs(p - p[0])) / self.records["mass"][0])

    def timing(self) -> dict:
        """Seconds per phase (push, field, score, collision) over the run."""
        return {p: float(self.records[f"time_{p}"][-1]) for p in PHASES}

    # -- files ----------------------------------------------------------------------------
    @staticmethod
    def _paths(path):
        p = Path(path)
        if p.suffix in (".npz", ".json"):
            p = p.with_suffix("")
        return p.with_name(p.name + ".npz"), p.with_name(p.name + ".json")

    def save(self, path) -> Path:
        """Write ``path.npz`` (named arrays) and ``path.json`` (metadata: settings, model, score,
        versions), each atomically; returns the .npz path."""
        npz, js = self._paths(path)
        npz.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"t": self.t, "snapshot_t": self.snapshot_t, "snapshots": self.snapshots}
        arrays.update({f"records.{k}": v for k, v in self.records.items()})
        arrays.update({f"profiles.{k}": v for k, v in self.profiles.items()})
        arrays.update({f"final.{k}": v for k, v in self.final.items()})
        self.meta = save_npz_json(npz, js, arrays, self.meta)
        return npz

    @classmethod
    def load(cls, path) -> "PhaseSpaceTrajectory":
        """Read a result written by :meth:`save` (``allow_pickle=False``); raises
        ``ResultFileError`` naming the file when it is damaged or not such a result."""
        npz, js = cls._paths(path)
        for f in (npz, js):
            if not f.exists():
                raise FileNotFoundError(2, f"missing (a result needs both {npz.name} and {js.name})", str(f))
        try:
            meta = json.loads(js.read_text())
        except (UnicodeDecodeError, ValueError) as exc:
            raise ResultFileError(js, f"not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or not {"settings", "model", "versions"} <= set(meta):
            raise ResultFileError(js, "metadata lacks 'settings', 'model' or 'versions' (not a Vlasov result)")
        if meta["versions"].get("landau_nb") != __version__:
            warnings.warn(f"{js} was written by landau_nb {meta['versions'].get('landau_nb')}; this is "
                          f"{__version__}", UserWarning, stacklevel=2)
        try:
            with np.load(npz, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError, OSError) as exc:
            raise ResultFileError(npz, f"damaged or truncated ({type(exc).__name__}: {exc})") from None
        for key in ("t", "snapshot_t", "snapshots", "records.E_norm"):
            if key not in arrays:
                raise ResultFileError(npz, f"has no array {key!r} (not a Vlasov result)")
        pick = lambda pre: {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)}  # noqa: E731
        traj = cls(t=arrays["t"], records=pick("records."), profiles=pick("profiles."),
                   snapshot_t=arrays["snapshot_t"], snapshots=arrays["snapshots"], final=pick("final."), meta=meta)
        R = len(traj.t)
        P = len(meta.get("profile_rows", range(R)))
        for k, v in list(traj.records.items()) + list(traj.profiles.items()):
            want = P if k in traj.profiles else R
            if v.shape[0] != want:
                raise ResultFileError(npz, f"array {k!r} has {v.shape[0]} rows; expected {want} (one per record"
                                           f"{' kept' if want != R else ''})")
        recorded = meta.get("npz_sha256")
        if recorded is not None:        # (checked last: a damaged .npz is named as damaged above)
            actual = _sha256(npz)
            if actual != recorded:
                raise ResultFileError(npz, f"does not match its .json (SHA-256 {actual[:12]}..., the .json "
                                           f"records {str(recorded)[:12]}...): the .npz was replaced or edited")
        traj.checksum = "verified" if recorded is not None else "unverified"
        return traj


# ------------------------------------------------------------------------------------------ solver
def _identity(settings: dict) -> dict:
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def _first_difference(a: dict, b: dict, prefix="") -> str:
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, "<missing>"), b.get(key, "<missing>")
        if isinstance(va, dict) and isinstance(vb, dict):
            found = _first_difference(va, vb, prefix + key + ".")
            if found:
                return found
        elif va != vb:
            return f"{prefix}{key}: stored {va!r}, asked {vb!r}"
    return ""


class _Recorder:
    """Per-record diagnostics written into arrays allocated once for the whole run.

    (Keeping one small array per record and quantity instead pins the allocator's heap
    between the large per-step temporaries: at n = 1e6 the resident memory then grew by
    ~15 MB per step.)"""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.i = 0
        self.t = np.full(capacity, np.nan)
        self.rows: dict = {}
        self.snap_t: list = []
        self.snaps: list = []

    def add(self, t, diag):
        if self.i >= self.capacity:
            raise RuntimeError(f"more records than the {self.capacity} planned")
        self.t[self.i] = t
        for k, v in diag.items():
            if k not in self.rows:
                shape = np.shape(v)
                self.rows[k] = np.full((self.capacity,) + shape, np.nan, dtype=np.float64)
            self.rows[k][self.i] = v
        self.i += 1

    def arrays(self):
        i = self.i
        scal = {k: v[:i].copy() for k, v in self.rows.items() if k not in PROFILES}
        prof = {k: v[:i].copy() for k, v in self.rows.items() if k in PROFILES}
        return self.t[:i].copy(), scal, prof

    def to_checkpoint(self) -> dict:
        t, scal, prof = self.arrays()
        out = {"rec.t": t, "rec.snap_t": np.asarray(self.snap_t, dtype=np.float64)}
        out.update({f"rec.s.{k}": v for k, v in scal.items()})
        out.update({f"rec.p.{k}": v for k, v in prof.items()})
        if self.snaps:
            out["rec.snaps"] = np.stack(self.snaps)
        return out

    @classmethod
    def from_checkpoint(cls, arrays: dict, capacity: int) -> "_Recorder":
        r = cls(capacity)
        t = arrays["rec.t"]
        r.i = len(t)
        r.t[:r.i] = t
        for k, v in arrays.items():
            if k.startswith("rec.s.") or k.startswith("rec.p."):
                r.rows[k[6:]] = np.full((capacity,) + v.shape[1:], np.nan, dtype=np.float64)
                r.rows[k[6:]][:r.i] = v
        r.snap_t = arrays["rec.snap_t"].tolist()
        r.snaps = list(arrays["rec.snaps"]) if "rec.snaps" in arrays else []
        return r


def _validate_dt(model: VlasovLandau, dt: float, v1max: float, dx: float) -> None:
    if dt * model.omega_p > PLASMA_LIMIT:
        raise ValueError(f"dt={dt:g} is out of range: dt·ω_p = {dt * model.omega_p:.3g} exceeds the plasma "
                         f"limit {PLASMA_LIMIT} (ω_p = {model.omega_p:.3g}); lower dt")
    if v1max * dt > CFL_LIMIT * dx:
        raise ValueError(f"dt={dt:g} is out of range: max|v1|·dt = {v1max * dt:.3g} exceeds {CFL_LIMIT:g}·Δx = "
                         f"{CFL_LIMIT * dx:.3g} (the fastest particle would cross more than {CFL_LIMIT:g} cells "
                         f"per step); lower dt to <= {CFL_LIMIT * dx / v1max:.3g} or use fewer cells M")


def continuum_reference_score(model: VlasovLandau, *, dt: float = 0.05, nx: int = 128, nv: int = 1024):
    """The exact score of ``model``'s collisionless solution as a callable ``(x, v, t) -> (n, dv)``
    tensor (like x's dtype and device): a :class:`~.reference.ContinuumVlasovPoisson` on
    ``nx × nv`` (default 128 × 1024 on [−8, 8), Δv = 1/64) stepped with ``dt`` and advanced to
    each time asked (times must not decrease; a call at an earlier time restarts it from t = 0,
    as a resumed run does). For ``landau_damping`` and ``two_stream`` starts (the other velocity
    directions are unit-Maxwellian spectators). Section "Vlasov–Landau II" of the book."""
    if not isinstance(model, VlasovLandau):
        raise TypeError(f"model must be a VlasovLandau, got {type(model).__name__}")
    init = model.initial
    problems = {"landau_damping": "landau", "two_stream": "two_stream"}
    if init.name not in problems:
        raise ValueError(f"reference_score='continuum' needs a landau_damping or two_stream start, got "
                         f"{init.name!r}")
    if abs(model.L * init.k / (2 * math.pi) - 1) > 1e-12:
        raise ValueError(f"reference_score='continuum' needs one wavelength in the box (L = 2π/k); got L = "
                         f"{model.L:g}, k = {init.k:g}")
    opts = {"problem": problems[init.name], "k": init.k, "alpha": init.alpha, "dt": dt, "nx": nx, "nv": nv}
    if init.name == "two_stream":
        opts["v0"] = init.v0
    box = {"c": ContinuumVlasovPoisson(**opts)}

    def score(x, v, t):
        if t < box["c"].t - 1e-12:
            box["c"] = ContinuumVlasovPoisson(**opts)
        box["c"].advance_to(t)
        out = box["c"].score(x.detach().cpu().double().numpy(), v.detach().cpu().double().numpy())
        return torch.from_numpy(out).to(dtype=x.dtype, device=x.device)

    return score


def solve_vlasov(model: VlasovLandau, *, n: int | None = None, M: int = 64, dt: float = 0.05, t_end: float,
                 score="blob", score_options: dict | None = None, splitting: str = "strang",
                 collision_scheme: str = "heun", spatial_weight: str = "hat", collision_cells: int | None = None,
                 collision_method: str = "auto", start: str = "quiet", seed: int = 0, dtype=torch.float64,
                 device="cpu", record_every: int = 1, snapshot_every: int | None = None,
                 snapshot_vmax: float | None = None, checkpoint=None, checkpoint_every: int = 50,
                 stop_after: int | None = None, particles: Particles | None = None,
                 fuse_collisions: bool = True, reference_score=None) -> PhaseSpaceTrajectory:
    """Solve the Vlasov–Poisson–Landau model with particles.

    Parameters
    ----------
    model : the :class:`VlasovLandau` model (equation, initial condition, B, γ, L).
    n : number of particles (≥ 2; not needed when ``particles`` is given).
    M : field mesh nodes (≥ 2).
    dt : time step, > 0, with dt·ω_p ≤ :data:`PLASMA_LIMIT` and max|v₁|·dt ≤ :data:`CFL_LIMIT`·Δx.
    t_end : final time, a whole number of steps.
    score : "blob" (default), "kde", "sbtm", "maxwellian" or a :class:`PhaseSpaceScore`
        (collisional models only); ``score_options`` its keyword arguments.
    splitting : "strang" (default, second order) or "lie".
    collision_scheme : "heun" (default) or "euler" (energy change: see :mod:`.stepping`).
    spatial_weight : ψ of the collision operator, "hat" (default), "cell" or "cic"
        (:mod:`.spatial`), on ``collision_cells`` cells (default M).
    collision_method : "auto", "direct", "compiled", "moments" (:mod:`.collisions`).
    start : "quiet" (default, low-discrepancy) or "random"; ``seed`` seeds it and the score.
    dtype, device : torch float32/float64; "cpu" or "cuda".
    record_every : record the diagnostics every this many steps (and at the end).
    snapshot_every : store the (x, v₁) phase-space density every this many steps (None: first
        and last only) on [−vmax, vmax), vmax = ``snapshot_vmax`` or max|v₁| at t = 0.
    checkpoint : a folder: the run's state is written there every ``checkpoint_every`` steps
        (and when ``stop_after`` ends the call), and a later call with the same settings
        resumes from it, ending bit-identical (CPU) to an uninterrupted run, wherever the
        checkpoint falls. Different settings raise ``CheckpointError`` naming the first difference.
    stop_after : do at most this many steps in this call (then return the partial result,
        ``meta["complete"]`` False); needs ``checkpoint`` to continue later. When the stop falls
        between two fused steps (``fuse_collisions``), ``final`` already holds the next step's
        first collision half step (``meta["pending_half_step"]``).
    particles : start from these particles instead of sampling (``n`` must be None or match).
    fuse_collisions : Strang only: between two steps that are not recorded, fuse the collision
        half steps C(dt/2) C(dt/2) into one C(dt) (half the score and collision evaluations,
        still second order). With ``record_every=1`` (the default) nothing is fused; checkpoints
        and stops do not change which steps are fused.
    reference_score : None (default), ``"continuum"`` or a callable ``(x, v, t) -> (n, dv)``
        score: each record of a collisional run adds ``score_error_ref`` and ``lm_error_ref``,
        the relative squared distances of the estimator's and of the local-Maxwellian score to
        it (:mod:`.diagnostics`). ``"continuum"``: the exact score of the noise-free
        collisionless solution (:func:`continuum_reference_score`; landau_damping and two_stream
        starts), a reference for the estimators while collisions are weak (λBt ≪ 1). Measuring
        it does not change the run.

    Raises ``NonFiniteError`` (``step``, ``time``, ``quantity``, ``trajectory`` up to the last
    finite record) when a quantity becomes NaN or Inf.
    """
    if not isinstance(model, VlasovLandau):
        raise TypeError(f"model must be a VlasovLandau, got {type(model).__name__}")
    M = check_int("M", M, low=2)
    dt = check_positive("dt", dt)
    t_end = check_positive("t_end", t_end)
    total = int(round(t_end / dt))
    if total < 1 or abs(total * dt - t_end) > 1e-9 * max(1.0, t_end):
        raise ValueError(f"t_end={t_end:g} is not a whole number of steps dt={dt:g}")
    check_choice("splitting", splitting, SPLITTINGS)
    check_choice("collision_scheme", collision_scheme, COLLISION_SCHEMES)
    check_choice("spatial_weight", spatial_weight, SPATIAL_WEIGHTS)
    check_choice("collision_method", collision_method, COLLISION_METHODS)
    check_choice("start", start, START_MODES)
    seed = check_int("seed", seed, low=0)
    dtype = check_dtype(dtype)
    device = check_device(device)
    record_every = check_int("record_every", record_every, low=1)
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every, low=1)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, low=1)
    if stop_after is not None:
        stop_after = check_int("stop_after", stop_after, low=1)
    cells = M if collision_cells is None else check_int("collision_cells", collision_cells, low=1)
    fuse_collisions = check_bool("fuse_collisions", fuse_collisions)
    if particles is None:
        if n is None:
            raise TypeError("solve_vlasov() needs n (the number of particles) or particles")
        n = check_int("n", n, low=2)
    else:
        if not isinstance(particles, Particles):
            raise TypeError(f"particles must be a Particles, got {type(particles).__name__}")
        if n is not None and check_int("n", n, low=2) != particles.n:
            raise ValueError(f"n={n} does not match the {particles.n} particles given")
        n = particles.n
        if particles.dv != model.dv:
            raise ValueError(f"particles have dv={particles.dv}, the model dv={model.dv}")
    score_options = dict(score_options or {})
    if model.collisional:
        est: PhaseSpaceScore | None = make_score(score, **score_options)
    else:
        est = None
    if snapshot_vmax is not None:
        snapshot_vmax = check_positive("snapshot_vmax", snapshot_vmax)
    if reference_score is not None and not model.collisional:
        raise ValueError("reference_score is measured on the score of the collision step; the model has B = 0 "
                         "(give B > 0, e.g. B = 0.001 for a run that follows the collisionless solution)")
    if reference_score is None:
        reference = None
    elif isinstance(reference_score, str):
        if reference_score != "continuum":
            raise ValueError(f"reference_score={reference_score!r} is not known; allowed: None, 'continuum' "
                             "or a callable (x, v, t) -> score")
        reference = continuum_reference_score(model, dt=dt)
    elif callable(reference_score):
        reference = reference_score
    else:
        raise TypeError(f"reference_score must be None, 'continuum' or a callable, got {type(reference_score).__name__}")

    settings = {"n": n, "M": M, "dt": dt, "t_end": t_end, "steps": total, "score": est.params() if est else None,
                "splitting": splitting, "collision_scheme": collision_scheme, "spatial_weight": spatial_weight,
                "collision_cells": cells, "collision_method": collision_method, "start": start, "seed": seed,
                "dtype": str(dtype).replace("torch.", ""), "device": device.type, "record_every": record_every,
                "snapshot_every": snapshot_every, "custom_particles": particles is not None,
                "fuse_collisions": fuse_collisions}
    if reference_score is not None:        # absent when not asked for: the identity of every other run is unchanged
        settings["reference_score"] = reference_score if isinstance(reference_score, str) else "callable"
    identity = _identity({"settings": settings, "model": model.params(), "landau_nb": __version__})

    # -- particles, mesh, steppers --------------------------------------------------------
    mesh = PeriodicMesh(model.L, M, dtype=dtype, device=device)
    if particles is None:
        p0 = sample_particles(model, n, start=start, seed=seed, dtype=dtype, device=device)
    else:
        p0 = particles.to(dtype=dtype, device=device).clone()
    v1max = float(p0.v[:, 0].abs().max())
    _validate_dt(model, dt, v1max, mesh.dx)
    vmax = snapshot_vmax or math.ceil(2 * v1max) / 2
    weight = SpatialWeight(spatial_weight, model.L, cells) if model.collisional else None
    vlasov = VlasovPoissonStep(mesh, model.rho_ion)
    collide = CollisionStep(model, weight, est, scheme=collision_scheme, method=collision_method) if est else None
    stepper = make_splitting(splitting, vlasov, collide)

    rho, E, E_part = mesh.field(p0.x, p0.w, model.rho_ion)
    state = PhaseSpaceState(x=p0.x, v=p0.v, w=p0.w, rho=rho, E=E, E_part=E_part)
    k = 2 * math.pi / model.L * max(1, round(model.initial.k * model.L / (2 * math.pi)))
    folder = Path(checkpoint) if checkpoint is not None else None
    capacity = 1 + sum(1 for st in range(1, total + 1) if st % record_every == 0 or st == total)
    resumed = False
    resumed_skip_first = False
    init_seconds = 0.0
    wall0 = time.perf_counter()
    if folder is not None and has_checkpoint(folder):
        step, arrays, cmeta = load_checkpoint(folder)
        if cmeta.get("identity") != identity:
            diff = _first_difference(cmeta.get("identity", {}), identity)
            raise CheckpointError(f"checkpoint {folder} belongs to another run ({diff}); use another folder "
                                  "or delete it to start afresh")
        tt = lambda a: torch.from_numpy(np.array(a)).to(device=device)  # noqa: E731
        state = PhaseSpaceState(x=tt(arrays["x"]), v=tt(arrays["v"]), w=tt(arrays["w"]), rho=tt(arrays["rho"]),
                                E=tt(arrays["E"]), E_part=tt(arrays["E_part"]), step=step, t=step * dt,
                                ledger=dict(cmeta["ledger"]), timers=dict(cmeta["timers"]))
        fe0 = cmeta["field_energy0"]
        init_seconds = cmeta.get("init_seconds", 0.0)
        rec = _Recorder.from_checkpoint(arrays, capacity)
        if est is not None:
            est.set_state(model, Particles(state.x, state.v, state.w), weight=weight, mesh=mesh, seed=seed,
                          arrays={k_[6:]: v for k_, v in arrays.items() if k_.startswith("score.")},
                          meta=cmeta["score"])
        resumed = True
        resumed_skip_first = bool(cmeta.get("skip_first", False))
    else:
        if est is not None:
            t0 = _clock(p0.x)
            est.initialize(model, p0, weight=weight, mesh=mesh, seed=seed)
            init_seconds = _clock(p0.x) - t0
        fe0 = mesh.field_energy(E)
        rec = _Recorder(capacity)
        rec.add(0.0, measure(state, mesh, k, fe0))
        rec.snap_t.append(0.0)
        rec.snaps.append(phase_space_histogram(state.x, state.v[:, 0], state.w, L=model.L, bins_x=M,
                                               vmax=vmax).cpu().numpy())

    def write_checkpoint():
        arrays = {"x": state.x, "v": state.v, "w": state.w, "rho": state.rho, "E": state.E, "E_part": state.E_part}
        arrays = {k_: v.detach().cpu().numpy() for k_, v in arrays.items()}
        arrays.update(rec.to_checkpoint())
        smeta = {}
        if est is not None:
            sarr, smeta = est.get_state()
            arrays.update({f"score.{k_}": v for k_, v in sarr.items()})
        save_checkpoint(folder, state.step, arrays, {"identity": identity, "ledger": state.ledger,
                                                     "timers": state.timers, "field_energy0": fe0, "score": smeta,
                                                     "init_seconds": init_seconds, "skip_first": skip_first})

    def result(complete: bool) -> PhaseSpaceTrajectory:
        t, scal, prof = rec.arrays()
        meta = {"model": model.params(), "settings": settings, "versions": environment_versions(),
                "score": est.params() if est is not None else None, "complete": complete, "steps_done": state.step,
                "resumed": resumed, "wall_seconds_this_call": time.perf_counter() - wall0,
                "score_init_seconds": init_seconds, "pending_half_step": bool(skip_first),
                "snapshot_vmax": vmax, "k_mode": k, "plasma_limit": PLASMA_LIMIT, "cfl_limit": CFL_LIMIT,
                "cfl": v1max * dt / mesh.dx, "spatial_weight": weight.params() if weight else None}
        final = {"x": state.x.detach().cpu().numpy(), "v": state.v.detach().cpu().numpy(),
                 "w": state.w.detach().cpu().numpy()}
        return PhaseSpaceTrajectory(t=t, records=scal, profiles=prof, snapshot_t=rec.snap_t,
                                    snapshots=np.stack(rec.snaps), final=final, meta=meta)

    def kept(step: int) -> bool:
        """Whether the state after ``step`` is formed in full (recorded, snapshot, end). Checkpoints
        and stops do not break the fusion: they store ``skip_first`` (the state then already holds
        the next step's first collision half step), so any interruption resumes to the same bits."""
        return (step % record_every == 0 or step == total
                or (snapshot_every is not None and step % snapshot_every == 0))

    fusing = fuse_collisions and splitting == "strang" and collide is not None
    skip_first = bool(resumed_skip_first)
    done = 0
    while state.step < total and (stop_after is None or done < stop_after):
        state.t = state.step * dt
        fuse_next = fusing and not kept(state.step + 1)
        try:
            stepper(state, dt, skip_first=skip_first, fuse_next=fuse_next)
        except NonFiniteQuantity as exc:
            partial = result(False)
            raise NonFiniteError(f"step {state.step + 1} (t = {(state.step + 1) * dt:g}): {exc}; the trajectory "
                                 f"up to t = {partial.t[-1]:g} is attached (.trajectory)",
                                 step=state.step + 1, time=(state.step + 1) * dt, quantity=exc.quantity,
                                 trajectory=partial) from None
        skip_first = fuse_next
        state.step += 1
        state.t = state.step * dt
        done += 1
        if state.step % record_every == 0 or state.step == total:
            rec.add(state.t, measure(state, mesh, k, fe0, score_sample=collide.last if collide is not None else None,
                                     reference=reference))
        if (snapshot_every is not None and state.step % snapshot_every == 0) or state.step == total:
            rec.snap_t.append(state.t)
            rec.snaps.append(phase_space_histogram(state.x, state.v[:, 0], state.w, L=model.L, bins_x=M,
                                                   vmax=vmax).cpu().numpy())
        if folder is not None and (state.step % checkpoint_every == 0 or state.step == total):
            write_checkpoint()
    if folder is not None and state.step < total:
        write_checkpoint()
    return result(state.step == total)
