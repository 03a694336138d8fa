"""Fault injection for the runner, the results folder and the CLI (issue 14).

Every test asserts that nothing is lost, duplicated or mixed up: each requested run ends
present exactly once (one .npz + one .json), bit-identical to an undisturbed run, with no
temporary, lock or checkpoint file left behind. Tiny runs (n = 30-40, blob or SBTM with K = 5).
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import landau_nb as ln
from landau_nb import experiments as ex
from landau_nb.__main__ import main
from landau_nb.solver.checkpoint import CheckpointError, load_checkpoint
from landau_nb._files import HOST
from landau_nb.experiments.locks import RunLock
from landau_nb.solver.trajectory import ResultFileError
from helpers import assert_same_run

PROBLEM = {"name": "anisotropic_gaussian", "d": 3, "gamma": 0.0}
OPTIONS = {"sbtm": {"init_tol": 1e-2, "init_lr": 1e-2, "K": 5}, "blob": {}}


def _experiment(t_end, name="faulty", problem=PROBLEM, sweeps=None):
    sweeps = sweeps or (ex.Sweep("blob", "blob", (30, 40), (0, 1)), ex.Sweep("sbtm", "sbtm", (30,), (0,)))
    return ex.Experiment(name=name, title="fault injection", paper="none", problem=problem, options=OPTIONS,
                         solve={"book": {"t_end": t_end}, "paper": {"t_end": t_end}},
                         scales={"book": sweeps, "paper": sweeps})


LONG = 6.0         # 600 blob steps: about 1 s a run, long enough to be interrupted
SHORT = 0.6        # 60 steps

_CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_faults import _experiment
    from landau_nb import experiments as ex
    from landau_nb.__main__ import main


    def child():
        ex.EXPERIMENTS["faulty"] = _experiment(float(os.environ["FAULT_T_END"]))
        kill_at = int(os.environ.get("FAULT_KILL_AT", "0"))
        count = [0]
        if "FAULT_COUNT" in os.environ or kill_at:
            # the save sequence: every fsync, rename and removal is a point where -9 may strike
            def hooked(fn):
                def wrapper(*args, **kwargs):
                    count[0] += 1
                    if count[0] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return fn(*args, **kwargs)
                return wrapper
            for name in ("fsync", "replace", "unlink", "rmdir"):
                setattr(os, name, hooked(getattr(os, name)))
        if os.environ.get("FAULT_STATUS"):
            import json
            res = ex.run_experiment("faulty", out=sys.argv[2], labels=sys.argv[1].split(","), workers=1,
                                    checkpoint_every=5, progress=False)
            print("COMPUTED " + json.dumps(res.computed))
            return 0
        code = main(sys.argv[1:])
        if "FAULT_COUNT" in os.environ:
            open(os.environ["FAULT_COUNT"], "w").write(str(count[0]))
        return code


    if __name__ == "__main__":          # spawned workers import this file as __mp_main__
        sys.exit(child())
""")



@pytest.fixture(scope="module")
def child(tmp_path_factory):
    path = tmp_path_factory.mktemp("child") / "child.py"
    path.write_text(_CHILD.format(tests=str(Path(__file__).parent)))
    return path


def _env(t_end, **extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1", FAULT_T_END=str(t_end))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(ln.__file__).parent.parent), env.get("PYTHONPATH", "")])
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _reference(tmp_path_factory, t_end, labels):
    """The undisturbed runs, computed in this process (one torch thread, like the runner)."""
    out = tmp_path_factory.mktemp(f"ref{t_end}")
    exp = _experiment(t_end)
    saved = ex.EXPERIMENTS.get("faulty")
    ex.EXPERIMENTS["faulty"] = exp
    try:
        res = ex.run_experiment("faulty", out=out, labels=labels, workers=1, progress=False)
    finally:
        if saved is None:
            ex.EXPERIMENTS.pop("faulty")
        else:
            ex.EXPERIMENTS["faulty"] = saved
    return {spec["label"] + f"/n{spec['n']:06d}_seed{spec['seed']}": tr for spec, tr in res.runs}


@pytest.fixture(scope="module")
def ref_long(tmp_path_factory):
    return _reference(tmp_path_factory, LONG, ["blob"])


@pytest.fixture(scope="module")
def ref_short(tmp_path_factory):
    return _reference(tmp_path_factory, SHORT, ["blob", "sbtm"])


@pytest.fixture
def faulty(monkeypatch):
    def register(t_end, **kw):
        exp = _experiment(t_end, **kw)
        monkeypatch.setitem(ex.EXPERIMENTS, exp.name, exp)
        return exp
    return register


def _assert_intact(out, ref, experiment="faulty"):
    """Every reference run is present exactly once, identical, and nothing else is left."""
    folder = Path(out) / experiment
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    expected = sorted(f"{stem}{suffix}" for stem in ref for suffix in (".json", ".npz"))
    assert files == expected, f"left behind or missing: {set(files) ^ set(expected)}"
    assert not [p for p in folder.rglob("*") if p.is_dir() and p.name.endswith(".ckpt")]
    for stem, tr in ref.items():
        assert_same_run(ln.Trajectory.load(folder / stem), tr)


def _one_line(err: str) -> str:
    lines = [ln_ for ln_ in err.strip().splitlines() if ln_.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _descendants(pid: int) -> set:
    """Pids of every live descendant of ``pid`` (from /proc)."""
    children: dict = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


# --- kill -9 anywhere in the save sequence ------------------------------------------------

def test_kill_9_at_random_points_of_the_save_sequence(child, tmp_path, ref_short):
    argv = ["run", "faulty", "--solver", "sbtm", "--out", "OUT", "--workers", "1", "--checkpoint-every", "7",
            "--quiet"]
    ref = {k: v for k, v in ref_short.items() if k.startswith("sbtm")}
    count_file = tmp_path / "count"
    first = tmp_path / "count_run"
    subprocess.run([sys.executable, str(child), *[a if a != "OUT" else str(first) for a in argv]], check=True,
                   env=_env(SHORT, FAULT_COUNT=count_file), timeout=300, capture_output=True)
    total = int(count_file.read_text())
    assert total > 20                       # 8 checkpoints and the final save, a few operations each
    rng = np.random.default_rng()
    points = sorted({int(rng.integers(1, total - 8)), int(rng.integers(1, total - 8)), int(rng.integers(total - 7, total + 1))})
    for k in points:
        out = tmp_path / f"kill{k}"
        cmd = [sys.executable, str(child), *[a if a != "OUT" else str(out) for a in argv]]
        killed = subprocess.run(cmd, env=_env(SHORT, FAULT_KILL_AT=k), timeout=300, capture_output=True)
        assert killed.returncode == -signal.SIGKILL, (k, killed.stderr[-2000:])
        again = subprocess.run(cmd, env=_env(SHORT), timeout=300, capture_output=True, text=True)
        assert again.returncode == 0, (k, again.stderr)
        _assert_intact(out, ref)


# --- several writers on one folder ----------------------------------------------------------

def test_two_processes_on_one_folder_compute_each_run_once(child, tmp_path, ref_short):
    out = tmp_path / "shared"
    ref = {k: v for k, v in ref_short.items() if k.startswith("blob")}
    procs = [subprocess.Popen([sys.executable, str(child), "blob", str(out)], env=_env(SHORT, FAULT_STATUS=1),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    computed = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        computed.append(json.loads(stdout.split("COMPUTED ", 1)[1]))
    assert sorted(computed[0] + computed[1]) == sorted(ref)      # every run computed once, by one of them
    _assert_intact(out, ref)


def test_a_taken_run_is_waited_for_or_reported_in_one_line(faulty, tmp_path, capsys, ref_short):
    faulty(SHORT)
    lock = RunLock(tmp_path / "faulty/blob/n000030_seed0.lock")
    assert lock.try_acquire()
    try:
        code = main(["run", "faulty", "--solver", "blob", "--n", "30", "--seeds", "0,1", "--out", str(tmp_path),
                     "--no-wait", "--quiet"])
        err = capsys.readouterr().err
        assert code == 1
        assert "taken by pid" in _one_line(err) and str(os.getpid()) in err
        assert not (tmp_path / "faulty/blob/n000030_seed0.npz").exists()   # left to its owner
        assert (tmp_path / "faulty/blob/n000030_seed1.npz").exists()
        # another process's lock is never removed by a release
        RunLock(lock.path).release()
        other = RunLock(lock.path)
        assert not other.try_acquire() and lock.path.exists()
    finally:
        lock.release()
    assert not lock.path.exists()
    assert main(["run", "faulty", "--solver", "blob", "--n", "30", "--seeds", "0,1", "--out", str(tmp_path),
                 "--quiet"]) == 0
    _assert_intact(tmp_path, {k: v for k, v in ref_short.items() if k.startswith("blob/n000030")})


def test_stale_locks_are_broken_live_ones_are_not(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "run.lock"
    path.write_text(json.dumps({"host": HOST, "pid": dead.pid, "token": "x"}))
    assert RunLock(path).try_acquire()                      # owner gone: broken
    assert json.loads(path.read_text())["pid"] == os.getpid()
    path.unlink()
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "y"}))
    assert not RunLock(path, stale_after=60).try_acquire()  # another host, fresh heartbeat: taken
    old = time.time() - 120
    os.utime(path, (old, old))
    assert RunLock(path, stale_after=60).try_acquire()      # no heartbeat for 2 minutes: stale


# --- interrupts of a multi-worker sweep ---------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_two_worker_sweep(child, tmp_path, ref_long, signum):
    out = tmp_path / "sweep"
    cmd = [sys.executable, str(child), "run", "faulty", "--solver", "blob", "--workers", "2", "--out", str(out),
           "--checkpoint-every", "20", "--quiet"]
    proc = subprocess.Popen(cmd, env=_env(LONG), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("faulty/blob/*.ckpt/checkpoint.json"))) < 2:
        time.sleep(0.05)
    assert proc.poll() is None and len(list(out.glob("faulty/blob/*.ckpt/checkpoint.json"))) == 2
    workers = _descendants(proc.pid)
    assert len(workers) >= 2
    started = time.time()
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signal.SIGINT)          # Ctrl-C reaches the whole process group
    else:
        proc.send_signal(signal.SIGTERM)            # `kill PID`: the main process only
    stdout, stderr = proc.communicate(timeout=60)
    assert time.time() - started < 15
    assert proc.returncode == 128 + signum
    assert "run the same command again to resume" in _one_line(stderr)
    alive = workers
    for _ in range(50):                              # the resource tracker exits on its own
        alive = {p for p in alive if _running(p)}
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, f"orphans: {alive}"
    assert not list(out.rglob("*.lock")) and not list(out.rglob("*.tmp"))
    kept = list(out.glob("faulty/blob/*.ckpt/checkpoint.json"))
    assert kept and all(load_checkpoint(p.parent)[0] > 0 for p in kept)
    summary = subprocess.run([sys.executable, str(child), "summary", "faulty", "--out", str(out)], env=_env(LONG),
                             capture_output=True, text=True, timeout=300)
    for p in kept:                                 # summary names each run it cannot show
        assert f"skipped incomplete run blob/{p.parent.name[:-5]}: no result yet" in summary.stderr
    done = subprocess.run(cmd, env=_env(LONG), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    _assert_intact(out, ref_long)


# --- a full disk ------------------------------------------------------------------------------

def _tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_full_disk_on_a_small_tmpfs(tmp_path, faulty, capsys, ref_long):
    mnt = tmp_path / "small"
    if not _tmpfs(mnt, "300k"):
        pytest.skip("cannot mount a tmpfs here (not root); test_full_disk_injected covers ENOSPC")
    try:
        faulty(LONG)
        argv = ["run", "faulty", "--solver", "blob", "--out", str(mnt), "--workers", "1", "--checkpoint-every",
                "100", "--quiet"]
        assert main(argv) == 1
        line = _one_line(capsys.readouterr().err)
        assert "No space left on device" in line and str(mnt) in line
        assert not list(mnt.rglob("*.tmp")) and not list(mnt.rglob("*.lock"))
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        assert main(argv) == 0
        _assert_intact(mnt, ref_long)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_injected(tmp_path, faulty, capsys, monkeypatch, ref_short):
    faulty(SHORT)
    real = os.fsync
    calls = [0]

    def full(fd):
        calls[0] += 1
        if calls[0] >= 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", full)
    argv = ["run", "faulty", "--solver", "sbtm", "--out", str(tmp_path), "--workers", "1",
            "--checkpoint-every", "7", "--quiet"]
    assert main(argv) == 1
    line = _one_line(capsys.readouterr().err)
    assert "No space left on device" in line and "faulty/sbtm/n000030_seed0.ckpt" in line
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.lock"))
    assert load_checkpoint(tmp_path / "faulty/sbtm/n000030_seed0.ckpt")[0] == 7     # the last good one
    monkeypatch.setattr(os, "fsync", real)
    assert main(argv) == 0
    _assert_intact(tmp_path, {k: v for k, v in ref_short.items() if k.startswith("sbtm")})


# --- damaged and hand-edited files --------------------------------------------------------

def _finished(tmp_path, faulty):
    faulty(SHORT)
    assert main(["run", "faulty", "--solver", "blob", "--out", str(tmp_path), "--workers", "1", "--quiet"]) == 0
    return tmp_path / "faulty/blob"


def _edit_json(path, fn):
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("damage,needle", [
    (lambda f: f.with_suffix(".npz").write_bytes(f.with_suffix(".npz").read_bytes()[:300]), "damaged or truncated"),
    (lambda f: f.with_suffix(".npz").write_bytes(b"not a zip file at all"), "damaged or truncated"),
    (lambda f: f.with_suffix(".npz").write_bytes(b""), "damaged or truncated"),
    (lambda f: np.savez(f.with_suffix(".npz"), a=np.zeros(2)), "has no array 't'"),
    (lambda f: f.with_suffix(".json").write_text("{not json"), "not valid JSON"),
    (lambda f: f.with_suffix(".json").write_text("[1, 2]"), "must be a JSON object"),
    (lambda f: f.with_suffix(".json").write_bytes(b"\xff\xfe\x00garbage"), "not"),
    (lambda f: _edit_json(f.with_suffix(".json"), lambda m: m.__setitem__("n", 31)), "positions 'x' have shape"),
    (lambda f: _edit_json(f.with_suffix(".json"), lambda m: m.pop("versions")), "has no 'versions'"),
    (lambda f: _edit_json(f.with_suffix(".json"), lambda m: m.__setitem__("dtype", 64)), "'dtype'"),
])
def test_damaged_result_files_are_named_in_one_line(tmp_path, faulty, capsys, damage, needle, ref_short):
    folder = _finished(tmp_path, faulty)
    victim = folder / "n000030_seed1"
    damage(victim)
    with pytest.raises(ResultFileError, match=needle) as info:
        ln.Trajectory.load(victim)
    assert info.value.path.name.startswith("n000030_seed1.")
    capsys.readouterr()
    # summary skips it and says which; the other runs are still summarised
    assert main(["summary", "faulty", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "skipped incomplete run blob/n000030_seed1" in _one_line(captured.err) and needle in captured.err
    assert "runs=3" in captured.out
    # run refuses to build on it, naming the file, exit 1 (or 2 when its settings no longer parse)
    code = main(["run", "faulty", "--solver", "blob", "--out", str(tmp_path), "--quiet"])
    line = _one_line(capsys.readouterr().err)
    assert code == 1 and "n000030_seed1." in line
    others = {k: v for k, v in ref_short.items() if k.startswith("blob") and k != "blob/n000030_seed1"}
    for stem, tr in others.items():
        assert_same_run(ln.Trajectory.load(tmp_path / "faulty" / stem), tr)


def test_half_written_pair_is_skipped_by_summary_and_resumed_by_run(tmp_path, faulty, capsys, ref_short):
    folder = _finished(tmp_path, faulty)
    (folder / "n000040_seed0.json").unlink()          # a kill between the two renames
    capsys.readouterr()
    assert main(["summary", "faulty", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "skipped incomplete run blob/n000040_seed0" in _one_line(err) and "missing" in err
    assert main(["run", "faulty", "--solver", "blob", "--out", str(tmp_path), "--quiet"]) == 0
    _assert_intact(tmp_path, {k: v for k, v in ref_short.items() if k.startswith("blob")})


def test_edited_checkpoints_are_refused(tmp_path, faulty, capsys):
    faulty(SHORT)

    class Stop(Exception):
        pass

    def stop(k, *a):
        if k == 12:
            raise Stop

    p = ln.anisotropic_gaussian(3)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(Stop):
        ln.solve(p, "blob", n=30, t_end=SHORT, checkpoint=ckpt, checkpoint_every=5, callback=stop)
    index = ckpt / "checkpoint.json"
    good = index.read_text()
    _edit_json(index, lambda m: m.__setitem__("step", 5))
    with pytest.raises(CheckpointError, match="edited or damaged"):
        load_checkpoint(ckpt)
    index.write_text(good)
    _edit_json(index, lambda m: m["meta"].__setitem__("elapsed", 0.0))
    with pytest.raises(CheckpointError, match="edited or damaged"):
        load_checkpoint(ckpt)
    # through the CLI: a corrupted checkpoint is named in one line, exit 1
    index.write_text(good)
    run_ckpt = tmp_path / "faulty/blob/n000030_seed0.ckpt"
    shutil.copytree(ckpt, run_ckpt)
    ln_args = ["run", "faulty", "--solver", "blob", "--n", "30", "--seeds", "0", "--out", str(tmp_path),
               "--checkpoint-every", "5", "--quiet"]
    state = run_ckpt / "state-000000010.npz"
    state.write_bytes(state.read_bytes()[:-50])
    capsys.readouterr()
    assert main(ln_args) == 1
    line = _one_line(capsys.readouterr().err)
    assert "corrupted or truncated" in line and str(state) in line
    shutil.rmtree(run_ckpt)
    # a checkpoint of a run with other settings is refused in one line
    assert main(["run", "faulty", "--solver", "blob", "--n", "30", "--seeds", "0", "--out", str(tmp_path),
                 "--checkpoint-every", "5", "--quiet"]) == 0
    run_ckpt = tmp_path / "faulty/blob/n000030_seed1.ckpt"
    run_ckpt.mkdir(parents=True)
    (run_ckpt / "run.json").write_text(json.dumps({"dtype": "float32"}))
    capsys.readouterr()
    code = main(["run", "faulty", "--solver", "blob", "--n", "30", "--seeds", "1", "--out", str(tmp_path), "--quiet"])
    assert code == 2 and "belongs to a run with other settings" in _one_line(capsys.readouterr().err)


# --- duplicate requests and reuse with other settings ---------------------------------------

def test_duplicate_requests_run_once(tmp_path, faulty, capsys):
    exp = faulty(SHORT)
    assert len(exp.runs("book", labels="blob", ns=[30, 30], seeds=[0, 0])) == 1     # "blob", not b, l, o, b
    assert len(exp.runs("book", labels=["blob", "blob"], ns=[30], seeds=ex.parse_seeds("0-1,1,0"))) == 2
    res = ln.run_experiment("faulty", out=tmp_path, labels="blob", ns=[30, 30], seeds=[0, 0], progress=False)
    assert len(res.runs) == 1 and res.computed == ["blob/n000030_seed0"]
    assert main(["run", "faulty", "--solver", "blob", "--solver", "blob", "--n", "30", "--n", "30", "--seeds",
                 "0-1,1", "--out", str(tmp_path), "--quiet"]) == 0
    assert "runs=2" in capsys.readouterr().out
    assert len(ln.Results.load(tmp_path, "faulty").runs) == 2


@pytest.mark.parametrize("change,needle", [
    (["--dtype", "float32"], "dtype: stored 'float64', asked 'float32'"),
    (["--scale", "paper", "--device", "cpu"], "scale: stored 'book', asked 'paper'"),
    ("options", "options: stored"),
    ("version", "landau_nb: stored '0.0.1'"),
])
def test_reuse_with_other_settings_is_refused(tmp_path, faulty, capsys, monkeypatch, change, needle):
    folder = _finished(tmp_path, faulty)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    argv = ["run", "faulty", "--solver", "blob", "--out", str(tmp_path), "--quiet"]
    if change == "options":
        exp = ex.EXPERIMENTS["faulty"]
        monkeypatch.setitem(ex.EXPERIMENTS, "faulty",
                            ex.Experiment(**{**exp.__dict__, "options": {"blob": {"bandwidth": "reference"}}}))
    elif change == "version":
        for f in folder.glob("*.json"):
            _edit_json(f, lambda m: m["run"]["identity"].__setitem__("landau_nb", "0.0.1"))
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
    else:
        argv += change
    capsys.readouterr()
    assert main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert needle in line and "use another --out" in line
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before        # nothing touched


def test_summary_with_solvers_at_different_n(tmp_path, faulty, capsys):
    coulomb = {"name": "anisotropic_gaussian", "d": 3, "gamma": -3.0}
    faulty(2.0, problem=coulomb, sweeps=(ex.Sweep("sbtm", "sbtm", (30, 50), (0,)),
                                         ex.Sweep("blob", "blob", (30, 40), (0,))))
    assert main(["run", "faulty", "--out", str(tmp_path), "--quiet"]) == 0
    res = ln.Results.load(tmp_path, "faulty")
    t, ref, gap = res.reference_second_moment()         # the largest n both reached: 30
    assert np.all(np.isfinite(gap))
    assert np.allclose(ref, np.mean([res.get(lab, 30)["second_moment"] for lab in ("sbtm", "blob")], axis=0))
    shutil.rmtree(tmp_path / "faulty/blob")
    assert main(["run", "faulty", "--solver", "blob", "--n", "40", "--seeds", "0", "--out", str(tmp_path),
                 "--quiet"]) == 0
    with pytest.raises(ValueError, match="no particle count is shared"):
        ln.Results.load(tmp_path, "faulty").reference_second_moment()
    capsys.readouterr()
    assert main(["summary", "faulty", "--out", str(tmp_path)]) == 0
    assert "no particle count is shared" in capsys.readouterr().out


def test_results_load_reports_another_version(tmp_path, faulty):
    folder = _finished(tmp_path, faulty)
    _edit_json(folder / "n000030_seed0.json", lambda m: m["versions"].__setitem__("landau_nb", "0.0.1"))
    with pytest.warns(UserWarning, match=r"1 of the runs .* landau_nb 0\.0\.1"):
        res = ln.Results.load(tmp_path, "faulty")
    assert res.other_version == [("blob/n000030_seed0", "0.0.1")] and len(res.runs) == 4


# --- file-system errors and request sizes in the CLI ----------------------------------------

def test_cli_file_system_errors_and_bounds_are_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        (["--out", str(afile)], "is a file"),
        (["--out", str(afile / "sub")], "which is a file"),
        (["--n", "1000000000"], "allowed range [2, 10000000]"),
        (["--seeds", "0-300000000"], "at most 100000 runs"),
        (["--executor", "dask"], "--scheduler"),
    ]
    for extra, needle in cases:
        code = main(["run", "anisotropic_d3", "--solver", "blob", "--quiet", *extra])
        assert code == 2 and needle in _one_line(capsys.readouterr().err), extra
    with pytest.raises(ValueError, match="GiB of memory"):
        ln.run_experiment("anisotropic_d3", labels="sbtm", ns=[10_000_000], seeds=list(range(5)),
                          out=tmp_path / "big", progress=False)
    assert not (tmp_path / "big").exists()                   # refused before anything was made
    with pytest.raises(ValueError, match="at most 100000 runs"):
        ln.get_experiment("anisotropic_d3").runs("book", seeds=range(200_000))


def test_cli_read_only_out_is_one_line(tmp_path, capsys):
    ro = tmp_path / "ro"
    if _tmpfs(ro, "1m"):
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    elif os.geteuid() == 0:
        pytest.skip("root may write anywhere and no read-only tmpfs can be mounted here")
    else:
        ro.mkdir()
        ro.chmod(0o555)
    try:
        code = main(["run", "anisotropic_d3", "--solver", "blob", "--out", str(ro / "results"), "--quiet"])
        assert code == 2 and "is not writable" in _one_line(capsys.readouterr().err)
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


def test_cli_debug_shows_the_traceback(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        main(["run", "anisotropic_d3", "--out", str(afile), "--debug", "--quiet"])


# --- a Dask cluster: same results, a worker killed mid-run ----------------------------------

def test_dask_local_cluster_interrupted_and_with_a_worker_killed_mid_run(tmp_path, faulty, ref_long):
    distributed = pytest.importorskip("distributed")
    faulty(LONG)
    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        import threading

        # Ctrl-C: queued runs cancelled, running ones stop at their next step, nothing locked
        def ctrl_c():
            while len(list(out.glob("faulty/blob/*.ckpt/checkpoint.json"))) < 2:
                time.sleep(0.02)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=ctrl_c, daemon=True).start()
        started = time.time()
        with pytest.raises(ex.SweepInterrupted, match="interrupted by SIGINT"):
            ln.run_experiment("faulty", out=out, labels="blob", executor=client, progress=False)
        assert time.time() - started < 60
        assert not list(out.rglob("*.lock")) and not list(out.rglob("*.tmp"))
        assert len(list(out.glob("faulty/blob/*.ckpt/checkpoint.json"))) >= 1
        # resumed on the same cluster, with one worker killed in the middle of a run
        worker_pids = set(client.run(os.getpid).values())
        killed = []

        def killer():
            deadline = time.time() + 120
            while time.time() < deadline and not killed:
                for lock in out.glob("faulty/blob/*.lock"):
                    try:
                        pid = json.loads(lock.read_text())["pid"]
                    except (OSError, ValueError, KeyError):
                        continue
                    ckpt = lock.with_suffix(".ckpt") / "checkpoint.json"
                    if pid in worker_pids and ckpt.exists():
                        os.kill(pid, signal.SIGKILL)
                        killed.append(lock.stem)
                        return
                time.sleep(0.02)

        thread = threading.Thread(target=killer)
        thread.start()
        res = ln.run_experiment("faulty", out=out, labels="blob", executor=client, progress=False)
        thread.join()
        # one executor, two passes (the runner's second pass waits for runs taken by others)
        from landau_nb.experiments.executors import DaskExecutor
        runner = DaskExecutor(client)
        assert list(runner.run(pow, [(2, 3), (2, 4)])) in ([(0, 8), (1, 16)], [(1, 16), (0, 8)])
        assert list(runner.run(pow, [(3, 2)])) == [(0, 9)]
    assert killed, "no worker was killed mid-run"
    assert len(res.runs) == 4 and "blob/" + killed[0] in res.computed
    _assert_intact(out, ref_long)
