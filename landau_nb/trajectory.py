"""The result of a run: per-step diagnostics, saved snapshots, metadata; saved as .npz + .json.

No pickle anywhere: arrays go to ``PATH.npz`` (loaded with ``allow_pickle=False``) and the
metadata (problem, estimator parameters, seed, versions, timings) to ``PATH.json``.
"""

from __future__ import annotations

import json
import os
import platform
import warnings
from pathlib import Path

import numpy as np

from ._version import __version__

__all__ = ["Trajectory", "environment_versions"]


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
        step: time-step index, training loss).
    meta : JSON-ready dict (problem, estimator, seed, n, d, dtype, device, versions, timings).
    """

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
        """Write ``path.npz`` (arrays) and ``path.json`` (metadata); returns the .npz path.
        Each file is written to a temporary name and renamed, so a crash never leaves a
        half-written file under the final name."""
        npz, js = _paths(path)
        npz.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"t": self.t, "saved_t": self.saved_t, "x": self.x}
        arrays.update({f"steps.{k}": v for k, v in self.steps.items()})
        arrays.update({f"saved.{k}": v for k, v in self.saved.items()})
        tmp = npz.with_name(npz.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, npz)
        tmp = js.with_name(js.name + ".tmp")
        tmp.write_text(json.dumps(self.meta, indent=1, sort_keys=True, default=float))
        os.replace(tmp, js)
        return npz

    @classmethod
    def load(cls, path) -> "Trajectory":
        """Read a trajectory written by :meth:`save` (no pickle). Warns when another version
        of landau_nb wrote it."""
        npz, js = _paths(path)
        if not npz.exists() or not js.exists():
            raise FileNotFoundError(f"need both {npz} and {js}")
        meta = json.loads(js.read_text())
        written_by = meta.get("versions", {}).get("landau_nb")
        if written_by != __version__:
            warnings.warn(f"{js} was written by landau_nb {written_by}; this is {__version__}",
                          UserWarning, stacklevel=2)
        with np.load(npz, allow_pickle=False) as data:
            steps = {k[6:]: data[k] for k in data.files if k.startswith("steps.")}
            saved = {k[6:]: data[k] for k in data.files if k.startswith("saved.")}
            return cls(t=data["t"], steps=steps, saved_t=data["saved_t"], x=data["x"], saved=saved,
                       meta=meta)
