"""Batched SBTM training step in torch (any device): the fused kernel's computation written with
batched matrix products, for S networks at once, optionally captured in a CUDA graph.

Same layout and the same equations as :mod:`landau_nb._sbtm_numba` (see there): flat
parameters [W1^T (d, w), b1 (w), W2 (d, w), b2 (d)] per member, the analytic gradient of the
denoising loss (3.5) (no autograd), and torch.optim.Adam's update. On the GPU one Adam step is
about 20 kernels; :class:`CapturedSteps` records them once in a CUDA graph and replays the
graph K times per time step, so that a step at n <= 10^4 is not bound by kernel launches.
Book: "Runtime".
"""

from __future__ import annotations

import torch

__all__ = ["adam_denoising_torch", "CapturedSteps"]


def _split(theta, d, w):
    a, b, c = d * w, d * w + w, 2 * d * w + w
    S = theta.shape[0]
    return (theta[:, :a].reshape(S, d, w), theta[:, a:b], theta[:, b:c].reshape(S, d, w), theta[:, c:])


def denoising_step(x, z, theta, m1, m2, consts, adam, d, w):
    """One Adam step for S members in place; returns the (S,) losses before the step.

    x, z (S, n, d); theta, m1, m2 (S, P); consts [1, alpha, 2/n, 1/(alpha n), 1 - beta1,
    beta2, 1 - beta2, eps] as a tensor or list; adam (S, 2) = (lr / bias_correction1,
    sqrt(bias_correction2)) as tensors (so a captured graph reads them from memory).
    """
    alpha, c2n, can = consts[1], consts[2], consts[3]
    n = x.shape[1]
    W1T, b1, W2, b2 = _split(theta, d, w)
    az = alpha * z
    pts = torch.cat([x, x + az, x - az], dim=1)                       # (S, 3n, d)
    u = torch.baddbmm(b1[:, None, :], pts, W1T)                       # (S, 3n, w)
    r = 1 / (1 + u.abs())
    h = u * r
    s = torch.baddbmm(b2[:, None, :], h, W2.transpose(1, 2))           # (S, 3n, d)
    s0 = s[:, :n]
    loss = (s0 * s0).sum((1, 2)) / n + ((s[:, n:2 * n] - s[:, 2 * n:]) * z).sum((1, 2)) / (alpha * n)
    g = torch.cat([c2n * s0, can * z, -(can * z)], dim=1)              # output cotangents
    gW2 = torch.bmm(g.transpose(1, 2), h)                              # (S, d, w)
    delta = torch.bmm(g, W2) * (r * r)                                 # (S, 3n, w)
    gW1T = torch.bmm(pts.transpose(1, 2), delta)                       # (S, d, w)
    grad = torch.cat([gW1T.reshape(gW1T.shape[0], -1), delta.sum(1), gW2.reshape(gW2.shape[0], -1),
                      g.sum(1)], dim=1)
    m1.lerp_(grad, consts[4])
    m2.mul_(consts[5]).addcmul_(grad, grad, value=consts[6])
    denom = (m2.sqrt() / adam[:, 1:2]).add_(consts[7])
    theta.addcdiv_(m1 * adam[:, 0:1], denom, value=-1.0)
    return loss


def adam_denoising_torch(x, z, theta, m1, m2, consts, adam, losses, d, w):
    """K Adam steps, the torch twin of :func:`landau_nb._sbtm_numba.adam_denoising`
    (z (S, K, n, d), adam (S, K, 2), losses (S, K) filled)."""
    cs = [float(v) for v in consts]
    for k in range(z.shape[1]):
        losses[:, k] = denoising_step(x, z[:, k], theta, m1, m2, cs, adam[:, k], d, w)


class CapturedSteps:
    """One Adam step of S members recorded in a CUDA graph (static buffers, replayed K times).

    ``run(x, z, theta, m1, m2, adam)`` copies the inputs into the graph's buffers, replays it
    once per step and copies theta and the moments back. The graph is recorded on the first
    call for a shape and reused while shapes, dtype and device stay the same.
    """

    def __init__(self, consts, d, w):
        self.consts = [float(v) for v in consts]
        self.d, self.w = d, w
        self.graph = None
        self.key = None

    def _record(self, x, theta):
        S, n, d = x.shape
        dev, dt = x.device, x.dtype
        self.x = torch.zeros_like(x)
        self.z = torch.zeros_like(x)
        self.theta = torch.zeros_like(theta)
        self.m1 = torch.zeros_like(theta)
        self.m2 = torch.zeros_like(theta)
        self.adam = torch.ones(S, 2, dtype=dt, device=dev)
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):                      # warm-up outside the capture
            for _ in range(2):
                denoising_step(self.x, self.z, self.theta.clone(), self.m1.clone(), self.m2.clone(),
                               self.consts, self.adam, self.d, self.w)
        torch.cuda.current_stream(dev).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = denoising_step(self.x, self.z, self.theta, self.m1, self.m2, self.consts, self.adam,
                                       self.d, self.w)
        self.key = (tuple(x.shape), tuple(theta.shape), dt, dev)

    def run(self, x, z, theta, m1, m2, adam, losses):
        if self.key != (tuple(x.shape), tuple(theta.shape), x.dtype, x.device):
            self._record(x, theta)
        self.x.copy_(x)
        self.theta.copy_(theta)
        self.m1.copy_(m1)
        self.m2.copy_(m2)
        for k in range(z.shape[1]):
            self.z.copy_(z[:, k])
            self.adam.copy_(adam[:, k])
            self.graph.replay()
            losses[:, k] = self.loss
        theta.copy_(self.theta)
        m1.copy_(self.m1)
        m2.copy_(self.m2)
