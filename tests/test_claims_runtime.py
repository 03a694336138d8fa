"""The runtime claims of §5.4 (landau_nb.book.claims) on synthetic timings with known slopes."""

import numpy as np
import pytest

import landau_nb as ln
from landau_nb.book.claims import CLAIMS, Verdict
from landau_nb.experiments import Results, get_experiment


def _fake_results(name, label_slopes, device="cpu", ns=(100, 200, 400, 800, 1600, 3200, 6400, 12800)):
    """Results whose runs take c * n**p seconds of score per step (p per label)."""
    runs = []
    for label, p in label_slopes.items():
        for n in ns:
            steps = 11
            sec = np.full(steps, 1e-3 * (n / 100) ** p)
            tr = ln.Trajectory(t=np.arange(steps) * 0.01, steps={"time_score": sec, "time_velocity": 0 * sec},
                               saved_t=np.zeros(0), x=np.zeros((0, n, 3)), saved={},
                               meta={"n": n, "d": 3, "seed": 0, "dtype": "float32", "device": device,
                                     "problem": {"name": "p"}, "estimator": {"name": label}, "versions": {}})
            runs.append(({"label": label, "n": n, "seed": 0}, tr))
    return Results(get_experiment(name), "paper", runs, [], ".", [], [])


@pytest.mark.parametrize("p, expected", [(1.0, "yes"), (0.6, "partly"), (2.0, "no")])
def test_sbtm_linear_claim_reads_the_upper_half_slope(p, expected):
    v = CLAIMS["runtime_sbtm_linear"].check(_fake_results("runtime", {"sbtm": p, "blob": 2.0}))
    assert v.reproduced == expected and v.value == f"slope {p:.2f}"


@pytest.mark.parametrize("p, expected", [(2.0, "yes"), (1.5, "partly"), (1.0, "no")])
def test_blob_quadratic_claim(p, expected):
    v = CLAIMS["runtime_blob_quadratic"].check(_fake_results("runtime", {"sbtm": 1.0, "blob": p}))
    assert v.reproduced == expected


def test_gpu_claim_is_pending_without_gpu_runs_and_judged_with_them():
    cpu = _fake_results("runtime_heat", {"sbtm": 1.0, "blob": 2.0})
    assert CLAIMS["runtime_gpu_heat"].check(cpu).reproduced == "pending"
    gpu = _fake_results("runtime_heat", {"sbtm": 0.6}, device="cuda:0")
    assert CLAIMS["runtime_gpu_heat"].check(gpu) == Verdict("slope 0.60", "yes",
                                                             "SBTM, heat equation, GPU, n = 100…12800")


def test_too_few_particle_counts_is_pending_while_runs_are_missing():
    few = _fake_results("runtime", {"sbtm": 1.0, "blob": 2.0}, ns=(100, 200))
    v = CLAIMS["runtime_sbtm_linear"].check(few)
    assert v.reproduced == "pending" and "missing" in v.detail


def test_a_verdict_outside_the_four_words_is_refused():
    with pytest.raises(ValueError, match="reproduced"):
        Verdict("1", "maybe")
