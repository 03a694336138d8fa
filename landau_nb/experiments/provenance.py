"""Where a stored run came from: the git commit of the code, the machine, the threads, the
wall time; and how a paper-scale result is made compact enough to commit.

Every run the experiment runner saves carries ``meta["run"]["provenance"]`` (book: "Section 5
at the paper's scale"), so a committed result names the exact code and machine that made it.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

__all__ = ["checkout_root", "git_commit", "machine", "provenance", "compact"]


def checkout_root() -> Path:
    """The folder holding the ``landau_nb`` package folder (the repository root in a checkout)."""
    return Path(__file__).resolve().parents[2]


def git_commit(folder=None) -> dict:
    """The commit of the checkout holding this package (or of the checkout at ``folder``) and
    whether tracked files of its ``landau_nb`` folder differ from it: ``{"commit": "…40 hex…",
    "dirty": bool}``; ``{"commit": None}`` outside a git checkout (an installed package)."""
    root = Path(folder) if folder is not None else checkout_root()
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return {"commit": None}
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no",
                                 "--", "landau_nb"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_SIMD = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "amx_tile",
         "asimd", "sve")


def _simd_flags() -> list[str]:
    """The vector-instruction sets of this CPU that change which kernels torch, MKL and numba
    run (and so the last bits of a result); empty where /proc/cpuinfo is not readable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                have = set(line.split(":", 1)[1].split())
                return [f for f in _SIMD if f in have]
    except OSError:
        pass
    return []


def machine(device="cpu") -> dict:
    """The hardware a run used: CPU model, vector instruction sets and core count, and the
    GPU's name on CUDA. Two machines with the same CPU model string (often a generic one on
    virtual machines) but other instruction sets give other round-off."""
    out = {"cpu": _cpu_model(), "simd": _simd_flags(), "cores": os.cpu_count(), "arch": platform.machine(),
           "os": platform.system()}
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(dev)
    return out


def provenance(device="cpu", *, seconds: float | None = None) -> dict:
    """Everything a stored run records about how it was made, besides its settings:
    git commit, machine, torch threads, wall time (s) and the finishing time (UTC)."""
    rec = {**git_commit(), "machine": machine(device), "threads": torch.get_num_threads(),
           "finished_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if seconds is not None:
        rec["seconds"] = float(seconds)
    return rec


def compact(traj, *, keep_positions: bool) -> dict:
    """Make a finished trajectory small enough to commit, in place; returns what was done.

    Positions are kept only when ``keep_positions`` (the runner keeps them for seed 0);
    otherwise ``x`` becomes ``(n_saved, 0, d)`` and the snapshot times and per-snapshot
    records (KDE errors, moments) stay. Per-step second moments are stored in float32 (a
    relative change below 6e-8, far under anything a chapter shows); the other per-step
    records (energy, momentum, errors) keep float64, so conservation is still visible at
    round-off level."""
    done = {"positions": bool(keep_positions), "second_moment": "float32"}
    if not keep_positions:
        traj.x = np.zeros((traj.x.shape[0], 0, traj.x.shape[2]), dtype=traj.x.dtype)
    else:
        traj.x = traj.x.astype(np.float32)
    if "second_moment" in traj.steps:
        traj.steps["second_moment"] = traj.steps["second_moment"].astype(np.float32)
    traj.meta["compact"] = done
    return done
