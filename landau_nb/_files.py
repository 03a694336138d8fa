"""Files written safely by many processes: unique temporary names, atomic replacement, and
whether a process (a lock's or a checkpoint's owner) is alive. The floor of the package: it
imports nothing from landau_nb."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
from pathlib import Path

__all__ = ["HOST", "process_alive", "process_start_time", "temp_name", "atomic_write", "file_sha256",
           "save_npz_json"]

HOST = socket.gethostname()


def process_start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux: field 22 of /proc/PID/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` runs on this host (and, if ``start`` is given, is the process
    that started then rather than a later one that reused the pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start is not None:
        now = process_start_time(pid)
        if now is not None and now != start:
            return False
    try:        # a zombie (killed, not yet reaped) holds no lock
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except OSError:
        pass
    return True


def temp_name(path: Path) -> Path:
    """A temporary name next to ``path`` that no other process uses: host, pid, random."""
    return path.with_name(f".{path.name}.{HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def atomic_write(path: Path, write) -> None:
    """``write(fh)`` into a unique temporary file, fsync, rename onto ``path``; on any error
    the temporary file is removed and the error re-raised (naming ``path``)."""
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)
        raise


def file_sha256(path) -> str:
    """The SHA-256 of the file ``path`` (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_npz_json(npz: Path, js: Path, arrays: dict, meta: dict) -> dict:
    """Write ``arrays`` to ``npz`` (compressed) and ``meta`` to ``js``, each atomically, the
    .json recording the SHA-256 of the .npz's bytes as ``npz_sha256`` (so an .npz replaced by
    another's is recognised on loading); returns the metadata written. Used by the trajectories
    of both wings (velocity-space runs and phase-space runs)."""
    import numpy as np                      # the floor imports no heavy module at import time

    digest = {}

    def write_npz(fh):
        np.savez_compressed(fh, **arrays)
        fh.flush()
        digest["sha256"] = file_sha256(fh.name)      # the bytes that are renamed into place

    atomic_write(npz, write_npz)
    meta = {k: v for k, v in meta.items() if k != "npz_sha256"}
    meta["npz_sha256"] = digest["sha256"]
    text = json.dumps(meta, indent=1, sort_keys=True, default=float).encode()
    atomic_write(js, lambda fh: fh.write(text))
    return meta
