"""Every import of the Vlasov–Landau subpackage from the rest of ``landau_nb``, in one place.

The Vlasov–Landau wing sits above the equation, score and solver wings and below the
experiments; only this module names the modules it uses below it, so a move there changes this
file and nothing else in :mod:`landau_nb.vlasov`.
"""

from __future__ import annotations

from .._checks import (FLOAT_DTYPES, check_bool, check_choice, check_device, check_dtype,
                       check_int, check_positive, check_real, check_request_size)
from .._files import atomic_write, file_sha256, save_npz_json
from .._seeding import derive_seed, make_generator
from .._stats import t_interval
from .._state import generator_state, set_generator_state, tensor_state
from .._version import __version__
from ..equation.collision import collision_kernel, landau_velocity
from ..equation.pairsum import compiled_usable, compiled_velocity_sum, numba_available, tile_rows
from ..equation.problems import maxwell_second_moment
from ..scores.blob import blob_score, kde_score
from ..scores.losses import denoising_loss
from ..scores.networks import score_mlp
from ..scores.sbtm import fit_initial_score
from ..solver.checkpoint import CheckpointError, has_checkpoint, load_checkpoint, save_checkpoint
from ..solver.integrate import NonFiniteError
from ..solver.trajectory import ResultFileError, environment_versions

__all__ = [
    "FLOAT_DTYPES", "check_bool", "check_choice", "check_device", "check_dtype", "check_int",
    "check_positive", "check_real", "check_request_size", "__version__", "CheckpointError",
    "generator_state", "has_checkpoint", "load_checkpoint", "save_checkpoint", "set_generator_state",
    "tensor_state", "blob_score", "kde_score", "collision_kernel", "landau_velocity", "atomic_write", "file_sha256", "save_npz_json", "denoising_loss", "score_mlp",
    "compiled_usable", "compiled_velocity_sum", "numba_available", "tile_rows",
    "maxwell_second_moment", "fit_initial_score", "derive_seed", "make_generator",
    "NonFiniteError", "ResultFileError", "environment_versions", "numba_exp_neg", "t_interval",
]


def numba_exp_neg():
    """The homogeneous package's vectorisable exp(−q) for numba kernels (imports numba)."""
    from ..equation.pairsum import numba_exp_neg as f
    return f()
