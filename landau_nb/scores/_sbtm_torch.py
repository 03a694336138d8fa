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


# ---- the implicit losses (3.4) and (3.3) with the exact divergence: forward tangents, analytic backward ----

#: activations of the analytic implicit step: sigma, sigma' and sigma'' in closed form
IMPLICIT_ACTIVATIONS = ("softsign", "silu")
#: optimisers of the analytic implicit step (torch.optim.Adam's and torch.optim.Adamax's updates)
OPTIMIZERS = ("adam", "adamax")


def _activation(u, activation, second=True):
    """sigma(u), sigma'(u) and, with ``second``, sigma''(u) (u is not modified)."""
    if activation == "softsign":                       # u / (1 + |u|): r^2 and -2 sign(u) r^3, r = 1 / (1 + |u|)
        r = u.abs().add_(1).reciprocal_()
        d1 = r * r
        if not second:
            return u * r, d1
        return u * r, d1, torch.sign(u).mul_(d1).mul_(r).mul_(-2.0)
    g = torch.sigmoid(u)                               # SiLU h = u g: g + h (1 - g), g (1 - g)(2 + u (1 - 2 g))
    one_g = 1 - g
    h = u * g
    d1 = torch.addcmul(g, h, one_g)
    if not second:
        return h, d1
    d2 = (one_g - g).mul_(u).add_(2.0).mul_(g).mul_(one_g)
    return h, d1, d2


def _regression_chunk(x, t, hidden, Wo, bo, grads, activation, scale):
    """Add the gradient of the rows' share of ``scale * sum |s(x) - t|^2`` into ``grads`` (same
    layout as (hidden, Wo, bo)); returns the share (S,). x, t (S, m, d); scale (S, 1, 1).

    The analytic backward of a regression: output cotangent g = 2 scale (s - t); per layer
    delta = sigma'(u) * (next layer's W^T delta), dW^T += a^T delta, db += sum delta."""
    acts, d1s = [x], []
    for WT, b in hidden:
        h, d1 = _activation(torch.baddbmm(b[:, None, :], acts[-1], WT), activation, second=False)
        acts.append(h)
        d1s.append(d1)
    r = torch.baddbmm(bo[:, None, :], acts[-1], Wo.transpose(1, 2)).sub_(t)    # s - t, (S, m, d)
    loss = (r * r).sum((1, 2)) * scale[:, 0, 0]
    g = r.mul_(2 * scale)
    hidden_g, Wo_g, bo_g = grads
    Wo_g.baddbmm_(g.transpose(1, 2), acts[-1])
    bo_g.add_(g.sum(1))
    delta = torch.bmm(g, Wo)                                                   # (S, m, w)
    for k in range(len(hidden) - 1, -1, -1):
        dk = delta.mul_(d1s[k])
        hidden_g[k][0].baddbmm_(acts[k].transpose(1, 2), dk)
        hidden_g[k][1].add_(dk.sum(1))
        if k:
            delta = torch.bmm(dk, hidden[k][0].transpose(1, 2))
    return loss


#: particles per chunk of the regression gradient on the CPU (the chunk's (m x w) activations of
#: every layer stay in the cache); a constant, so results do not depend on the thread count
REGRESSION_CHUNK = 2048


def regression_gradient(x, t, theta, d, w, depth=1, activation="softsign", chunk=None):
    """(loss (S,), gradient (S, P)) of the relative L2 error sum |s(x) - t|^2 / sum |t|^2 (the
    initial fit's loss, :func:`landau_nb.scores.sbtm.fit_initial_score`) for S networks in the flat
    layout at x, t (S, m, d), summed over chunks of ``chunk`` rows in a fixed order (default
    :data:`REGRESSION_CHUNK` on the CPU, all rows on a GPU)."""
    m = x.shape[1]
    if chunk is None:
        chunk = REGRESSION_CHUNK if x.device.type == "cpu" else m
    scale = (t * t).sum((1, 2), keepdim=True).reciprocal_()
    hidden, Wo, bo = _split(theta, d, w, depth)
    grad = torch.zeros_like(theta)
    grads = _split(grad, d, w, depth)
    loss = None
    for i0 in range(0, m, chunk):
        sl = slice(i0, i0 + chunk)
        part = _regression_chunk(x[:, sl], t[:, sl], hidden, Wo, bo, grads, activation, scale)
        loss = part if loss is None else loss + part
    return loss, grad


def _implicit_chunk(x, hidden, Wo, bo, grads, n, activation, D=None, divD=None):
    """Add the gradient of the rows' share of the implicit loss (3.4) (or the weighted (3.3) when
    ``D`` (S, m, d, d) and ``divD`` (S, m, d) are given) into ``grads``; returns the share (S,).

    Forward: each layer carries its value h and the d tangents dh^a = d h / d x_a, stacked as
    (S, d + 1, m, w), so that one batched product per layer moves all of them (the Jacobian
    J[i, k, a] = d s_k / d x_a is exact: no finite difference, no autograd). Backward: the
    cotangents of (h, dh^1..dh^d) go down the same way; with u the pre-activation and T^a its
    tangent, g_u = sigma'(u) g_h + sigma''(u) sum_a g_dh^a T^a and g_T^a = sigma'(u) g_dh^a."""
    S, m, d = x.shape
    WT1, b1 = hidden[0]
    w = WT1.shape[2]
    u = torch.baddbmm(b1[:, None, :], x, WT1)                           # (S, m, w)
    h, d1, d2 = _activation(u, activation)
    T = WT1[:, :, None, :]                                              # tangents of u: rows of W1^T
    H = torch.empty((S, d + 1, m, w), dtype=x.dtype, device=x.device)
    H[:, 0] = h
    torch.mul(d1[:, None], T, out=H[:, 1:])
    saved, Hs = [(T, d1, d2)], [H]
    for WT, b in hidden[1:]:
        U = torch.bmm(Hs[-1].view(S, (d + 1) * m, w), WT).view(S, d + 1, m, w)
        u = U[:, 0].add_(b[:, None, :])
        h, d1, d2 = _activation(u, activation)
        T = U[:, 1:]
        H = torch.empty_like(U)
        H[:, 0] = h
        torch.mul(d1[:, None], T, out=H[:, 1:])
        saved.append((T, d1, d2))
        Hs.append(H)
    top = Hs[-1]
    s = torch.baddbmm(bo[:, None, :], top[:, 0], Wo.transpose(1, 2))   # (S, m, d)
    hidden_g, Wo_g, bo_g = grads
    if D is None:
        dsum = top[:, 1:].sum(2)                                        # (S, d, w): sum_i dh^a_i
        loss = (s * s).sum((1, 2)) / n + (dsum * Wo).sum((1, 2)) * (2.0 / n)
        gs = s * (2.0 / n)
        Wo_g.baddbmm_(gs.transpose(1, 2), top[:, 0])
        Wo_g.add_(dsum, alpha=2.0 / n)                                  # d div / d Wo[a, :] = dh^a
        # cotangents of h and of the tangents dh^a (the latter the same row for every particle)
        G0, G1 = torch.bmm(gs, Wo), (Wo * (2.0 / n))[:, :, None, :]
    else:
        J = torch.bmm(top[:, 1:].reshape(S, d * m, w), Wo.transpose(1, 2)).view(S, d, m, d)  # J^a[i, k]
        C = D.permute(0, 2, 1, 3)                                       # C^a[i, k] = D[i, a, k]
        Ds = (D @ s[..., None])[..., 0]
        DTs = (D.transpose(2, 3) @ s[..., None])[..., 0]
        loss = ((s * Ds).sum((1, 2)) + 2 * (divD * s).sum((1, 2)) + 2 * (C * J).sum((1, 2, 3))) / n
        gs = (Ds + DTs + 2 * divD) / n
        cot = torch.cat([gs[:, None], C * (2.0 / n)], dim=1).reshape(S, (d + 1) * m, d)
        Wo_g.baddbmm_(cot.transpose(1, 2), top.reshape(S, (d + 1) * m, w))
        G = torch.bmm(cot, Wo).view(S, d + 1, m, w)
        G0, G1 = G[:, 0], G[:, 1:]
    bo_g.add_(gs.sum(1))
    for k in range(len(hidden) - 1, -1, -1):
        T, d1, d2 = saved[k]
        GU = torch.empty((S, d + 1, m, w), dtype=x.dtype, device=x.device)   # cotangents of (u, T^a)
        torch.mul(d1[:, None], G1, out=GU[:, 1:])
        torch.addcmul(d1 * G0, d2, (G1 * T).sum(1), out=GU[:, 0])
        WT_g, b_g = hidden_g[k]
        b_g.add_(GU[:, 0].sum(1))
        if k:
            WT_g.baddbmm_(Hs[k - 1].view(S, (d + 1) * m, w).transpose(1, 2), GU.view(S, (d + 1) * m, w))
            G = torch.bmm(GU.view(S, (d + 1) * m, w), hidden[k][0].transpose(1, 2)).view(S, d + 1, m, w)
            G0, G1 = G[:, 0], G[:, 1:]
        else:
            WT_g.baddbmm_(x.transpose(1, 2), GU[:, 0])
            WT_g.add_(GU[:, 1:].sum(2))                                 # d T^a / d W1^T[a, :] = 1
    return loss


#: elements of one stacked (d + 1, m, w) activation array of the implicit step on the CPU: chunks of
#: m = IMPLICIT_CHUNK_ELEMENTS / ((d + 1) w) particles (1600 for Huang and Wang's d = 2, w = 32),
#: evened out over n; a function of n, d and w only, so results do not depend on the thread count.
#: Measured (CPU time, n = 1600 and 6400, w = 32): 1.4x faster than chunks of 512.
IMPLICIT_CHUNK_ELEMENTS = 153_600


def implicit_chunk_size(n, d, w):
    """Particles per chunk of the implicit step on the CPU (balanced: the chunks differ by at most one)."""
    per = max(1, IMPLICIT_CHUNK_ELEMENTS // ((d + 1) * w))
    pieces = -(-n // per)
    return -(-n // pieces)


def optimizer_update(theta, m1, m2, grad, consts, adam, optimizer="adam"):
    """torch.optim.Adam's (or Adamax's) update of the flat parameters, in place. consts as
    :func:`denoising_step`'s (entries 4..7: 1 - beta1, beta2, 1 - beta2, eps); adam (S, 2) =
    (lr / bias_correction1, sqrt(bias_correction2)) (the second unused by Adamax)."""
    m1.lerp_(grad, consts[4])
    if optimizer == "adam":
        m2.mul_(consts[5]).addcmul_(grad, grad, value=consts[6])
        denom = (m2.sqrt() / adam[:, 1:2]).add_(consts[7])
        theta.addcdiv_(m1 * adam[:, 0:1], denom, value=-1.0)
    else:                                              # Adamax: the exponentially weighted infinity norm
        torch.maximum(m2.mul_(consts[5]), grad.abs().add_(consts[7]), out=m2)
        theta.addcdiv_(m1 * adam[:, 0:1], m2, value=-1.0)


def implicit_gradient(x, theta, d, w, depth=1, activation="softsign", D=None, divD=None, chunk=None):
    """(loss (S,), gradient (S, P)) of the implicit loss (3.4), or of the weighted implicit loss
    (3.3) when D (S, n, d, d) and divD (S, n, d) are given, for S networks in the flat layout at
    particles x (S, n, d), summed over chunks of ``chunk`` particles in a fixed order (default
    :func:`implicit_chunk_size` on the CPU, all n on a GPU)."""
    n = x.shape[1]
    if chunk is None:
        chunk = implicit_chunk_size(n, d, w) if x.device.type == "cpu" else n
    hidden, Wo, bo = _split(theta, d, w, depth)
    grad = torch.zeros_like(theta)
    grads = _split(grad, d, w, depth)
    loss = None
    for i0 in range(0, n, chunk):
        if i0 and x.device.type == "cpu":
            poll_stop()
        sl = slice(i0, i0 + chunk)
        part = _implicit_chunk(x[:, sl], hidden, Wo, bo, grads, n, activation,
                               None if D is None else D[:, sl], None if divD is None else divD[:, sl])
        loss = part if loss is None else loss + part
    return loss, grad


def adam_implicit_torch(x, theta, m1, m2, consts, adam, losses, d, w, depth=1, activation="softsign",
                        optimizer="adam", D=None, divD=None):
    """K steps of Adam (or Adamax) on the implicit loss (3.4) / weighted implicit loss (3.3) in
    place (adam (S, K, 2), losses (S, K) filled with the loss before each step)."""
    cs = [float(v) for v in consts]
    for k in range(adam.shape[1]):
        if k and x.device.type == "cpu":
            poll_stop()
        loss, grad = implicit_gradient(x, theta, d, w, depth, activation, D, divD)
        losses[:, k] = loss
        optimizer_update(theta, m1, m2, grad, cs, adam[:, k], optimizer)
