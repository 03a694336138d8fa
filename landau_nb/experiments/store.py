"""The results folder on disk: a run's identity, its files, claiming a run under its lock and
saving it. Runs are written as ``OUT/EXPERIMENT/LABEL/n000100_seed0.npz`` + ``.json`` (the
stem is made and read only by :mod:`landau_nb.experiments.store_names`); a checkpoint
folder ``.ckpt`` and a lock ``.lock`` sit next to a run while it computes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from .._version import __version__
from ..solver.checkpoint import CheckpointError, remove_checkpoint
from ..solver.trajectory import ResultFileError, Trajectory
from .defaults import project_root
from .registry import RunSpec, get_experiment

__all__ = ["RunConflictError", "run_identity", "run_paths", "identity_mismatch", "display_folder"]


class RunConflictError(ValueError):
    """A stored run (or its checkpoint) was computed with other settings than those asked now."""


def run_identity(spec: RunSpec, scale: str, device, dtype) -> dict:
    """The full settings of a run: what must match for a stored run (or its checkpoint) to be
    reused. Experiment, scale, label, solver and its options, problem, n, seed, dtype, device
    kind, stepper, the other solve arguments and the package version."""
    ident = {"experiment": spec.experiment, "scale": scale, "label": spec.label, "solver": spec.solver,
             "options": spec.options, "problem": spec.problem, "n": spec.n, "seed": spec.seed,
             "dtype": str(dtype).replace("torch.", ""), "device": torch.device(device).type,
             "stepper": spec.solve.get("stepper", "euler"), "solve": spec.solve, "landau_nb": __version__}
    return json.loads(json.dumps(ident, sort_keys=True, default=float))


def _identity_difference(stored, asked: dict) -> str:
    """'dtype: stored float32, asked float64; ...' (empty when equal)."""
    if not isinstance(stored, dict):
        return "it has no recorded settings (written by an older landau_nb)"
    diff = [k for k in sorted(set(stored) | set(asked)) if stored.get(k) != asked.get(k)]
    return "; ".join(f"{k}: stored {stored.get(k)!r}, asked {asked.get(k)!r}" for k in diff)


def identity_mismatch(meta: dict, experiment: str, label: str, n: int, seed: int,
                      solver: str | None = None) -> str | None:
    """Why the stored run ``meta`` is not the run its path names (``EXPERIMENT/LABEL/
    n000100_seed0``), or None when it is: its recorded experiment, label, n, seed and solver
    must be those of the path (``solver``: the registered solver of the label, None if the
    label is not registered). A run copied or renamed into another run's place, or moved from
    another experiment or label, is not trusted. ``meta`` has passed
    :meth:`~landau_nb.Trajectory.load`'s checks (``n``, ``seed``, ``estimator`` are there)."""
    want = {"experiment": experiment, "label": label, "n": n, "seed": seed}
    got = {"n": meta["n"], "seed": meta["seed"]}
    run = meta.get("run")
    ident = run.get("identity") if isinstance(run, dict) else None
    if isinstance(run, dict):
        got.update({k: run[k] for k in ("experiment", "label") if k in run})
    if isinstance(ident, dict):
        for key in ("experiment", "label", "n", "seed"):
            if key in ident and ident[key] != got.setdefault(key, ident[key]):
                return f"its metadata disagrees with itself ({key}: {got[key]!r} and {ident[key]!r})"
    diff = [f"{k} {got[k]!r}" for k in want if k in got and got[k] != want[k]]
    if diff:
        return (f"it records {', '.join(diff)} but its path says "
                + ", ".join(f"{k} {want[k]!r}" for k in want if k in got and got[k] != want[k])
                + " (copied or renamed from another run?)")
    from ..scores.registry import ESTIMATORS
    stored = ident.get("solver") if isinstance(ident, dict) else None
    if stored is None and meta["estimator"].get("name") in ESTIMATORS:   # (a run saved by solve)
        stored = meta["estimator"]["name"]
    if solver is not None and stored is not None and stored != solver:
        return f"it records solver {stored!r} but {label!r} runs {solver!r} (copied from another solver's run?)"
    return None


def run_paths(out, spec: RunSpec) -> dict:
    base = Path(out) / spec.experiment / spec.stem
    return {"base": base, "npz": base.with_name(base.name + ".npz"), "json": base.with_name(base.name + ".json"),
            "ckpt": base.with_name(base.name + ".ckpt"), "lock": base.with_name(base.name + ".lock"),
            "failed": base.with_name(base.name + "-failed")}


def _stored_state(paths: dict, identity: dict) -> str | None:
    """'done' if a matching finished run is stored, None if there is none (or only one half of
    the pair, which a kill between the two renames leaves: the run is then resumed). Raises
    :class:`RunConflictError` for a run or checkpoint with other settings and
    :class:`ResultFileError` for an unreadable result."""
    js = paths["json"]
    if js.exists() and paths["npz"].exists():
        try:
            meta = json.loads(js.read_text())
        except (UnicodeDecodeError, ValueError) as exc:
            raise ResultFileError(js, f"not valid JSON ({exc}); delete it and its .npz to recompute") from None
        if not isinstance(meta, dict):
            raise ResultFileError(js, f"metadata must be a JSON object, got {type(meta).__name__}")
        run = meta.get("run")
        stored = run.get("identity") if isinstance(run, dict) else None
        diff = _identity_difference(stored, identity)
        if diff:
            raise RunConflictError(f"run {paths['base']} was computed with other settings ({diff}); "
                                   "use another --out, or delete the run to recompute it")
        return "done"
    run_json = paths["ckpt"] / "run.json"
    if run_json.exists():
        try:
            stored = json.loads(run_json.read_text())
        except (UnicodeDecodeError, ValueError) as exc:
            raise CheckpointError(f"{run_json}: not valid JSON ({exc}); delete {paths['ckpt']} to start afresh") from None
        diff = _identity_difference(stored, identity)
        if diff:
            raise RunConflictError(f"the checkpoint {paths['ckpt']} belongs to a run with other settings ({diff}); "
                                   "use another --out, or delete the checkpoint")
    return None


def _leftovers(paths: dict) -> bool:
    """A checkpoint folder or lock file next to a finished run (its writer was killed while
    cleaning up): the run is finished, but these still need removing under the lock."""
    return paths["ckpt"].exists() or paths["lock"].exists()


def _claim(paths: dict, identity: dict) -> str | None:
    """With the run's lock held: remove temporary files of a killed holder, and either finish
    the clean-up of a run stored meanwhile ('done') or prepare its checkpoint folder (None)."""
    from ..solver.checkpoint import own_or_orphan
    for tmp in paths["base"].parent.glob(f".{paths['base'].name}*.tmp"):    # left by a killed holder
        if own_or_orphan(tmp.name):
            tmp.unlink(missing_ok=True)
    ckpt = paths["ckpt"]
    if _stored_state(paths, identity) == "done":   # finished meanwhile, or killed while cleaning up
        (ckpt / "run.json").unlink(missing_ok=True)
        remove_checkpoint(ckpt)
        return "done"
    ckpt.mkdir(parents=True, exist_ok=True)
    if not (ckpt / "run.json").exists():
        from .._files import atomic_write
        text = json.dumps(identity, indent=1, sort_keys=True).encode()
        atomic_write(ckpt / "run.json", lambda fh: fh.write(text))
    return None


def _save_run(spec: RunSpec, traj: Trajectory, paths: dict, identity: dict, seconds: float,
              ensemble: dict | None = None) -> None:
    """Save a finished run (with the lock held) and remove its checkpoint."""
    from .provenance import compact, provenance
    traj.meta["run"] = {"experiment": spec.experiment, "label": spec.label, "threads": torch.get_num_threads(),
                        "seconds": seconds, "identity": identity,
                        "provenance": provenance(identity["device"], seconds=seconds)}
    if ensemble is not None:
        traj.meta["run"]["ensemble"] = ensemble
    if identity["scale"] == "paper":        # committed under results/paper: keep it small
        # positions of seed 0 only, and none for the timing runs (nothing plots them)
        compact(traj, keep_positions=spec.seed == 0 and get_experiment(spec.experiment).kind != "runtime")
    traj.save(paths["base"])
    (paths["ckpt"] / "run.json").unlink(missing_ok=True)
    remove_checkpoint(paths["ckpt"])


def display_folder(folder) -> str:
    """``folder`` relative to the working directory (or else to the repository root, as
    ``results/paper/...`` from a chapter in ``book/``) when inside it, and with a book-scale
    temporary folder shown as ``<tmp>/...``: printed outputs must not depend on the machine."""
    folder = Path(folder).resolve()
    for base, shown in ((Path.cwd().resolve(), None), (project_root().resolve(), None),
                        (Path(tempfile.gettempdir()).resolve(), "<tmp>")):
        if folder.is_relative_to(base):
            rel = folder.relative_to(base)
            if shown is None:
                return str(rel)
            # the temporary folder itself has a random name (landau-XXXX): hide it too
            return str(Path(shown, *rel.parts[1:])) if rel.parts[:1] and rel.parts[0].startswith("landau-") \
                else str(Path(shown, rel))
    return str(folder)
