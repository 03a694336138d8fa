"""Random-generator and tensor states as numpy arrays (what checkpoints and estimator states
store; no pickle). Imports nothing from landau_nb."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["tensor_state", "generator_state", "set_generator_state"]


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
