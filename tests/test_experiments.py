"""Experiment registry, runner, resume after SIGKILL, checkpoints and the command line."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import landau_nb as ln
from landau_nb import experiments as ex
from landau_nb.__main__ import main
from landau_nb.solver.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from helpers import assert_same_run

TINY = ex.Experiment(
    name="tiny", title="tiny test experiment", paper="none",
    problem={"name": "anisotropic_gaussian", "d": 3, "gamma": 0.0},
    options={"sbtm": {"init_tol": 1e-2, "init_lr": 1e-2, "K": 5}, "blob": {}},
    solve={"book": {"t_end": 0.2}, "paper": {"t_end": 0.2}},
    scales={s: (ex.Sweep("sbtm", "sbtm", (30, 60), (0, 1)), ex.Sweep("blob", "blob", (30, 60, 120), (0, 1)))
            for s in ex.SCALES},
)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(ex.EXPERIMENTS, "tiny", TINY)
    return TINY


# --- registry -----------------------------------------------------------------------------

def test_registry_has_every_example_of_section_5():
    assert {"bkw", "anisotropic_d3", "anisotropic_d10", "coulomb_d3", "learning_rate", "runtime",
            "runtime_heat"} <= set(ln.EXPERIMENTS)
    for exp in ln.EXPERIMENTS.values():
        assert set(exp.scales) == set(ex.SCALES)
        exp.make_problem()
        assert exp.runs("book") and exp.runs("paper")


@pytest.mark.parametrize("name,kmax", [("bkw", 7), ("anisotropic_d3", 7), ("anisotropic_d10", 8),
                                       ("coulomb_d3", 7)])
def test_paper_scale_is_the_papers_sweep(name, kmax):
    exp = ln.get_experiment(name)
    sweeps = {sw.label: sw for sw in exp.sweeps("paper")}
    assert sweeps["sbtm"].ns == tuple(100 * 2**k for k in range(kmax + 1))
    assert len(sweeps["sbtm"].seeds) >= 5
    opts = exp.options["sbtm"]
    assert (opts["lr"], opts["K"], opts["alpha"], opts["width"]) == (4e-4, 25, 0.4, 100)
    assert opts["depth"] == (2 if name == "bkw" else 1)
    problem = exp.make_problem()
    assert problem.dt == (1.0 if name == "coulomb_d3" else 0.01)


def test_bad_experiment_and_scale_names():
    with pytest.raises(ValueError, match="experiment"):
        ln.get_experiment("bkw5")
    with pytest.raises(ValueError, match="scale"):
        ln.get_experiment("bkw").runs("huge")
    with pytest.raises(ValueError, match="solver"):
        ln.get_experiment("bkw").runs("book", labels=["nn"])


def test_parse_seeds():
    assert ex.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert ex.parse_seeds("0,2,5") == [0, 2, 5]
    for bad in ("x", "3-1", "-2", "1,,2"):
        with pytest.raises(ValueError, match="seeds"):
            ex.parse_seeds(bad)


# --- runner -------------------------------------------------------------------------------

def test_run_shares_initial_samples_and_resumes_from_files(tiny, tmp_path):
    res = ln.run_experiment("tiny", out=tmp_path, workers=1, progress=False)
    assert len(res.runs) == 2 * 2 + 3 * 2 and not res.failed
    for n in (30, 60):
        for seed in (0, 1):
            a, b = res.get("sbtm", n, seed), res.get("blob", n, seed)
            assert np.array_equal(a.x[0], b.x[0])          # same initial sample
            assert np.array_equal(a["second_moment"][0], b["second_moment"][0])
    # a second call loads the finished runs instead of recomputing them
    stamp = (tmp_path / "tiny/sbtm/n000030_seed0.json").stat().st_mtime_ns
    again = ln.run_experiment("tiny", out=tmp_path, workers=1, progress=False)
    assert (tmp_path / "tiny/sbtm/n000030_seed0.json").stat().st_mtime_ns == stamp
    assert_same_run(again.get("sbtm", 60, 1), res.get("sbtm", 60, 1))
    table = res.table("cov_error_sample", "max")
    assert set(table.mean) == {"sbtm", "blob"} and "slope" in str(table)
    assert "blob" in table.crossover or table.reference[1] not in table.mean["sbtm"]
    t, ref, gap = res.reference_second_moment()
    assert ref.shape == (len(t), 3, 3) and np.all(np.isfinite(gap))
    big = max(res.ns("sbtm"))
    for quantity in ("second_moment", "anisotropy"):
        errs = res.reference_errors(quantity=quantity, labels=["sbtm"], at="mean")
        assert set(errs.mean) == {"sbtm", "blob"}
        assert all(np.isfinite(v) for d in errs.mean.values() for v in d.values())
    _, ref_sbtm, _ = res.reference_second_moment(labels=["sbtm"])
    assert np.allclose(ref_sbtm, np.mean([tr["second_moment"] for tr in res.select("sbtm", big)], axis=0))
    a = ex.anisotropy(res.get("blob", 30, 0))
    assert a[0] == 1.0 and a.shape == res.get("blob", 30, 0).t.shape
    with pytest.raises(ValueError, match="quantity"):
        res.reference_errors(quantity="entropy")


def test_run_identity_is_the_full_settings(tiny):
    spec = ln.get_experiment("tiny").runs("book", labels="sbtm", ns=[30], seeds=[0])[0]
    ident = ex.run_identity(spec, "book", "cpu", torch.float64)
    assert {"experiment", "scale", "label", "solver", "options", "problem", "n", "seed", "dtype", "device",
            "stepper", "solve", "landau_nb"} <= set(ident)
    assert ident["device"] == "cpu" and ident["dtype"] == "float64" and ident["stepper"] == "euler"
    assert ident["options"]["K"] == 5 and ident["solve"] == {"t_end": 0.2} and ident["landau_nb"] == ln.__version__
    for other in (ex.run_identity(spec, "paper", "cpu", torch.float64),
                  ex.run_identity(spec, "book", "cpu", torch.float32)):
        assert other != ident
    assert "scale: stored 'book', asked 'paper'" in ex.store._identity_difference(
        ident, ex.run_identity(spec, "paper", "cpu", torch.float64))
    assert "older landau_nb" in ex.store._identity_difference(None, ident)


def test_workers_do_not_change_results(tiny, tmp_path):
    one = ln.run_experiment("tiny", out=tmp_path / "a", workers=1, labels=["sbtm"], ns=[30], progress=False)
    two = ln.run_experiment("tiny", out=tmp_path / "b", workers=2, labels=["sbtm"], ns=[30], progress=False)
    for seed in (0, 1):
        assert_same_run(one.get("sbtm", 30, seed), two.get("sbtm", 30, seed))


class _Poison(ln.ScoreEstimator):
    """Scores turn NaN at step 3 (an estimator that breaks mid-run)."""

    name = "poison"

    def initialize(self, problem, x, t, seed=0):
        self.problem, self.k = problem, 0

    def __call__(self, x, t):
        self.k += 1
        s = -x
        return s * float("nan") if self.k > 3 else s


def test_failed_run_is_saved_and_reported(tmp_path, monkeypatch):
    import importlib
    solve_module = importlib.import_module("landau_nb.scores.registry")
    monkeypatch.setitem(solve_module.ESTIMATORS, "poison", _Poison)
    unstable = ex.Experiment(
        name="unstable", title="breaks at step 3", paper="none",
        problem={"name": "anisotropic_gaussian", "d": 3, "gamma": 0.0}, options={},
        scales={"book": (ex.Sweep("poison", "poison", (30,), (0,)),), "paper": ()},
        solve={"book": {"t_end": 0.1}},
    )
    monkeypatch.setitem(ex.EXPERIMENTS, "unstable", unstable)
    with pytest.warns(RuntimeWarning, match="failed"):
        res = ln.run_experiment("unstable", out=tmp_path, workers=1, progress=False)
    assert not res.runs and "non-finite scores at step 3" in res.failed[0]["error"]
    assert (tmp_path / "unstable/poison/n000030_seed0-failed.npz").exists()
    assert np.isfinite(res.failed[0]["trajectory"].x).all()


# --- checkpoints --------------------------------------------------------------------------

def test_checkpoint_round_trip_and_damage_is_detected(tmp_path):
    arrays = {"a": np.arange(5.0), "g": np.zeros(3, dtype=np.uint8)}
    save_checkpoint(tmp_path, 7, arrays, {"k": 1})
    step, back, meta = load_checkpoint(tmp_path)
    assert step == 7 and meta == {"k": 1} and np.array_equal(back["a"], arrays["a"])
    npz = tmp_path / "state-000000007.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(tmp_path)
    npz.write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(tmp_path)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("method,problem,kw", [
    ("sbtm", ln.anisotropic_gaussian(3), {"init_tol": 1e-2, "init_lr": 1e-2}),
    ("blob", ln.anisotropic_gaussian(3, gamma=-3.0), {}),
    ("blob", ln.anisotropic_gaussian(3, gamma=-3.0), {"velocity_method": "random_batch", "batch_size": 8}),
    ("sbtm", ln.bkw(3), {"depth": 2, "init_tol": 1e-2, "init_lr": 1e-2, "track_log_density": True,
                         "kde_l2": True, "save_every": 5, "kde_samples": 256}),
])
def test_resume_in_process_is_bit_identical(tmp_path, method, problem, kw):
    t_end = problem.t0 + 20 * problem.dt
    full = ln.solve(problem, method, n=40, seed=3, t_end=t_end, **kw)

    def stop(k, *args):
        if k == 13:
            raise _Stop

    with pytest.raises(_Stop):
        ln.solve(problem, method, n=40, seed=3, t_end=t_end, checkpoint=tmp_path, checkpoint_every=4,
                 callback=stop, **kw)
    assert load_checkpoint(tmp_path)[0] == 12
    resumed = ln.solve(problem, method, n=40, seed=3, t_end=t_end, checkpoint=tmp_path, checkpoint_every=4, **kw)
    assert_same_run(full, resumed)
    # a checkpoint of another run is refused, not silently used
    with pytest.raises(CheckpointError, match="different run"):
        ln.solve(problem, method, n=40, seed=4, t_end=t_end, checkpoint=tmp_path, **kw)


_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_experiments import TINY
    import landau_nb as ln
    from landau_nb import experiments as ex
    ex.EXPERIMENTS["tiny"] = TINY
    import dataclasses
    ex.EXPERIMENTS["tiny"] = dataclasses.replace(TINY, solve={{"book": {{"t_end": 2.0}}}},
                                                 options={{"sbtm": {{"init_tol": 1e-2, "init_lr": 1e-2, "K": 25}}}})
    ln.run_experiment("tiny", out=sys.argv[1], labels=["sbtm"], ns=[60], seeds=[0], workers=1,
                      checkpoint_every=3, progress=False)
""")


def test_sigkill_and_resume_is_bit_identical(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT.format(tests=str(Path(__file__).parent)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    subprocess.run([sys.executable, str(script), str(ref)], check=True, env=env, timeout=600)
    proc = subprocess.Popen([sys.executable, str(script), str(killed)], env=env)
    index = killed / "tiny/sbtm/n000060_seed0.ckpt/checkpoint.json"
    deadline = time.time() + 300
    rng = np.random.default_rng()
    target = int(rng.integers(6, 120))          # kill once this step's checkpoint exists (or later)
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads(index.read_text())["step"] >= target:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed"
    time.sleep(float(rng.uniform(0, 0.05)))       # a random moment, possibly mid-write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "tiny/sbtm/n000060_seed0.npz").exists()
    subprocess.run([sys.executable, str(script), str(killed)], check=True, env=env, timeout=600)
    a = ln.Trajectory.load(ref / "tiny/sbtm/n000060_seed0")
    b = ln.Trajectory.load(killed / "tiny/sbtm/n000060_seed0")
    assert_same_run(a, b)
    assert not (killed / "tiny/sbtm/n000060_seed0.ckpt").exists()     # removed once the result is saved


def test_same_seed_twice_is_bit_identical():
    p = ln.anisotropic_gaussian(3)
    a = ln.solve(p, "sbtm", n=50, seed=5, t_end=0.1, init_tol=1e-2, init_lr=1e-2)
    b = ln.solve(p, "sbtm", n=50, seed=5, t_end=0.1, init_tol=1e-2, init_lr=1e-2)
    assert_same_run(a, b)


# --- command line ---------------------------------------------------------------------------

def test_cli_help_and_list(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert main(["list"]) == 0
    assert "Example 5.2" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["run", "nope"], "invalid choice"),
    (["run", "bkw", "--seeds", "x"], "seeds"),
    (["run", "bkw", "--n", "1"], "n=1"),
    (["run", "bkw", "--solver", "mlp"], "solver"),
    (["run", "bkw", "--scale", "huge"], "invalid choice"),
    (["run", "bkw", "--dtype", "float16"], "invalid choice"),
    (["run", "bkw", "--device", "tpu"], "device"),
    (["run", "bkw", "--workers", "0"], "workers"),
    (["run", "bkw", "--checkpoint-every", "0"], "checkpoint_every"),
    (["summary", "bkw", "--out", "/nonexistent/xyz"], "no finished runs"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, needle, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:       # argparse errors
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert needle in err[-1]


def test_cli_run_and_summary(tmp_path, capsys):
    code = main(["run", "anisotropic_d3", "--solver", "blob", "--n", "50", "--seeds", "0", "--out",
                 str(tmp_path), "--quiet"])
    assert code == 0
    assert (tmp_path / "anisotropic_d3/blob/n000050_seed0.npz").exists()
    assert main(["summary", "anisotropic_d3", "--out", str(tmp_path)]) == 0
    assert "cov_error_sample" in capsys.readouterr().out


def test_loglog_slope():
    ns = np.array([100, 200, 400, 800])
    assert ln.loglog_slope(ns, 3 * ns**-0.5) == pytest.approx(-0.5)
    assert np.isnan(ln.loglog_slope([100], [1.0]))


def test_no_pickle_anywhere_in_the_package():
    # results and checkpoints are .npz + JSON; nothing is unpickled (no torch.load at all)
    src = Path(ln.__file__).parent
    for f in src.glob("*.py"):
        text = f.read_text()
        for bad in ("torch.load(", "import pickle", "allow_pickle=True", "torch.save("):
            assert bad not in text, f"{f.name} uses {bad}"


# --- ensemble sweeps (run_experiment(..., ensemble=True)) ----------------------------------

def _ensemble_calls(monkeypatch, stop_at=None, fail_member=None):
    """Record the seeds of every solve_ensemble call; optionally ask the sweep to stop (the
    SIGTERM flag) when member 0 reaches step ``stop_at``, or make member ``fail_member`` raise
    at step 3 (an EnsembleError, after which the member must run again alone)."""
    from landau_nb.solver import ensemble
    from landau_nb.experiments import executors
    calls, original = [], ensemble.solve_ensemble

    def wrapped(problem, method, *, seeds, callback=None, **kw):
        calls.append(list(seeds))

        def cb(i, k, *rest):
            if stop_at is not None and i == 0 and k == stop_at and len(calls) == 1:    # first sweep only
                executors._STOP = True
            if fail_member is not None and fail_member in (i, "all") and k == 3:
                raise ValueError("member gives up")
            return callback(i, k, *rest)
        return original(problem, method, seeds=seeds, callback=cb, **kw)

    monkeypatch.setattr(ensemble, "solve_ensemble", wrapped)
    return calls


def _same_files(a: Path, b: Path, stems):
    for stem in stems:
        assert_same_run(ln.Trajectory.load(a / stem), ln.Trajectory.load(b / stem))
        ma, mb = (json.loads((f / (stem + ".json")).read_text())["run"] for f in (a, b))
        assert ma["identity"] == mb["identity"] and ma["threads"] == mb["threads"]


def test_ensemble_sweep_files_equal_single_sweep(tiny, tmp_path, monkeypatch):
    calls = _ensemble_calls(monkeypatch)
    kw = dict(workers=1, progress=False, ns=[30])
    single = ln.run_experiment("tiny", out=tmp_path / "a", **kw)
    assert calls == []
    ens = ln.run_experiment("tiny", out=tmp_path / "b", ensemble=True, **kw)
    assert calls == [[0, 1]]                       # one group for sbtm; blob runs stay single
    assert sorted(ens.computed) == sorted(single.computed) and len(ens.runs) == 4
    _same_files(tmp_path / "a/tiny", tmp_path / "b/tiny",
                [f"{lab}/n000030_seed{s}" for lab in ("sbtm", "blob") for s in (0, 1)])
    run = json.loads((tmp_path / "b/tiny/sbtm/n000030_seed1.json").read_text())["run"]
    assert run["ensemble"]["seeds"] == [0, 1]
    assert run["seconds"] == pytest.approx(run["ensemble"]["seconds"] / 2)
    assert not list((tmp_path / "b/tiny/sbtm").glob("*.ckpt")) and not list((tmp_path / "b/tiny/sbtm").glob("*.lock"))
    again = ln.run_experiment("tiny", out=tmp_path / "b", ensemble=True, **kw)
    assert again.computed == [] and calls == [[0, 1]]


def test_interrupted_ensemble_sweep_resumes_bit_identically(tiny, tmp_path, monkeypatch):
    from landau_nb.experiments import executors
    kw = dict(workers=1, progress=False, labels=["sbtm"], ns=[30], checkpoint_every=5)
    ln.run_experiment("tiny", out=tmp_path / "a", **kw)
    calls = _ensemble_calls(monkeypatch, stop_at=12)
    monkeypatch.setattr(executors, "_STOP", False)
    with pytest.raises(ex.SweepInterrupted) as info:
        ln.run_experiment("tiny", out=tmp_path / "b", ensemble=True, **kw)
    assert info.value.finished == 0 and info.value.pending == 2
    for seed in (0, 1):            # each member kept a single run's checkpoint, and its lock is gone
        assert load_checkpoint(tmp_path / f"b/tiny/sbtm/n000030_seed{seed}.ckpt")[0] == 10
        assert not (tmp_path / f"b/tiny/sbtm/n000030_seed{seed}.lock").exists()
    executors._STOP = False
    res = ln.run_experiment("tiny", out=tmp_path / "b", ensemble=True, **kw)
    assert calls == [[0, 1], [0, 1]] and sorted(res.computed) == ["sbtm/n000030_seed0", "sbtm/n000030_seed1"]
    _same_files(tmp_path / "a/tiny", tmp_path / "b/tiny", [f"sbtm/n000030_seed{s}" for s in (0, 1)])


def test_ensemble_group_computes_only_the_runs_not_done(tiny, tmp_path, monkeypatch):
    kw = dict(workers=1, progress=False, labels=["sbtm"], ns=[30])
    ln.run_experiment("tiny", out=tmp_path / "a", seeds=[0, 1, 2], **kw)
    ln.run_experiment("tiny", out=tmp_path / "b", seeds=[1], **kw)
    stamp = (tmp_path / "b/tiny/sbtm/n000030_seed1.json").stat().st_mtime_ns
    calls = _ensemble_calls(monkeypatch)
    # duplicates in the request are removed before grouping (a repeated seed would be refused)
    res = ln.run_experiment("tiny", out=tmp_path / "b", seeds=[2, 1, 0, 2], labels=["sbtm", "sbtm"],
                            ensemble=True, **{k: v for k, v in kw.items() if k != "labels"})
    assert calls == [[2, 0]]
    assert sorted(res.computed) == ["sbtm/n000030_seed0", "sbtm/n000030_seed2"] and len(res.runs) == 3
    assert (tmp_path / "b/tiny/sbtm/n000030_seed1.json").stat().st_mtime_ns == stamp
    _same_files(tmp_path / "a/tiny", tmp_path / "b/tiny", [f"sbtm/n000030_seed{s}" for s in (0, 1, 2)])


@pytest.mark.parametrize("fail_member,alone", [(1, [1]), ("all", [0, 1, 2])])
def test_failed_ensemble_member_runs_again_alone(tiny, tmp_path, monkeypatch, fail_member, alone):
    # one member fails (EnsembleError: the others are saved) or all fail alike (the exception
    # itself): the unfinished members run again alone from their checkpoints, each run once
    kw = dict(workers=1, progress=False, labels=["sbtm"], ns=[30], seeds=[0, 1, 2], checkpoint_every=2)
    ln.run_experiment("tiny", out=tmp_path / "a", **kw)
    calls = _ensemble_calls(monkeypatch, fail_member=fail_member)
    res = ln.run_experiment("tiny", out=tmp_path / "b", ensemble=True, **kw)
    assert calls == [[0, 1, 2]] and not res.failed
    assert sorted(res.computed) == [f"sbtm/n000030_seed{s}" for s in (0, 1, 2)]
    _same_files(tmp_path / "a/tiny", tmp_path / "b/tiny", [f"sbtm/n000030_seed{s}" for s in (0, 1, 2)])
    for seed in (0, 1, 2):
        run = json.loads((tmp_path / f"b/tiny/sbtm/n000030_seed{seed}.json").read_text())["run"]
        assert ("ensemble" not in run) == (seed in alone)       # the single path saved it
    assert not list((tmp_path / "b/tiny/sbtm").glob("*.lock")) and not list((tmp_path / "b/tiny/sbtm").glob("*.ckpt"))


def test_ensemble_member_locked_elsewhere_is_left_to_its_owner(tiny, tmp_path, monkeypatch):
    from landau_nb.experiments.locks import RunLock
    calls = _ensemble_calls(monkeypatch)
    other = RunLock(tmp_path / "tiny/sbtm/n000030_seed1.lock")       # another live holder
    assert other.try_acquire()
    try:
        res = ln.run_experiment("tiny", out=tmp_path, workers=1, progress=False, labels=["sbtm"], ns=[30],
                                seeds=[0, 1, 2], ensemble=True, wait=False)
    finally:
        other.release()
    assert calls == [[0, 2]] and sorted(res.computed) == ["sbtm/n000030_seed0", "sbtm/n000030_seed2"]
    assert [stem for stem, _ in res.taken] == ["sbtm/n000030_seed1"]
    assert not (tmp_path / "tiny/sbtm/n000030_seed1.json").exists()


def test_ensemble_sweep_on_worker_processes(tiny, tmp_path):
    kw = dict(progress=False, labels=["sbtm"], ns=[30, 60])
    one = ln.run_experiment("tiny", out=tmp_path / "a", workers=1, **kw)
    two = ln.run_experiment("tiny", out=tmp_path / "b", workers=2, ensemble=True, **kw)
    assert sorted(two.computed) == sorted(one.computed) and len(two.computed) == 4
    stems = [f"sbtm/n{n:06d}_seed{s}" for n in (30, 60) for s in (0, 1)]
    _same_files(tmp_path / "a/tiny", tmp_path / "b/tiny", stems)
    for stem in stems:
        run = json.loads((tmp_path / "b/tiny" / (stem + ".json")).read_text())["run"]
        assert run["ensemble"]["seeds"] == [0, 1] and run["threads"] == 1


def test_cli_ensemble_flag(tiny, tmp_path, monkeypatch):
    calls = _ensemble_calls(monkeypatch)
    code = main(["run", "tiny", "--solver", "sbtm", "--n", "30", "--seeds", "0,1", "--workers", "1",
                 "--ensemble", "--out", str(tmp_path), "--quiet"])
    assert code == 0 and calls == [[0, 1]]
    assert (tmp_path / "tiny/sbtm/n000030_seed1.npz").exists()
    with pytest.raises(TypeError, match="ensemble"):
        ln.run_experiment("tiny", out=tmp_path, ensemble="yes", progress=False)


def test_ctrl_c_during_an_in_process_ensemble_stops_its_members(tiny, tmp_path, monkeypatch):
    # Ctrl-C reaches the main thread, not the members: they must stop (keeping their
    # checkpoints) before their locks go, and the sweep resumes bit-identically
    import threading
    from landau_nb.solver import ensemble
    kw = dict(workers=1, progress=False, labels=["sbtm"], ns=[30], checkpoint_every=5)
    ln.run_experiment("tiny", out=tmp_path / "a", **kw)
    original, fired = ensemble.solve_ensemble, []

    def wrapped(problem, method, *, seeds, callback=None, **k):
        def cb(i, step, *rest):
            if step == 12 and not fired:
                fired.append(i)
                os.kill(os.getpid(), signal.SIGINT)
            return callback(i, step, *rest)
        return original(problem, method, seeds=seeds, callback=cb, **k)

    monkeypatch.setattr(ensemble, "solve_ensemble", wrapped)
    with pytest.raises(ex.SweepInterrupted):
        ln.run_experiment("tiny", out=tmp_path / "b", ensemble=True, **kw)
    assert fired and not [t for t in threading.enumerate() if t.name.startswith("ensemble-") and t.is_alive()]
    for seed in (0, 1):
        assert load_checkpoint(tmp_path / f"b/tiny/sbtm/n000030_seed{seed}.ckpt")[0] >= 10
        assert not (tmp_path / f"b/tiny/sbtm/n000030_seed{seed}.lock").exists()
    ln.run_experiment("tiny", out=tmp_path / "b", ensemble=True, **kw)
    _same_files(tmp_path / "a/tiny", tmp_path / "b/tiny", [f"sbtm/n000030_seed{s}" for s in (0, 1)])
