"""Determinism: one place that seeds everything (book chapters call :func:`seed_everything`)."""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch

from ._checks import check_int


def seed_everything(seed: int = 0, *, threads: int | None = 2) -> None:
    """Seed Python, NumPy and torch, and fix torch's CPU thread count.

    The book's stored outputs are produced with ``threads=2`` on CPU: the order of floating
    point reductions inside torch depends on the thread count, so fixing it makes reruns
    bit-identical. Pass ``threads=None`` to leave the thread count alone.
    """
    seed = check_int("seed", seed, low=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if threads is not None:
        threads = check_int("threads", threads, low=1)
        torch.set_num_threads(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def derive_seed(seed: int, label: str) -> int:
    """A stable 63-bit seed for one random stream (``label``) of a run seeded by ``seed``.

    Streams of one run (initial sample, network initialisation, denoising noise) get
    independent seeds, so changing how one stream is used never shifts the others.
    """
    digest = hashlib.sha256(f"{int(seed)}/{label}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def make_generator(seed: int, label: str = "", device="cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded by ``derive_seed(seed, label)``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, label) if label else int(seed))
    return g
