"""Fault injection, second round (issue 28): the adversarial cases that found bugs or weak
spots, each a test that fails on the code before the fix.

B1 workers outlive a parent killed by SIGKILL/SIGHUP; B2 stored names become paths
unchecked; B3 an empty CLI value means "not given"; B4 an ensemble accepts one checkpoint
folder for two members; B5 runs are found by file name only. Then the weak spots: damaged
files of every kind skipped and named, long compiled calls that ignore a stop, Ctrl-C during
start-up, silent waits, a bad scheduler address, the memory check, solve()'s bounds, a
freezing blob bandwidth.
"""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import landau_nb as ln
from landau_nb import experiments as ex
from landau_nb.__main__ import main
from landau_nb.solver.trajectory import ResultFileError
from test_faults import (LONG, SHORT, _descendants, _edit_json, _env, _experiment, _finished, _one_line,  # noqa: F401
                         _running, child, faulty)

ROOT = Path(__file__).resolve().parent.parent


def _wait_for(predicate, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# --- B1: workers die with their parent -----------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP])
def test_workers_exit_when_the_parent_is_killed(child, tmp_path, signum):
    out = tmp_path / "sweep"
    cmd = [sys.executable, str(child), "run", "faulty", "--solver", "blob", "--workers", "2", "--out", str(out),
           "--checkpoint-every", "20", "--quiet"]
    proc = subprocess.Popen(cmd, env=_env(LONG), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        assert _wait_for(lambda: len(list(out.glob("faulty/blob/*.ckpt/checkpoint.json"))) >= 2, 120)
        family = _descendants(proc.pid)
        assert len(family) >= 3             # two workers and the resource tracker
        os.kill(proc.pid, signum)           # the parent only (not its process group)
        proc.wait(timeout=30)
        alive = set(family)
        _wait_for(lambda: not {p for p in alive if _running(p)}, 12, step=0.1)
        alive = {p for p in alive if _running(p)}
        assert not alive, f"still running 12 s after the parent died: {alive}"
    finally:
        for p in _descendants(proc.pid) | {proc.pid}:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    # the runs resume as usual
    assert not [p for p in out.rglob("*.tmp")]


# --- B2: names from stored metadata stay inside the results folder ---------------------------

def _stored_run(tmp_path, faulty):
    folder = _finished(tmp_path / "made", faulty)
    return folder / "n000030_seed0"


@pytest.mark.parametrize("field", ["label", "experiment"])
@pytest.mark.parametrize("value", ["../../../../elsewhere", "/tmp/landau-absolute", "a/b", "..", "", ".hidden"])
def test_rerun_stored_refuses_names_that_are_not_plain(tmp_path, faulty, field, value):
    base = _stored_run(tmp_path, faulty)
    _edit_json(base.with_name(base.name + ".json"), lambda m: m["run"]["identity"].__setitem__(field, value))
    out = tmp_path / "deep" / "er" / "out"
    with pytest.raises(ValueError, match=field):
        ex.rerun_stored(base, out)
    made = {p for p in tmp_path.rglob("*") if p.is_file() and "made" not in p.parts}
    assert not made, made                               # nothing written anywhere
    assert not Path("/tmp/landau-absolute").exists()


@pytest.mark.parametrize("field,value", [("n", "../1"), ("n", -5), ("n", True), ("seed", -1), ("seed", "0/../1")])
def test_rerun_stored_refuses_bad_counts(tmp_path, faulty, field, value):
    base = _stored_run(tmp_path, faulty)
    _edit_json(base.with_name(base.name + ".json"), lambda m: m["run"]["identity"].__setitem__(field, value))
    with pytest.raises((ValueError, TypeError), match=f"{field}="):
        ex.rerun_stored(base, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("build", [
    lambda: ex.Sweep("../x", "blob", (30,), (0,)),
    lambda: ex.Sweep("a/b", "blob", (30,), (0,)),
    lambda: ex.RunSpec("faulty", "/abs", "blob", 30, 0, {}, {}, {}),
    lambda: ex.RunSpec("../up", "blob", "blob", 30, 0, {}, {}, {}),
    lambda: ex.RunSpec("faulty", "blob", "blob", 30, -1, {}, {}, {}),
    lambda: _experiment(1.0, name="x/../../y"),
])
def test_registry_names_are_plain(build):
    with pytest.raises((ValueError, TypeError)):
        build()


# --- B3: an empty or blank value is an error naming the option -------------------------------

@pytest.fixture
def nothing_runs(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a run was started")
    monkeypatch.setattr(ex, "run_experiment", refuse)
    monkeypatch.setattr(ex, "reproduce", refuse)
    monkeypatch.setattr(ex.runner, "run_experiment", refuse)


@pytest.mark.parametrize("argv,option", [
    (["run", "anisotropic_d3", "--out", ""], "--out"),
    (["run", "anisotropic_d3", "--out", "  "], "--out"),
    (["run", "anisotropic_d3", "--device", ""], "--device"),
    (["run", "anisotropic_d3", "--seeds", ""], "--seeds"),
    (["run", "anisotropic_d3", "--seeds", " "], "--seeds"),
    (["run", "anisotropic_d3", "--solver", ""], "--solver"),
    (["run", "anisotropic_d3", "--scheduler", ""], "--scheduler"),
    (["reproduce", "--only", ""], "--only"),
    (["reproduce", "--only", " "], "--only"),
    (["reproduce", "--only", "bkw,,anisotropic_d3"], "--only"),
    (["reproduce", "--out", ""], "--out"),
    (["summary", "anisotropic_d3", "--out", ""], "--out"),
])
def test_cli_blank_values_are_errors(tmp_path, monkeypatch, capsys, nothing_runs, argv, option):
    monkeypatch.chdir(tmp_path)
    code = main([*argv, "--quiet"] if argv[0] != "summary" else argv)
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and option in line, line
    assert not list(tmp_path.iterdir())                 # nothing written in the working folder


@pytest.mark.parametrize("call,needle", [
    (lambda o: ln.reproduce(only=[], out=o), "only"),
    (lambda o: ln.reproduce(only="", out=o), "only"),
    (lambda o: ln.reproduce(only=["bkw", " "], out=o), "only"),
    (lambda o: ln.reproduce(out=""), "out"),
    (lambda o: ln.run_experiment("anisotropic_d3", labels=[], out=o), "labels"),
    (lambda o: ln.run_experiment("anisotropic_d3", ns=[], out=o), "ns"),
    (lambda o: ln.run_experiment("anisotropic_d3", seeds=[], out=o), "seeds"),
    (lambda o: ln.run_experiment("anisotropic_d3", out=" "), "out"),
])
def test_api_blank_values_are_errors(tmp_path, monkeypatch, call, needle):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ex.executors, "make_executor", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("a run was started")))
    with pytest.raises(ValueError, match=needle):
        call(tmp_path / "out")
    assert not list(tmp_path.iterdir())


# --- B4: ensemble members never share a checkpoint folder ----------------------------------

@pytest.mark.parametrize("folders", [
    lambda p: [p / "a", p / "a"],
    lambda p: [p / "a", p / "b" / ".." / "a"],
    lambda p: [str(p / "a"), p / "a"],
])
def test_ensemble_refuses_a_shared_checkpoint_folder(tmp_path, folders):
    p = ln.anisotropic_gaussian(3)
    with pytest.raises(ValueError, match="checkpoint"):
        ln.solve_ensemble(p, "sbtm", seeds=[0, 1], n=30, t_end=0.05, checkpoint=folders(tmp_path),
                          init_tol=1e-2, init_lr=1e-2, K=2)
    assert not list(tmp_path.iterdir())                 # refused before anything ran
    with pytest.raises(ValueError, match="seed"):
        ln.solve_ensemble(p, "blob", seeds=[1, 1], n=30, t_end=0.05)


# --- B5: a run is trusted only when its identity matches its path and its files match ---------

def _copy_run(src: Path, dst: Path):
    for suffix in (".npz", ".json"):
        shutil.copyfile(src.with_name(src.name + suffix), dst.with_name(dst.name + suffix))


def _untrusted_case(folder, case):
    """Mix up the finished runs of 'faulty' (blob n = 30, 40, seeds 0, 1) as an adversary would;
    returns the stem that must be skipped."""
    if case == "renamed n":
        _copy_run(folder / "blob/n000040_seed0", folder / "blob/n001600_seed0")
        return "blob/n001600_seed0"
    if case == "copied seed":
        _copy_run(folder / "blob/n000030_seed0", folder / "blob/n000030_seed7")
        return "blob/n000030_seed7"
    if case == "other label":
        (folder / "blob2").mkdir()
        _copy_run(folder / "blob/n000030_seed0", folder / "blob2/n000030_seed0")
        return "blob2/n000030_seed0"
    if case == "npz of another run":
        shutil.copyfile(folder / "blob/n000040_seed1.npz", folder / "blob/n000040_seed0.npz")
        return "blob/n000040_seed0"
    if case == "npz of the sbtm run":
        shutil.copyfile(folder / "blob/n000030_seed0.npz", folder / "sbtm/n000030_seed0.npz")
        return "sbtm/n000030_seed0"
    if case == "other experiment":          # another experiment's run (its label included) added
        (folder / "blob3").mkdir()
        _copy_run(folder / "blob/n000030_seed0", folder / "blob3/n000030_seed0")
        _edit_json(folder / "blob3/n000030_seed0.json",
                   lambda m: (m["run"]["identity"].update(experiment="anisotropic_d3", label="blob3"),
                              m["run"].update(experiment="anisotropic_d3", label="blob3")))
        return "blob3/n000030_seed0"
    raise AssertionError(case)


CASES = ["renamed n", "copied seed", "other label", "npz of another run", "npz of the sbtm run", "other experiment"]


@pytest.mark.parametrize("case", CASES)
def test_mixed_up_runs_are_skipped_and_named(tmp_path, faulty, capsys, case):
    faulty(SHORT)
    assert main(["run", "faulty", "--out", str(tmp_path), "--workers", "1", "--quiet"]) == 0
    folder = tmp_path / "faulty"
    clean = ln.Results.load(tmp_path, "faulty")
    bad = _untrusted_case(folder, case)
    res = ln.Results.load(tmp_path, "faulty")
    stems = {f"{s['label']}/n{s['n']:06d}_seed{s['seed']}" for s, _ in res.runs}
    assert bad not in stems
    assert len(res.runs) == len(clean.runs) - (case in ("npz of another run", "npz of the sbtm run"))
    assert any(bad in str(f) for f, _ in res.skipped), res.skipped
    assert str(len(res.skipped)) in res.skip_report() and bad in res.skip_report()
    if case in ("renamed n", "copied seed", "other label", "other experiment"):
        assert res.table("cov_error", "end").mean == clean.table("cov_error", "end").mean
    assert 1600 not in res.ns("blob") and 7 not in res.seeds("blob")
    capsys.readouterr()
    assert main(["summary", "faulty", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert bad in captured.err and "n=1600" not in captured.out


def test_paper_results_and_chapters_skip_mixed_up_runs(tmp_path, faulty):
    faulty(SHORT)
    assert main(["run", "faulty", "--solver", "blob", "--out", str(tmp_path), "--workers", "1", "--quiet"]) == 0
    _untrusted_case(tmp_path / "faulty", "renamed n")
    res = ln.paper_results("faulty", tmp_path)
    assert 1600 not in res.ns("blob") and len(res.skipped) == 1
    assert "1 run skipped" in res.skip_report()


def test_a_checksum_is_written_and_old_files_still_load(tmp_path):
    tr = ln.solve(ln.anisotropic_gaussian(3), "blob", n=20, t_end=0.05)
    tr.save(tmp_path / "run")
    meta = json.loads((tmp_path / "run.json").read_text())
    assert len(meta["npz_sha256"]) == 64
    assert ln.Trajectory.load(tmp_path / "run").checksum == "verified"
    del meta["npz_sha256"]                                # as the committed runs were written
    (tmp_path / "run.json").write_text(json.dumps(meta))
    assert ln.Trajectory.load(tmp_path / "run").checksum == "unverified"
    other = ln.solve(ln.anisotropic_gaussian(3), "blob", n=20, t_end=0.05, seed=1)
    other.save(tmp_path / "other")
    tr.save(tmp_path / "run")
    shutil.copyfile(tmp_path / "other.npz", tmp_path / "run.npz")     # the .npz of another run
    with pytest.raises(ResultFileError, match="does not match"):
        ln.Trajectory.load(tmp_path / "run")


def test_an_npz_swapped_under_an_old_json_is_caught(tmp_path):
    """Runs written before the checksum (the committed results/paper) keep a fingerprint: the
    sums of their per-step timings, recorded in the .json."""
    folder = ROOT / "results" / "paper" / "anisotropic_d3"
    if not (folder / "sbtm" / "n000100_seed0.json").exists():
        pytest.skip("no committed paper-scale runs here")
    out = tmp_path / "paper" / "anisotropic_d3"
    shutil.copytree(folder, out)
    for js in out.rglob("*.json"):       # as written before the checksum (the backfill added it)
        meta = json.loads(js.read_text())
        meta.pop("npz_sha256", None)
        js.write_text(json.dumps(meta, indent=1, sort_keys=True))
    assert ln.paper_results("anisotropic_d3", tmp_path / "paper").unverified
    shutil.copyfile(out / "blob/n000100_seed0.npz", out / "sbtm/n000100_seed0.npz")   # blob over SBTM
    with pytest.warns(RuntimeWarning, match="1 run skipped"):
        res = ln.paper_results("anisotropic_d3", tmp_path / "paper")
    assert [f for f, _ in res.skipped] == [str(out / "sbtm/n000100_seed0.npz")]
    assert "does not match its .json" in res.skipped[0][1]
    assert len(res.select("sbtm", 100)) == 4


def test_the_committed_runs_carry_their_checksum(tmp_path):
    folder = ROOT / "results" / "paper" / "anisotropic_d3"
    if not (folder / "sbtm" / "n000100_seed0.json").exists():
        pytest.skip("no committed paper-scale runs here")
    res = ln.paper_results("anisotropic_d3")
    assert res.runs and not res.unverified
    out = tmp_path / "paper" / "anisotropic_d3"
    shutil.copytree(folder, out)
    shutil.copyfile(out / "blob/n000100_seed0.npz", out / "sbtm/n000100_seed0.npz")
    with pytest.warns(RuntimeWarning, match="1 run skipped"):
        res = ln.paper_results("anisotropic_d3", tmp_path / "paper")
    assert [f for f, _ in res.skipped] == [str(out / "sbtm/n000100_seed0.npz")]


def test_committed_paper_runs_still_load():
    folder = ROOT / "results" / "paper"
    if not (folder / "anisotropic_d3").is_dir():
        pytest.skip("no committed paper-scale runs here")
    res = ln.paper_results("anisotropic_d3")
    assert res.runs and not res.skipped and "no run skipped" in res.skip_report()


# --- WEAK: every kind of damaged file is skipped and named -----------------------------------

def _npy(f):
    np.save(f.with_suffix(".npy"), np.zeros(3))
    f.with_suffix(".npy").rename(f.with_suffix(".npz"))


def _folder(f):
    f.with_suffix(".npz").unlink()
    f.with_suffix(".npz").mkdir()


def _json_folder(f):
    f.with_suffix(".json").unlink()
    f.with_suffix(".json").mkdir()


def _rewrite(f, change):
    with np.load(f.with_suffix(".npz")) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    np.savez(f.with_suffix(".npz"), **arrays)
    _edit_json(f.with_suffix(".json"), lambda m: m.pop("npz_sha256", None))


@pytest.mark.parametrize("damage", [
    _npy, _folder, _json_folder,
    lambda f: _rewrite(f, lambda a: a.pop("steps.energy")),
    lambda f: _rewrite(f, lambda a: a.pop("steps.second_moment")),
    lambda f: _rewrite(f, lambda a: a.__setitem__("steps.energy", np.array(["x"] * len(a["t"])))),
    lambda f: _rewrite(f, lambda a: a.__setitem__("t", np.array(["x"] * len(a["t"])))),
    lambda f: _edit_json(f.with_suffix(".json"), lambda m: m.__setitem__("run", "a string")),
    lambda f: _edit_json(f.with_suffix(".json"), lambda m: m["run"].__setitem__("identity", [1])),
])
def test_every_damaged_file_kind_is_skipped_and_named(tmp_path, faulty, capsys, damage):
    folder = _finished(tmp_path, faulty)
    damage(folder / "n000030_seed1")
    capsys.readouterr()
    assert main(["summary", "faulty", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "n000030_seed1" in _one_line(captured.err) and "runs=3" in captured.out
    res = ln.Results.load(tmp_path, "faulty")
    assert len(res.runs) == 3 and any("n000030_seed1" in str(f) for f, _ in res.skipped)


# --- WEAK: a long compiled call stops between its row blocks ---------------------------------

def test_a_compiled_pair_sum_polls_for_a_stop(monkeypatch):
    from landau_nb import _stop
    from landau_nb.equation import pairsum

    class Stop(Exception):
        pass

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 3, generator=g, dtype=torch.float64)
    s = torch.randn(3000, 3, generator=g, dtype=torch.float64)
    whole_v = pairsum.compiled_velocity_sum(x, s, -3.0)
    whole_b = pairsum.compiled_blob_score(x, 0.3)
    monkeypatch.setattr(pairsum, "CHUNK_WORK", 3000 * 3 * 64)        # blocks of 64 rows
    assert torch.equal(pairsum.compiled_velocity_sum(x, s, -3.0), whole_v)     # chunking changes nothing
    assert torch.equal(pairsum.compiled_blob_score(x, 0.3), whole_b)
    for call in (lambda: pairsum.compiled_velocity_sum(x, s, -3.0), lambda: pairsum.compiled_blob_score(x, 0.3)):
        polls = []

        def check():
            polls.append(1)
            if len(polls) > 3:
                raise Stop

        with _stop.stop_hook(check), pytest.raises(Stop):
            call()
        assert len(polls) == 4


def test_sbtm_training_chunks_are_bit_identical_and_poll(monkeypatch):
    from landau_nb import _stop
    from landau_nb.scores import sbtm

    p = ln.anisotropic_gaussian(3)
    kw = dict(n=60, t_end=0.03, init_tol=1e-2, init_lr=1e-2, K=7)
    whole = ln.solve(p, "sbtm", **kw)
    monkeypatch.setattr(sbtm, "TRAINING_CHUNK_WORK", 60 * 3 * 100 * 2)    # two Adam steps per call
    from helpers import assert_same_run
    assert_same_run(ln.solve(p, "sbtm", **kw), whole)
    polls = []
    with _stop.stop_hook(lambda: polls.append(1)):
        ln.solve(p, "sbtm", **kw)
    assert len(polls) >= 3 * 4


def test_sigterm_stops_a_run_inside_a_long_compiled_call(child, tmp_path):
    """One blob score at n = 80 000 is one compiled call of many seconds on one thread; SIGTERM
    must end the command within a few seconds all the same."""
    from landau_nb.equation import pairsum
    x = torch.randn(200, 3, dtype=torch.float64)
    pairsum.compiled_blob_score(x, 0.3)                  # the kernels are compiled and cached
    pairsum.compiled_blob_score(x.float(), 0.3)
    out = tmp_path / "big"
    cmd = [sys.executable, str(child), "run", "faulty", "--solver", "blob", "--n", "80000", "--seeds", "0",
           "--workers", "1", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, env=_env(SHORT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for(lambda: (out / "faulty/blob/n080000_seed0.ckpt").exists(), 120)
    time.sleep(3.0)                                      # inside the first score evaluation
    started = time.time()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert time.time() - started < 5.0, time.time() - started


# --- WEAK: Ctrl-C during start-up exits quietly ------------------------------------------------

@pytest.mark.parametrize("delay", [0.1, 0.4, 0.8])
def test_ctrl_c_during_start_up_is_quiet(tmp_path, delay):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-m", "landau_nb", "list"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip(f"the command finished within {delay} s")
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 1, stderr


# --- WEAK: a wait says what it waits for and since when --------------------------------------

def test_waiting_for_a_lock_says_so(tmp_path, faulty, capfd):
    faulty(SHORT)
    lock = tmp_path / "faulty/blob/n000030_seed0.lock"
    lock.parent.mkdir(parents=True)
    future = time.time() + 7200
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 4242, "token": "t", "since": future}))
    os.utime(lock, (future, future))                     # stamped two hours ahead: clock skew

    def release():
        time.sleep(4.0)
        lock.unlink()

    threading.Thread(target=release, daemon=True).start()
    res = ln.run_experiment("faulty", out=tmp_path, labels="blob", ns=[30], seeds=[0], workers=1,
                            progress=False)
    assert len(res.runs) == 1
    err = capfd.readouterr().err
    assert "waiting for" in err and "blob/n000030_seed0" in err and "elsewhere" in err and "since" in err
    assert "future" in err


def test_a_dask_scheduler_without_workers_is_reported(tmp_path, faulty, capfd):
    distributed = pytest.importorskip("distributed")
    faulty(SHORT)
    with distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        seen = []

        def later():            # a worker joins once the wait was reported (or after 30 s)
            seen.append(_wait_for(lambda: "no Dask worker" in capfd.readouterr().err, 30, step=0.2))
            cluster.scale(1)

        thread = threading.Thread(target=later, daemon=True)
        thread.start()
        res = ln.run_experiment("faulty", out=tmp_path, labels="blob", ns=[30], seeds=[0], executor=client,
                                progress=False)
        thread.join(5)
    assert seen == [True], "the wait for a worker was not reported"
    assert len(res.runs) == 1


# --- WEAK: a bad scheduler address fails fast in one line -------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture
def http_address():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("which", ["http", "closed", "garbage"])
def test_a_bad_scheduler_address_fails_fast_in_one_line(tmp_path, capsys, http_address, which):
    pytest.importorskip("distributed")
    address = {"http": http_address, "closed": _closed_port(), "garbage": "tcp://no-such-host.invalid:8786"}[which]
    started = time.time()
    box = {}
    argv = ["run", "anisotropic_d3", "--solver", "blob", "--n", "30", "--seeds", "0", "--executor", "dask",
            "--scheduler", address, "--out", str(tmp_path), "--quiet"]
    thread = threading.Thread(target=lambda: box.setdefault("code", main(argv)), daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "still connecting after 30 s"
    line = _one_line(capsys.readouterr().err)
    assert box["code"] == 2 and address in line and "scheduler" in line, line
    assert time.time() - started < 20


# --- WEAK: the memory check counts the worker processes; solve() has the runner's bounds ------

def test_the_memory_check_counts_worker_processes(tmp_path, monkeypatch, faulty):
    faulty(SHORT)
    monkeypatch.setattr("landau_nb._checks.available_memory", lambda: 23 * 2**30)
    monkeypatch.setattr(ex.executors, "make_executor", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("a run was started")))
    with pytest.raises(ValueError, match="GiB of memory"):
        ln.run_experiment("faulty", out=tmp_path, labels="blob", seeds=range(64), workers=64, progress=False)
    # 64 tiny runs need ~0.4 GiB per worker process, not ~0


def test_solve_applies_the_runners_bounds(monkeypatch):
    p = ln.anisotropic_gaussian(3)
    monkeypatch.setattr(type(p), "sample", lambda *a, **k: (_ for _ in ()).throw(AssertionError("allocated")))
    with pytest.raises(ValueError, match="allowed range"):
        ln.solve(p, "blob", n=10**8)
    monkeypatch.setattr("landau_nb._checks.available_memory", lambda: 2**30)
    with pytest.raises(ValueError, match="GiB of memory"):
        ln.solve(p, "sbtm", n=5_000_000)
    with pytest.raises(ValueError, match="GiB of memory"):
        ln.solve(p, "blob", n=200_000, save_every=1)


def test_rerun_stored_applies_the_bounds(tmp_path, faulty):
    base = _stored_run(tmp_path, faulty)
    for f in (base.with_name(base.name + ".json"),):
        _edit_json(f, lambda m: m["run"]["identity"].__setitem__("n", 10**9))
    with pytest.raises(ValueError, match="n"):
        ex.rerun_stored(base, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- WEAK: a fixed blob bandwidth that freezes the particles warns ---------------------------

def test_a_freezing_blob_bandwidth_warns():
    p = ln.anisotropic_gaussian(3)
    with pytest.warns(RuntimeWarning, match="bandwidth"):
        tr = ln.solve(p, "blob", n=50, t_end=0.05, bandwidth=1e-6)
    assert np.allclose(tr.x[0], tr.x[-1])                # frozen indeed
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ln.solve(p, "blob", n=50, t_end=0.05, bandwidth=0.5)


# --- the checksum backfill for runs written before checksums ----------------------------------

def test_backfill_adds_only_the_checksum(tmp_path, faulty):
    import importlib.util
    spec = importlib.util.spec_from_file_location("backfill", ROOT / "scripts" / "backfill_checksums.py")
    backfill = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backfill)
    folder = _finished(tmp_path, faulty)
    before = {}
    for js in folder.glob("*.json"):              # as the committed runs were written: no checksum
        meta = json.loads(js.read_text())
        del meta["npz_sha256"]
        js.write_text(json.dumps(meta, indent=1, sort_keys=True))
        before[js.name] = meta
    _copy_run(folder / "n000030_seed0", folder / "n000030_seed5")          # a mixed-up run
    assert backfill.main([str(tmp_path)]) == 1                            # dry run: nothing written
    assert "npz_sha256" not in json.loads((folder / "n000030_seed1.json").read_text())
    assert backfill.main([str(tmp_path), "--write"]) == 1                  # the copy is left alone
    assert "npz_sha256" not in json.loads((folder / "n000030_seed5.json").read_text())
    for name, meta in before.items():
        after = json.loads((folder / name).read_text())
        assert after.pop("npz_sha256") and after == meta
        assert ln.Trajectory.load(folder / name).checksum == "verified"
    (folder / "n000030_seed5.json").unlink()
    (folder / "n000030_seed5.npz").unlink()
    assert backfill.main([str(tmp_path), "--write"]) == 0


@pytest.mark.parametrize("var", ["LANDAU_RESULTS", "LANDAU_DEVICE"])
def test_blank_environment_settings_are_errors(monkeypatch, var):
    monkeypatch.setenv(var, " ")
    with pytest.raises(ValueError, match=var):
        ex.settings("book")


def test_paper_results_says_what_it_skipped(tmp_path):
    """A chapter reading committed runs shows how many it skipped and why (a RuntimeWarning in the
    cell's output), and nothing when every run is trusted."""
    import shutil
    import warnings

    import landau_nb as ln
    src = ln.experiments.project_root() / "results" / "paper" / "learning_rate"
    if not src.is_dir():
        pytest.skip("no committed learning_rate runs here")
    shutil.copytree(src, tmp_path / "learning_rate")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ln.paper_results("learning_rate", tmp_path)                  # clean: no warning
    js = sorted((tmp_path / "learning_rate").rglob("*.json"))[0]
    shutil.copy(sorted((tmp_path / "learning_rate").rglob("*.npz"))[-1], js.with_suffix(".npz"))
    with pytest.warns(RuntimeWarning, match="1 run skipped"):
        res = ln.paper_results("learning_rate", tmp_path)
    assert len(res.skipped) == 1
