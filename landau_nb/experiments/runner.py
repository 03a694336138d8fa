"""Running an experiment's sweep: resumable runs under locks, in worker processes or on Dask,
single or as ensembles, stopped cleanly by Ctrl-C or SIGTERM (:func:`run_experiment`,
:func:`reproduce`, :func:`rerun_stored`). Book: the chapters of Part "Experiments"."""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from pathlib import Path

import torch

from .._stop import stop_hook
from .._checks import (MAX_RUNS, WORKER_PROCESS_BYTES, check_choice, check_given, check_int, check_request_size,
                      run_memory_bytes)
from ..equation.problems import problem_from_params
from ..solver.trajectory import Trajectory, environment_versions
from .defaults import default_device, default_dtype, default_out
from .locks import RunLock
from .registry import EXPERIMENTS, SCALES, RunSpec, get_experiment
from .results import Results
from .store import _claim, _leftovers, _save_run, _stored_state, identity_mismatch, run_identity, run_paths
from .store_names import parse_stem

__all__ = ["SweepInterrupted", "run_experiment", "reproduce", "rerun_stored", "parse_seeds"]


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by SIGINT (Ctrl-C) or SIGTERM; running runs kept their last checkpoint.
    Attributes: ``signum``, ``finished`` (runs done), ``pending`` (runs left)."""

    def __init__(self, message, signum, finished=0, pending=0):
        super().__init__(message)
        self.signum, self.finished, self.pending = signum, finished, pending

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)


class _Stopped(Exception):
    pass


def _set_threads(threads: int) -> None:
    """torch's thread count for a run, set after numba's thread pool is up: the pool's first
    launch (the first numba kernel of a process) resets the count, so the first run of a
    worker would otherwise compute, and record, another thread count than the later ones."""
    from ..equation.pairsum import sync_threads as sync_numba
    torch.set_num_threads(threads)
    sync_numba()


def _run_one(spec: RunSpec, out: str, device: str, dtype: str, checkpoint_every: int, threads: int | None,
             progress: bool, scale: str = "book", wait: bool = True, stop_file: str | None = None) -> dict:
    """Run (or resume, or load) one run under its lock; returns a status dict ("done",
    "failed", "taken", "interrupted"). Executed in worker processes (local pool or Dask)."""
    from .executors import stop_requested
    from ..solver.integrate import NonFiniteError, solve

    def should_stop():
        return stop_requested() or (stop_file is not None and os.path.exists(stop_file))

    if threads is not None:
        _set_threads(threads)
    paths = run_paths(out, spec)
    identity = run_identity(spec, scale, device, dtype)
    if should_stop():
        return {"stem": spec.stem, "status": "interrupted"}
    if _stored_state(paths, identity) == "done" and not _leftovers(paths):
        return {"stem": spec.stem, "status": "done", "loaded": True}
    lock = RunLock(paths["lock"])
    waiting = _Waiting(f"run {spec.experiment}/{spec.stem}", lock)
    while not lock.try_acquire():
        if not wait:
            return {"stem": spec.stem, "status": "taken", "owner": lock.describe_owner()}
        if should_stop():
            return {"stem": spec.stem, "status": "interrupted"}
        waiting.tick()
        time.sleep(0.25)
    try:
        if _claim(paths, identity) == "done":
            return {"stem": spec.stem, "status": "done", "loaded": True}
        ckpt = paths["ckpt"]

        def poll(*args):
            if should_stop():
                raise _Stopped

        problem = problem_from_params(spec.problem)
        started = time.perf_counter()
        try:
            with stop_hook(poll):            # also polled inside long calls (pair sums, training)
                traj = solve(problem, spec.solver, n=spec.n, seed=spec.seed, device=device,
                             dtype=getattr(torch, dtype), checkpoint=ckpt, checkpoint_every=checkpoint_every,
                             progress=progress, callback=poll, **spec.solve, **spec.options)
        except _Stopped:
            return {"stem": spec.stem, "status": "interrupted"}
        except NonFiniteError as exc:
            exc.trajectory.meta["error"] = str(exc)
            exc.trajectory.meta["run"] = {"identity": identity}
            exc.trajectory.save(paths["failed"])
            return {"stem": spec.stem, "status": "failed", "error": str(exc)}
        _save_run(spec, traj, paths, identity, time.perf_counter() - started)
        return {"stem": spec.stem, "status": "done", "loaded": False}
    finally:
        lock.release()


class _Waiting:
    """Says, once the wait has lasted ``after`` seconds and again every ``every`` seconds (or
    when the owner changes), what a run waits for and since when: one line on stderr."""

    def __init__(self, what: str, lock, after: float = 2.0, every: float = 300.0):
        self.what, self.lock, self.after, self.every = what, lock, after, every
        self.started = time.time()
        self.said_at, self.said_owner = None, None

    def tick(self) -> None:
        import sys
        now = time.time()
        owner = self.lock.owner() or {}
        key = (owner.get("host"), owner.get("pid"), owner.get("token"))
        due = (self.said_at is None and now - self.started >= self.after) or \
              (self.said_at is not None and (now - self.said_at >= self.every or key != self.said_owner))
        if not due:
            return
        self.said_at, self.said_owner = now, key
        since = time.strftime("%H:%M:%S", time.localtime(self.started))
        print(f"landau_nb: waiting for {self.what} since {since}: it is taken by {self.lock.describe_owner()}"
              f"{self.lock.skew_note()}; delete the lock if its owner is gone", file=sys.stderr, flush=True)


def _until_members_stop(halt, call):
    """``call()`` in a helper thread, this thread waiting for it. Ctrl-C or SIGTERM (raised
    in this thread) sets ``halt``, which the members poll once per step, and waits for them
    to stop before re-raising: their locks are released only once nothing writes their
    checkpoints any more."""
    box: dict = {}
    done = threading.Event()

    def target():
        try:
            box["value"] = call()
        except BaseException as exc:               # noqa: BLE001 - re-raised in the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="ensemble", daemon=True).start()
    try:
        while not done.wait(0.1):
            pass
    except BaseException:
        halt.set()
        while not done.is_set():     # (not Thread.join: an interrupted join may return early)
            time.sleep(0.05)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def _ensemble_groups(specs: list, kind: str) -> list[list]:
    """The tasks of an ensemble sweep: the SBTM runs of one (experiment, label, n) form one
    group (all their seeds); every other run is a group of its own. Blob and exact runs have
    no training to share (an ensemble would run them one after another), and a runtime
    experiment measures the time per step of one run, so they stay single runs."""
    groups: dict = {}
    for sp in specs:
        key = ((sp.experiment, sp.label, sp.solver, sp.n) if sp.solver == "sbtm" and kind != "runtime"
               else ("single", sp.stem))
        groups.setdefault(key, []).append(sp)
    return list(groups.values())


def _run_group(specs: list, out: str, device: str, dtype: str, checkpoint_every: int, threads: int | None,
               progress: bool, scale: str = "book", wait: bool = True, stop_file: str | None = None) -> list:
    """Run (or resume, or load) the runs ``specs`` of one (experiment, label, n) as one
    :func:`~landau_nb.solve_ensemble` (book: "Runtime"); returns one :func:`_run_one` status
    per run. Every member is taken under its own lock and saved as :func:`_run_one` saves it
    (same files, identity and metadata); its ``seconds`` is the group's wall time divided by
    the number of members (they take turns on the cores), the group's total and seeds are in
    ``run["ensemble"]``. Members already done, or locked by another process, are left out and
    handled by :func:`_run_one`; so are members that fail in the ensemble (non-finite values,
    :class:`~landau_nb.EnsembleError`): they run again alone from their checkpoint, so a run
    is never lost nor computed twice."""
    from .executors import stop_requested

    def should_stop():
        return stop_requested() or (stop_file is not None and os.path.exists(stop_file))

    args = (out, device, dtype, checkpoint_every, threads, progress, scale)
    if len(specs) == 1:
        return [_run_one(specs[0], *args, wait=wait, stop_file=stop_file)]
    if threads is not None:
        _set_threads(threads)
    if should_stop():
        return [{"stem": sp.stem, "status": "interrupted"} for sp in specs]
    statuses: dict = {}
    members, locks, single = [], {}, []
    try:
        for sp in specs:
            paths, identity = run_paths(out, sp), run_identity(sp, scale, device, dtype)
            if _stored_state(paths, identity) == "done" and not _leftovers(paths):
                statuses[sp.stem] = {"stem": sp.stem, "status": "done", "loaded": True}
                continue
            lock = RunLock(paths["lock"])
            if not lock.try_acquire():
                single.append(sp)                       # taken: waited for (or left) as today
                continue
            locks[sp.stem] = lock
            if _claim(paths, identity) == "done":
                statuses[sp.stem] = {"stem": sp.stem, "status": "done", "loaded": True}
                locks.pop(sp.stem).release()
                continue
            members.append((sp, paths, identity))
        if members:
            from ..solver.ensemble import EnsembleError, solve_ensemble
            head = members[0][0]

            halt = threading.Event()

            def poll(i, k, *rest):
                if halt.is_set() or should_stop():
                    raise _Stopped

            started = time.perf_counter()
            try:
                with stop_hook(lambda: poll(None, None)):      # also inside long calls
                    trajs = _until_members_stop(halt, lambda: solve_ensemble(
                        problem_from_params(head.problem), head.solver, seeds=[sp.seed for sp, _, _ in members],
                        n=head.n, device=device, dtype=getattr(torch, dtype),
                        checkpoint=[paths["ckpt"] for _, paths, _ in members], checkpoint_every=checkpoint_every,
                        progress=False, callback=poll, **head.solve, **head.options))
            except EnsembleError as exc:
                trajs = list(exc.results)
            except _Stopped:
                trajs = [None] * len(members)
            except Exception:                           # every member failed the same way (e.g.
                trajs = [None] * len(members)           # non-finite): each reruns alone below
            seconds = time.perf_counter() - started
            ensemble = {"seeds": [sp.seed for sp, _, _ in members], "seconds": seconds}
            for (sp, paths, identity), traj in zip(members, trajs):
                if traj is not None:
                    _save_run(sp, traj, paths, identity, seconds / len(members), ensemble)
                    statuses[sp.stem] = {"stem": sp.stem, "status": "done", "loaded": False}
                elif should_stop():
                    statuses[sp.stem] = {"stem": sp.stem, "status": "interrupted"}
                else:
                    single.append(sp)                   # fall back to a single run
                locks.pop(sp.stem).release()
    finally:
        for lock in locks.values():
            lock.release()
    for sp in single:
        if should_stop():
            statuses[sp.stem] = {"stem": sp.stem, "status": "interrupted"}
        else:
            statuses[sp.stem] = _run_one(sp, *args, wait=wait, stop_file=stop_file)
    return [statuses[sp.stem] for sp in specs]


def _memory_estimate(spec: RunSpec, dtype: str) -> int:
    """Bytes one run holds at its peak, roughly (:func:`landau_nb._checks.run_memory_bytes`)."""
    problem = problem_from_params(spec.problem)
    t_end = spec.solve.get("t_end", problem.t_end)
    dt = spec.solve.get("dt", problem.dt)
    steps = max(1, int(round((t_end - problem.t0) / dt)))
    every = spec.solve.get("save_every")
    units = spec.options.get("width", 100) * spec.options.get("depth", 1) if spec.solver == "sbtm" else 0
    return run_memory_bytes(n=spec.n, d=problem.d, steps=steps, snapshots=2 + (steps // every if every else 0),
                            itemsize=4 if dtype == "float32" else 8, sbtm_units=units)


class _Signals:
    """While a sweep runs in the main thread: SIGTERM raises :class:`SweepInterrupted` (143)."""

    def __enter__(self):
        import signal
        import threading
        self.old = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                raise SweepInterrupted("terminated", signum)
            self.old = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        import signal
        if self.old is not None:
            signal.signal(signal.SIGTERM, self.old)


def run_experiment(name: str, scale: str = "book", *, out=None, device=None, dtype=None,
                   labels=None, ns=None, seeds=None, workers: int | None = None, threads: int | None = None,
                   checkpoint_every: int = 50, progress: bool = True, executor="local",
                   wait: bool = True, ensemble: bool = False) -> "Results":
    """Run every run of experiment ``name`` at ``scale`` that is not already in ``out``
    (finished runs are loaded, interrupted ones resume from their checkpoint) and return
    the :class:`Results`. A stored run with other settings raises :class:`RunConflictError`.

    out, device, dtype : the results folder, device and dtype; by default those of the scale
        (:mod:`landau_nb.experiments.defaults`, as the command line): ``results/SCALE`` of the
        repository, CUDA at paper scale when available, float32 at paper scale or on a GPU.
    labels, ns, seeds : restrict the sweep (a label may be a string; duplicates are removed).
    workers : parallel worker processes on CPU (default: 2 at most, each with ``threads``
        torch threads; one in-process worker on CUDA). Results do not depend on ``workers``;
        they depend on ``threads`` (floating-point reduction order), 1 by default.
        Runtime experiments always run one at a time, with all of this process's threads.
    executor : "local" (the default), "dask", a Dask scheduler address or ``distributed.Client``
        (:mod:`landau_nb.experiments.executors`).
    wait : a run locked by another live process is waited for (True) or left to it (False:
        listed in ``Results.taken``).
    ensemble : run the SBTM seeds of each (label, n) together, as one
        :func:`~landau_nb.solve_ensemble` task whose trainings are fused (book: "Runtime").
        The files are those of single runs, bit-identical on CPU; each member's ``seconds`` is
        an equal share of the group's wall time. Blob, exact and runtime runs stay single.

    Ctrl-C or SIGTERM stops the whole sweep within seconds (workers included; each running
    run keeps its last checkpoint) and raises :class:`SweepInterrupted`.
    """
    from .._checks import check_device, check_dtype
    from .executors import make_executor
    exp = get_experiment(name)
    check_choice("scale", scale, SCALES)
    for key, value in (("out", out), ("device", device), ("labels", labels), ("ns", ns), ("seeds", seeds)):
        check_given(key, value)
    if isinstance(labels, (list, tuple)):
        for lab in labels:
            check_given("labels[i]", lab)
    device = device if device is not None else default_device(scale)
    dtype = dtype if dtype is not None else default_dtype(scale, device)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, low=1)
    dtype_name = str(check_dtype(dtype)).replace("torch.", "")
    local = executor is None or (isinstance(executor, str) and executor == "local")
    if local:
        dev = check_device(device)
    else:       # runs execute elsewhere: a login node without a GPU may send runs to GPU nodes
        dev = torch.device(device)
        check_choice("device", dev.type, ("cpu", "cuda"))
    if ns is not None:
        ns = [check_int("n", n, low=2) for n in ns]
        for n in ns:
            check_request_size(n=n)
    if seeds is not None:
        if len(seeds) > MAX_RUNS:
            check_request_size(runs=len(seeds), what="seeds")
        seeds = [check_int("seed", s, low=0) for s in seeds]
    specs = exp.runs(scale, labels=labels, ns=ns, seeds=seeds)
    if not isinstance(ensemble, bool):
        raise TypeError(f"ensemble={ensemble!r}: expected True or False")
    for spec in specs:
        check_request_size(n=spec.n)
    if workers is None:          # (an ensemble sweep has one task per group of seeds)
        tasks = len(_ensemble_groups(specs, exp.kind)) if ensemble else len(specs)
        workers = 1 if dev.type != "cpu" or exp.kind == "runtime" else max(1, min(2, os.cpu_count() or 1, tasks))
    workers = check_int("workers", workers, low=1)
    if threads is not None:
        threads = check_int("threads", threads, low=1)
    if exp.kind == "runtime":
        workers = 1
    elif threads is None and dev.type == "cpu":
        threads = 1
    if specs and local:      # (a cluster's workers have their own memory)
        tasks = _ensemble_groups(specs, exp.kind) if ensemble else [[sp] for sp in specs]
        peak = max(sum(_memory_estimate(sp, dtype_name) for sp in task) for task in tasks)
        # at most one process per task runs; each worker process also holds its interpreter,
        # torch and numba (WORKER_PROCESS_BYTES); a single worker runs in this process
        procs = min(workers, len(tasks))
        check_request_size(nbytes=peak * procs + (WORKER_PROCESS_BYTES * procs if procs > 1 else 0),
                           what=f"{name} with {workers} worker(s)")
    out = Path(out) if out is not None else default_out(scale)
    out.mkdir(parents=True, exist_ok=True)
    # settle what is stored before computing anything: conflicts and damaged files stop here
    todo = [sp for sp in specs
            if _stored_state(run_paths(out, sp), run_identity(sp, scale, device, dtype_name)) != "done"
            or _leftovers(run_paths(out, sp))]
    from tqdm.auto import tqdm
    statuses = {}
    preloaded = len(specs) - len(todo)
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc=f"{name} [{scale}]", disable=not progress)
    import secrets
    stop_file = out / name / f".stop-{os.getpid()}-{secrets.token_hex(4)}"
    (out / name).mkdir(parents=True, exist_ok=True)
    saved_threads = torch.get_num_threads()
    runner = make_executor(executor if todo else "local", workers if todo else 1)
    in_process = runner.name == "in-process"
    try:
        with _Signals():
            try:
                for attempt_wait in ((False, True) if wait else (False,)):
                    # ensemble: one task per group of runs, returning a list of statuses
                    tasks = _ensemble_groups(todo, exp.kind) if ensemble else todo
                    calls = [(task, str(out), str(device), dtype_name, checkpoint_every, threads,
                              progress and in_process and len(todo) == 1, scale, attempt_wait, str(stop_file))
                             for task in tasks]
                    for _, result in runner.run(_run_group if ensemble else _run_one, calls):
                        result = result if ensemble else [result]
                        statuses.update((status["stem"], status) for status in result)
                        if any(status["status"] == "interrupted" for status in result):   # told to stop
                            raise SweepInterrupted("interrupted", 15)
                        bar.update(sum(status["status"] != "taken" for status in result))
                    todo = [sp for sp in todo if statuses[sp.stem]["status"] == "taken"]
                    if not todo:
                        break
            except BaseException as exc:
                try:
                    stop_file.touch()
                except OSError:          # a full disk: local workers still get SIGTERM
                    pass
                runner.stop(grace=10.0)
                if isinstance(exc, KeyboardInterrupt):
                    signum = getattr(exc, "signum", 2)
                    done = sum(1 for s in statuses.values() if s["status"] in ("done", "failed"))
                    done += preloaded
                    raise SweepInterrupted(
                        f"{name}: interrupted by {'SIGTERM' if signum == 15 else 'SIGINT'}; {done} of "
                        f"{len(specs)} runs finished, the others kept their last checkpoint", signum,
                        finished=done, pending=len(specs) - done) from None
                raise
    finally:
        stop_file.unlink(missing_ok=True)
        runner.close()
        torch.set_num_threads(saved_threads)
        bar.close()
    failed = [s for s in statuses.values() if s["status"] == "failed"]
    for s in failed:
        warnings.warn(f"{name}: run {s['stem']} failed: {s['error']}", RuntimeWarning, stacklevel=2)
    res = Results.load(out, name, scale=scale, specs=[sp for sp in specs
                                                       if statuses.get(sp.stem, {}).get("status") != "taken"])
    res.taken = [(s["stem"], s["owner"]) for s in statuses.values() if s["status"] == "taken"]
    res.computed = [s["stem"] for s in statuses.values() if s["status"] in ("done", "failed") and not s.get("loaded")]
    return res


def reproduce(scale: str = "book", *, out=None, device=None, dtype=None, only=None,
              workers=None, progress=True, executor="local", ensemble: bool = False) -> dict:
    """Run every registered experiment at ``scale``; writes ``OUT/reproduce.json`` with the
    wall time of each experiment and of the whole reproduction. Returns that record.
    ``ensemble``: as in :func:`run_experiment` (recorded in the record)."""
    check_choice("scale", scale, SCALES)
    check_given("out", out)
    check_given("device", device)
    if isinstance(only, str):
        only = [only] if only.strip() else []
    if only is not None:
        only = list(only)
        if not only or any(isinstance(n, str) and not n.strip() for n in only):
            raise ValueError(f"only={only!r} names no experiment (or an empty one); leave it out (None) "
                             "to run them all")
    out = Path(out) if out is not None else default_out(scale)
    device = device if device is not None else default_device(scale)
    dtype = dtype if dtype is not None else default_dtype(scale, device)
    names = list(EXPERIMENTS) if only is None else list(dict.fromkeys(get_experiment(n).name for n in only))
    record = {"scale": scale, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
              "versions": environment_versions(), "experiments": {}, "ensemble": bool(ensemble),
              "cuda_device": (torch.cuda.get_device_name() if torch.device(device).type == "cuda"
                              and torch.cuda.is_available() else None)}
    start = time.perf_counter()
    for name in names:
        c = time.perf_counter()
        res = run_experiment(name, scale, out=out, device=device, dtype=dtype, workers=workers, progress=progress,
                             executor=executor, ensemble=ensemble)
        record["experiments"][name] = {"seconds": time.perf_counter() - c, "runs": len(res.runs),
                                       "failed": [f["stem"] for f in res.failed]}
    record["seconds"] = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    from .._files import atomic_write
    text = json.dumps(record, indent=1).encode()
    atomic_write(out / "reproduce.json", lambda fh: fh.write(text))
    return record


def rerun_stored(path, out, *, threads: int | None = None, checkpoint_every: int = 50):
    """Re-execute a stored run from the settings recorded in it (``meta["run"]["identity"]``,
    not the registry: a committed run is reproduced even after the registry changed) into the
    folder ``out``, and return ``(stored, new)`` Trajectories. ``path`` names the run
    (``.../EXPERIMENT/LABEL/n000100_seed0``, with or without ``.npz``/``.json``); the new run is
    ``out/EXPERIMENT/LABEL/n000100_seed0``, saved as the runner saves it (a paper-scale run is
    compacted the same way). ``threads``: torch threads (default: those recorded in the run,
    since the thread count changes the round-off). On the machine, thread count and versions
    that made it, the new run is bit-identical on CPU. Book: "Reproduction scoreboard"."""
    check_given("path", path)
    check_given("out", out)
    stored = Trajectory.load(path)
    run = stored.meta.get("run")
    ident = run.get("identity") if isinstance(run, dict) else None
    if not isinstance(ident, dict):
        raise ValueError(f"path={str(path)!r}: the run records no settings (meta['run']['identity']); "
                         "it was not written by the experiment runner")
    need = ("experiment", "scale", "label", "solver", "options", "problem", "n", "seed", "dtype", "device", "solve")
    lacking = [k for k in need if k not in ident]
    if lacking:
        raise ValueError(f"path={str(path)!r}: its recorded settings lack {', '.join(lacking)}")
    # the recorded settings become a path and a request: names plain, counts in bounds, and the
    # run the one its own path names (nothing edited sends the new run outside ``out``)
    try:
        check_choice("scale", ident["scale"], SCALES)
        for key in ("problem", "options", "solve"):
            if not isinstance(ident[key], dict):
                raise ValueError(f"{key}={ident[key]!r} must be an object")
        for key, low in (("n", 2), ("seed", 0)):
            try:
                check_int(key, ident[key], low=low)
            except (TypeError, ValueError):
                raise ValueError(f"{key}={ident[key]!r} must be an integer >= {low}") from None
        check_request_size(n=ident["n"])
        spec = RunSpec(ident["experiment"], ident["label"], ident["solver"], int(ident["n"]), int(ident["seed"]),
                       ident["problem"], ident["options"], ident["solve"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"path={str(path)!r}: its recorded settings cannot be re-run: {exc}") from None
    source = Path(path)
    source = source.with_suffix("") if source.suffix in (".npz", ".json") else source
    if parse_stem(source.name) is not None and source.parent.parent.name:
        why = identity_mismatch(stored.meta, source.parent.parent.name, source.parent.name, *parse_stem(source.name))
        if why is not None:
            raise ValueError(f"path={str(path)!r}: {why}")
    out = Path(out)
    target = run_paths(out, spec)
    if target["base"].resolve() == source.resolve():
        raise ValueError(f"out={str(out)!r}: the re-run would overwrite the stored run {source}; "
                         "pass another folder")
    if target["npz"].exists() or target["json"].exists():
        raise ValueError(f"out={str(out)!r}: it already holds {spec.stem} of {spec.experiment}; "
                         "pass an empty folder")
    if threads is None:
        threads = run.get("threads") or run.get("provenance", {}).get("threads") or 1
    threads = check_int("threads", threads, low=1)
    if ident["device"] == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"path={str(path)!r}: the run was made on CUDA, which is not available here")
    saved_threads = torch.get_num_threads()
    try:
        status = _run_one(spec, str(out), ident["device"], ident["dtype"], checkpoint_every, threads,
                          False, scale=ident["scale"])
    finally:
        torch.set_num_threads(saved_threads)
    if status["status"] != "done":
        raise RuntimeError(f"re-run of {spec.experiment}/{spec.stem} ended {status['status']}: "
                           f"{status.get('error', '')}")
    return stored, Trajectory.load(target["base"])


def parse_seeds(text: str) -> list[int]:
    """"0-4" -> [0, 1, 2, 3, 4]; "0,2,5" -> [0, 2, 5]; duplicates removed ("0-4,2" -> 0..4).
    At most ``MAX_RUNS`` seeds, checked before the list is built."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = (int(p) for p in part.split("-", 1))
                if b < a:
                    raise ValueError
            else:
                a = b = int(part)
        except ValueError:
            raise ValueError(f"seeds={text!r}: expected integers >= 0 like '0-4' or '0,2,5'") from None
        check_request_size(runs=len(seeds) + b - a + 1, what=f"seeds={text!r}")
        seeds.extend(range(a, b + 1))
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds={text!r}: seeds must be >= 0")
    check_request_size(runs=len(seeds), what=f"seeds={text!r}")
    return list(dict.fromkeys(seeds))
