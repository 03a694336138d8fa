"""Every import of the Vlasov–Landau subpackage from the rest of ``landau_nb``, in one place.

The homogeneous package is being reorganised into subpackages; only this module names their
locations, so a move changes this file and nothing else in :mod:`landau_nb.vlasov`.
"""

from __future__ import annotations

from .._checks import (FLOAT_DTYPES, check_bool, check_choice, check_device, check_dtype,
                       check_int, check_positive, check_real, check_request_size)
from .._version import __version__
from ..checkpoint import (CheckpointError, generator_state, has_checkpoint, load_checkpoint,
                          save_checkpoint, set_generator_state, tensor_state)
from ..blob import blob_score, kde_score
from ..collision import collision_kernel, landau_velocity
from ..locks import atomic_write
from ..losses import denoising_loss
from ..pairsum import compiled_usable, compiled_velocity_sum, numba_available, tile_rows
from ..problems import maxwell_second_moment
from ..sbtm import fit_initial_score
from ..seeding import derive_seed, make_generator
from ..solve import NonFiniteError
from ..trajectory import ResultFileError, environment_versions

__all__ = [
    "FLOAT_DTYPES", "check_bool", "check_choice", "check_device", "check_dtype", "check_int",
    "check_positive", "check_real", "check_request_size", "__version__", "CheckpointError",
    "generator_state", "has_checkpoint", "load_checkpoint", "save_checkpoint", "set_generator_state",
    "tensor_state", "blob_score", "kde_score", "collision_kernel", "landau_velocity", "atomic_write", "denoising_loss",
    "compiled_usable", "compiled_velocity_sum", "numba_available", "tile_rows",
    "maxwell_second_moment", "fit_initial_score", "derive_seed", "make_generator",
    "NonFiniteError", "ResultFileError", "environment_versions", "numba_exp_neg",
]


def numba_exp_neg():
    """The homogeneous package's vectorisable exp(−q) for numba kernels (imports numba)."""
    from .._pairsum_numba import exp_neg as f
    return f
