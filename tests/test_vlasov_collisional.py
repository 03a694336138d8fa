"""Vlasov–Landau II (issue 26): the linear collisional references, the score-error diagnostic,
the paired-shift analysis and the registered collisional experiments. Small and fast; the
paper-scale runs are read by the chapter "Vlasov–Landau II"."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import landau_nb.vlasov as vl
from landau_nb.vlasov import reference as ref


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------ linear references
@pytest.mark.parametrize("nu, gamma", [(0.01, -0.15103), (0.1, -0.13664), (0.5, -0.10396)])
def test_dougherty_root_matches_the_facts_note(nu, gamma):
    """3V, k = 0.5: the conserving Dougherty operator reduces the damping (facts note values)."""
    w, g = vl.collisional_root(0.5, nu, dv=3)
    assert abs(g - gamma) < 1e-5 and 1.2 < w < 1.42


def test_collisional_root_limits_and_models():
    wl, gl = vl.landau_root(0.5)
    assert vl.collisional_root(0.5, 0.0) == (wl, gl)
    w, g = vl.collisional_root(0.5, 1e-3)                         # continuity at nu -> 0
    assert abs(g - gl) < 3e-4 and abs(w - wl) < 1e-3
    for dv in (2, 3):                                              # strong collisions: the fluid frequency
        w, g = vl.collisional_root(0.5, 10.0, dv=dv)
        assert abs(w / vl.fluid_frequency(0.5, dv) - 1) < 1e-3 and -0.02 < g < 0
    w, g = vl.collisional_root(0.5, 0.1, model="lenard_bernstein")  # non-conserving friction adds damping
    assert abs(g + 0.210741) < 1e-5
    slope = (vl.collisional_root(0.5, 0.01, model="lenard_bernstein")[1] - gl) / 0.01
    assert -0.6 < slope < -0.55
    # converged in the number of Hermite functions
    assert abs(vl.collisional_root(0.5, 0.05, N=200)[1] - vl.collisional_root(0.5, 0.05, N=1600)[1]) < 1e-10
    with pytest.raises(ValueError, match="model"):
        vl.collisional_root(0.5, 0.1, model="bgk")
    with pytest.raises(ValueError, match="nu"):
        vl.collisional_root(0.5, -0.1)
    with pytest.raises(ValueError, match="N"):
        vl.collisional_root(0.5, 0.1, N=2)


def test_successor_line_and_dougherty_shift():
    weak = -math.sqrt(math.pi / 8) * 8 * math.exp(-2 - 1.5)
    assert vl.successor_line(0.5, 0.0) == pytest.approx(weak) and abs(weak + 0.1514) < 1e-4
    assert vl.successor_line(0.5, 0.4) - weak == pytest.approx(-0.4 * math.sqrt(2 / (9 * math.pi)))
    d = vl.dougherty_shift([0.0, 0.1, 0.4], dv=3, gamma=-3.0)
    assert d["lambda"] == pytest.approx(4 / (5 * math.sqrt(math.pi)))
    assert d["rate_shift"][0] == 0 and np.all(np.diff(d["rate_shift"]) > 0)      # less damping
    assert np.all(d["lb_rate_shift"][1:] < 0) and np.all(d["successor_shift"][1:] < 0)
    assert d["nu"][2] == pytest.approx(0.4 * d["lambda"] / 2)


# ------------------------------------------------------------------------------ score error
def test_score_error_is_recorded_and_zero_for_the_control():
    m = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.1, gamma=-3.0)
    errs = {}
    for score in ("maxwellian", "blob"):
        tr = vl.solve_vlasov(m, n=2000, M=16, dt=0.05, t_end=0.2, score=score, spatial_weight="cell",
                             record_every=2)
        assert np.isnan(tr["score_error"][0]) and tr["score_error_x"].shape == (len(tr.t), 16)
        errs[score] = tr["score_error"][1:]
        assert np.all(np.isfinite(tr["score_error_x"][1:]))
    assert np.all(errs["maxwellian"] < 1e-12)
    assert np.all(errs["blob"] > 1e-3) and np.all(errs["blob"] < 1)
    free = vl.solve_vlasov(vl.landau_damping(alpha=0.1, k=0.5, dv=3), n=500, M=16, dt=0.05, t_end=0.1)
    assert "score_error" not in free.records


def test_run_seconds_counts_every_call_of_a_resumed_run(tmp_path):
    m = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.1, gamma=-3.0)
    kw = dict(n=1500, M=16, dt=0.05, t_end=0.4, score="blob", spatial_weight="cell", record_every=2)
    whole = vl.solve_vlasov(m, **kw)
    phases = sum(whole[f"time_{p}"][-1] for p in ("push", "field", "score", "collision"))
    assert vl.run_seconds(whole) == pytest.approx(phases + whole.meta["score_init_seconds"])
    vl.solve_vlasov(m, checkpoint=tmp_path / "ck", checkpoint_every=2, stop_after=4, **kw)
    resumed = vl.solve_vlasov(m, checkpoint=tmp_path / "ck", checkpoint_every=2, **kw)
    assert resumed.meta["resumed"]
    first = np.flatnonzero(resumed.t <= 0.2 + 1e-12)[-1]        # the checkpointed call's share
    assert resumed["time_score"][first] > 0
    for p in ("push", "field", "score", "collision"):       # the timers carry on across the resume
        assert np.all(np.diff(resumed[f"time_{p}"]) >= 0)
    assert vl.run_seconds(resumed) > resumed["time_score"][first] + resumed["time_collision"][first]


def test_score_error_function_is_the_relative_distance():
    mesh = vl.PeriodicMesh(4 * math.pi, 8, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3000, generator=g, dtype=torch.float64) * 4 * math.pi
    v = torch.randn(3000, 3, generator=g, dtype=torch.float64)
    w = torch.full((3000,), 4 * math.pi / 3000, dtype=torch.float64)
    s_lm = vl.LocalMaxwellianScore()
    s_lm.mesh = mesh
    exact = s_lm(x, v, w)
    from landau_nb.vlasov.diagnostics import score_error
    e, prof = score_error(x, v, w, exact, mesh)
    assert e < 1e-24 and np.all(prof < 1e-20)
    e2, _ = score_error(x, v, w, 1.1 * exact, mesh)
    assert e2 == pytest.approx(0.01, rel=1e-12)


# ------------------------------------------------------------------------------ paired shifts
class _Fake:
    """A trajectory whose ‖E‖ is a damped standing wave with a given rate and frequency."""

    def __init__(self, rate, omega, noise=0.0, seed=0):
        self.t = np.arange(0, 15.0001, 0.05)
        rng = np.random.default_rng(seed)
        mode = 0.1 * np.exp(rate * self.t) * np.cos(omega * self.t) * (1 + noise * rng.standard_normal(self.t.size))
        self.records = {"E_norm": np.abs(mode) * math.sqrt(2 * math.pi), "E_mode_re": mode,
                        "E_mode_im": np.zeros_like(mode)}

    @property
    def E_mode(self):
        return self.records["E_mode_re"] + 1j * self.records["E_mode_im"]


def test_paired_shifts_cancel_the_shared_part_and_convergence_rule():
    runs = {}
    for n, extra in ((100, 0.0), (400, 0.001)):
        for seed in range(3):
            base = -0.17 + 0.003 * seed                    # seed-to-seed spread shared by the pair
            runs[("collisionless", n, seed)] = _Fake(base, 1.40)
            runs[("blob_B0.4", n, seed)] = _Fake(base + 0.015 + extra, 1.38)
    runs[("sbtm_B0.4", 100, 0)] = _Fake(-0.16, 1.4)      # one seed only: no interval
    rows = vl.paired_shifts(runs, "rate")
    blob = [r for r in rows if r["score"] == "blob"]
    assert [r["n"] for r in blob] == [100, 400] and blob[0]["seeds"] == [0, 1, 2]
    assert blob[0]["shift"] == pytest.approx(0.015, abs=2e-4) and blob[0]["ci"] < 1e-3
    assert blob[0]["mean_ci"] > 10 * blob[0]["ci"]                   # pairing removes the spread
    sb = [r for r in rows if r["score"] == "sbtm"][0]
    assert sb["seeds"] == [0] and math.isnan(sb["ci"])
    om = vl.paired_shifts(runs, "omega")
    assert om[0]["shift"] == pytest.approx(-0.02, abs=2e-3)
    conv = vl.convergence(rows)
    assert len(conv) == 1 and conv[0]["converged"] and conv[0]["change"] == pytest.approx(0.001, abs=2e-4)
    assert conv[0]["bound"] == pytest.approx(0.1 * abs(conv[0]["shift1"]) + 0.003)
    for seed in range(2):                                  # a third n: the rule judges the last refinement
        runs[("collisionless", 1600, seed)] = _Fake(-0.17, 1.40)
        runs[("blob_B0.4", 1600, seed)] = _Fake(-0.17 + 0.015 + 0.010, 1.38)
    (c3,) = vl.convergence(vl.paired_shifts(runs, "rate"))
    assert (c3["n0"], c3["n1"], c3["seeds0"], c3["seeds1"]) == (400, 1600, 3, 2)
    assert c3["change"] == pytest.approx(0.009, abs=2e-4) and not c3["converged"]
    assert vl.parse_label("kde_B0.05") == ("kde", 0.05) and vl.parse_label("collisionless") == ("collisionless", 0)
    assert vl.parse_label("sbtm-K40_B0.05") == ("sbtm-K40", 0.05)
    with pytest.raises(ValueError, match="label"):
        vl.parse_label("blob")


def test_agreement_pairs_the_estimators_seed_by_seed():
    runs = {}
    for seed in range(4):
        base = -0.17 + 0.004 * seed
        wobble = 0.0005 * (-1) ** seed                      # per-seed scatter of the shift
        runs[("collisionless", 100, seed)] = _Fake(base, 1.40)
        runs[("blob_B0.4", 100, seed)] = _Fake(base - 0.008 + wobble, 1.40)
        runs[("sbtm_B0.4", 100, seed)] = _Fake(base - 0.009 - wobble, 1.40)       # within noise
        runs[("kde_B0.4", 100, seed)] = _Fake(base - 0.020 + wobble / 10, 1.40)   # far off
    rows = vl.paired_shifts(runs, "rate")
    (ag,) = vl.agreement(rows)
    assert ag["seeds"] == [0, 1, 2, 3] and ag["diff"] == pytest.approx(0.001, abs=3e-4)
    assert ag["sigma"] > 0 and ag["agree"]
    (far,) = vl.agreement(rows, "blob", "kde")
    assert far["diff"] == pytest.approx(0.012, abs=3e-4) and not far["agree"]
    one = {k: v for k, v in runs.items() if k[0] != "sbtm_B0.4" or k[2] == 0}
    assert vl.agreement(vl.paired_shifts(one, "rate")) == []                    # one common seed: no verdict


# ------------------------------------------------------------------------ collision strength
def test_local_gaussian_score_is_exact_for_an_anisotropic_maxwellian():
    m = vl.anisotropic(alpha=0.0, k=0.5, T_par=1.5, T_perp=0.75, dv=3, B=1.0, gamma=-3.0)
    p = vl.sample_particles(m, 40_000, seed=1)
    mesh = vl.PeriodicMesh(m.L, 8)
    sc = vl.make_score("gaussian")
    sc.initialize(m, p, weight=None, mesh=mesh)
    s = sc(p.x, p.v, p.w)
    exact = -p.v / torch.tensor([1.5, 0.75, 0.75], dtype=p.v.dtype)
    assert float(((s - exact) ** 2).sum() / (exact ** 2).sum()) < 1e-3
    assert sc.stats["eig_min"] == pytest.approx(0.75, rel=0.05)
    s32 = sc(p.x.float(), p.v.float(), p.w.float())
    assert s32.dtype == torch.float32 and torch.allclose(s32.double(), s, atol=1e-4)
    with pytest.raises(ValueError, match="no particles"):          # all particles in one corner
        sc(p.x[:10] * 0.01, p.v[:10], p.w[:10])


def test_effective_collision_strength_is_one_for_the_gaussian_score():
    m = vl.anisotropic(alpha=0.0, k=0.5, T_par=1.1, T_perp=0.95, dv=3, B=2.0, gamma=-3.0)
    kw = dict(n=4000, M=16, dt=0.05, t_end=1.0, spatial_weight="cell", record_every=2)
    strength = {s: vl.effective_collision_strength(vl.solve_vlasov(m, score=s, **kw))["strength"]
                for s in ("gaussian", "blob", "maxwellian")}
    assert strength["gaussian"] == pytest.approx(1.0, abs=0.04)
    assert 0.2 < strength["blob"] < 0.8                       # the kernel smooths the anisotropy away
    assert abs(strength["maxwellian"]) < 0.02                  # an isotropic score cannot isotropise
    free = vl.solve_vlasov(vl.anisotropic(alpha=0.0, dv=3), **{**kw, "t_end": 0.2})
    with pytest.raises(ValueError, match="B > 0"):
        vl.effective_collision_strength(free)


class _Aniso:
    """A run whose anisotropy T_par - T_perp decays at ``strength`` times lambda B (B = 2)."""

    def __init__(self, strength):
        lam_b = vl.isotropisation_rate(3, -3.0) * 2.0
        self.t = np.linspace(0, 2, 21)
        a = 0.15 * np.exp(-strength * lam_b * self.t)
        m2 = np.zeros((self.t.size, 3, 3))
        m2[:, 0, 0], m2[:, 1, 1], m2[:, 2, 2] = 1 + 2 * a / 3, 1 - a / 3, 1 - a / 3
        self.records = {"second_moment": m2, "momentum": np.zeros((self.t.size, 3)), "mass": np.ones(self.t.size)}
        self.meta = {"model": {"B": 2.0, "dv": 3, "gamma": -3.0}}


def _synthetic_runs(name, run_class, level, per_seed):
    """``runs(**change)``: every registered paper-scale run of ``name`` as ``run_class(level[label]
    + per_seed * seed)`` (``change`` overriding some labels' levels), read as committed runs."""
    from landau_nb.experiments import get_vlasov_experiment
    from landau_nb.experiments.phase_space import VlasovRuns
    exp = get_vlasov_experiment(name)

    def runs(**change):
        lv = {**level, **change}
        return VlasovRuns(exp, "paper", {(r.label, r.n, r.seed): run_class(lv[r.label] + per_seed * r.seed)
                                         for r in exp.runs("paper")})
    return runs


def test_finding_collision_strength_reads_the_reference_and_the_intervals():
    from landau_nb.book import claims
    runs = _synthetic_runs("vlasov_collision_strength", _Aniso,
                           {"gaussian": 1.0, "blob": 0.57, "kde": 0.32, "sbtm": 0.89, "sbtm-a0.1": 0.95}, 0.005)
    test = claims.CLAIMS["finding_vlasov_collision_strength"].test
    v = test(runs())
    assert v.reproduced == "yes" and "blob 0.58 ± 0.01" in v.value
    assert test(runs(gaussian=0.9)).reproduced == "no"               # the reference fails: unsound
    assert test(runs(blob=0.85)).reproduced == "no"
    assert test(runs(sbtm=0.5)).reproduced == "partly"
    partial = runs()
    partial.pop(("blob", 80_000, 2))
    with pytest.raises(KeyError, match="not committed"):
        test(partial)


# ------------------------------------------------------------------------------ relaxation
def test_relaxation_checks_on_a_short_run():
    m = vl.anisotropic(alpha=0.1, k=0.5, T_par=1.5, T_perp=0.75, dv=3, B=2.0, gamma=-3.0)
    tr = vl.solve_vlasov(m, n=3000, M=16, dt=0.05, t_end=1.0, score="blob", spatial_weight="cell", record_every=5,
                         snapshot_every=10, snapshot_vmax=6.0)
    c = vl.relaxation_checks(tr)
    assert c["T_eq"] == pytest.approx((2 / 3) * (1.5 + 0.01), rel=2e-3)       # KE0 + FE0 per unit length
    assert abs(c["T_error"]) < 5e-3 and 0 < c["anisotropy"] < 1.0                # relaxing from 1.0
    assert c["relaxation_time"] == pytest.approx(1 / (2 * 4 / (5 * math.sqrt(math.pi))))
    d = c["distance"]
    assert d.shape == (3,) and d[-1] < d[0]
    # the marginal distance of the equilibrium Gaussian itself is ~0 (binning only)
    tr2 = vl.solve_vlasov(vl.landau_damping(alpha=1e-6, k=0.5, dv=3), n=20000, M=16, dt=0.05, t_end=0.05,
                          snapshot_vmax=6.0)
    assert vl.marginal_distance(tr2, 1.0)[0] < 0.01


# ------------------------------------------------------------------------------ the registry
def test_collisional_experiments_are_registered_paired_and_selectable(tmp_path):
    from landau_nb.experiments import get_vlasov_experiment, run_vlasov_experiment, vlasov_results
    exp = get_vlasov_experiment("vlasov_damping_curve")
    paper = exp.runs("paper")
    keys = [(r.label, r.n, r.seed) for r in paper]
    # + SBTM with alpha = 0.1 at B = 0.4, + the blob at B = 0.4 and its partner at 16 n0,
    # + seeds 3 and 4 at 4 n0 of the blob and SBTM at B = 0.4 and their partners,
    # + SBTM with K = 40 at n0 and every B, and at 4 n0 for B = 0.05, 0.1, 0.2
    assert len(keys) == len(set(keys)) == 2 * 3 * (1 + 4 * 4) + 3 + 3 * 2 + 2 * 3 + 3 * 4 + 3 * 3
    assert {k for k in keys if k[2] > 2} == {(lab, 80_000, s) for lab in ("collisionless", "blob_B0.4", "sbtm_B0.4")
                                             for s in (3, 4)}
    assert {k for k in keys if k[1] == 320_000} == {(lab, 320_000, s) for lab in ("collisionless", "blob_B0.4")
                                                    for s in (0, 1, 2)}
    for r in paper:                                        # every collisional run has its partner
        assert ("collisionless", r.n, r.seed) in keys
        score, B = vl.parse_label(r.label)
        assert exp.make_model(r).B == B and r.options.get("score", "collisionless") == score.split("-")[0]
    first = keys.index(("collisionless", 80_000, 0))
    assert all(k[1] == 20_000 for k in keys[:first])       # n0 first: a partial sweep is usable
    assert [r.seed for r in exp.runs("paper", seeds=[1], ns=[20_000])] == [1] * 22
    a01 = [r for r in paper if r.label == "sbtm-a0.1_B0.4"]
    assert len(a01) == 3 and all(r.options["score_options"] == {"alpha": 0.1} and r.n == 20_000 for r in a01)
    k40 = [r for r in paper if r.label.startswith("sbtm-K40_")]
    assert len(k40) == 21 and all(r.options["score_options"] == {"K": 40} for r in k40)
    assert {(r.label, r.seed) for r in k40 if r.n == 80_000} == {(f"sbtm-K40_B{B}", s) for B in (0.05, 0.1, 0.2)
                                                                  for s in (0, 1, 2)}
    assert sum(r.n == 20_000 for r in k40) == 12
    sr = get_vlasov_experiment("vlasov_score_reference")
    assert sr.solve["reference_score"] == "continuum" and sr.model["B"] <= 0.001
    assert {(r.label, r.seed) for r in sr.runs("paper")} == {(lab, s) for lab in
                                                             ("maxwellian", "blob", "kde", "sbtm", "sbtm-K40")
                                                             for s in (0, 1, 2)}
    assert all(sr.make_model(r).B == 0.001 for r in sr.runs("paper"))
    with pytest.raises(ValueError, match="seed=7"):
        exp.runs("paper", seeds=[7])
    fl = get_vlasov_experiment("vlasov_fluid_limit")
    for r in fl.runs("paper"):
        m = fl.make_model(r)
        lam = vl.isotropisation_rate(m.dv, m.gamma)
        assert r.label.startswith(("blob", "sbtm"))
    assert max(vl.isotropisation_rate(fl.make_model(r).dv, fl.make_model(r).gamma) * fl.make_model(r).B
               for r in fl.runs("paper")) >= 10
    rx = get_vlasov_experiment("vlasov_relaxation")
    r0 = rx.runs("paper")[0]
    m = rx.make_model(r0)
    assert rx.solve["t_end"] >= 20 / (vl.isotropisation_rate(3, -3.0) * m.B)
    # run two seeds of a tiny variant and read them back by run
    out = tmp_path / "res"
    got = run_vlasov_experiment("vlasov_damping_curve", "book", out=out, labels=["collisionless"], ns=[600])
    assert list(got) == ["collisionless/n000600_seed0"]
    with pytest.raises(ValueError, match="by='run'"):
        vlasov_results("vlasov_damping_curve", "paper", out=out)
    assert vlasov_results("vlasov_damping_curve", "book", out=out, by="run") == {}   # n = 600 not registered


def test_compact_run_thins_profiles_and_loads_back(tmp_path):
    from landau_nb.experiments.phase_space import compact_run
    m = vl.landau_damping(alpha=0.1, k=0.5, dv=2, B=0.1, gamma=-2.0)
    tr = vl.solve_vlasov(m, n=800, M=8, dt=0.1, t_end=2.0, score="kde", spatial_weight="cell", snapshot_every=5)
    R = len(tr.t)
    E = tr["E_norm"].copy()
    compact_run(tr, {"profiles_every": 10, "snapshots": "ends", "float32": True})
    assert tr.meta["profile_rows"] == [0, 10, 20] and np.array_equal(tr.profile_t, [0.0, 1.0, 2.0])
    assert tr["T"].shape == (3, 8) and tr["T"].dtype == np.float32 and tr.snapshots.shape[0] == 2
    assert tr.final["x"].shape == (0,) and np.array_equal(tr["E_norm"], E) and tr["E_norm"].dtype == np.float64
    again = dict(tr.meta["compact"])
    compact_run(tr, {"profiles_every": 10, "snapshots": "ends", "float32": True})      # idempotent
    assert tr.meta["compact"] == again and tr["T"].shape == (3, 8)
    tr.save(tmp_path / "run")
    back = vl.PhaseSpaceTrajectory.load(tmp_path / "run")
    assert back.checksum == "verified" and np.array_equal(back.profile_t, [0.0, 1.0, 2.0]) and len(back.t) == R
    with pytest.raises(ValueError, match="snapshots"):
        compact_run(back, {"snapshots": "some"})


def test_marginal_kurtosis_of_a_gaussian_and_of_a_flat_start():
    tr = vl.solve_vlasov(vl.landau_damping(alpha=1e-6, k=0.5, dv=3), n=20000, M=16, dt=0.05, t_end=0.05,
                         snapshot_vmax=6.0)
    assert abs(vl.marginal_kurtosis(tr)[0] - 3) < 0.05
    aniso = vl.solve_vlasov(vl.anisotropic(alpha=0.0, T_par=1.5, T_perp=0.75, dv=3), n=20000, M=16, dt=0.05,
                            t_end=0.05, snapshot_vmax=6.0)
    assert abs(vl.marginal_kurtosis(aniso)[0] - 3) < 0.05          # a Gaussian of another width: still 3


# ------------------------------------------------------------------------------ score registry
@pytest.mark.parametrize("score", vl.SCORES)
def test_every_registered_score_conserves_and_resumes_bit_identically(score, tmp_path):
    """The contract of a phase-space score estimator (every entry of vl.SCORES): a collisional run
    keeps momentum to round-off and the collision energy small, records its score error, and a run
    stopped at a checkpoint resumes to the same bits as the run done in one go."""
    m = vl.anisotropic(alpha=0.1, k=0.5, T_par=1.2, T_perp=0.9, dv=3, B=0.5, gamma=-3.0)
    opts = {"width": 16, "depth": 1, "K": 2, "init_max_iter": 400, "init_tol": 0.3} if score == "sbtm" else {}
    kw = dict(n=1200, M=16, dt=0.05, t_end=0.3, score=score, score_options=opts, spatial_weight="cell",
              record_every=2, seed=3)
    whole = vl.solve_vlasov(m, **kw)
    assert whole.momentum_drift() < 1e-12
    assert abs(whole["collision_energy"][-1]) < 1e-4 * whole["kinetic_energy"][0]
    assert np.all(np.isfinite(whole["score_error"][1:]))
    part = vl.solve_vlasov(m, checkpoint=tmp_path / "ck", checkpoint_every=2, stop_after=3, **kw)
    assert part.meta["pending_half_step"]          # stopped between two fused steps (records every 2)
    resumed = vl.solve_vlasov(m, checkpoint=tmp_path / "ck", checkpoint_every=2, **kw)
    assert resumed.meta["resumed"]
    for key in ("E_norm", "kinetic_energy", "score_error"):
        np.testing.assert_array_equal(resumed[key], whole[key])


class _Ref:
    """A run of vlasov_score_reference: score_error_ref = lm + excess (lm growing in t)."""

    def __init__(self, excess):
        self.t = np.linspace(0, 10, 21)
        lm = 0.002 * self.t ** 2
        self.records = {"score_error_ref": np.r_[np.nan, (lm + excess)[1:]], "lm_error_ref": np.r_[np.nan, lm[1:]]}

    def __getitem__(self, key):
        return self.records[key]


def test_finding_score_reference_reads_the_excess_and_the_ratio():
    from landau_nb.book import claims
    runs = _synthetic_runs("vlasov_score_reference", _Ref,
                           {"maxwellian": 0.0, "blob": 0.07, "kde": 0.17, "sbtm": 0.03, "sbtm-K40": 0.05}, 0.001)
    test = claims.CLAIMS["finding_vlasov_score_reference"].test
    v = test(runs())
    assert v.reproduced == "yes" and "blob 0.071 ± 0.002" in v.value and "SBTM / blob 0." in v.value
    assert test(runs(sbtm=0.2)).reproduced == "no"                     # SBTM farther than the blob
    assert test(runs(**{"sbtm-K40": -0.01})).reproduced == "partly"    # one estimator beats the control
    partial = runs()
    partial.pop(("kde", 20_000, 1))
    with pytest.raises(KeyError, match="not committed"):
        test(partial)
