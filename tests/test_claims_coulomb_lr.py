"""The claims of Example 5.3 (Coulomb) and §5.1 (learning rate) in landau_nb.book.claims: their
tests say yes, partly and no on synthetic runs built to be each, a missing run makes them
pending, and on the committed paper-scale runs they agree with the Results methods."""

import numpy as np
import pytest

import landau_nb as ln
from landau_nb.book import claims as C
from landau_nb.experiments import Results, get_experiment

T = np.arange(0.0, 301.0)


def _traj(steps: dict, t=T, d=3):
    steps = {k: np.asarray(v) for k, v in steps.items()}
    return ln.Trajectory(t=t, steps=steps, saved_t=t[[0, -1]], x=np.zeros((2, 0, d)), saved={},
                         meta={"problem": {}, "dtype": "float32"})


def _results(name, runs, scale="paper"):
    exp = get_experiment(name)
    return Results(exp, scale, [({"label": lab, "n": n, "seed": s}, tr) for (lab, n, s), tr in runs.items()],
                   [], "/nonexistent")


def _coulomb(tau, rate0, noise=0.0, skip=()):
    """Synthetic coulomb_d3 runs: Sigma = diag(1 + 0.8 e^{-t/tau}, 1 - 0.8 e^{-t/tau}, 1) and
    entropy rate rate0 e^{-t/tau}, tau[(label, n)], rate0[(label, n)], seed-dependent noise."""
    runs = {}
    for (lab, n), tau_ in tau.items():
        for s in range(5):
            if (lab, n, s) in skip:
                continue
            rng = np.random.default_rng(1000 * s + n + len(lab))
            e = 0.8 * np.exp(-T / (tau_ * (1 + noise * rng.standard_normal())))
            sig = np.zeros((len(T), 3, 3))
            sig[:, 0, 0], sig[:, 1, 1], sig[:, 2, 2] = 1 + e, 1 - e, 1.0
            runs[lab, n, s] = _traj({"second_moment": sig.astype(np.float32),
                                     "entropy_rate": rate0[lab, n] * np.exp(-T / tau_)})
    return _results("coulomb_d3", runs)


BIG, LOW = C.COULOMB_N_REF, C.COULOMB_N_LOW


def test_coulomb_claims_say_yes_when_sbtm_at_low_n_matches_an_agreed_reference():
    res = _coulomb({("sbtm", BIG): 50, ("blob", BIG): 50.5, ("sbtm", LOW): 50, ("blob", LOW): 90},
                   {("sbtm", BIG): 0.01, ("blob", BIG): 0.0101, ("sbtm", LOW): 0.01, ("blob", LOW): 0.004},
                   noise=0.02)
    R = C.coulomb_reference(res)
    assert R["rel_gap"] < 0.01 and R["rate_gap"] < 0.02 and R["seeds"] == 5
    assert C.CLAIMS["coulomb_reference"].check(res).reproduced == "yes"
    assert C.CLAIMS["coulomb_covariance"].check(res).reproduced == "yes"
    assert C.CLAIMS["coulomb_entropy"].check(res).reproduced == "yes"
    D = C.coulomb_distances(res)
    assert D["ratio"] > 2 and D["diff"] > 2 * D["sem"] > 0


def test_coulomb_claims_say_no_when_blob_is_closer_or_the_methods_disagree():
    res = _coulomb({("sbtm", BIG): 50, ("blob", BIG): 80, ("sbtm", LOW): 20, ("blob", LOW): 66},
                   {("sbtm", BIG): 0.01, ("blob", BIG): 0.004, ("sbtm", LOW): 0.03, ("blob", LOW): 0.007},
                   noise=0.02)
    assert C.CLAIMS["coulomb_reference"].check(res).reproduced == "no"       # gap far beyond 15 %
    assert C.CLAIMS["coulomb_covariance"].check(res).reproduced == "no"
    assert C.CLAIMS["coulomb_entropy"].check(res).reproduced == "no"


def test_coulomb_covariance_is_partly_when_the_difference_is_within_the_reference_uncertainty():
    # blob farther at n = 100, but by less than the gap of the two methods at n = 12800
    res = _coulomb({("sbtm", BIG): 50, ("blob", BIG): 70, ("sbtm", LOW): 58, ("blob", LOW): 64},
                   {("sbtm", BIG): 0.01, ("blob", BIG): 0.01, ("sbtm", LOW): 0.01, ("blob", LOW): 0.01})
    D = C.coulomb_distances(res)
    assert 0 < D["diff"] < D["uncertainty"]
    assert C.CLAIMS["coulomb_covariance"].check(res).reproduced == "partly"
    assert C.coulomb_reference(res)["rel_gap"] > 0.05


def test_coulomb_claims_are_pending_while_a_seed_is_missing():
    tau = {("sbtm", BIG): 50, ("blob", BIG): 50, ("sbtm", LOW): 50, ("blob", LOW): 90}
    res = _coulomb(tau, {k: 0.01 for k in tau}, skip={("blob", BIG, 3)})
    with pytest.raises(KeyError, match=r"blob n=12800 seed\(s\) \[3\]"):
        C.coulomb_reference(res)
    for key in ("coulomb_reference", "coulomb_covariance", "coulomb_entropy"):
        v = C.CLAIMS[key].check(res)
        assert v.reproduced == "pending" and "blob n=12800 seed(s) [3]" in v.detail
    with pytest.raises(ValueError, match="not a registered run"):
        C.coulomb_distances(res, n=150)
    with pytest.raises(ValueError, match="quantity"):
        C.coulomb_distances(res, quantity="energy")


OU_LABELS = {(lr, rule): f"sbtm_lr{lr:g}{rule}" for lr in (4e-4, 1e-4) for rule in ("", "_adaptive", "_adaptive_pkg")}


def _ou(err, steps, n_steps=40, seeds=range(5), skip=(), log=None):
    """Synthetic learning_rate_ou runs: err[(lr, rule)] the score error, steps[(lr, rule)] the
    gradient steps per time step (constants or arrays), the same for every seed up to a 2 %
    seed-dependent jitter; ``log(seed)`` an optional loss_log for the K = 25, eta = 4e-4 run."""
    runs = {}
    t = 0.1 + 0.01 * np.arange(n_steps)
    for key, label in OU_LABELS.items():
        for s in seeds:
            if (label, s) in skip:
                continue
            jitter = 1 + 0.02 * np.sin(3.0 * s + len(label))
            e = np.broadcast_to(np.asarray(err[key], float) * jitter, (n_steps,))
            g = np.broadcast_to(np.asarray(steps[key], float), (n_steps,))
            tr = _traj({"score_error": e, "gd_steps": g}, t=t)
            if log is not None and key == (4e-4, ""):
                tr.saved["loss_log"] = np.asarray(log(s), float)
            runs[label, 2000, s] = tr
    return _results("learning_rate_ou", runs)


def _steps(adaptive):
    return {key: (adaptive if rule else 25) for key in OU_LABELS for rule in [key[1]]}


def test_lr_claims_reproduce_the_papers_picture():
    late_fewer = np.r_[np.full(20, 30), np.full(20, 5)]
    err = {(4e-4, ""): 0.004, (1e-4, ""): 0.3, (4e-4, "_adaptive"): 0.004, (1e-4, "_adaptive"): 0.0045,
           (4e-4, "_adaptive_pkg"): 0.004, (1e-4, "_adaptive_pkg"): 0.004}
    res = _ou(err, _steps(late_fewer))
    assert C.CLAIMS["lr_underfitting"].check(res).reproduced == "yes"
    assert C.CLAIMS["lr_adaptive_robust"].check(res).reproduced == "yes"
    v = C.CLAIMS["lr_adaptive_speedup"].check(res)
    assert v.reproduced == "yes" and "0.70" in v.value          # (20 * 30 + 20 * 5) / (40 * 25): 40 trainings
    m = C.ou_numbers(res)
    assert m["sbtm_lr0.0004_adaptive"]["early"].mean() == 30 and m["sbtm_lr0.0004_adaptive"]["late"].mean() == 5


def test_lr_claims_say_no_for_the_opposite_picture():
    err = {(4e-4, ""): 0.06, (1e-4, ""): 0.02, (4e-4, "_adaptive"): 0.1, (1e-4, "_adaptive"): 0.01,
           (4e-4, "_adaptive_pkg"): 0.1, (1e-4, "_adaptive_pkg"): 0.01}
    res = _ou(err, _steps(30))
    assert C.CLAIMS["lr_underfitting"].check(res).reproduced == "no"
    assert C.CLAIMS["lr_adaptive_robust"].check(res).reproduced == "no"       # adaptive more sensitive
    assert C.CLAIMS["lr_adaptive_speedup"].check(res).reproduced == "no"       # more steps, no decrease


def test_lr_claims_are_pending_without_a_run():
    err = dict.fromkeys(OU_LABELS, 0.01)
    res = _ou(err, _steps(10), skip={("sbtm_lr0.0001", 3)})
    v = C.CLAIMS["lr_underfitting"].check(res)
    assert v.reproduced == "pending" and "sbtm_lr0.0001/n002000_seed3" in v.detail


def _committed(name):
    try:
        res = ln.paper_results(name)
    except FileNotFoundError:
        pytest.skip(f"no paper-scale runs of {name} committed yet (results/paper/{name})")
    return res


def test_coulomb_claims_on_the_committed_runs_agree_with_results_methods():
    res = _committed("coulomb_d3")
    try:
        R = C.coulomb_reference(res)
        C.coulomb_distances(res)
    except KeyError as exc:
        pytest.skip(f"coulomb_d3 paper-scale runs not all committed yet: {exc}")
    t, ref, gap = res.reference_second_moment(BIG)       # the Results method, computed independently
    np.testing.assert_allclose(R["ref"], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(R["gap"], gap, rtol=1e-4, atol=1e-6)
    for key in ("coulomb_reference", "coulomb_covariance", "coulomb_entropy"):
        assert C.CLAIMS[key].check(res).reproduced in ("yes", "partly", "no")


def test_the_bkw_learning_rate_finding_on_the_committed_runs_agrees_with_the_table():
    res = _committed("learning_rate")
    try:
        m = C.lr_numbers(res)
    except KeyError as exc:
        pytest.skip(f"learning_rate paper-scale runs not all committed yet: {exc}")
    for (lr, ad), v in m.items():                       # lr_numbers: seed 0 (the chapter's figure)
        tr = res.get(C._lr_variant(lr, ad), 1600, 0)
        assert v["err"] == pytest.approx(float(np.mean(tr["score_error"])))
        assert v["steps"] == int(np.nansum(tr["gd_steps"]))
    assert C.CLAIMS["finding_bkw_learning_rate"].kind == "finding"
    v = C.CLAIMS["finding_bkw_learning_rate"].check(res)
    assert v.reproduced in ("yes", "partly", "no") or (v.reproduced == "pending" and res.missing())
    if v.reproduced != "pending":
        assert "95 % CI over 5 seeds" in v.value


def test_lr_sawtooth_sees_a_sawtooth_and_not_noise():
    err = dict.fromkeys(OU_LABELS, 0.01)
    k = np.repeat(np.arange(40), 25)
    saw = 2 + np.tile(np.linspace(0.0, -0.5, 25), 40)          # every GD step lowers it, every move raises it

    def log(seed):
        rng = np.random.default_rng(seed)
        return np.c_[k, saw + 0.05 * rng.standard_normal(len(k)), saw, np.full(len(k), 0.01)]
    res = _ou(err, _steps(10), log=log)
    S = C.lr_sawtooth(res.get("sbtm_lr0.0004", 2000, 0), column=2)
    assert S["time_steps"] == 40 and S["jump_up"] == 1.0 and S["steps_down"] == 1.0
    assert S["within"] == pytest.approx(-0.5) and S["jump"] == pytest.approx(0.5)
    assert C.CLAIMS["lr_sawtooth"].check(res).reproduced == "yes"
    # a loss that only goes down (the moves do not raise it): half of the sentence
    res = _ou(err, _steps(10), log=lambda s: np.c_[k, k, -1e-3 * np.arange(len(k)), k])
    assert C.CLAIMS["lr_sawtooth"].check(res).reproduced == "partly"
    # noise only
    res = _ou(err, _steps(10), log=lambda s: np.c_[k, k, np.random.default_rng(s).standard_normal(len(k)), k])
    assert C.CLAIMS["lr_sawtooth"].check(res).reproduced == "no"
    tr = res.get("sbtm_lr0.0004", 2000, 0)
    del tr.saved["loss_log"]
    with pytest.raises(KeyError, match="record_losses"):
        C.lr_sawtooth(tr)
