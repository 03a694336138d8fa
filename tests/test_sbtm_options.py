"""SBTM's options for the authors' Fig. 5.1 recipe (GradientFlows.jl scripts/denoising.jl): a fresh
Adam at every time step, the absolute-threshold adaptive rule, and the three losses logged per
gradient step."""

import numpy as np
import pytest
import torch

import landau_nb as ln
from landau_nb.solver.checkpoint import load_checkpoint

F64 = torch.float64


def _ou(t_end=0.15):
    return ln.fokker_planck(2, t0=0.1, dt=0.01, t_end=t_end)


def test_restart_optimizer_gives_a_fresh_adam_each_step_on_both_backends():
    p = _ou()
    runs = {b: ln.solve(p, "sbtm", n=200, seed=0, width=16, K=5, init_tol=0.5, restart_optimizer=True,
                        backend=b, progress=False) for b in ("torch", "fused")}
    assert np.allclose(runs["torch"].x, runs["fused"].x, rtol=0, atol=1e-10)
    kept = ln.solve(p, "sbtm", n=200, seed=0, width=16, K=5, init_tol=0.5, backend="torch", progress=False)
    assert not np.allclose(kept.x, runs["torch"].x, rtol=0, atol=1e-10)      # the option changes the run
    assert runs["torch"].meta["estimator"]["restart_optimizer"] is True


def test_the_authors_adaptive_rule_stops_on_an_absolute_decrease():
    est = ln.SBTM(adaptive=True, adaptive_atol=1e-3, check_every=5, max_steps=400)
    assert est._stop(1.0, 1.0 - 5e-4) and not est._stop(1.0, 1.0 - 2e-3)
    pkg = ln.SBTM(adaptive=True)                                   # this package's rule: the first non-decrease
    assert pkg._stop(1.0, 1.0) and not pkg._stop(1.0, 1.0 - 1e-9)
    with pytest.raises(ValueError, match="adaptive_atol"):
        ln.SBTM(adaptive_atol=-1.0)
    p = _ou(0.13)
    loose = ln.solve(p, "sbtm", n=300, seed=1, width=16, lr=4e-4, adaptive=True, adaptive_atol=1e-3,
                     max_steps=400, init_tol=0.5, progress=False)
    strict = ln.solve(p, "sbtm", n=300, seed=1, width=16, lr=4e-4, adaptive=True, max_steps=400, init_tol=0.5,
                      progress=False)
    assert loose["gd_steps"][:-1].sum() <= strict["gd_steps"][:-1].sum()


def test_record_all_losses_logs_three_curves_and_resumes_bit_identically(tmp_path):
    p = _ou()
    kw = dict(n=150, seed=2, width=16, K=4, init_tol=0.5, record_losses="all", restart_optimizer=True,
              progress=False)
    whole = ln.solve(p, "sbtm", **kw)
    log = whole.saved["loss_log"]
    assert log.shape == (4 * len(whole.t), 4)
    assert np.array_equal(log[::4, 0], np.arange(len(whole.t)))
    assert np.all(np.isfinite(log[:, 1:]))
    # the implicit loss is the true loss minus E|grad log u|^2: below the denoising loss's noise, finite
    assert np.all(log[:, 3] >= 0)
    # the monitor draws its own noise: the run equals one without the log on the same (torch) path
    plain = ln.solve(p, "sbtm", **{**kw, "record_losses": False, "backend": "torch"})
    assert np.array_equal(plain.x, whole.x)
    # interrupted and resumed: the same log and particles, bit for bit
    ck = tmp_path / "ck"

    def stop(k, *a):
        if k == 3:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        ln.solve(p, "sbtm", **kw, checkpoint=ck, checkpoint_every=2, callback=stop)
    assert load_checkpoint(ck)[0] == 2
    resumed = ln.solve(p, "sbtm", **kw, checkpoint=ck, checkpoint_every=2)
    assert np.array_equal(resumed.x, whole.x) and np.array_equal(resumed.saved["loss_log"], log)


def test_record_all_refuses_the_fused_backend():
    p = _ou()
    with pytest.raises(ValueError, match="record_losses='all'"):
        ln.solve(p, "sbtm", n=50, seed=0, width=8, K=1, init_tol=0.9, record_losses="all", backend="fused",
                 progress=False)
