"""The claims of Example 5.2 (landau_nb.book.claims, book: exp_anisotropic, exp_dimension10):
their tests on synthetic Results (each verdict reachable), on the committed d = 3 runs, and the
helpers they use (sampling floor, the paper-figure plot)."""

from pathlib import Path

import numpy as np
import pytest
import torch

import landau_nb as ln
from landau_nb.book.claims import CLAIMS, COVARIANCE_MATCH, VERDICTS
from landau_nb.experiments import Results, covariance_sampling_floor, get_experiment

PAPER = Path(__file__).resolve().parents[1] / "results" / "paper"


class _Run:
    """The records a claim test reads from a Trajectory: constant curves."""

    def __init__(self, fair, rate0=-0.8, steps=5):
        self.t = np.linspace(0, 4, steps)
        self.saved = {}
        self.meta = {"dtype": "float32"}
        self._rec = {"cov_error_sample": np.linspace(0, fair, steps), "cov_error": np.full(steps, fair),
                     "entropy_rate": rate0 * np.exp(-self.t)}

    def __getitem__(self, key):
        return self._rec[key]


def _results(name, errors, seeds=(0, 1)):
    """Results of ``name`` with one synthetic run per (label, n, seed): errors[label][n] = fair error."""
    runs = [({"label": lab, "n": n, "seed": s}, _Run(e * (1 + 0.01 * s)))
            for lab, d in errors.items() for n, e in d.items() for s in seeds]
    return Results(get_experiment(name), "paper", runs, [], Path("synthetic"))


def test_d10_claim_each_verdict():
    c = CLAIMS["anisotropic_d10_covariance"]
    size = np.sqrt(2 * 0.8**2)                     # ||Sigma0 - Sigma_inf||_F, any d
    hi, lo = 3 * COVARIANCE_MATCH * size, 0.3 * COVARIANCE_MATCH * size
    five = range(5)                                 # the sentence's n = 25 600 for both methods, 5 seeds
    assert c.check(_results("anisotropic_d10", {"sbtm": {25600: lo}, "blob": {25600: hi}}, five)).reproduced == "yes"
    assert c.check(_results("anisotropic_d10", {"sbtm": {25600: hi}, "blob": {25600: hi}}, five)).reproduced == "partly"
    assert c.check(_results("anisotropic_d10", {"sbtm": {25600: hi}, "blob": {25600: lo}}, five)).reproduced == "no"
    # SBTM good at n = 100 only does not decide a sentence about n = 25 600
    v = c.check(_results("anisotropic_d10", {"sbtm": {100: lo}, "blob": {25600: hi}}, five))
    assert v.reproduced == "pending" and "25600" in v.detail
    v = c.check(_results("anisotropic_d10", {"sbtm": {25600: lo}, "blob": {25600: hi}}, (0, 1)))
    assert v.reproduced == "pending"                # every registered seed is needed


def test_d3_covariance_claim_each_verdict():
    c = CLAIMS["anisotropic_d3_covariance"]
    good, bad = 0.03, 0.5
    blob_slow = {n: 0.3 * (n / 100) ** -0.25 for n in (100, 400, 1600, 12800)}
    blob_fast = {100: 0.3, 200: 0.02, 400: 0.01}
    assert c.check(_results("anisotropic_d3", {"sbtm": {100: good}, "blob": blob_slow})).reproduced == "yes"
    assert c.check(_results("anisotropic_d3", {"sbtm": {100: good}, "blob": blob_fast})).reproduced == "partly"
    assert c.check(_results("anisotropic_d3", {"sbtm": {100: bad}, "blob": {100: 0.1, 200: 0.05}})).reproduced == "no"


def test_sampling_floor_matches_monte_carlo():
    problem = ln.anisotropic_gaussian(3)
    tau = 4.0
    star = problem.covariance(tau)
    errs = []
    for k in range(300):
        x = problem.sample(100, ln.make_generator(k, "test-floor"))
        cf = problem.second_moment_from(ln.second_moment(x), x.mean(0), tau)
        errs.append(float(torch.linalg.matrix_norm(cf - star)))
    assert abs(np.sqrt(np.mean(np.square(errs))) / covariance_sampling_floor(problem, 100, tau) - 1) < 0.15
    assert np.allclose(covariance_sampling_floor(problem, [100, 400], tau)[1] * 2,
                       covariance_sampling_floor(problem, 100, tau))
    with pytest.raises(ValueError, match="gamma = 0"):
        covariance_sampling_floor(ln.anisotropic_gaussian(3, gamma=-3.0), 100, tau)
    with pytest.raises(ValueError, match="n="):
        covariance_sampling_floor(problem, 0, tau)


def _committed_d3(needed):
    if not (PAPER / "anisotropic_d3").is_dir():
        pytest.skip("results/paper/anisotropic_d3 is not committed")
    res = ln.paper_results("anisotropic_d3")
    lacking = [s for s in needed if s in res.missing()]
    if lacking:
        pytest.skip(f"needs paper-scale runs not committed yet: {', '.join(lacking)}")
    return res


def test_d3_claims_on_committed_runs():
    res = _committed_d3([f"{lab}/n000100_seed{s}" for s in range(5) for lab in ("sbtm", "blob")]
                        + ["blob/n012800_seed0"]
                        + [f"sbtm/n{n:06d}_seed0" for n in (6400, 12800)])
    v = CLAIMS["anisotropic_d3_covariance"].check(res)
    fair = res.table("cov_error_sample", "max")
    assert v.reproduced in VERDICTS[:3] and f"{fair.mean['sbtm'][100]:.3f}" in v.value
    # the verdict follows the numbers: "yes" iff SBTM's n = 100 error is below the threshold and
    # the blob method needs at least 8x the particles to reach it
    well = fair.mean["sbtm"][100] < COVARIANCE_MATCH * np.sqrt(1.28)
    many = fair.crossover["blob"] is None or fair.crossover["blob"] >= 800
    assert (v.reproduced == "yes") == (well and many)
    e = CLAIMS["anisotropic_d3_entropy"].check(res)
    assert e.reproduced in VERDICTS[:3] and "distance to the reference" in e.value


def test_plot_covariance_figure_on_committed_runs():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import landau_nb.book.plotting as lp
    res = _committed_d3(["sbtm/n000100_seed0", "blob/n000100_seed0"])
    problem = res.experiment.make_problem()
    fig = lp.plot_covariance_figure(res, ns=[100], floor=lambda n, tau: covariance_sampling_floor(problem, n, tau),
                                    rate_exact0=-8 / 9)
    try:
        axes = fig.axes
        assert len(axes) == 6
        labels = [line.get_label() for line in axes[1 * 3 + 0].get_lines()]
        assert "exact solver, same sample (RMS)" in labels
        assert any("exact at" in line.get_label() for line in axes[2].get_lines())
    finally:
        plt.close(fig)
