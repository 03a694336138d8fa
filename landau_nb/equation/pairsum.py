"""Pair sums on the CPU: the shared tile-size rule of the torch sums and the compiled (numba)
kernels behind ``landau_velocity(..., method="compiled")`` and ``blob_score(..., method=
"compiled")`` (book: the runtime chapter; measurements in ``benchmarks/pair_sums.py``).

The torch sums (tiled, in :mod:`landau_nb.equation.collision`, :mod:`landau_nb.scores.blob`,
:mod:`landau_nb.equation.kde`) are the reference and run on any device. The compiled kernels
(:mod:`landau_nb.equation._pairsum_numba`) are fused loops over pairs written for the SIMD units,
multithreaded with numba's ``prange``, O(n) memory; they run on CPU tensors in float32 and
float64, any d >= 2 (a specialised loop for d = 3), and do not support autograd.

numba is imported only when a compiled kernel is first needed; without numba,
``method="compiled"`` raises and ``method="auto"`` silently uses torch.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

from .._checks import check_int
from .._stop import poll_stop

__all__ = ["tile_rows", "numba_available", "compiled_velocity_sum", "compiled_blob_score",
           "compiled_logsumexp", "numba_exp_neg", "COMPILED_MIN_N", "TILE_BUDGET", "CHUNK_WORK"]

#: number of scalar entries of one (tile, n, width) temporary in the tiled torch sums
TILE_BUDGET = 2**22

#: work (pairs times coordinates) of one call of a compiled kernel: a larger sum is cut into
#: row blocks, one call each, with a stop check between them (:func:`landau_nb._stop.poll_stop`;
#: Ctrl-C and SIGTERM in the main thread are handled there too), so that a run stops within
#: a fraction of a second even at n = 10^7 (about 0.1-0.5 s per block on one core). The blocks
#: cost nothing measurable (``benchmarks/row_blocks.py``: CPU time within +-2.5 %, the noise
#: of a shared 2-core machine, at n = 20 000 and 40 000, d = 3 and 10), and the sums of each
#: row are those of one call (bit-identical).
CHUNK_WORK = 2**29

#: "auto" uses the compiled kernels from this many particles on. Measured (benchmark table 3,
#: 2 cores): the compiled sums are as fast as torch from n ~ 32 (velocity) and n ~ 16 (blob)
#: and 2-8x faster at n = 64; below that a call costs ~0.1 ms either way.
COMPILED_MIN_N = 64


def tile_rows(n: int, width: int, tile: int | None = None, *, rows: int | None = None) -> int:
    """Rows per tile of a tiled torch pair sum: ``tile`` if given (validated, >= 1), else as
    many rows as keep one (rows, n, width) temporary near TILE_BUDGET entries, at least 1 and
    at most ``rows`` (default n), the number of rows to cover."""
    if tile is not None:
        return check_int("tile", tile, low=1)
    cap = n if rows is None else rows
    return max(1, min(cap, TILE_BUDGET // max(1, n * width)))


_HAVE_NUMBA = None        # None: not looked for yet
_KERNELS = None
_IMPORT_ERROR = ""


def numba_available() -> bool:
    """True when numba is installed (looked up once, without importing it) and, if an import
    was tried, it worked."""
    global _HAVE_NUMBA
    if _HAVE_NUMBA is None:
        _HAVE_NUMBA = importlib.util.find_spec("numba") is not None
    return _HAVE_NUMBA


def _load():
    """The kernel module, imported (numba with it) on first use; None if that fails."""
    global _KERNELS, _HAVE_NUMBA, _IMPORT_ERROR
    if _KERNELS is None and numba_available():
        try:
            from . import _pairsum_numba
        except Exception as exc:  # a broken numba install: fall back to torch, remember why
            _HAVE_NUMBA = False
            _IMPORT_ERROR = f" (importing it failed: {type(exc).__name__}: {exc})"
        else:
            _KERNELS = _pairsum_numba
    return _KERNELS


def _kernels():
    kern = _load()
    if kern is None:
        raise ImportError(f"method='compiled' needs numba, which is not installed here{_IMPORT_ERROR} "
                          "(pip install numba); use method='direct' (torch) instead")
    return kern


def compiled_usable(x: torch.Tensor, *tensors: torch.Tensor) -> bool:
    """Whether "auto" may use the compiled kernels for x (and the other inputs): numba is
    there, the tensors are on the CPU, no gradient is asked for and n >= COMPILED_MIN_N."""
    if x.device.type != "cpu" or x.shape[0] < COMPILED_MIN_N or not numba_available():
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x,) + tensors):
        return False
    return _load() is not None


def check_compiled_inputs(*pairs) -> None:
    """Errors for method='compiled' on inputs it cannot take (CUDA, autograd)."""
    for name, t in pairs:
        if t.device.type != "cpu":
            raise ValueError(f"method='compiled' runs on the CPU only, but {name} is on {t.device}; "
                             "use method='direct' or 'auto' (tiled torch) on CUDA")
        if torch.is_grad_enabled() and t.requires_grad:
            raise ValueError(f"method='compiled' does not support autograd, but {name} requires grad; "
                             "use method='direct' or detach the inputs")


def _soa(t: torch.Tensor) -> np.ndarray:
    """(n, d) tensor -> (d, n) C-contiguous numpy array (structure of arrays)."""
    return np.ascontiguousarray(t.detach().numpy().T)


def sync_threads() -> None:
    """numba uses as many threads as torch (torch.set_num_threads / seed_everything), at
    most numba's own limit NUMBA_NUM_THREADS."""
    import numba
    wanted = torch.get_num_threads()
    numba.set_num_threads(max(1, min(wanted, numba.config.NUMBA_NUM_THREADS)))
    # numba's first call launches its OpenMP pool, which resets the process-wide OpenMP thread
    # count that torch also uses: restore torch's (results depend on it; see seed_everything)
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def _row_blocks(ntiles: int, work_per_tile: float):
    """(t0, t1) ranges of whole tiles covering 0..ntiles-1, each about CHUNK_WORK of work but at
    least two tiles per thread (a block shorter than that would leave threads idle)."""
    import numba
    least = 2 * max(1, numba.get_num_threads())
    per = max(least, int(CHUNK_WORK // max(1.0, work_per_tile)))
    return [(t0, min(ntiles, t0 + per)) for t0 in range(0, ntiles, per)]


def compiled_velocity_sum(x: torch.Tensor, s: torch.Tensor, gamma: float,
                          bounds=None) -> torch.Tensor:
    """sum_j |z_ij|^gamma (|z_ij|^2 w_ij - (z_ij.w_ij) z_ij) for each i (no -B/n factor), by
    the compiled kernel; a tensor of x's dtype. With ``bounds`` = [0, b_1, ..., n] the sum
    runs only over the partners in row i's group [b_k, b_{k+1}) (random batches). Inputs are
    assumed validated (CPU, finite, same dtype). A large sum runs in row blocks of about
    ``CHUNK_WORK``, with a stop check between them."""
    kern = _kernels()
    sync_threads()
    X, S = _soa(x), _soa(s)
    n, d = x.shape
    tiles = kern.make_tiles([0, n] if bounds is None else bounds)
    out = np.empty((n, d), dtype=np.float64)
    mode, m, hg = kern.radial_mode(float(gamma))
    tiny = float(np.finfo(X.dtype).tiny)
    call = kern.landau3 if d == 3 else kern.landau_any
    work = (tiles[:, 1] - tiles[:, 0]) * (tiles[:, 3] - tiles[:, 2]) * float(d)
    total = float(work.sum())
    if total <= CHUNK_WORK:
        call(X, S, tiles, out, mode, m, hg, tiny)
        return torch.from_numpy(out).to(x.dtype)
    for t0, t1 in _row_blocks(len(tiles), total / len(tiles)):
        poll_stop()
        call(X, S, np.ascontiguousarray(tiles[t0:t1]), out, mode, m, hg, tiny)
    return torch.from_numpy(out).to(x.dtype)


def compiled_blob_score(x: torch.Tensor, eps: float) -> torch.Tensor:
    """The blob score (see :func:`landau_nb.blob_score`) by the compiled kernels (in row
    blocks of about ``CHUNK_WORK``, with a stop check between them)."""
    kern = _kernels()
    sync_threads()
    X = _soa(x)
    n, d = x.shape
    rho = np.empty(n, dtype=np.float64)
    half_inv_eps = 0.5 / eps
    ntiles = (n + kern.TI - 1) // kern.TI
    blocks = [(0, ntiles)] if float(n) * n * d <= CHUNK_WORK else _row_blocks(ntiles, float(kern.TI) * n * d)
    for t0, t1 in blocks:
        poll_stop()
        kern.gauss_density(X, half_inv_eps, rho, t0, t1)
    inv_rho = (1.0 / rho).astype(X.dtype)
    out = np.empty((n, d), dtype=np.float64)
    for t0, t1 in blocks:
        poll_stop()
        kern.blob_pull(X, inv_rho, half_inv_eps, out, t0, t1)
    out *= -1.0 / eps
    return torch.from_numpy(out).to(x.dtype)


def numba_exp_neg():
    """The vectorisable exp(-q) of the compiled kernels, for other numba kernels of the package
    (the Vlasov-Landau collision sums); imports numba."""
    from ._pairsum_numba import exp_neg
    return exp_neg


def compiled_logsumexp(y: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """log sum_j exp(-|y_i - x_j|^2 / 2) for each query point y_i (float64 numpy array), by
    the compiled kernel, in row blocks of about ``CHUNK_WORK`` with a stop check between
    them (the KDE of :func:`landau_nb.equation.kde.kde_log_density`)."""
    kern = _kernels()
    sync_threads()
    Y, X = _soa(y), _soa(x)
    m, d = y.shape
    out = np.empty(m, dtype=np.float64)
    ntiles = (m + kern.TI - 1) // kern.TI
    work = float(kern.TI) * x.shape[0] * d
    blocks = [(0, ntiles)] if work * ntiles <= CHUNK_WORK else _row_blocks(ntiles, work)
    for t0, t1 in blocks:
        poll_stop()
        kern.gauss_logsumexp(Y, X, out, t0, t1)
    return out
