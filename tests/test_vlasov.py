"""Tests of the Vlasov–Landau particle solver (landau_nb.vlasov): field, invariants, collision
operator, references, small damping runs, files and validation. Each test is small (the whole
file runs in about a minute on one core); the large validation runs are in benchmarks/vlasov.py."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

import landau_nb.vlasov as vl
from landau_nb.vlasov import reference as ref
from landau_nb.vlasov._deps import (CheckpointError, NonFiniteError, blob_score, kde_score, landau_velocity,
                                    maxwell_second_moment)
from landau_nb.vlasov.collisions import collision_velocity
from landau_nb.vlasov.spatial import SpatialWeight
from landau_nb.vlasov.stepping import CollisionStep, PhaseSpaceState



@pytest.fixture(autouse=True)
def _one_thread():
    """These tests are sized for one core (the shared conftest seeds with two threads; small
    torch ops on a busy machine are then many times slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _particles(n, dv, L=12.0, seed=0, dtype=torch.float64, equal=False):
    g = _gen(seed)
    x = torch.rand(n, dtype=dtype, generator=g) * L
    v = torch.randn(n, dv, dtype=dtype, generator=g)
    s = -1.3 * v + 0.2 * torch.randn(n, dv, dtype=dtype, generator=g)
    w = torch.full((n,), L / n, dtype=dtype) if equal else (0.5 + torch.rand(n, dtype=dtype, generator=g)) * L / n
    return x, v, s, w


# ------------------------------------------------------------------------------------------ field
def test_poisson_cic_quiet_start_matches_exact_field():
    """Quiet ρ = 1 + α cos kx, n = 1e5, M = 64: E = (α/k) sin kx (electrons are pushed away
    from the density maximum) to 1e-3, and the mesh force has no net momentum."""
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3)
    p = vl.sample_particles(model, 100_000, seed=0)
    mesh = vl.PeriodicMesh(model.L, 64)
    rho, E, Ep = mesh.field(p.x, p.w)
    exact = (0.1 / 0.5) * torch.sin(0.5 * mesh.nodes)
    assert float((E - exact).norm() / exact.norm()) < 1e-3
    assert abs(float((p.w * Ep).sum())) < 1e-13 * float(p.w.sum())
    assert abs(float(p.w.sum()) - model.L) < 1e-12 * model.L
    assert abs(mesh.norm(exact) - 0.2 * math.sqrt(model.L / 2)) < 1e-12


def test_single_particle_feels_no_self_force():
    mesh = vl.PeriodicMesh(10.0, 16)
    for x0 in (0.0, 0.3, 3.71, 9.99):
        x = torch.tensor([x0], dtype=torch.float64)
        _, _, Ep = mesh.field(x, torch.ones(1, dtype=torch.float64), rho_ion=0.1)
        assert abs(float(Ep[0])) < 1e-15


# ------------------------------------------------------------------------------------------ invariants
def test_momentum_conserved_to_round_off_collisionless_and_collisional():
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=2)
    tr = vl.solve_vlasov(model, n=4000, M=32, dt=0.1, t_end=3.0, seed=1)
    assert tr.momentum_drift() < 1e-12
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.05, gamma=-3)
    tr = vl.solve_vlasov(model, n=600, M=8, dt=0.1, t_end=0.5, score="blob", seed=1)
    assert tr.momentum_drift() < 1e-12
    assert np.all(tr["entropy_production"][1:] >= 0)


def test_energy_drift_falls_as_dt_squared():
    """Collisionless, n = 2e4 quiet: max |E_tot − E_tot(0)| / FE(0) falls by 4 ± 30 % when dt halves."""
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3)
    d = [vl.solve_vlasov(model, n=20_000, M=32, dt=dt, t_end=5.0, seed=0).energy_drift() for dt in (0.1, 0.05)]
    assert 4 * 0.7 < d[0] / d[1] < 4 * 1.3
    assert d[1] < 2e-3


def test_energy_ledger_closes():
    """ΔFE + kick work is the transport's energy error; with collisions the total change is that
    plus the collision steps' energy change."""
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.1, gamma=0.0)
    tr = vl.solve_vlasov(model, n=3000, M=16, dt=0.1, t_end=1.0, score="maxwellian", spatial_weight="cell")
    dte = tr["total_energy"] - tr["total_energy"][0]
    parts = tr["energy_error_vp"] + tr["collision_energy"]
    assert np.max(np.abs(dte - parts)) < 1e-12 * tr["total_energy"][0]


# ------------------------------------------------------------------------------------------ collision operator
@pytest.mark.parametrize("kind", ["cell", "hat", "cic"])
@pytest.mark.parametrize("dv", [2, 3])
def test_collision_operator_conserves_momentum_and_energy(kind, dv):
    x, v, s, w = _particles(700, dv)
    weight = SpatialWeight(kind, 12.0, 6)
    for gamma in (0.0, -3.0, float(-dv)):
        methods = ["direct", "compiled"] + (["moments"] if gamma == 0 and kind != "hat" else [])
        ref_U = None
        for method in methods:
            U = collision_velocity(x, v, s, w, weight=weight, gamma=gamma, B=0.7, method=method)
            mom = (w[:, None] * U).sum(0).abs().max() / (w[:, None] * U).abs().sum(0).max()
            en = (w[:, None] * v * U).sum() / (w[:, None] * v * U).abs().sum()
            assert float(mom) < 1e-13, (kind, dv, gamma, method)
            assert abs(float(en)) < 1e-13, (kind, dv, gamma, method)
            ent = -(w[:, None] * s * U).sum()
            assert float(ent) >= 0
            if ref_U is None:
                ref_U = U
            else:
                assert float((U - ref_U).abs().max() / ref_U.abs().max()) < 1e-12, (kind, dv, gamma, method)


@pytest.mark.parametrize("kind", ["cell", "hat", "cic"])
def test_collision_velocity_vanishes_for_uniform_maxwellian_score(kind):
    x, v, _, w = _particles(500, 3)
    u, T = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64), 1.7
    s = -(v - u) / T
    for gamma in (0.0, -3.0):
        for method in ("direct", "compiled"):
            U = collision_velocity(x, v, s, w, weight=SpatialWeight(kind, 12.0, 4), gamma=gamma, B=1.0,
                                   method=method)
            assert float(U.abs().max()) < 1e-12


@pytest.mark.parametrize("kind", ["cell", "cic"])
def test_one_cell_equals_homogeneous_landau_velocity(kind):
    """ψ ≡ 1/L and equal weights w = L/n: U = −(B/n) Σⱼ A σ, the homogeneous package's velocity."""
    x, v, s, w = _particles(400, 3, L=5.0, equal=True)
    weight = SpatialWeight(kind, 5.0, 1)
    for gamma in (0.0, -3.0):
        R = landau_velocity(v, s, gamma=gamma, B=0.5, method="direct")
        for method in ("direct", "compiled") + (("moments",) if gamma == 0 else ()):
            U = collision_velocity(x, v, s, w, weight=weight, gamma=gamma, B=0.5, method=method)
            assert float((U - R).abs().max() / R.abs().max()) < 1e-14 * 20, (gamma, method)


def test_spatial_weights_are_symmetric_with_unit_mass():
    L, C = 7.0, 5
    y = torch.linspace(0, L, 70_001, dtype=torch.float64)[:-1]
    for kind in ("cell", "hat", "cic"):
        weight = SpatialWeight(kind, L, C)
        ly, ty = weight.locate(y)
        for x0 in (0.0, 0.9, 3.3, 6.99):
            xi = torch.full_like(y, x0)
            li, ti = weight.locate(xi)
            psi = weight.pair(xi, li, ti, y, ly, ty)
            back = weight.pair(y, ly, ty, xi, li, ti)
            assert torch.equal(psi, back)
            assert float(psi.min()) >= 0
            assert abs(float(psi.sum()) * (L / 70_000) - 1) < 1e-3


def test_collision_step_energy_change_formulas():
    """Euler: ΔK = (h²/2) Σ w|U|²; Heun: ΔK = (h²/8) Σ w|U₁ − U₀|² (fixed score function)."""
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.3, gamma=-3)
    x, v, _, w = _particles(300, 3)
    weight = SpatialWeight("hat", 12.0, 4)
    score = vl.ExactScore(lambda x, v, t: -1.3 * v + 0.2 * torch.sin(v))
    h = 0.05
    for scheme in ("euler", "heun"):
        state = PhaseSpaceState(x=x, v=v.clone(), w=w, rho=None, E=None, E_part=None)
        step = CollisionStep(model, weight, score, scheme=scheme, method="direct")
        _, U0 = step.velocity(state, v, 0.0, None)
        step(state, h)
        dK = state.ledger["collision_energy"]
        if scheme == "euler":
            expect = 0.5 * h * h * float((w[:, None] * U0 ** 2).sum())
        else:
            _, U1 = step.velocity(state, v + h * U0, h, None)
            expect = h * h / 8 * float((w[:, None] * (U1 - U0) ** 2).sum())
        assert dK >= 0
        assert abs(dK - expect) < 1e-9 * expect + 1e-13        # round-off of a kinetic-energy difference
        mom = (w[:, None] * (state.v - v)).sum(0).abs().max()
        assert float(mom) < 1e-15


# ------------------------------------------------------------------------------------------ scores
def test_spatial_blob_with_one_cell_equals_homogeneous_blob():
    x, v, _, w = _particles(300, 3, L=4.0, equal=True)
    weight = SpatialWeight("cell", 4.0, 1)
    for method in ("direct", "compiled"):
        s = vl.spatial_blob_score(x, v, w, weight=weight, eps=0.4, method=method)
        r = blob_score(v, 0.4, method="direct")
        assert float((s - r).abs().max() / r.abs().max()) < 1e-12
        s1 = vl.spatial_blob_score(x, v, w, weight=weight, eps=0.4, two_term=False, method=method)
        r1 = kde_score(v, 0.4)
        assert float((s1 - r1).abs().max() / r1.abs().max()) < 1e-12


def test_blob_scores_agree_between_torch_and_compiled():
    x, v, _, w = _particles(800, 2)
    for kind in ("hat", "cic"):
        weight = SpatialWeight(kind, 12.0, 6)
        a = vl.spatial_blob_score(x, v, w, weight=weight, eps=0.3, method="direct")
        b = vl.spatial_blob_score(x, v, w, weight=weight, eps=0.3, method="compiled")
        assert float((a - b).abs().max() / a.abs().max()) < 1e-12


def test_local_maxwellian_score_and_sbtm_initial_fit():
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.1)
    p = vl.sample_particles(model, 2000, seed=0)
    mesh = vl.PeriodicMesh(model.L, 16)
    weight = SpatialWeight("hat", model.L, 16)
    lm = vl.LocalMaxwellianScore()
    lm.initialize(model, p, weight=weight, mesh=mesh)
    s = lm(p.x, p.v, p.w)
    assert float(((s + p.v) ** 2).sum() / (p.v ** 2).sum()) < 0.05
    sb = vl.SBTMScore(width=32, depth=1, K=3, init_tol=1e-3)
    sb.initialize(model, p, weight=weight, mesh=mesh, seed=0)
    assert sb.init_report["relative_error"] < 1e-3
    s = sb(p.x, p.v, p.w)
    assert s.shape == p.v.shape and sb.calls == 1


# ------------------------------------------------------------------------------------------ references
@pytest.mark.parametrize("k, omega, gamma", [(0.3, 1.159846, -0.012620), (0.4, 1.285057, -0.066128),
                                             (0.5, 1.415662, -0.153359), (0.6, 1.545707, -0.264110),
                                             (1.0, 2.045905, -0.851330)])
def test_landau_roots_match_table(k, omega, gamma):
    w, g = ref.landau_root(k)
    assert abs(w - omega) < 5e-6 and abs(g - gamma) < 5e-6


def test_two_stream_fluid_and_isotropisation_references():
    wr, g = ref.two_stream_root(0.2, 2.4)
    assert abs(g - 0.225844) < 5e-6 and abs(wr) < 1e-9
    assert abs(ref.fluid_frequency(0.5, 3) - 1.1902) < 1e-4
    assert abs(ref.fluid_frequency(0.5, 2) - 1.2247) < 1e-4
    assert abs(ref.isotropisation_rate(3, -3) - 0.4514) < 1e-4
    assert abs(ref.isotropisation_rate(2, -3) - 0.4431) < 1e-4
    assert ref.isotropisation_rate(3, 0) == 12.0
    with pytest.raises(ValueError, match="gamma"):
        ref.isotropisation_rate(3, -1)


def test_continuum_reference_rates_and_cache(tmp_path):
    """Semi-Lagrangian Vlasov–Poisson, rate of the peaks of ‖E‖ on (0.2, 15)."""
    a = ref.reference_curve(alpha=0.01, nx=16, nv=128, dt=0.1, rate_window=(0.2, 15), omega_window=(0.2, 15),
                            cache_dir=tmp_path)
    assert abs(a["rate"]["rate"] / -0.1546 - 1) < 0.01
    assert abs(a["E_norm"][0] - 0.05013) < 1e-5
    assert abs(a["omega"]["omega"] / 1.4157 - 1) < 0.005
    b = ref.reference_curve(alpha=0.1, nx=16, nv=128, dt=0.1, rate_window=(0.2, 15), cache_dir=tmp_path)
    assert abs(b["rate"]["rate"] / -0.1700 - 1) < 0.01
    assert len(list(tmp_path.glob("*.npz"))) == 2
    again = ref.reference_curve(alpha=0.1, nx=16, nv=128, dt=0.1, cache_dir=tmp_path)
    assert np.array_equal(again["E_norm"], b["E_norm"])


def test_continuum_exact_score_at_particles():
    """The exact score of the noise-free solution: −v at t = 0 (to the interpolation error), and
    later ∂ᵥ₁ log g from a centred difference of log g on the grid; perpendicular components −v."""
    c = ref.ContinuumVlasovPoisson(alpha=0.1, k=0.5, nx=64, nv=512)
    rng = np.random.default_rng(0)
    x = rng.uniform(-3.0, 20.0, 4000)                          # outside [0, L) too: periodic
    v = rng.standard_normal((4000, 3))
    s0 = c.score(x, v)
    assert np.abs(s0 - (-v)).max() < 2e-3 and np.array_equal(s0[:, 1:], -v[:, 1:])
    c.advance_to(5.0)
    assert c.steps == 100 and c.t == pytest.approx(5.0)
    xi, vj = 17, np.arange(200, 312)                            # grid points, |v| < 1.8
    s = c.score(np.full(vj.size, c.x[xi]), np.stack([c.v[vj], np.zeros(vj.size)], 1))
    logg = np.log(c.f[xi])
    fd = (logg[vj + 1] - logg[vj - 1]) / (2 * c.dvg)
    assert np.abs(s[:, 0] - fd).max() < 2e-3 * np.abs(fd).max()
    assert np.abs(s[:, 0] + c.v[vj]).max() > 0.05                # no longer the Maxwellian's
    with pytest.raises(ValueError, match="before"):
        c.advance_to(1.0)
    with pytest.raises(ValueError, match="whole number"):
        c.advance_to(5.01)
    with pytest.raises(ValueError, match="shapes"):
        c.score(x, v[:, 0])


def test_reference_score_diagnostic_and_its_validation():
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, gamma=-3.0, B=0.001)
    common = dict(n=3000, M=16, dt=0.1, t_end=1.0, record_every=5, spatial_weight="cell")
    # the local-Maxwellian control: its error to the reference is lm_error_ref itself
    tr = vl.solve_vlasov(model, score="maxwellian", reference_score="continuum", **common)
    e, lm = tr["score_error_ref"], tr["lm_error_ref"]
    assert np.isnan(e[0]) and np.allclose(e[1:], lm[1:], rtol=1e-12) and (lm[1:] > 0).all()
    assert tr.meta["settings"]["reference_score"] == "continuum"
    # measuring it does not change the run; without it the settings (the run's identity) are as before
    plain = vl.solve_vlasov(model, score="maxwellian", **common)
    assert np.array_equal(plain["E_norm"], tr["E_norm"]) and "reference_score" not in plain.meta["settings"]
    assert "score_error_ref" not in plain.records
    # a callable reference: the exact Maxwellian score -v, against which the control errs by lm
    calls = []
    tr2 = vl.solve_vlasov(model, score="maxwellian",
                          reference_score=lambda x, v, t: calls.append(t) or -v, **common)
    assert calls == pytest.approx([0.5, 1.0]) and tr2.meta["settings"]["reference_score"] == "callable"
    assert (tr2["score_error_ref"][1:] < 0.05).all()
    # going back in time restarts the continuum from t = 0
    f = vl.continuum_reference_score(model, dt=0.1, nx=16, nv=128)
    xs = torch.zeros(3, dtype=torch.float64)
    vs = torch.zeros(3, 3, dtype=torch.float64)
    a = f(xs, vs, 1.0)
    f(xs, vs, 2.0)
    assert torch.equal(f(xs, vs, 1.0), a)
    with pytest.raises(ValueError, match="reference_score"):
        vl.solve_vlasov(model, reference_score="exact", **common)
    with pytest.raises(TypeError, match="reference_score"):
        vl.solve_vlasov(model, reference_score=3, **common)
    with pytest.raises(ValueError, match="landau_damping or two_stream"):
        vl.continuum_reference_score(vl.anisotropic(B=1.0))
    with pytest.raises(ValueError, match="B = 0"):
        vl.solve_vlasov(vl.landau_damping(alpha=0.1), reference_score="continuum", **common)


# ------------------------------------------------------------------------------------------ runs
def test_landau_damping_pic_rate_and_frequency():
    """Quiet start, n = 5e4, M = 32, k = 0.5, α = 0.1: rate on (0.2, 15) within 5 % of the
    continuum −0.1700, frequency within 1 % of the continuum's zero-crossing value 1.4050."""
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3)
    tr = vl.solve_vlasov(model, n=50_000, M=32, dt=0.1, t_end=15.0, seed=0)
    fit = tr.damping_rate((0.2, 15))
    assert abs(fit["rate"] / -0.1700 - 1) < 0.05
    assert fit["window"] == [0.2, 15.0] and len(fit["t"]) == 6
    assert abs(tr.frequency((0.2, 15))["omega"] / 1.4050 - 1) < 0.01


def test_weak_collision_limit_recovers_collisionless_rate():
    kw = dict(n=5000, M=16, dt=0.1, t_end=15.0, seed=0)
    r0 = vl.solve_vlasov(vl.landau_damping(alpha=0.1, k=0.5, dv=3), **kw).damping_rate()["rate"]
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=1e-3, gamma=-3)
    r1 = vl.solve_vlasov(model, score="blob", spatial_weight="cell", splitting="lie", collision_scheme="euler",
                         **kw).damping_rate()["rate"]
    assert abs(r1 / r0 - 1) < 0.01


@pytest.mark.parametrize("cells", [1, 8])
def test_homogeneous_bridge_matches_maxwell_closed_form(cells):
    """x uniform, anisotropic Gaussian v, γ = 0, per-cell ψ (one cell: ψ ≡ 1/L).

    The anisotropic Gaussian is not preserved by the Maxwell-molecule Landau operator (its
    diffusion matrix is quadratic in v), so no exact score exists in closed form for t > 0.
    With the Gaussian score of the current sample, −Σ̂⁻¹(v − v̄) (it satisfies the Stein
    identity Σ w s vᵀ = −Σ w I that fixes dΣ/dt), Σ(t) starts on the closed form of the
    homogeneous package (first step to 1e-3) and stays within 2 % of it up to t = 4 (measured:
    1.4 %; the drift comes from the particles' fourth moments leaving the Gaussian ones)."""
    B = 1 / 24
    ini = vl.AnisotropicMaxwellian(alpha=0.0, k=0.5, T_par=1.8, T_perp=0.6)
    model = vl.VlasovLandau(ini, dv=3, gamma=0.0, B=B)

    def score(x, v, t):
        X = v - v.mean(0)
        return -torch.linalg.solve(X.T @ X / v.shape[0], X.T).T

    tr = vl.solve_vlasov(model, n=4000, M=8, dt=0.1, t_end=4.0, score=vl.ExactScore(score, label="gaussian"),
                         spatial_weight="cell", collision_cells=cells, seed=0)
    S = torch.tensor(tr["second_moment"])
    closed = maxwell_second_moment(S[0], torch.tensor(tr.t), B=B)
    err = (S - closed).norm(dim=(1, 2)) / closed.norm(dim=(1, 2))
    rate = (S[1] - S[0]).norm() / (closed[1] - closed[0]).norm()
    assert abs(float(rate) - 1) < 1e-2
    assert float(err[1]) < 1e-3
    assert float(err.max()) < 0.02
    assert float(S[-1, 0, 0] - S[-1, 1, 1]) < 0.2 * float(S[0, 0, 0] - S[0, 1, 1])   # it did relax


def test_float32_run_and_cuda_if_available():
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=2, B=0.05, gamma=-2)
    tr = vl.solve_vlasov(model, n=800, M=8, dt=0.1, t_end=0.3, score="kde", dtype=torch.float32)
    assert tr.final["v"].dtype == np.float32 and tr.momentum_drift() < 1e-5
    if torch.cuda.is_available():
        trc = vl.solve_vlasov(model, n=800, M=8, dt=0.1, t_end=0.3, score="kde", device="cuda")
        trh = vl.solve_vlasov(model, n=800, M=8, dt=0.1, t_end=0.3, score="kde")
        assert np.allclose(trc.final["v"], trh.final["v"], atol=1e-10)


# ------------------------------------------------------------------------------------------ files
def test_save_load_round_trip(tmp_path):
    model = vl.two_stream(dv=2, B=0.01, gamma=-2)
    tr = vl.solve_vlasov(model, n=600, M=16, dt=0.1, t_end=0.5, score="kde", snapshot_every=2)
    path = tr.save(tmp_path / "run")
    assert path.suffix == ".npz" and (tmp_path / "run.json").exists()
    back = vl.PhaseSpaceTrajectory.load(tmp_path / "run")
    assert np.array_equal(back.t, tr.t)
    for key in tr.records:                       # (score_error is NaN before the first collision)
        assert np.array_equal(back.records[key], tr.records[key], equal_nan=True)
    for key in tr.profiles:
        assert np.array_equal(back.profiles[key], tr.profiles[key], equal_nan=True)
    assert np.array_equal(back.snapshots, tr.snapshots) and back.snapshots.shape == (4, 16, 64)
    assert back.meta["versions"]["torch"] == torch.__version__
    assert back.meta["settings"]["score"]["name"] == "kde"
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.npz").write_bytes(b"xx")
    with pytest.raises(ValueError, match="bad.json"):
        vl.PhaseSpaceTrajectory.load(tmp_path / "bad")


def test_checkpoint_resume_is_bit_identical(tmp_path):
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=2, B=0.05, gamma=-2)
    kw = dict(n=500, M=8, dt=0.1, t_end=1.0, seed=3, score="sbtm",
              score_options=dict(width=16, depth=1, K=2, init_tol=0.1, init_max_iter=300, batch_size=256))
    full = vl.solve_vlasov(model, **kw)
    part = vl.solve_vlasov(model, checkpoint=tmp_path / "ck", checkpoint_every=3, stop_after=4, **kw)
    assert not part.meta["complete"] and part.meta["steps_done"] == 4
    resumed = vl.solve_vlasov(model, checkpoint=tmp_path / "ck", checkpoint_every=3, **kw)
    assert resumed.meta["complete"] and resumed.meta["resumed"]
    for key in ("x", "v", "w"):
        assert np.array_equal(full.final[key], resumed.final[key])
    for key, val in full.records.items():
        if not key.startswith("time_"):
            assert np.array_equal(val, resumed.records[key], equal_nan=True), key
    with pytest.raises(CheckpointError, match="seed"):
        vl.solve_vlasov(model, checkpoint=tmp_path / "ck", **{**kw, "seed": 4})


def test_non_finite_run_names_step_and_quantity():
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.1, gamma=-3)

    def score(x, v, t):
        return -v if t < 0.25 else torch.full_like(v, float("nan"))

    with pytest.raises(NonFiniteError, match=r"step 3 .*score") as info:
        vl.solve_vlasov(model, n=300, M=8, dt=0.1, t_end=1.0, score=vl.ExactScore(score))
    assert info.value.step == 3 and info.value.quantity == "score"
    assert len(info.value.trajectory.t) == 3


# ------------------------------------------------------------------------------------------ validation
def test_input_validation_names_the_parameter():
    model = vl.landau_damping()
    with pytest.raises(ValueError, match="n=0"):
        vl.solve_vlasov(model, n=0, t_end=1.0)
    with pytest.raises(ValueError, match="M=1"):
        vl.solve_vlasov(model, n=100, M=1, t_end=1.0)
    with pytest.raises(ValueError, match="L=-1"):
        vl.VlasovLandau(vl.LandauDamping(alpha=0.1, k=0.5), L=-1.0)
    with pytest.raises(ValueError, match="dv=1"):
        vl.landau_damping(dv=1, B=0.1)
    assert vl.landau_damping(dv=1).dv == 1
    with pytest.raises(ValueError, match="dt=0.6.*plasma"):
        vl.solve_vlasov(model, n=100, dt=0.6, t_end=1.2)
    with pytest.raises(ValueError, match=r"dt=0.4.*max\|v1\|"):
        vl.solve_vlasov(model, n=1000, M=256, dt=0.4, t_end=0.8)
    with pytest.raises(ValueError, match="t_end"):
        vl.solve_vlasov(model, n=100, dt=0.1, t_end=0.25)
    for bad in (dict(splitting="yoshida"), dict(collision_scheme="rk4"), dict(spatial_weight="gauss"),
                dict(start="sobol"), dict(collision_method="fast")):
        name = next(iter(bad))
        with pytest.raises(ValueError, match=name):
            vl.solve_vlasov(model, n=100, t_end=0.1, **bad)
    with pytest.raises(ValueError, match="score"):
        vl.solve_vlasov(vl.landau_damping(B=0.1), n=100, t_end=0.1, score="exact")
    with pytest.raises(ValueError, match="gamma"):
        vl.landau_damping(dv=2, gamma=-4)
    with pytest.raises(ValueError, match="not periodic"):
        vl.VlasovLandau(vl.LandauDamping(alpha=0.1, k=0.5), L=10.0)
    with pytest.raises(ValueError, match="collision_method='moments'"):
        collision_velocity(*_particles(10, 3), weight=SpatialWeight("hat", 12.0, 2), gamma=0.0, B=1.0,
                           method="moments")


def test_quiet_start_is_seeded_and_low_discrepancy():
    model = vl.two_stream(dv=3)
    a = vl.sample_particles(model, 4096, seed=5)
    b = vl.sample_particles(model, 4096, seed=5)
    c = vl.sample_particles(model, 4096, seed=6)
    assert torch.equal(a.v, b.v) and not torch.equal(a.v, c.v)
    assert abs(float(a.v[:, 0].mean())) < 2e-3                  # random: ~ 2.6/sqrt(n) = 0.04
    assert abs(float((a.v[:, 0] ** 2).mean()) - (1 + 2.4 ** 2)) < 0.01
    r = vl.sample_particles(model, 4096, seed=5, start="random")
    assert not torch.equal(r.x, a.x)
    f = vl.sample_particles(model, 4096, seed=5, dtype=torch.float32)
    assert f.v.dtype == torch.float32 and torch.equal(f.v, a.v.float())


def test_fused_strang_halves_collision_evaluations_between_records():
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.05, gamma=-3)
    calls = []

    def score(x, v, t):
        calls.append(t)
        return -v + 0.1 * torch.tanh(v)

    kw = dict(n=400, M=8, dt=0.1, t_end=0.4, score=vl.ExactScore(score), spatial_weight="cell", seed=0)
    a = vl.solve_vlasov(model, record_every=2, fuse_collisions=False, **kw)
    n_plain = len(calls)
    calls.clear()
    b = vl.solve_vlasov(model, record_every=2, **kw)
    assert (n_plain, len(calls)) == (16, 12)
    assert np.allclose(a.final["v"], b.final["v"], atol=1e-4) and b.momentum_drift() < 1e-13
    calls.clear()
    c = vl.solve_vlasov(model, **kw)                      # record_every=1: nothing to fuse
    d = vl.solve_vlasov(model, fuse_collisions=False, **kw)
    assert np.array_equal(c.final["v"], d.final["v"])


@pytest.mark.parametrize("dv, gamma", [(3, -3.0), (2, -2.0), (3, 0.0)])
def test_initial_isotropisation_rate_matches_reference(dv, gamma):
    """Near-Maxwellian bi-Maxwellian (T_∥ = 1.02, T_⊥ = 0.99), one cell, exact initial score:
    −d/dt (T_∥ − T_⊥) / (T_∥ − T_⊥) = λ B to 3 % (λ = 4/(5√π) in 3V at γ = −3, 1 in 2V at
    γ = −2, 4 dv at γ = 0), a check of the operator's normalisation."""
    ini = vl.AnisotropicMaxwellian(alpha=0.0, k=0.5, T_par=1.02, T_perp=0.99)
    model = vl.VlasovLandau(ini, dv=dv, gamma=gamma, B=0.5)
    p = vl.sample_particles(model, 16_000, seed=0)
    s = model.initial_score(p.x, p.v)
    U = collision_velocity(p.x, p.v, s, p.w, weight=SpatialWeight("cell", model.L, 1), gamma=gamma, B=0.5)
    T = (p.w[:, None] * p.v ** 2).sum(0) / p.w.sum()
    dT = 2 * (p.w[:, None] * p.v * U).sum(0) / p.w.sum()
    rate = -float((dT[0] - dT[1:].mean()) / (T[0] - T[1:].mean())) / 0.5
    assert abs(rate / ref.isotropisation_rate(dv, gamma) - 1) < 0.03


def test_one_velocity_dimension_collisionless_runs():
    tr = vl.solve_vlasov(vl.landau_damping(dv=1), n=2000, M=16, dt=0.1, t_end=0.5)
    assert tr.final["v"].shape == (2000, 1) and tr.momentum_drift() < 1e-12
    assert np.all(np.isnan(tr["T_ratio"]))


# ------------------------------------------------------------------------ registered experiments
def test_registered_vlasov_experiments_run_store_resume_and_check(tmp_path):
    from landau_nb.__main__ import main
    from landau_nb.experiments import (VLASOV_EXPERIMENTS, RunConflictError, run_vlasov_experiment,
                                       vlasov_results)
    from landau_nb.vlasov._deps import ResultFileError
    assert {"vlasov_landau_damping", "vlasov_landau_damping_linear", "vlasov_two_stream",
            "vlasov_collisional_damping"} <= set(VLASOV_EXPERIMENTS)
    out = tmp_path / "res"
    runs = run_vlasov_experiment("vlasov_landau_damping", "paper", out=out, ns=[2000])
    (stem, tr), = runs.items()
    assert stem == "collisionless/n002000_seed0"
    js = out / "vlasov_landau_damping" / "collisionless" / "n002000_seed0.json"
    meta = json.loads(js.read_text())
    assert meta["run"]["identity"]["n"] == 2000 and "commit" in meta["run"]["provenance"]
    assert len(meta["npz_sha256"]) == 64 and meta["compact"]["final_particles"] == "dropped (2000)"
    assert not (out / "vlasov_landau_damping" / "collisionless" / "n002000_seed0.ckpt").exists()
    # stored: loaded (verified), not recomputed
    again = run_vlasov_experiment("vlasov_landau_damping", "paper", out=out, ns=[2000])
    assert again[stem].checksum == "verified" and np.array_equal(again[stem]["E_norm"], tr["E_norm"])
    # other settings: a conflict naming the difference
    with pytest.raises(RunConflictError, match="dtype"):
        run_vlasov_experiment("vlasov_landau_damping", "paper", out=out, ns=[2000], dtype=torch.float32)
    # a replaced .npz is caught by its checksum
    npz = js.with_suffix(".npz")
    data = npz.read_bytes()
    tr2 = vl.PhaseSpaceTrajectory.load(js.with_suffix(""))
    tr2.records["E_norm"] = tr2.records["E_norm"] * 2
    tr2.save(tmp_path / "other")
    npz.write_bytes((tmp_path / "other.npz").read_bytes())
    with pytest.raises(ResultFileError, match="SHA-256"):
        vl.PhaseSpaceTrajectory.load(js.with_suffix(""))
    npz.write_bytes(data)
    assert vlasov_results("vlasov_landau_damping", "paper", out=out) == {}     # n = 2000 is not registered
    # the command line: list and run (book scale, n overridden), bad values exit 2
    assert main(["list"]) == 0
    assert main(["run", "vlasov_two_stream", "--n", "1000", "--out", str(out), "--quiet"]) == 0
    assert (out / "vlasov_two_stream" / "collisionless" / "n001000_seed0.npz").exists()
    assert main(["run", "vlasov_two_stream", "--n", "1000", "--seeds", "0-2", "--out", str(out), "--quiet"]) == 2


def test_registered_vlasov_run_resumes_from_its_checkpoint(tmp_path):
    from landau_nb.experiments import get_vlasov_experiment, run_vlasov_experiment
    from landau_nb.experiments.phase_space import _paths
    exp = get_vlasov_experiment("vlasov_landau_damping")
    full = run_vlasov_experiment("vlasov_landau_damping", "book", out=tmp_path / "a", ns=[1000])
    run = exp.runs("book", ns=[1000])[0]
    # interrupt a second copy after 30 steps (as a killed process leaves it), then run it again
    p = _paths(tmp_path / "b", exp, run)
    p["ckpt"].mkdir(parents=True)
    from landau_nb.experiments.phase_space import vlasov_run_identity
    (p["ckpt"] / "run.json").write_text(json.dumps(vlasov_run_identity(exp, run, "book", "cpu", torch.float64)))
    vl.solve_vlasov(exp.make_model(run), n=1000, seed=0, checkpoint=p["ckpt"], checkpoint_every=50, stop_after=30,
                    **exp.solve)
    resumed = run_vlasov_experiment("vlasov_landau_damping", "book", out=tmp_path / "b", ns=[1000])
    (stem, a), = full.items()
    b = resumed[stem]
    assert b.meta["resumed"] and np.array_equal(a["E_norm"], b["E_norm"])
    assert np.array_equal(a.final["v"], b.final["v"])


def test_a_vlasov_run_being_computed_elsewhere_is_not_started_twice(tmp_path):
    """Two processes on one run would resume the same checkpoint and overwrite each other: the
    second is refused, naming the owner; once the first has finished the run is loaded."""
    from landau_nb.experiments import RunTakenError, get_vlasov_experiment, run_vlasov_experiment
    from landau_nb.experiments.locks import RunLock
    from landau_nb.experiments.phase_space import _paths
    exp = get_vlasov_experiment("vlasov_two_stream")
    run = exp.runs("book", ns=[600])[0]
    lock = RunLock(_paths(tmp_path, exp, run)["lock"])
    assert lock.try_acquire()
    try:
        with pytest.raises(RunTakenError, match=f"{run.stem}.*another process.*pid {os.getpid()}"):
            run_vlasov_experiment("vlasov_two_stream", "book", out=tmp_path, ns=[600])
        assert not _paths(tmp_path, exp, run)["ckpt"].exists()           # nothing touched
    finally:
        lock.release()
    first = run_vlasov_experiment("vlasov_two_stream", "book", out=tmp_path, ns=[600])
    assert not _paths(tmp_path, exp, run)["lock"].exists()               # released after the run
    lock.try_acquire()                                                   # a finished run is loaded, lock or not
    try:
        again = run_vlasov_experiment("vlasov_two_stream", "book", out=tmp_path, ns=[600])
    finally:
        lock.release()
    assert np.array_equal(first[run.stem]["E_norm"], again[run.stem]["E_norm"])


def test_cell_kernels_visiting_each_pair_once_match_the_neighbour_loops():
    """The cell weight's compiled kernels add each unordered pair to both rows; they agree with
    the general neighbour loops (every ordered pair) to round-off and keep Σ w U = 0."""
    pytest.importorskip("numba")
    from landau_nb.vlasov import _numba_kernels as kern
    from landau_nb.vlasov.collisions import _compiled
    from landau_nb.vlasov.spatial import CellList
    for dv in (2, 3):
        x, v, s, w = _particles(1500, dv, seed=dv)
        weight = SpatialWeight("cell", 12.0, 7)
        cl = CellList(weight, x)
        for gamma in (0.0, -3.0, -2.5):
            once = _compiled(x, v, s, w, weight, gamma, 0.7, cl, pairs_once=True)
            every = _compiled(x, v, s, w, weight, gamma, 0.7, cl)
            assert float((once - every).norm() / every.norm()) < 1e-13
            scale = float((w[:, None] * once.abs()).sum())
            assert float((w[:, None] * once).sum(0).abs().max()) < 1e-14 * scale
        for two in (True, False):
            a = kern.cell_blob_sums(weight, cl, v, w, 0.3, two)
            b = kern.blob_sums(weight, cl, x, v, w, 0.3, two)
            assert float((a - b).norm() / b.norm()) < 1e-13
