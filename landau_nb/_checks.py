"""Input validation shared by every public entry point.

Each check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind, bad
value) with a message that names the parameter, the value given and what is allowed.
"""

from __future__ import annotations

import math
import numbers

import torch

FLOAT_DTYPES = (torch.float32, torch.float64)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor(shape={tuple(value.shape)}, dtype={value.dtype}, device={value.device})"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}={_describe(value)} is not known; allowed: {allowed}")
    return value


def check_given(name: str, value):
    """An empty or blank value is an error, not "not given": a string of spaces or an empty
    list would otherwise select the default (a whole reproduction, the current folder), the
    opposite of what was meant. ``None`` stands for the default; anything else passes."""
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{name}={value!r} is empty; leave it out for the default")
    if isinstance(value, (list, tuple, set, frozenset, dict)) and not value:
        raise ValueError(f"{name}={value!r} selects nothing; leave it out (None) for all")
    return value


def check_real(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number in [low, high] (ends open where asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        else:
            raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    rng = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    if not math.isfinite(value):
        raise ValueError(f"{name}={value} must be finite; allowed range {rng}")
    bad = (
        (low is not None and (value < low or (low_open and value == low)))
        or (high is not None and (value > high or (high_open and value == high)))
    )
    if bad:
        raise ValueError(f"{name}={value:g} is out of range; allowed range {rng}")
    return value


def check_positive(name: str, value) -> float:
    return check_real(name, value, low=0.0, low_open=True)


def check_int(name: str, value, *, low=None, high=None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        rng = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"{name}={value} is out of range; allowed range {rng}")
    return value


def check_dimension(d) -> int:
    return check_int("d", d, low=2)


def check_gamma(gamma, d: int) -> float:
    return check_real("gamma", gamma, low=-d - 1, high=1)


def check_points(name: str, x, *, min_n: int = 2) -> torch.Tensor:
    """An (n, d) floating tensor with n >= min_n, d >= 2 and finite entries."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, d), got {_describe(x)}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} has dtype {x.dtype}; allowed dtypes: torch.float32, torch.float64")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got shape {tuple(x.shape)}")
    n, d = x.shape
    if n < min_n:
        raise ValueError(f"{name} has n={n} points; need n >= {min_n}")
    if d < 2:
        raise ValueError(f"{name} has dimension d={d}; need d >= 2")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise ValueError(f"{name} has non-finite entries (NaN or Inf) in {bad} of {n} rows")
    return x


def check_like(name: str, y, ref_name: str, ref: torch.Tensor) -> torch.Tensor:
    """y must be a finite tensor with the shape, dtype and device of ref."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor like {ref_name}, got {_describe(y)}")
    if y.shape != ref.shape:
        raise ValueError(f"{name} has shape {tuple(y.shape)}; it must match {ref_name}: {tuple(ref.shape)}")
    if y.device != ref.device:
        raise ValueError(
            f"{name} is on {y.device} but {ref_name} is on {ref.device}; move them to one device"
        )
    if y.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {y.dtype} but {ref_name} has {ref.dtype}; use one dtype")
    if not bool(torch.isfinite(y).all()):
        bad = int((~torch.isfinite(y)).any(dim=-1).sum()) if y.ndim else 1
        raise ValueError(f"{name} has non-finite entries (NaN or Inf) in {bad} rows")
    return y


def check_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, str):
        dtype = {"float32": torch.float32, "float64": torch.float64, "double": torch.float64,
                 "float": torch.float32}.get(dtype, dtype)
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype={_describe(dtype)} is not supported; allowed: torch.float32, torch.float64")
    return dtype


def check_device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={_describe(device)} is not a valid torch device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(dev)!r} was asked for but CUDA is not available here; use device='cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device={str(dev)!r} is not supported; allowed: 'cpu', 'cuda'")
    return dev



def check_bool(name: str, value) -> bool:
    """True or False (numpy's bool too); anything else, e.g. the string "False" (which
    bool() would read as True), is refused."""
    import numpy as np
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {_describe(value)}")


# --- request sizes (issue 14): bounds checked before anything is allocated ------------------

MAX_PARTICLES = 10_000_000     # 100 x the paper's largest n (102 400)
MAX_RUNS = 100_000             # runs in one request (the paper's whole Section 5 is ~400)
#: memory of one worker process before its run allocates anything: the interpreter, torch,
#: numba and the compiled kernels (resident size measured after the first run: 0.4-0.45 GiB)
WORKER_PROCESS_BYTES = int(0.4 * 2**30)


def available_memory() -> int:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``; else physical memory)."""
    import os
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def run_memory_bytes(*, n: int, d: int, steps: int, snapshots: int, itemsize: int, sbtm_units: int = 0) -> int:
    """Bytes one run holds at its peak, roughly: per particle about 40 (n, d) arrays (positions,
    scores, velocities, their float64 copies) and the snapshots kept; SBTM adds its network's
    activations, gradients and optimiser state (``sbtm_units`` = width x depth, 12 numbers
    each per particle); plus the per-step records. Used by :func:`landau_nb.solve` and the
    experiment runner (times its workers)."""
    per_particle = d * (snapshots + 40) + 12 * sbtm_units
    return int(itemsize * n * per_particle + 8 * (steps + 1) * (d * d + d + 16))


def check_request_size(*, n: int | None = None, runs: int | None = None, nbytes: int | None = None,
                       what: str = "the request") -> None:
    """Refuse a request whose particle count, number of runs or memory estimate is beyond
    what one machine can hold, before anything is allocated; the bound is in the message."""
    if n is not None and n > MAX_PARTICLES:
        raise ValueError(f"n={n} is out of range; allowed range [2, {MAX_PARTICLES}] particles per run")
    if runs is not None and runs > MAX_RUNS:
        raise ValueError(f"{what} has {runs} runs; at most {MAX_RUNS} runs per request (split the sweep)")
    if nbytes is not None:
        avail = available_memory()
        if nbytes > avail:
            raise ValueError(f"{what} needs about {nbytes / 2**30:.3g} GiB of memory; "
                             f"{avail / 2**30:.3g} GiB are available (lower n or save_every)")


#: a sample covariance whose smallest eigenvalue is below this times its largest has a
#: zero-variance direction (round-off of exactly flat samples, float32 too, is ~1e-14)
ZERO_VARIANCE_RTOL = 1e-12


def register_class(registry: dict, cls, base: type, what: str):
    """Add ``cls`` (a subclass of ``base``) to ``registry`` under ``cls.name``; a name taken by
    another class raises ``ValueError``. The one rule of every registry of the package
    (problems, estimators)."""
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"register_{what} takes a {base.__name__} subclass, got {cls!r}")
    if registry.get(cls.name, cls) is not cls:
        raise ValueError(f"{what} name {cls.name!r} is already registered to {registry[cls.name].__name__}")
    registry[cls.name] = cls
    return cls
