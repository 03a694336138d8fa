"""Batched SBTM training step in torch (any device): the fused kernel's computation written with
batched matrix products, for S networks at once, optionally captured in a CUDA graph.

Same layout and the same equations as :mod:`landau_nb.scores._sbtm_numba` (see there): flat
parameters [W1^T (d, w), b1 (w), W2 (d, w), b2 (d)] per member, the analytic gradient of the
denoising loss (3.5) (no autograd), and torch.optim.Adam's update. On the GPU one Adam step is
about 20 kernels; :class:`CapturedSteps` records them once in a CUDA graph and replays the
graph K times per time step, so that a step at n <= 10^4 is not bound by kernel launches.
On the CPU (networks deeper than the numba kernel's one hidden layer) the gradient is summed
over chunks of CPU_CHUNK particles, whose activations stay in the cache: 2.3x autograd for the
BKW network at n = 12 800. Book: "Runtime".
"""

from __future__ import annotations

import torch

from .._stop import poll_stop

__all__ = ["adam_denoising_torch", "CapturedSteps"]


def _split(theta, d, w, depth=1):
    """Views of the flat parameters (S, P): hidden (W^T (fan_in, w), b) pairs, then W_out (d, w), b_out."""
    S = theta.shape[0]
    hidden, off = [], 0
    for k in range(depth):
        fan_in = d if k == 0 else w
        WT = theta[:, off:off + fan_in * w].reshape(S, fan_in, w)
        off += fan_in * w
        hidden.append((WT, theta[:, off:off + w]))
        off += w
    Wo = theta[:, off:off + d * w].reshape(S, d, w)
    return hidden, Wo, theta[:, off + d * w:off + d * w + d]


def n_params(d, w, depth=1):
    return d * w + w + (depth - 1) * (w * w + w) + d * w + d


#: particles per chunk of the CPU step: the chunk's (3 m x w) activations stay in the L2 cache
#: (3 x 512 x 100 float64 = 1.2 MB), instead of streaming (3 n x w) arrays through memory at every
#: elementwise operation; a function of n only, so results do not depend on the thread count
CPU_CHUNK = 512


def _chunk_gradient(x, z, hidden, Wo, bo, grads, consts, n):
    """Add the gradient of the rows' share of the loss (3.5) into the views ``grads`` (same
    layout as (hidden, Wo, bo)); returns the share of the loss (S,).

    x, z (S, m, d). Output cotangents g = 2 s(X)/n, +-Z/(alpha n); per layer
    delta = softsign'(u) * (next layer's W^T delta), dW^T += a^T delta, db += sum delta."""
    alpha, c2n, can = consts[1], consts[2], consts[3]
    m = x.shape[1]
    az = alpha * z
    acts = [torch.cat([x, x + az, x - az], dim=1)]                   # (S, 3m, d)
    rs = []
    for WT, b in hidden:
        u = torch.baddbmm(b[:, None, :], acts[-1], WT)                # (S, 3m, w)
        r = u.abs().add_(1).reciprocal_()                              # 1 / (1 + |u|)
        rs.append(r)
        acts.append(u.mul_(r))                                         # softsign(u) = u r
    s = torch.baddbmm(bo[:, None, :], acts[-1], Wo.transpose(1, 2))   # (S, 3m, d)
    s0 = s[:, :m]
    loss = (s0 * s0).sum((1, 2)) / n + ((s[:, m:2 * m] - s[:, 2 * m:]) * z).sum((1, 2)) / (alpha * n)
    g = torch.cat([c2n * s0, can * z, -(can * z)], dim=1)              # output cotangents
    hidden_g, Wo_g, bo_g = grads
    Wo_g.baddbmm_(g.transpose(1, 2), acts[-1])
    bo_g.add_(g.sum(1))
    delta = torch.bmm(g, Wo)                                           # (S, 3m, w)
    for k in range(len(hidden) - 1, -1, -1):
        dk = delta.mul_(rs[k]).mul_(rs[k])                             # softsign'(u) = r^2
        hidden_g[k][0].baddbmm_(acts[k].transpose(1, 2), dk)
        hidden_g[k][1].add_(dk.sum(1))
        if k:
            delta = torch.bmm(dk, hidden[k][0].transpose(1, 2))
    return loss


def denoising_step(x, z, theta, m1, m2, consts, adam, d, w, depth=1, chunk=None):
    """One Adam step for S members in place; returns the (S,) losses before the step.

    x, z (S, n, d); theta, m1, m2 (S, P); consts [1, alpha, 2/n, 1/(alpha n), 1 - beta1,
    beta2, 1 - beta2, eps] as a list; adam (S, 2) = (lr / bias_correction1,
    sqrt(bias_correction2)) as tensors (so a captured graph reads them from memory).
    The gradient is the analytic backward pass of (3.5), summed over chunks of ``chunk``
    particles in a fixed order (default: all n at once on a GPU, :data:`CPU_CHUNK` on the CPU).
    """
    n = x.shape[1]
    if chunk is None:
        chunk = CPU_CHUNK if x.device.type == "cpu" else n
    hidden, Wo, bo = _split(theta, d, w, depth)
    grad = torch.zeros_like(theta)
    grads = _split(grad, d, w, depth)
    loss = None
    for i0 in range(0, n, chunk):
        if i0 and x.device.type == "cpu":
            poll_stop()                     # one step at large n: a stop check between chunks
        part = _chunk_gradient(x[:, i0:i0 + chunk], z[:, i0:i0 + chunk], hidden, Wo, bo, grads, consts, n)
        loss = part if loss is None else loss + part
    m1.lerp_(grad, consts[4])
    m2.mul_(consts[5]).addcmul_(grad, grad, value=consts[6])
    denom = (m2.sqrt() / adam[:, 1:2]).add_(consts[7])
    theta.addcdiv_(m1 * adam[:, 0:1], denom, value=-1.0)
    return loss


def adam_denoising_torch(x, z, theta, m1, m2, consts, adam, losses, d, w, depth=1):
    """K Adam steps, the torch twin of :func:`landau_nb.scores._sbtm_numba.adam_denoising` for any
    depth (z (S, K, n, d), adam (S, K, 2), losses (S, K) filled)."""
    cs = [float(v) for v in consts]
    for k in range(z.shape[1]):
        losses[:, k] = denoising_step(x, z[:, k], theta, m1, m2, cs, adam[:, k], d, w, depth)


class CapturedSteps:
    """One Adam step of S members recorded in a CUDA graph (static buffers, replayed K times).

    ``run(x, z, theta, m1, m2, adam)`` copies the inputs into the graph's buffers, replays it
    once per step and copies theta and the moments back. The graph is recorded on the first
    call for a shape and reused while shapes, dtype and device stay the same.
    """

    def __init__(self, consts, d, w, depth=1):
        self.consts = [float(v) for v in consts]
        self.d, self.w, self.depth = d, w, depth
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
                               self.consts, self.adam, self.d, self.w, self.depth)
        torch.cuda.current_stream(dev).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = denoising_step(self.x, self.z, self.theta, self.m1, self.m2, self.consts, self.adam,
                                       self.d, self.w, self.depth)
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
