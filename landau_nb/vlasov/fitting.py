"""Fitted damping/growth rates and oscillation frequencies of ‖E‖(t) and of the field's k-mode.

Conventions (the facts note's, so that particle runs and the continuum reference are fitted
the same way):

* **rate from peaks** (oscillating, damped or growing Langmuir waves): the local maxima of
  ‖E‖(t) inside the window, each refined by the parabola through log‖E‖ at the three samples
  around it, and a least-squares line through (t_peak, log ‖E‖_peak); the slope is the rate
  (negative: damping). ‖E‖ of a standing wave peaks twice per period.
* **rate from all points** (a purely growing mode such as the symmetric two-stream
  instability): least squares of log ‖E‖(t) over every sample in the window.
* **frequency** from the zero crossings of the k-mode Ê_k(t) (complex): projected on its
  dominant direction in the complex plane (a standing wave keeps its phase), the crossings
  located by linear interpolation between samples, and ω = π / (spacing of the crossings)
  from a least-squares line through (crossing index, crossing time).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fit_rate", "fit_frequency", "local_maxima"]


def _window(name, window, t):
    if window is None:
        return float(t[0]), float(t[-1])
    try:
        t0, t1 = (float(window[0]), float(window[1]))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{name}={window!r} must be a pair (t0, t1) of numbers") from None
    if not (math.isfinite(t0) and math.isfinite(t1)) or t1 <= t0:
        raise ValueError(f"{name}=({t0:g}, {t1:g}) must be finite with t0 < t1")
    return t0, t1


def local_maxima(t, a, window=None, *, refine: bool = True):
    """Times and values of the local maxima of the samples ``a`` (> 0) at times ``t`` whose
    sample time lies in ``window`` = (t0, t1) (inclusive). With ``refine`` each peak is moved
    to the vertex of the parabola through log a at the three samples around it (uniform or
    not), which removes the O(dt) bias of taking the largest sample."""
    t = np.asarray(t, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if t.shape != a.shape or t.ndim != 1:
        raise ValueError(f"t and a must be 1-D arrays of one length, got shapes {t.shape} and {a.shape}")
    t0, t1 = _window("window", window, t)
    inner = np.arange(1, len(a) - 1)
    is_max = (a[inner] > a[inner - 1]) & (a[inner] >= a[inner + 1]) & (t[inner] >= t0) & (t[inner] <= t1)
    idx = inner[is_max]
    if not refine or len(idx) == 0:
        return t[idx], a[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(np.maximum(a, np.finfo(np.float64).tiny))
    tp, vp = [], []
    for i in idx:
        xs, ys = t[i - 1:i + 2] - t[i], y[i - 1:i + 2]
        c2, c1, c0 = np.polyfit(xs, ys, 2)
        if c2 < 0:
            dt = -c1 / (2 * c2)
            if abs(dt) <= max(abs(xs[0]), abs(xs[2])):
                tp.append(t[i] + dt)
                vp.append(math.exp(c0 + c1 * dt + c2 * dt * dt))
                continue
        tp.append(t[i])
        vp.append(a[i])
    return np.asarray(tp), np.asarray(vp)


def fit_rate(t, a, window, *, method: str = "peaks", refine: bool = True) -> dict:
    """Exponential rate of ``a`` (e.g. ‖E‖(t)) on ``window`` = (t0, t1).

    method : ``"peaks"`` (least squares of log of the local maxima; for oscillating modes) or
        ``"all"`` (least squares of log a over every sample in the window; purely growing modes).
    Returns ``{"rate", "log_amplitude" (intercept at t = 0), "window", "method", "t", "values",
    "residual" (rms of the log fit)}``; ``t`` and ``values`` are the points fitted.
    """
    t = np.asarray(t, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    t0, t1 = _window("window", window, t)
    if method == "peaks":
        tp, vp = local_maxima(t, a, (t0, t1), refine=refine)
        need = 2
    elif method == "all":
        keep = (t >= t0) & (t <= t1) & (a > 0)
        tp, vp = t[keep], a[keep]
        need = 2
    else:
        raise ValueError(f"method={method!r} is not known; allowed: 'peaks', 'all'")
    if len(tp) < need:
        raise ValueError(f"window=({t0:g}, {t1:g}) holds {len(tp)} fit point(s) ({method}); need at least "
                         f"{need}: widen the window or record more often")
    y = np.log(vp)
    slope, icpt = np.polyfit(tp, y, 1)
    resid = float(np.sqrt(np.mean((y - (slope * tp + icpt)) ** 2)))
    return {"rate": float(slope), "log_amplitude": float(icpt), "window": [t0, t1], "method": method,
            "t": tp.tolist(), "values": vp.tolist(), "residual": resid}


def fit_frequency(t, mode, window) -> dict:
    """Angular frequency of a (complex) mode amplitude from its interpolated zero crossings on
    ``window``: ω = π / spacing. Returns ``{"omega", "window", "crossings", "phase"}``
    (``phase`` is the angle of the projection direction)."""
    t = np.asarray(t, dtype=np.float64)
    c = np.asarray(mode)
    if c.shape != t.shape:
        raise ValueError(f"mode must have the shape of t {t.shape}, got {c.shape}")
    t0, t1 = _window("window", window, t)
    keep = (t >= t0) & (t <= t1)
    tw, cw = t[keep], c[keep].astype(np.complex128)
    theta = 0.5 * np.angle(np.sum(cw * cw))            # principal axis of the points in C
    y = np.real(cw * np.exp(-1j * theta))
    s = np.signbit(y)
    idx = np.nonzero(s[1:] != s[:-1])[0]
    cross = tw[idx] - y[idx] * (tw[idx + 1] - tw[idx]) / (y[idx + 1] - y[idx])
    if len(cross) < 2:
        raise ValueError(f"window=({t0:g}, {t1:g}) holds {len(cross)} zero crossing(s) of the mode; need at "
                         "least 2: widen the window")
    slope = np.polyfit(np.arange(len(cross)), cross, 1)[0]
    return {"omega": float(math.pi / slope), "window": [t0, t1], "crossings": cross.tolist(),
            "phase": float(theta)}
