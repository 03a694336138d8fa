"""Health of a run: degenerate inputs, non-finite states, energy and momentum watch, and
near-coincident pairs in float32 (book: "Particles and conservation")."""

import warnings

import numpy as np
import pytest
import torch

import landau_nb as ln
from landau_nb.solver.health import ENERGY_DRIFT_RTOL, HealthMonitor, check_initial_sample
from landau_nb.equation.pairsum import numba_available

F64 = torch.float64


class _BlowUpAt(ln.ScoreEstimator):
    """Exact heat score, replaced from the given call on by a finite score so large that the
    velocity is finite but the Euler step overflows (positions become infinite)."""
    name = "blow-up"

    def __init__(self, bad_call):
        super().__init__()
        self.bad_call, self.calls = bad_call, 0

    def __call__(self, x, t):
        self.calls += 1
        s = self.problem.score(x, t)
        return torch.full_like(s, 1e308) if self.calls > self.bad_call else s


@pytest.mark.parametrize("stepper", ["euler", "heun"])
def test_non_finite_positions_keep_the_last_finite_state_at_its_own_time(stepper):
    # heat: v = -D s = -2.5e307 (finite) and dt v = -2.5e308 overflows. Euler: call k + 1 is
    # step k, so the 4th call (step 3) gives X^4 = -inf; Heun: the 7th call is step 3's
    # first stage, whose prediction overflows. Either way X^3 (t = 31) is the last finite
    # state and must be labelled t = 31, not t_4 = 41 (the bug of issue 14, item 6).
    p = ln.heat(2, dt=10.0, t0=1.0, t_end=101.0)
    seen = {}
    est = _BlowUpAt(3 if stepper == "euler" else 6)
    with pytest.raises(ln.NonFiniteError, match=r"non-finite positions at step 4 \(t=41\)") as info:
        ln.solve(p, est, n=20, seed=0, stepper=stepper, callback=lambda k, t, x, s, v: seen.update({k: x.clone()}))
    err = info.value
    assert err.step == 4 and err.quantity == "positions" and err.time == 41.0
    assert "last finite state (step 3, t=31)" in str(err)
    tr = err.trajectory
    assert tr.saved_t[-1] == 31.0 and tr.t[-1] == 31.0
    assert np.array_equal(tr.x[-1], seen[3].numpy()) and np.isfinite(tr.x).all()
    assert tr.meta["completed_steps"] == 3


def test_energy_drift_warns_once_for_a_far_too_large_time_step():
    # Coulomb at dt = 1e6: the energy jumps from 2.9 to 1.7e8 in one step (issue 14, item 7)
    p = ln.anisotropic_gaussian(3, -3.0)
    with pytest.warns(RuntimeWarning, match="relative energy drift") as record:
        tr = ln.solve(p, "blob", n=50, seed=0, dt=1e6, t_end=1e7)
    energy = [str(w.message) for w in record if "energy" in str(w.message)]
    assert len(energy) == 1
    assert "at step 1 (t=1e+06)" in energy[0] and "lower dt" in energy[0] and "dt=1e+06" in energy[0]
    assert tr["energy"][-1] > 1e7 * tr["energy"][0]


@pytest.mark.parametrize("problem,method,n", [
    (ln.anisotropic_gaussian(3, -3.0), "blob", 50),   # the paper's dt = 1 on [0, 300]
    (ln.bkw(3), "exact", 400),                        # dt = 0.01 on [5.5, 9.5]
])
def test_runs_at_their_registered_time_step_do_not_warn(problem, method, n):
    # the registered experiments drift by ~2e-3 (Coulomb blob here: 1.6e-3); the threshold
    # 0.05 leaves a factor > 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = ln.solve(problem, method, n=n, seed=0)
    drift = np.abs(tr["energy"] - tr["energy"][0]).max() / tr["energy"][0]
    assert 0 < drift < ENERGY_DRIFT_RTOL / 20


def test_linear_problems_are_not_watched_for_energy():
    # the heat equation spreads the particles: the energy grows by 2 d D per unit time
    p = ln.heat(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = ln.solve(p, "exact", n=50, seed=0, t_end=p.t0 + 1.0)
    assert tr["energy"][-1] > (1 + ENERGY_DRIFT_RTOL) * tr["energy"][0]


def test_health_monitor_warns_once_per_invariant_with_step_and_time():
    mon = HealthMonitor("landau", F64, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mon.check(1, 0.5, 0.0, 1.04, 1.0)           # 4 % energy drift, no momentum drift: quiet
    with pytest.warns(RuntimeWarning) as record:
        mon.check(2, 1.0, 1e-3, 1.2, 1.0)
        mon.check(3, 1.5, 1e-2, 2.0, 1.0)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "momentum drifted by 1.000e-03 at step 2 (t=1)" in messages[0]
    assert "relative energy drift 0.2 (1 -> 1.2) at step 2 (t=1)" in messages[1]
    assert mon.momentum_warned and mon.energy_warned
    quiet = HealthMonitor("heat", F64, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.check(2, 1.0, 1.0, 10.0, 1.0)


def test_energy_warning_survives_a_checkpoint(tmp_path):
    # a resumed run does not warn again (the flag is in the checkpoint)
    p = ln.anisotropic_gaussian(3, -3.0)

    class Stop(Exception):
        pass

    def stop(k, t, x, s, v):
        if k == 3:
            raise Stop

    with pytest.warns(RuntimeWarning, match="relative energy drift"), pytest.raises(Stop):
        ln.solve(p, "blob", n=40, seed=0, dt=1e6, t_end=6e6, checkpoint=tmp_path, checkpoint_every=2, callback=stop)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr = ln.solve(p, "blob", n=40, seed=0, dt=1e6, t_end=6e6, checkpoint=tmp_path, checkpoint_every=2)
    assert tr.meta["completed_steps"] == 6


# ------------------------------------------------------------------- degenerate initial particles
def _flat(n, d):
    x = torch.randn(n, d, dtype=F64, generator=ln.make_generator(0, "flat"))
    x[:, -1] = 0.5                                   # a zero-variance direction
    return x


def test_check_initial_sample_names_each_degeneracy():
    x = torch.randn(30, 3, dtype=F64, generator=ln.make_generator(0, "ok"))
    assert check_initial_sample(x) == []
    assert check_initial_sample(x.float()) == []
    assert "n=3 particles in d=3" in check_initial_sample(x[:3])[0]
    assert "zero-variance direction" in check_initial_sample(_flat(30, 3))[0]
    # a tilted plane rounded to float32 is still flat to ~1e-14 relative
    rot = torch.linalg.qr(torch.randn(3, 3, dtype=F64, generator=ln.make_generator(1, "rot")))[0]
    assert "zero-variance direction" in check_initial_sample((_flat(30, 3) @ rot).float())[0]
    dup = x.clone()
    dup[7] = dup[2]
    assert check_initial_sample(dup) == ["x0 has 1 particles that coincide with another one; coincident "
                                         "particles get the same score and velocity and never separate"]


def test_solve_warns_about_degenerate_particles_and_blob_rules_refuse_them():
    p = ln.heat(2)
    with pytest.warns(RuntimeWarning, match="zero-variance direction"):
        ln.solve(p, "exact", x0=_flat(20, 2), t_end=p.t0 + 0.02)
    dup = p.sample(20, ln.make_generator(0, "dup"))
    dup[5] = dup[0]
    with pytest.warns(RuntimeWarning, match="1 particles that coincide"):
        tr = ln.solve(p, "exact", x0=dup, t_end=p.t0 + 0.02)
    assert np.array_equal(tr.x[-1, 5], tr.x[-1, 0])     # they never separate
    # the blob method with n <= d: every score would be 0 (bandwidth ~ 1e-12); now refused
    a = ln.anisotropic_gaussian(3)
    with pytest.raises(ValueError, match="needs n > d particles, got n=3 in d=3"):
        ln.solve(a, "blob", n=3, t_end=0.02)
    with pytest.raises(ValueError, match="zero-variance direction"):
        ln.solve(a, "blob", x0=_flat(40, 3), t_end=0.02)
    with pytest.raises(ValueError, match="zero-variance direction"):
        ln.Blob(fixed=False)._eps(_flat(40, 3))
    # a fixed bandwidth is the user's choice: only the warning
    with pytest.warns(RuntimeWarning, match="n=3 particles in d=3"):
        tr = ln.solve(a, "blob", n=3, t_end=0.02, bandwidth=0.5)
    assert not np.array_equal(tr.x[0], tr.x[-1])


# ------------------------------------------------------------------- near-coincident pairs, float32
def _near_pair(n, d, gap):
    g = ln.make_generator(3, "near")
    x = torch.randn(n, d, dtype=F64, generator=g)
    x[1] = 1e-14
    x[2] = 1e-14
    x[2, 0] += gap                                   # |x_1 - x_2| = gap, exactly representable scale
    return x.float(), torch.randn(n, d, dtype=F64, generator=g).float()


def test_float32_powers_overflow_where_the_folded_weights_do_not():
    r2 = torch.tensor(1e-30, dtype=torch.float32)          # |z| = 1e-15
    assert torch.isinf(r2.pow(-1.5)) and torch.isfinite(r2.pow(-0.5))


@pytest.mark.parametrize("gamma,d", [(-3.0, 3), (-3.0, 4), (-4.0, 3), (-2.5, 3), (-1.0, 3)])
def test_near_coincident_float32_pair_gives_finite_velocities(gamma, d):
    # |z| = 3e-15: |z|^gamma = 1e43 overflows float32 at gamma = -3, the pair's term
    # |z|^(gamma+2) |w| ~ 3e14 |w| does not. n = 70 >= COMPILED_MIN_N: auto = compiled.
    x, s = _near_pair(70, d, 3e-15)
    ref = ln.landau_velocity(x.double(), s.double(), gamma=gamma, method="direct")
    runs = {m: ln.landau_velocity(x, s, gamma=gamma, method=m) for m in ("direct", "auto")}
    runs["random_batch"] = ln.landau_velocity(x, s, gamma=gamma, method="random_batch", batch_size=70,
                                              generator=ln.make_generator(0, "rb"))
    if numba_available():
        runs["compiled"] = ln.landau_velocity(x, s, gamma=gamma, method="compiled")
    for name, v in runs.items():
        assert v.dtype == torch.float32 and bool(torch.isfinite(v).all()), name
        rel = ((v.double() - ref).norm(dim=1) / ref.norm(dim=1)).max().item()
        assert rel < 1e-5, (name, rel)                   # float32 round-off: ~3e-7 measured


def test_near_coincident_float32_pair_in_the_matrix_and_divergences():
    gamma = -3.0
    x, s = _near_pair(30, 3, 3e-15)
    for name, f in {
        "collision_matrix": lambda y: ln.collision_matrix(y, gamma=gamma, method="direct"),
        "collision_divergence": lambda y: ln.collision_divergence(y, gamma=gamma),
        "collision_kernel": lambda y: ln.collision_kernel(y[1:3] - y[2], gamma=gamma),
    }.items():
        got, ref = f(x), f(x.double())
        assert bool(torch.isfinite(got).all()), name
        assert ((got.double() - ref).norm() / ref.norm()).item() < 1e-5, name
    jac = torch.zeros(30, 3, 3)
    div = ln.velocity_divergence(x, s, jac, gamma=gamma)
    ref = ln.velocity_divergence(x.double(), s.double(), jac.double(), gamma=gamma)
    assert bool(torch.isfinite(div).all()) and ((div.double() - ref).abs().max() / ref.abs().max()).item() < 1e-5


def test_pairs_below_the_smallest_normal_number_count_as_coincident():
    # |z| = 1e-20 in float32: r2 = 1e-40 is subnormal and 1/r2 would overflow; such a pair
    # is dropped like z = 0 (its velocity stays finite)
    x, s = _near_pair(70, 3, 1e-20)
    for m in ("direct", "auto"):
        assert bool(torch.isfinite(ln.landau_velocity(x, s, gamma=-3.0, method=m)).all()), m
