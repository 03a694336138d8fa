"""Ensembles of runs advanced together (landau_nb.solver.ensemble)."""

import numpy as np
import pytest

import landau_nb as ln
from landau_nb.solver.checkpoint import load_checkpoint
from helpers import assert_same_run

SBTM_KW = dict(init_tol=1e-2, init_lr=1e-2)


def _same(a, b):
    assert_same_run(a, b)
    assert a.meta["seed"] == b.meta["seed"]


def test_sbtm_members_equal_single_runs():
    # 20 float64 steps. Each member's chunks and reductions are its own, so on the CPU a
    # member is bit-identical to its single run (stronger than the round-off agreement asked).
    p = ln.anisotropic_gaussian(3)
    kw = dict(n=70, t_end=20 * p.dt, record_losses=True, **SBTM_KW)
    seeds = [0, 3, 7]
    members = ln.solve_ensemble(p, "sbtm", seeds=seeds, **kw)
    assert [m.meta["seed"] for m in members] == seeds
    for seed, m in zip(seeds, members):
        single = ln.solve(p, "sbtm", seed=seed, **kw)
        _same(m, single)
        assert np.array_equal(m.saved["loss_log"], single.saved["loss_log"])
    assert not np.array_equal(members[0].x[-1], members[1].x[-1])


def test_torch_backend_members_run_one_after_another(monkeypatch):
    # backend="torch" has nothing to batch: the members are plain single runs, in order
    import threading
    p = ln.anisotropic_gaussian(3)
    kw = dict(n=40, t_end=3 * p.dt, backend="torch", **SBTM_KW)
    names = []
    real = ln.solver.ensemble.solve
    monkeypatch.setattr(ln.solver.ensemble, "solve", lambda *a, **k: names.append(threading.current_thread().name)
                        or real(*a, **k))
    members = ln.solve_ensemble(p, "sbtm", seeds=[2, 5], **kw)
    assert names == [threading.main_thread().name] * 2
    for seed, m in zip([2, 5], members):
        _same(m, ln.solve(p, "sbtm", seed=seed, **kw))


def test_blob_members_equal_single_runs():
    p = ln.anisotropic_gaussian(2, -3.0)
    kw = dict(n=50, t_end=5 * p.dt)
    members = ln.solve_ensemble(p, "blob", seeds=[1, 2], **kw)
    for seed, m in zip([1, 2], members):
        _same(m, ln.solve(p, "blob", seed=seed, **kw))


class _Stop(Exception):
    pass


def test_interrupted_ensemble_resumes_bit_identically(tmp_path):
    p = ln.anisotropic_gaussian(3)
    kw = dict(n=60, t_end=14 * p.dt, **SBTM_KW)
    seeds = [2, 5]
    full = ln.solve_ensemble(p, "sbtm", seeds=seeds, **kw)

    def stop(member, k, *args):
        if k == 10 + member:                      # the members stop at different steps
            raise _Stop

    with pytest.raises(_Stop):
        ln.solve_ensemble(p, "sbtm", seeds=seeds, checkpoint=tmp_path, checkpoint_every=4, callback=stop, **kw)
    assert load_checkpoint(tmp_path / "seed2")[0] == 8 and load_checkpoint(tmp_path / "seed5")[0] == 8
    resumed = ln.solve_ensemble(p, "sbtm", seeds=seeds, checkpoint=tmp_path, checkpoint_every=4, **kw)
    for a, b in zip(full, resumed):
        _same(a, b)
    # a member's checkpoint is a single run's: the single run resumes it
    single = ln.solve(p, "sbtm", seed=5, checkpoint=tmp_path / "seed5", checkpoint_every=4, **kw)
    _same(full[1], single)


def test_checkpoint_folders_per_seed(tmp_path):
    p = ln.anisotropic_gaussian(2)
    kw = dict(n=30, t_end=6 * p.dt, **SBTM_KW)
    folders = [tmp_path / "a.ckpt", tmp_path / "b.ckpt"]
    ln.solve_ensemble(p, "sbtm", seeds=[0, 1], checkpoint=folders, checkpoint_every=2, **kw)
    assert all(load_checkpoint(f)[0] == 6 for f in folders)
    with pytest.raises(ValueError, match="one per seed"):
        ln.solve_ensemble(p, "sbtm", seeds=[0, 1, 2], checkpoint=folders, **kw)


def test_a_failing_member_does_not_stop_the_others():
    p = ln.anisotropic_gaussian(2)
    kw = dict(n=40, t_end=6 * p.dt, **SBTM_KW)

    def fail_member_1(member, k, *args):
        if member == 1 and k == 3:
            raise ValueError("member 1 gives up")

    with pytest.raises(ln.EnsembleError, match=r"1 of 3 members failed; first \(seed 11\)") as info:
        ln.solve_ensemble(p, "sbtm", seeds=[10, 11, 12], callback=fail_member_1, **kw)
    err = info.value
    assert set(err.errors) == {1} and err.results[1] is None
    _same(err.results[2], ln.solve(p, "sbtm", seed=12, **kw))


@pytest.mark.parametrize("kw,match", [
    (dict(seeds=[1, 1]), "repeats a seed"),
    (dict(seeds=[]), "at least one seed"),
    (dict(seeds=[0, -1]), r"seeds\[i\]=-1"),
    (dict(seeds=[0], seed=3), "seed is not accepted"),
])
def test_bad_ensemble_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        ln.solve_ensemble(ln.heat(2), "sbtm", n=10, **kw)
    with pytest.raises(TypeError, match="seeds must be a list"):
        ln.solve_ensemble(ln.heat(2), "sbtm", n=10, seeds=3)
