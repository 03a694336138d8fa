"""The score network of SBTM: a multilayer perceptron with softsign activations (§5.1)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_dimension, check_int

__all__ = ["score_mlp"]


def score_mlp(d: int, *, width: int = 100, depth: int = 1, generator: torch.Generator | None = None,
              dtype=torch.float64, device="cpu", in_features: int | None = None) -> nn.Sequential:
    """MLP R^d -> R^d with ``depth`` hidden layers of ``width`` softsign units (paper §5.1:
    one hidden layer of 100 for the Gaussian starts, two for BKW). ``in_features`` (default d):
    a wider input, e.g. the phase-space network of :mod:`landau_nb.vlasov` (features of x and v).

    Weights use torch's default Linear initialisation (uniform, bound 1/sqrt(fan_in)), drawn
    from ``generator`` on the CPU in float64 and then cast, so a seed gives the same network
    on every device and dtype. Book: "Score matching".
    """
    d = check_dimension(d)
    width = check_int("width", width, low=1)
    depth = check_int("depth", depth, low=1)
    in_features = d if in_features is None else check_int("in_features", in_features, low=1)
    sizes = [in_features] + [width] * depth + [d]
    layers: list[nn.Module] = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(fan_in, fan_out, dtype=torch.float64)
        bound = 1 / math.sqrt(fan_in)
        with torch.no_grad():
            lin.weight.copy_(torch.rand(fan_out, fan_in, dtype=torch.float64, generator=generator) * 2 * bound - bound)
            lin.bias.copy_(torch.rand(fan_out, dtype=torch.float64, generator=generator) * 2 * bound - bound)
        layers.append(lin)
        if k < depth:
            layers.append(nn.Softsign())
    return nn.Sequential(*layers).to(device=device, dtype=dtype)
