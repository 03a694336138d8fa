"""The BKW ablation's registry entry and the claims of Example 5.1 (book: "The BKW solution")."""

import pytest

import landau_nb as ln
from landau_nb.experiments import get_experiment


def _effective_options(exp, scale):
    return {sw.label: {**exp.options["sbtm"], **sw.options} for sw in exp.sweeps(scale)}


@pytest.mark.parametrize("scale,n", [("book", 200), ("paper", 1600)])
def test_bkw_ablation_changes_one_option_of_the_bkw_settings_per_sweep(scale, n):
    abl, bkw = get_experiment("bkw_ablation"), get_experiment("bkw")
    assert abl.problem == bkw.problem
    base = bkw.options["sbtm"]
    opts = _effective_options(abl, scale)
    assert opts["baseline"] == base
    changed = {}
    for label, o in opts.items():
        assert set(base) <= set(o)                              # nothing of bkw's settings is lost
        diff = {k: v for k, v in o.items() if base.get(k, object()) != v}
        if label != "baseline":
            assert len(diff) == 1, (label, diff)
            changed[label] = diff
    assert changed == {"alpha_0.1": {"alpha": 0.1}, "alpha_0.6": {"alpha": 0.6},
                       "init_tol_1e-4": {"init_tol": 1e-4}, "lr_1e-3": {"lr": 1e-3},
                       "loss_weighted_denoising": {"loss": "weighted_denoising"},
                       "loss_implicit": {"loss": "implicit"}}
    runs = abl.runs(scale)
    assert {(r.n, r.seed, r.solver) for r in runs} == {(n, 0, "sbtm")}
    assert len(runs) == len(opts) and all(r.solve["t_end"] == 7.5 for r in runs)
    # every changed option is one the estimator accepts (no typo silently ignored)
    for r in runs:
        ln.SBTM(**r.options)
