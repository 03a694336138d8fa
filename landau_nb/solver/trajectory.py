"""The result of a run: per-step diagnostics, saved snapshots, metadata; saved as .npz + .json.

No pickle anywhere: arrays go to ``PATH.npz`` (loaded with ``allow_pickle=False``) and the
metadata (problem, estimator parameters, seed, versions, timings) to ``PATH.json``. The JSON
is written last: it marks a complete result, and it records the SHA-256 of the ``.npz`` bytes
(``npz_sha256``), so an ``.npz`` replaced by another run's is recognised. A damaged,
hand-edited or mixed-up pair raises :class:`ResultFileError` naming the file and what is
wrong. Files written before the checksum existed load as ``checksum == "unverified"``; their
``.npz`` must still reproduce the timing sums their ``.json`` records (a fingerprint of the run).
Book: "Particles and conservation".
"""

from __future__ import annotations

import json
import platform
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._version import __version__
from .._files import file_sha256 as _sha256, save_npz_json

__all__ = ["Trajectory", "ResultFileError", "environment_versions"]


class ResultFileError(ValueError):
    """A result file (``.npz`` or ``.json``) is missing, damaged or inconsistent; ``path`` names it."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem

    def __reduce__(self):          # picklable, so it crosses from a worker process intact
        return (type(self), (str(self.path), self.problem))


def environment_versions() -> dict:
    import torch
    return {"landau_nb": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _paths(path) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".npz"), p.with_name(p.name + ".json")


class Trajectory:
    """A particle run.

    Attributes
    ----------
    t : (N+1,) times t_k = t0 + k dt of the steps.
    steps : dict of per-step arrays, row k measured at X^k with the score used there:
        ``mean`` (N+1, d), ``energy``, ``second_moment`` (N+1, d, d), ``entropy_rate``,
        ``score_error`` (normalised, exact-solution problems), ``cov_error`` (vs the analytic
        Sigma*(t)), ``cov_error_sample`` (vs the closed form started from the sample's own
        Sigma(t0)), ``cov_error_equilibrium``, ``momentum_drift``, ``time_score``,
        ``time_velocity`` (seconds), ``gd_steps`` (SBTM). NaN where not applicable.
    saved_t, x : times and positions (n_saved, n, d) of the snapshots.
    saved : dict of per-snapshot arrays (``fourth_moment``, ``kde_l2``...), and for SBTM
        with ``record_losses=True`` the training log ``loss_log`` (one row per gradient
        step: time-step index, training loss; with ``record_losses="all"``: time-step index,
        denoising loss, implicit loss, normalised score error).
    meta : JSON-ready dict (problem, estimator, seed, n, d, dtype, device, versions, timings).
    checksum : after :meth:`load`, "verified" (the .npz matches the SHA-256 its .json records)
        or "unverified" (a file written before checksums were recorded); None otherwise.
    """

    checksum = None

    def __init__(self, *, t, steps: dict, saved_t, x, saved: dict, meta: dict):
        self.t = np.asarray(t)
        self.steps = {k: np.asarray(v) for k, v in steps.items()}
        self.saved_t = np.asarray(saved_t)
        self.x = np.asarray(x)
        self.saved = {k: np.asarray(v) for k, v in saved.items()}
        self.meta = meta

    # -- convenience ------------------------------------------------------------------------
    def __getitem__(self, key):
        if key in self.steps:
            return self.steps[key]
        if key in self.saved:
            return self.saved[key]
        raise KeyError(f"{key!r}: not recorded; per-step keys: {sorted(self.steps)}, "
                       f"per-snapshot keys: {sorted(self.saved)}")

    @property
    def method(self) -> str:
        return self.meta["estimator"]["name"]

    @property
    def final(self) -> np.ndarray:
        """Positions at the last saved time (the end time for a finished run)."""
        if self.meta.get("compact", {}).get("positions") is False:
            raise ValueError(f"{self!r}: positions were not kept (a compact paper-scale result keeps "
                             "them for seed 0 only; its per-step records are all there)")
        return self.x[-1]

    def max_error(self, key: str = "cov_error_sample") -> float:
        """Largest value over the run of a per-step error (NaN-aware)."""
        return float(np.nanmax(self.steps[key]))

    def __repr__(self):
        m = self.meta
        return (f"Trajectory({m['problem']['name']}, method={self.method!r}, n={m['n']}, d={m['d']}, "
                f"steps={len(self.t) - 1}, t=[{self.t[0]:g}, {self.t[-1]:g}])")

    # -- files ------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write ``path.npz`` (arrays) and ``path.json`` (metadata, with the SHA-256 of the
        .npz as ``npz_sha256``); returns the .npz path. Each file is written to a temporary
        name and renamed, so a crash never leaves a half-written file under the final name."""
        npz, js = _paths(path)
        npz.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"t": self.t, "saved_t": self.saved_t, "x": self.x}
        arrays.update({f"steps.{k}": v for k, v in self.steps.items()})
        arrays.update({f"saved.{k}": v for k, v in self.saved.items()})
        save_npz_json(npz, js, arrays, self.meta)
        return npz

    @classmethod
    def load(cls, path) -> "Trajectory":
        """Read a trajectory written by :meth:`save` (no pickle). Warns when another version
        of landau_nb wrote it."""
        npz, js = _paths(path)
        for f in (npz, js):
            if not f.exists():
                raise FileNotFoundError(2, f"missing (a result needs both {npz.name} and {js.name})", str(f))
            if not f.is_file():
                raise ResultFileError(f, "is not a file (a folder or a special file in its place)")
        try:
            meta = json.loads(js.read_text())
        except UnicodeDecodeError as exc:
            raise ResultFileError(js, f"not a text file ({exc.reason})") from None
        except ValueError as exc:
            raise ResultFileError(js, f"not valid JSON ({exc})") from None
        except OSError as exc:
            raise ResultFileError(js, f"cannot be read ({exc.strerror or exc})") from None
        _check_meta(js, meta)

        written_by = meta["versions"].get("landau_nb")
        if written_by != __version__:
            warnings.warn(f"{js} was written by landau_nb {written_by}; this is {__version__}",
                          UserWarning, stacklevel=2)
        try:
            data = np.load(npz, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ResultFileError(npz, "is a single array (.npy), not an archive of a landau_nb result")
            with data:
                arrays = {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError) as exc:
            if isinstance(exc, ResultFileError):
                raise
            raise ResultFileError(npz, f"damaged or truncated ({type(exc).__name__}: {exc})") from None
        except OSError as exc:
            raise ResultFileError(npz, f"cannot be read ({exc.strerror or exc})") from None
        for key in ("t", "saved_t", "x"):
            if key not in arrays:
                raise ResultFileError(npz, f"has no array {key!r} (not a landau_nb result)")
        steps = {k[6:]: v for k, v in arrays.items() if k.startswith("steps.")}
        saved = {k[6:]: v for k, v in arrays.items() if k.startswith("saved.")}
        for key, value in arrays.items():
            if value.dtype.kind not in "biuf":
                raise ResultFileError(npz, f"array {key!r} holds {value.dtype} values, not numbers")
        traj = cls(t=arrays["t"], steps=steps, saved_t=arrays["saved_t"], x=arrays["x"], saved=saved, meta=meta)
        _check_shapes(npz, traj)
        recorded = meta.get("npz_sha256")
        if recorded is not None:        # (checked last: a damaged .npz is named as damaged above)
            try:
                actual = _sha256(npz)
            except OSError as exc:
                raise ResultFileError(npz, f"cannot be read ({exc.strerror or exc})") from None
            if actual != recorded:
                raise ResultFileError(npz, f"does not match its .json (SHA-256 {actual[:12]}..., the .json "
                                           f"records {str(recorded)[:12]}...): the .npz was replaced, e.g. by "
                                           "another run's, or edited")
        else:
            _check_timings(npz, traj)
        traj.checksum = "verified" if recorded is not None else "unverified"
        return traj


def _check_meta(js: Path, meta) -> None:
    """The metadata a result must carry, with the right types."""
    if not isinstance(meta, dict):
        raise ResultFileError(js, f"metadata must be a JSON object, got {type(meta).__name__}")
    need = {"problem": dict, "n": int, "d": int, "seed": int, "dtype": str, "estimator": dict, "versions": dict}
    for key, kind in need.items():
        if key not in meta:
            raise ResultFileError(js, f"metadata has no {key!r} (hand-edited or not a landau_nb result)")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise ResultFileError(js, f"metadata {key!r} = {meta[key]!r} should be a {kind.__name__}")
    if "name" not in meta["problem"] or "name" not in meta["estimator"]:
        raise ResultFileError(js, "metadata 'problem' and 'estimator' need a 'name'")
    if meta["n"] < 1 or meta["d"] < 1:
        raise ResultFileError(js, f"metadata n={meta['n']}, d={meta['d']} must be >= 1")
    if meta["dtype"] not in ("float32", "float64"):
        raise ResultFileError(js, f"metadata dtype={meta['dtype']!r} is not float32 or float64")
    if "npz_sha256" in meta and not isinstance(meta["npz_sha256"], str):
        raise ResultFileError(js, f"metadata npz_sha256={meta['npz_sha256']!r} should be a hex string")
    run = meta.get("run")
    if run is not None and not isinstance(run, dict):
        raise ResultFileError(js, f"metadata 'run' = {run!r} should be an object (the runner's record)")
    if isinstance(run, dict) and run.get("identity") is not None and not isinstance(run["identity"], dict):
        raise ResultFileError(js, f"metadata run.identity = {run['identity']!r} should be an object")


def _check_timings(npz: Path, tr: "Trajectory") -> None:
    """Without a checksum (files written before it existed), the .npz must still be the one of
    its .json: a finished run's .json records the sums of its per-step timings
    (``wall_time.score`` and ``.velocity``, wall-clock seconds, so in effect a fingerprint of
    the run), which the .npz's ``time_score`` and ``time_velocity`` must reproduce exactly."""
    wall = tr.meta.get("wall_time")
    if not isinstance(wall, dict) or tr.meta.get("completed_steps") != tr.meta.get("steps"):
        return
    for key in ("score", "velocity"):
        if f"time_{key}" in tr.steps and isinstance(wall.get(key), float):
            total = float(np.nansum(tr.steps[f"time_{key}"]))
            if total != wall[key]:
                raise ResultFileError(npz, f"does not match its .json (its time_{key} sums to {total:.6g} s, the "
                                           f".json records {wall[key]:.6g} s): the .npz was replaced, e.g. by "
                                           "another run's, or edited")


def _check_shapes(npz: Path, tr: "Trajectory") -> None:
    """Arrays consistent with each other and with the metadata."""
    n, d = tr.meta["n"], tr.meta["d"]
    if tr.t.ndim != 1 or len(tr.t) < 1:
        raise ResultFileError(npz, f"times 't' have shape {tr.t.shape}; expected (steps + 1,)")
    dropped = tr.meta.get("compact", {}).get("positions") is False     # compact paper-scale run
    if tr.x.ndim != 3 or tr.x.shape[1:] != ((0 if dropped else n), d) or tr.x.shape[0] != len(tr.saved_t):
        raise ResultFileError(npz, f"positions 'x' have shape {tr.x.shape}; the metadata and saved_t give "
                                   f"({len(tr.saved_t)}, {n}, {d})")
    for k, v in tr.steps.items():
        if v.ndim < 1 or v.shape[0] != len(tr.t):
            raise ResultFileError(npz, f"per-step record {k!r} has {v.shape[0] if v.ndim else 0} rows; "
                                       f"expected {len(tr.t)} (one per time)")
