"""ln.below: the machine-independent text of a round-off quantity, and its check."""

import math

import numpy as np
import pytest

import landau_nb as ln


def test_below_returns_the_bound_text():
    assert ln.below(2.4e-16, 1e-14) == "< 1e-14"
    assert ln.below(-3.9e-16, 1e-13) == "< 1e-13"
    assert ln.below(np.array([1e-17, -5e-16]), 1e-14) == "< 1e-14"
    assert ln.below(0.0, 1e-15) == "< 1e-15"


@pytest.mark.parametrize("value", [1e-14, 2e-13, -1e-12, [1e-16, 3e-14], math.nan, math.inf])
def test_below_raises_when_the_bound_fails(value):
    with pytest.raises(AssertionError, match="momentum rate"):
        ln.below(value, 1e-14, what="momentum rate")


@pytest.mark.parametrize("limit", [0, -1e-14, math.nan, math.inf, "1e-14", True])
def test_below_rejects_bad_limits(limit):
    with pytest.raises(ValueError, match="limit"):
        ln.below(1e-16, limit)


def test_below_rejects_non_numbers():
    with pytest.raises(TypeError, match="value"):
        ln.below("small", 1e-14)


def test_above_checks_every_entry():
    assert ln.above(-3e-16, -1e-14) == "> -1e-14"
    assert ln.above([0.5, -1e-17], -1e-14) == "> -1e-14"
    with pytest.raises(AssertionError, match="lambda_min"):
        ln.above([0.5, -2e-13], -1e-14, what="lambda_min")
    with pytest.raises(AssertionError):
        ln.above(math.nan, -1.0)
    with pytest.raises(ValueError, match="limit"):
        ln.above(1.0, math.inf)
