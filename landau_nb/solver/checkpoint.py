"""Atomic, checksummed checkpoints of a running solve (no pickle).

A checkpoint is a folder holding ``state-<step>.npz`` (arrays) and ``checkpoint.json`` (the
run's identity, JSON-ready state, the npz file name and its SHA-256). Writes go to a
temporary name and are renamed into place, and the JSON is replaced only once the npz it
points to is complete, so a process killed at any moment leaves either the previous
checkpoint or the new one, never a mixture. Loading verifies the checksum: a truncated or
corrupted file raises :class:`CheckpointError` instead of being used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from .._version import __version__
from .._files import HOST, atomic_write, file_sha256 as _sha256, process_alive

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "has_checkpoint",
           "remove_checkpoint", "own_or_orphan"]

INDEX = "checkpoint.json"


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (corrupted, truncated, or from another run)."""




def _index_digest(index: dict) -> str:
    """SHA-256 of the index without its own digest (canonical JSON): covers the step."""
    body = {k: v for k, v in index.items() if k != "index_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=float).encode()).hexdigest()


def has_checkpoint(folder) -> bool:
    return (Path(folder) / INDEX).exists()


def save_checkpoint(folder, step: int, arrays: dict, meta: dict) -> Path:
    """Write ``arrays`` (name -> numpy array) and ``meta`` (JSON-ready) as the checkpoint of
    ``step`` in ``folder``, atomically; older state files are removed afterwards."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    npz = folder / f"state-{int(step):09d}.npz"
    atomic_write(npz, lambda fh: np.savez(fh, **arrays, __step__=np.asarray(int(step))))
    index = {"step": int(step), "file": npz.name, "sha256": _sha256(npz), "landau_nb": __version__,
             "meta": json.loads(json.dumps(meta, default=float))}
    index["index_sha256"] = _index_digest(index)
    data = json.dumps(index, indent=1, sort_keys=True).encode()
    atomic_write(folder / INDEX, lambda fh: fh.write(data))
    for old in folder.glob("state-*.npz"):
        if old.name != npz.name:
            old.unlink(missing_ok=True)
    return npz


def load_checkpoint(folder) -> tuple[int, dict, dict]:
    """Read the checkpoint in ``folder``: returns (step, arrays, meta). Raises
    :class:`CheckpointError` if the index or the state file is damaged."""
    folder = Path(folder)
    try:
        index = json.loads((folder / INDEX).read_text())
        npz = folder / index["file"]
        expected = index["sha256"]
        step = int(index["step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint index {folder / INDEX} is unreadable ({exc}); "
                              "delete the folder to start the run afresh") from None
    if index.get("index_sha256") != _index_digest(index) or index["file"] != f"state-{step:09d}.npz":
        raise CheckpointError(f"checkpoint index {folder / INDEX} was edited or damaged (its checksum over "
                              "step, file and metadata does not match); delete the folder to start afresh")
    if not npz.exists():
        raise CheckpointError(f"checkpoint {folder} points to {npz.name}, which is missing")
    actual = _sha256(npz)
    if actual != expected:
        raise CheckpointError(f"checkpoint {npz} is corrupted or truncated (SHA-256 {actual[:12]}... "
                              f"!= recorded {expected[:12]}...); delete {folder} to start afresh")
    if index.get("landau_nb") != __version__:
        raise CheckpointError(f"checkpoint {folder} was written by landau_nb {index.get('landau_nb')}; "
                              f"this is {__version__}: resuming across versions is not bit-identical, "
                              "delete the folder to start afresh")
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        stored_step = int(arrays.pop("__step__"))
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise CheckpointError(f"checkpoint {npz} cannot be read ({type(exc).__name__}: {exc}); "
                              f"delete {folder} to start afresh") from None
    if stored_step != step:
        raise CheckpointError(f"checkpoint {npz} holds step {stored_step} but its index says {step}; "
                              f"delete {folder} to start afresh")
    return step, arrays, index["meta"]


def own_or_orphan(name: str) -> bool:
    """A temporary file of this process, or of a dead process on this host."""
    m = re.search(r"-(\d+)-[0-9a-f]{8}\.tmp$", name)
    if m is None or not name[:m.start()].endswith("." + HOST):
        return False
    pid = int(m.group(1))
    return pid == os.getpid() or not process_alive(pid)


def remove_checkpoint(folder) -> None:
    """Remove a checkpoint folder once its run is saved (called by the lock's holder): the
    index, the state files and the temporary files of this process or of dead processes of
    this host; another live process's files are left alone."""
    folder = Path(folder)
    if not folder.exists():
        return
    for f in folder.iterdir():
        if f.name == INDEX or (f.name.startswith("state-") and f.name.endswith(".npz")):
            f.unlink(missing_ok=True)
        elif f.name.endswith(".tmp") and own_or_orphan(f.name):
            f.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass
