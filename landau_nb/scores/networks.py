"""The score network of SBTM: a multilayer perceptron with softsign activations (§5.1), or the
SiLU / truncated-normal recipe of Huang and Wang's code."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_choice, check_dimension, check_int

__all__ = ["score_mlp", "ACTIVATIONS", "INITS"]

#: hidden-layer activations: softsign (the paper's) and SiLU (Huang and Wang's code)
ACTIVATIONS = {"softsign": nn.Softsign, "silu": nn.SiLU}
#: weight initialisations: "uniform" (torch's Linear default, bound 1/sqrt(fan_in), the paper's
#: Flux/torch default) and "trunc_normal" (Huang and Wang: weights N(0, 1/fan_in) truncated to
#: [-2, 2], biases 0)
INITS = ("uniform", "trunc_normal")


def score_mlp(d: int, *, width: int = 100, depth: int = 1, generator: torch.Generator | None = None,
              dtype=torch.float64, device="cpu", in_features: int | None = None,
              activation: str = "softsign", init: str = "uniform") -> nn.Sequential:
    """MLP R^d -> R^d with ``depth`` hidden layers of ``width`` softsign units (paper §5.1:
    one hidden layer of 100 for the Gaussian starts, two for BKW). ``in_features`` (default d):
    a wider input, e.g. the phase-space network of :mod:`landau_nb.vlasov` (features of x and v).

    Weights use torch's default Linear initialisation (uniform, bound 1/sqrt(fan_in)), drawn
    from ``generator`` on the CPU in float64 and then cast, so a seed gives the same network
    on every device and dtype. ``activation`` ("softsign" or "silu") and ``init`` ("uniform" or
    "trunc_normal": weights from N(0, 1/fan_in) truncated to [-2, 2] and zero biases, as Huang
    and Wang's code) give the peer's recipe; the defaults draw the same numbers as before.
    Book: "Score matching".
    """
    d = check_dimension(d)
    width = check_int("width", width, low=1)
    depth = check_int("depth", depth, low=1)
    in_features = d if in_features is None else check_int("in_features", in_features, low=1)
    act = ACTIVATIONS[check_choice("activation", activation, tuple(ACTIVATIONS))]
    check_choice("init", init, INITS)
    sizes = [in_features] + [width] * depth + [d]
    layers: list[nn.Module] = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(fan_in, fan_out, dtype=torch.float64)
        bound = 1 / math.sqrt(fan_in)
        with torch.no_grad():
            if init == "uniform":
                lin.weight.copy_(torch.rand(fan_out, fan_in, dtype=torch.float64, generator=generator) * 2 * bound
                                 - bound)
                lin.bias.copy_(torch.rand(fan_out, dtype=torch.float64, generator=generator) * 2 * bound - bound)
            else:
                nn.init.trunc_normal_(lin.weight, mean=0.0, std=math.sqrt(1 / fan_in), a=-2.0, b=2.0,
                                      generator=generator)
                lin.bias.zero_()
        layers.append(lin)
        if k < depth:
            layers.append(act())
    return nn.Sequential(*layers).to(device=device, dtype=dtype)
