"""The score-estimator registry: name -> :class:`~landau_nb.scores.base.ScoreEstimator`
subclass, the one place an estimator is registered (``solve(problem, NAME)``, the runner,
ensembles and the contract test ``tests/test_contracts.py`` read it)."""

from __future__ import annotations

from .._checks import check_choice, register_class
from .base import ExactScore, ScoreEstimator
from .blob import Blob
from .sbtm import SBTM

__all__ = ["ESTIMATORS", "register_estimator", "make_estimator"]

ESTIMATORS: dict[str, type[ScoreEstimator]] = {}


def register_estimator(cls: type[ScoreEstimator]) -> type[ScoreEstimator]:
    """Add a :class:`ScoreEstimator` subclass to :data:`ESTIMATORS` under ``cls.name`` (usable as
    a class decorator); a name taken by another class raises ``ValueError``."""
    return register_class(ESTIMATORS, cls, ScoreEstimator, "estimator")


for _cls in (SBTM, Blob, ExactScore):
    register_estimator(_cls)


def make_estimator(method, **options) -> ScoreEstimator:
    """A score estimator from a registered name ("sbtm", "blob", "exact") and its options, or
    an estimator instance (returned as is, with no options)."""
    if isinstance(method, ScoreEstimator):
        if options:
            raise TypeError(f"options {sorted(options)} cannot be combined with an estimator instance")
        return method
    check_choice("method", method, tuple(ESTIMATORS))
    cls = ESTIMATORS[method]
    try:
        return cls(**options)
    except TypeError as exc:
        raise TypeError(f"bad option for method={method!r}: {exc}") from None
