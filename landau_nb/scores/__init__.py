"""Score estimators: one interface (:class:`~landau_nb.scores.base.ScoreEstimator`), one
registry beside it (:mod:`~landau_nb.scores.registry`), and the estimators — SBTM
(:mod:`~landau_nb.scores.sbtm`, with its fused numba and analytic-gradient torch kernels),
the blob method (:mod:`~landau_nb.scores.blob`) and the exact score — with the losses
(:mod:`~landau_nb.scores.losses`) and networks they train. Imports only the equation wing.
"""

from .base import ExactScore, ScoreEstimator
from .blob import Blob
from .registry import ESTIMATORS, make_estimator, register_estimator
from .sbtm import SBTM

__all__ = ["ScoreEstimator", "ExactScore", "SBTM", "Blob", "ESTIMATORS", "register_estimator", "make_estimator"]
