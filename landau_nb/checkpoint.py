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
from pathlib import Path

import numpy as np
import torch

from ._version import __version__

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "has_checkpoint",
           "remove_checkpoint", "tensor_state", "generator_state", "set_generator_state"]

INDEX = "checkpoint.json"


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (corrupted, truncated, or from another run)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def has_checkpoint(folder) -> bool:
    return (Path(folder) / INDEX).exists()


def save_checkpoint(folder, step: int, arrays: dict, meta: dict) -> Path:
    """Write ``arrays`` (name -> numpy array) and ``meta`` (JSON-ready) as the checkpoint of
    ``step`` in ``folder``, atomically; older state files are removed afterwards."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    npz = folder / f"state-{int(step):09d}.npz"
    tmp = npz.with_name(npz.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, npz)
    index = {"step": int(step), "file": npz.name, "sha256": _sha256(npz), "landau_nb": __version__,
             "meta": meta}
    tmp = folder / (INDEX + ".tmp")
    _fsync_write(tmp, json.dumps(index, indent=1, sort_keys=True, default=float).encode())
    os.replace(tmp, folder / INDEX)
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
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint index {folder / INDEX} is unreadable ({exc}); "
                              "delete the folder to start the run afresh") from None
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
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return int(index["step"]), arrays, index["meta"]


def remove_checkpoint(folder) -> None:
    folder = Path(folder)
    if not folder.exists():
        return
    for f in folder.iterdir():
        if f.name == INDEX or f.name.startswith("state-") or f.name.endswith(".tmp"):
            f.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def tensor_state(prefix: str, state: dict) -> dict:
    """Flatten a (nested) dict of tensors into ``{prefix.key: numpy array}``."""
    out = {}
    for k, v in state.items():
        name = f"{prefix}.{k}"
        if isinstance(v, dict):
            out.update(tensor_state(name, v))
        elif isinstance(v, torch.Tensor):
            out[name] = v.detach().cpu().numpy().copy()
    return out


def generator_state(g: torch.Generator) -> np.ndarray:
    return g.get_state().numpy().copy()


def set_generator_state(g: torch.Generator, state: np.ndarray) -> None:
    g.set_state(torch.from_numpy(np.asarray(state, dtype=np.uint8).copy()))
