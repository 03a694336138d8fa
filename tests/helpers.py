"""Shared assertions of the test suite (imported by the test modules; pytest puts tests/ on sys.path)."""

import numpy as np


def assert_same_run(a, b):
    """Two Trajectories are bit-identical: positions, every per-step record but the timings, and
    every saved series."""
    assert np.array_equal(a.x, b.x)
    for k in a.steps:
        if not k.startswith("time_"):
            assert np.array_equal(a.steps[k], b.steps[k], equal_nan=True), k
    for k in a.saved:
        assert np.array_equal(a.saved[k], b.saved[k]), k
