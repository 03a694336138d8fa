"""The BKW ablation's registry entry and the claims of Example 5.1 (book: "The BKW solution")."""

from pathlib import Path

import numpy as np
import pytest

import landau_nb as ln
from landau_nb.book.claims import CLAIMS
from landau_nb.experiments import Results, get_experiment
from landau_nb.solver.trajectory import Trajectory


def _effective_options(exp, scale):
    return {sw.label: {**exp.options["sbtm"], **sw.options} for sw in exp.sweeps(scale)}


@pytest.mark.parametrize("scale,n", [("book", 200), ("paper", 1600)])
def test_bkw_ablation_changes_one_option_of_the_bkw_settings_per_sweep(scale, n):
    abl, bkw = get_experiment("bkw_ablation"), get_experiment("bkw")
    assert abl.problem == bkw.problem
    base = bkw.options["sbtm"]
    opts = _effective_options(abl, scale)
    assert opts["baseline"] == base
    more = opts.pop(f"n_{4 * n}")                                # the baseline with 4x the particles
    assert more == base
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
    assert {(r.label, r.n) for r in runs} == {(lab, n) for lab in opts} | {(f"n_{4 * n}", 4 * n)}
    seeded = ("baseline", "lr_1e-3")          # the claim bkw_learning_rate: five seeds at paper scale
    seeds = (0,) if scale == "book" else (0, 1, 2, 3, 4)
    assert {(r.label, r.seed) for r in runs} == ({(lab, s) for lab in seeded for s in seeds}
                                                 | {(r.label, 0) for r in runs})
    assert {r.solver for r in runs} == {"sbtm"}
    assert all(r.solve["t_end"] == 7.5 for r in runs)
    # every changed option is one the estimator accepts (no typo silently ignored)
    for r in runs:
        ln.SBTM(**r.options)


# --- the claims of Example 5.1 ---------------------------------------------------------------

BKW_CLAIMS = ("bkw_decent", "bkw_moments_sampling", "bkw_moments_alike", "bkw_momentum", "bkw_energy",
              "bkw_learning_rate", "bkw_alpha_bias")
PAPER = Path("/work/shared/paper/ilin_hu_wang_2025_transport_particle_landau.md")


def test_bkw_claims_are_registered_for_the_bkw_chapter():
    for key in BKW_CLAIMS:
        c = CLAIMS[key]
        assert c.chapter == "exp_bkw" and c.experiment in ("bkw", "bkw_ablation", "bkw_alpha")
        assert c.quote and c.where


@pytest.mark.skipif(not PAPER.is_file(), reason="the paper's text is not on this machine")
def test_bkw_claims_quote_the_paper_exactly():
    text = " ".join(PAPER.read_text().split())
    for key in BKW_CLAIMS:
        assert " ".join(CLAIMS[key].quote.split()) in text, key


@pytest.mark.parametrize("key", BKW_CLAIMS)
def test_bkw_claim_on_the_committed_runs(key):
    v = CLAIMS[key].check()
    if v.reproduced == "pending":
        pytest.skip(f"{key}: paper-scale runs not committed yet ({v.detail})")
    assert v.reproduced in ("yes", "partly", "no") and v.value and v.value != "—"


def _traj(t_end, steps, saved=(), dtype="float32"):
    k = len(next(iter(steps.values())))
    return Trajectory(t=np.linspace(5.5, t_end, k), steps=steps, saved_t=np.array([5.5, t_end]),
                      x=np.zeros((2, 0, 3)), saved=dict(saved), meta={"dtype": dtype})


def _bkw_results(cov=lambda lab, n: n**-0.5, score=lambda lab, n: 0.5 * n**-0.3, drift=1e-7, energy=1e-3,
                 energy_path=(0.0, 0.5, 1.0), m4=lambda lab, n: 0.01):
    """Stand-in paper-scale Results of bkw (every registered run present) with chosen errors
    (``m4``: the relative error of the fourth moment)."""
    exp = get_experiment("bkw")
    problem = exp.make_problem()
    runs = []
    for sp in exp.runs("paper"):
        noise = 1 + 0.01 * sp.seed
        steps = {"cov_error": np.full(3, cov(sp.label, sp.n) * noise),
                 "score_error": np.full(3, score(sp.label, sp.n) * noise),
                 "momentum_drift": np.array([0.0, drift, drift]), "energy": 3.0 + energy * np.array(energy_path)}
        fourth = [problem.fourth_moment(5.5), problem.fourth_moment(9.5) * (1 + m4(sp.label, sp.n) * noise)]
        tr = _traj(9.5, steps, {"kde_l2": np.full(2, 0.1 * sp.n**-0.2 * noise), "fourth_moment": np.array(fourth)})
        runs.append(({"label": sp.label, "n": sp.n, "seed": sp.seed}, tr))
    return Results(exp, "paper", runs, [], Path("."))


def test_bkw_claims_can_say_yes_and_no():
    good = _bkw_results(score=lambda lab, n: 2 * n**-0.5)
    for key in ("bkw_decent", "bkw_moments_sampling", "bkw_moments_alike", "bkw_momentum", "bkw_energy"):
        assert CLAIMS[key].test(good).reproduced == "yes", key
    bad = _bkw_results(cov=lambda lab, n: 0.05 * (4 if lab == "sbtm" else 1), score=lambda lab, n: 0.3,
                       drift=1e-3, energy=0.5)
    assert CLAIMS["bkw_moments_sampling"].test(bad).reproduced == "no"      # no decay with n
    assert CLAIMS["bkw_moments_alike"].test(bad).reproduced == "no"         # a factor 4 apart
    assert CLAIMS["bkw_momentum"].test(bad).reproduced == "no"
    assert CLAIMS["bkw_energy"].test(bad).reproduced == "no"
    # a drift of the right size that falls at one step is round-off, not forward Euler's dt^2|v|^2
    noisy = _bkw_results(energy_path=(0.0, 1.2, 1.0))
    assert CLAIMS["bkw_energy"].test(noisy).reproduced == "no"
    assert CLAIMS["bkw_decent"].test(bad).reproduced == "no"                # 4 of 6 errors flat
    # errors all decrease but SBTM's score error stays large: only partly decent
    biased = _bkw_results(score=lambda lab, n: (0.1 + n**-0.5) if lab == "sbtm" else n**-0.5)
    assert CLAIMS["bkw_decent"].test(biased).reproduced == "partly"
    # every error decreases but SBTM's fourth moment is 14 % off at the largest n (the alpha bias)
    heavy = _bkw_results(score=lambda lab, n: 2 * n**-0.5, m4=lambda lab, n: 0.14 if lab == "sbtm" else 0.01)
    v = CLAIMS["bkw_decent"].test(heavy)
    assert v.reproduced == "partly" and "fourth moment (sbtm)" in v.detail


def test_bkw_claims_are_pending_while_a_run_is_missing():
    res = _bkw_results()
    res.runs = res.runs[1:]
    v = CLAIMS["bkw_decent"].check(res)
    assert v.reproduced == "pending" and "not committed yet" in v.detail


def _ablation_results(errors: dict, spread: float = 0.02):
    exp = get_experiment("bkw_ablation")
    runs = []
    for sp in exp.runs("paper"):
        e = errors.get(sp.label, 0.1) * (1 + spread * (sp.seed - 2)) * (1 + 0.01 * np.sin(np.arange(200)))
        runs.append(({"label": sp.label, "n": sp.n, "seed": sp.seed}, _traj(7.5, {"score_error": e})))
    return Results(exp, "paper", runs, [], Path("."))


def test_learning_rate_claim_reads_the_paired_ratio_and_its_interval():
    lr = CLAIMS["bkw_learning_rate"].test
    assert lr(_ablation_results({"baseline": 0.1, "lr_1e-3": 0.05})).reproduced == "yes"
    assert lr(_ablation_results({"baseline": 0.1, "lr_1e-3": 0.2})).reproduced == "no"
    assert lr(_ablation_results({"baseline": 0.1, "lr_1e-3": 0.1})).reproduced == "partly"
    v = lr(_ablation_results({"baseline": 0.1, "lr_1e-3": 0.05}))
    assert "95 % CI over 5 seeds" in v.value
    res = _ablation_results({})
    res.runs = [r for r in res.runs if not (r[0]["label"] == "lr_1e-3" and r[0]["seed"] == 3)]
    assert CLAIMS["bkw_learning_rate"].check(res).reproduced == "pending"


def _alpha_results(m4: dict, score: dict, monkeypatch):
    """Stand-in bkw_alpha and bkw Results at n = 3200 (the alpha sweep), with the fourth moment's
    relative error m4[alpha] and the mean score error score[alpha] (2 % seed-to-seed spread)."""
    import landau_nb.experiments as lex
    from landau_nb.book import claims
    built = {}
    for name in ("bkw_alpha", "bkw"):
        exp = get_experiment(name)
        problem = exp.make_problem()
        runs = []
        for sp in exp.runs("paper"):
            a = float({**exp.options["sbtm"], **sp.options}["alpha"])
            if sp.solver != "sbtm" or sp.n != claims.ALPHA_BIAS_N:
                continue
            z = (sp.seed - 2) / np.sqrt(2.5)                       # five seeds, sample sd 1
            fourth = [problem.fourth_moment(5.5), problem.fourth_moment(9.5) * (1 + m4[a] * (1 + 0.02 * z))]
            steps = {"score_error": np.full(3, score[a] * (1 + 0.02 * z)), "energy": np.full(3, 3.0)}
            tr = _traj(9.5, steps, {"fourth_moment": np.array(fourth)})
            tr.meta["problem"] = {"d": problem.d, "B": problem.B}
            runs.append(({"label": sp.label, "n": sp.n, "seed": sp.seed}, tr))
        built[name] = Results(exp, "paper", runs, [], Path("/results/bkw_alpha" if name == "bkw_alpha" else "."))
    monkeypatch.setattr(lex, "paper_results", lambda name, folder=None: built[name])
    return built["bkw_alpha"]


def test_alpha_bias_claim_reads_the_alpha_sweep(monkeypatch):
    alpha = CLAIMS["bkw_alpha_bias"].test
    rising = {0.05: 0.01, 0.1: 0.02, 0.2: 0.05, 0.4: 0.14}
    u_shape = {0.05: 0.1, 0.1: 0.07, 0.2: 0.04, 0.4: 0.08}          # noise at small alpha, bias at large
    v = alpha(_alpha_results(rising, u_shape, monkeypatch))
    assert v.reproduced == "yes" and "smallest at α = 0.2" in v.value
    v = alpha(_alpha_results(rising, dict.fromkeys(rising, 0.05), monkeypatch))
    assert v.reproduced == "partly" and "only the bias half" in v.detail
    v = alpha(_alpha_results(dict.fromkeys(rising, 0.05), u_shape, monkeypatch))
    assert v.reproduced == "partly" and "only the variance half" in v.detail
    rising_err = {0.05: 0.04, 0.1: 0.05, 0.2: 0.07, 0.4: 0.1}
    assert alpha(_alpha_results(dict.fromkeys(rising, 0.05), rising_err, monkeypatch)).reproduced == "no"
