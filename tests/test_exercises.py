"""The self-checks of the ⌨ exercises (landau_nb.book.exercises): placeholders, right and
wrong answers. The chapters' solutions call the same checks with their computed results."""

import numpy as np
import pytest

from landau_nb.book import exercises as ex

# one right and one wrong set of answers per check (values of the size the solutions find)
SHIFT_2V, SHIFT_3V = 0.03772612, 0.01555450       # Dougherty-matched shifts at B = 0.4 (2V gamma = -2, 3V Coulomb)
CASES = {
    "ex-blob_method-3": ({"best_error_d3": 0.1, "best_error_d5": 0.3},
                         {"best_error_d3": 0.2, "best_error_d5": 0.25}),
    "ex-exp_anisotropic-2": ({"rms": 0.105, "formula": 0.1}, {"rms": 0.2, "formula": 0.1}),
    "ex-exp_anisotropic-3": ({"increase": 1.0e-3 * (1 + 1e-9), "predicted": 1.0e-3},
                             {"increase": 1.1e-3, "predicted": 1.0e-3}),
    "ex-exp_anisotropic-4": ({"err_narrow": 0.3, "err_sbtm": 0.06}, {"err_narrow": 0.1, "err_sbtm": 0.06}),
    "ex-exp_bkw-exact": ({"ex_rise": 1.1, "exact_rise": 1.0}, {"ex_rise": 0.2, "exact_rise": 1.0}),
    "ex-exp_bkw-dt": ({"slope": 1.02}, {"slope": 2.0}),
    "ex-exp_coulomb-3": ({"paper_rule_ratio": 0.3, "narrowest_ratio": 5.0},
                         {"paper_rule_ratio": 0.9, "narrowest_ratio": 5.0}),
    "ex-exp_coulomb-4": ({"max_difference": 0.005}, {"max_difference": 0.05}),
    "ex-exp_dimension10-3": ({"counts": {2: 500.0, 3: 200.0, 5: 30.0, 7: 6.0, 10: 1.5}},
                             {"counts": {2: 500.0, 3: 200.0, 5: 30.0, 7: 12.0, 10: 1.5}}),
    "ex-exp_dimension10-4": ({"best_error_d10": 0.5, "error_d3": 0.1},
                             {"best_error_d10": 0.15, "error_d3": 0.1}),
    "ex-exp_learning_rate-bias": ({"bias": {0.1: 1e-4, 0.2: 1.5e-3, 0.4: 2e-2}},
                                  {"bias": {0.1: 1e-2, 0.2: 1.5e-3, 0.4: 2e-2}}),
    "ex-kl_bound-4": ({"kl_in_sample": -0.2, "kl_tracers": 0.1, "kl_tracers_se": 0.02},
                      {"kl_in_sample": 0.09, "kl_tracers": 0.1, "kl_tracers_se": 0.02}),
    "ex-landau_continuity-3": ({"kappa": 1e-16, "on_line": -1e-17, "off_line": {0.01: 5e-5, 0.1: 5e-3}},
                               {"kappa": 1e-16, "on_line": 0.0, "off_line": {0.01: 1e-3}}),
    "ex-maxwell_moments-3": ({"speedup_d10": 40.0}, {"speedup_d10": 3.0}),
    "ex-particles_conservation-3": ({"momentum_fp": 0.5, "energy_fp": 0.8},
                                    {"momentum_fp": 1e-14, "energy_fp": 0.8}),
    "ex-particles_conservation-4": ({"changes": {1e-3: 1e-6, 1e-2: 1e-4, 1e-1: 1e-2}, "momentum": 1e-16,
                                     "energy": 1e-15},
                                    {"changes": {1e-3: 1e-2, 1e-2: 1e-4, 1e-1: 1e-6}, "momentum": 1e-16,
                                     "energy": 1e-15}),
    "ex-preface-3": ({"err_sbtm": [0.05, 0.06, 0.04, 0.05], "err_blob100": [0.3, 0.32, 0.29, 0.31],
                      "err_blob400": [0.2, 0.21, 0.19, 0.2]},
                     {"err_sbtm": [0.05, 0.2, 0.04, 0.05], "err_blob100": [0.3, 0.32, 0.29, 0.31],
                      "err_blob400": [0.2, 0.21, 0.19, 0.2]}),
    "ex-score_matching-3": ({"best_fresh_implicit": 0.4, "best_fresh_denoising": 0.3},
                            {"best_fresh_implicit": 0.3, "best_fresh_denoising": 0.4}),
    "ex-vlasov_collisions-2": ({"shift_2v": SHIFT_2V, "shift_3v": SHIFT_3V},
                               {"shift_2v": SHIFT_3V, "shift_3v": SHIFT_2V}),
}


def test_every_check_has_cases():
    assert set(CASES) == set(ex.CHECKS)


@pytest.mark.parametrize("label", sorted(CASES))
def test_check_accepts_right_and_rejects_wrong(label, capsys):
    right, wrong = CASES[label]
    assert ex.check(label, **right) is True
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="not yet right"):
        ex.check(label, **wrong)


@pytest.mark.parametrize("label", sorted(CASES))
def test_placeholders_mean_not_answered(label, capsys):
    right, _ = CASES[label]
    first = next(iter(right))
    assert ex.check(label, **{**right, first: ...}) is None
    assert "not answered yet" in capsys.readouterr().out
    assert ex.check(label, **{k: ... for k in right}) is None


def test_bad_calls():
    with pytest.raises(TypeError, match="give"):
        ex.check("ex-exp_bkw-dt", slop=1.0)
    with pytest.raises(KeyError, match="no check"):
        ex.check("ex-nothing", x=1)
    with pytest.raises(KeyError, match="no automatic check"):
        ex.check("ex-exp_runtime-2", x=1)
    with pytest.raises(AssertionError, match="number"):
        ex.check("ex-exp_bkw-dt", slope="one")
    with pytest.raises(AssertionError, match="finite"):
        ex.check("ex-exp_bkw-dt", slope=np.nan)
    assert ex.answered({"a": [1, 2]}) and not ex.answered({"a": [1, ...]})
