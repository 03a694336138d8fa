"""Ensembles: S runs of one problem (same n, different seeds) advanced together (book: "Runtime").

``solve_ensemble(problem, "sbtm", n=1600, seeds=[0, 1, 2, 3, 4])`` returns what
``[solve(problem, "sbtm", n=1600, seed=s) for s in seeds]`` returns, faster: every member is an
ordinary :func:`~landau_nb.solve` (same named random streams, recording, checkpoints), run in
its own Python thread, and the members' SBTM trainings (paper §3.1, step 6 of the pseudocode)
meet at a rendezvous where one pass of the fused kernel trains all S networks together
(:func:`landau_nb.scores.sbtm.train_fused`: numba over members and particle chunks on the CPU, one
batched CUDA graph on a GPU). The members take turns between rendezvous (one computes at a
time), so the rest of each step costs what it costs in a single run. A member's numbers do not depend on the others (its chunks and
reductions are its own), so on the CPU member k is bit-identical to the single run with
``seed=seeds[k]`` and the fused backend, and resumes from its own checkpoint bit-identically.

The blob and exact methods, and SBTM with ``backend="torch"`` (autograd), have no batched
training: their members run one after another (in threads they would only add the cost of
switching between them: x0.7 at n = 100 with autograd).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .._checks import check_choice, check_int
from ..scores.sbtm import SBTM, train_fused
from ..scores.registry import ESTIMATORS
from .integrate import solve

__all__ = ["solve_ensemble", "EnsembleError"]


class EnsembleError(RuntimeError):
    """A member of an ensemble failed. ``errors`` maps member index -> exception,
    ``results`` holds the members' trajectories (None for failed members)."""

    def __init__(self, message, errors, results):
        super().__init__(message)
        self.errors, self.results = errors, results


class _Rendezvous:
    """Collects the members' training requests; when every member still running has one, the
    last to arrive trains them all (grouped by step count) and wakes the others.

    The condition's lock is also the members' turn: a member thread holds it while it runs
    and gives it up only while it waits here, so exactly one member computes at a time (no
    competing torch thread pools) and the batched training gets every core."""

    def __init__(self, members):
        self.members = members
        # every batched training runs on this one thread: numba's and torch's OpenMP pools
        # belong to the thread that calls them, and a new caller at every step (the last member
        # to arrive) costs ~20 % of the kernel's time at n = 1000 on 2 cores
        self.trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ensemble-training")
        self.cond = threading.Condition(threading.RLock())
        self.active = set(range(len(members)))
        self.pending: dict[int, tuple] = {}
        self.generation = 0
        self.failures: dict[int, BaseException] = {}

    def train(self, idx, x, steps):
        with self.cond:
            self.pending[idx] = (x, steps)
            gen = self.generation
            if self.pending.keys() >= self.active:
                self._run()
            else:
                while self.generation == gen:
                    self.cond.wait()
            err = self.failures.pop(idx, None)
        if err is not None:
            raise err

    def leave(self, idx):
        with self.cond:
            self.active.discard(idx)
            if self.pending and self.pending.keys() >= self.active:
                self._run()

    def _run(self):                                   # the lock is held
        groups: dict[int, list[int]] = {}
        for idx, (_, steps) in sorted(self.pending.items()):
            groups.setdefault(steps, []).append(idx)
        for steps, idxs in groups.items():
            try:
                self.trainer.submit(train_fused, [self.members[i] for i in idxs],
                                    [self.pending[i][0] for i in idxs], steps).result()
            except BaseException as exc:              # noqa: BLE001 - handed to each member's thread
                for i in idxs:
                    self.failures[i] = exc
        self.pending.clear()
        self.generation += 1
        self.cond.notify_all()


class _MemberSBTM(SBTM):
    """An SBTM estimator whose fused training goes through the ensemble's rendezvous."""

    def _fused_steps(self, x, steps):
        self._rendezvous.train(self._member, x, steps)


def solve_ensemble(problem, method="sbtm", *, seeds, n: int | None = None, checkpoint=None,
                   callback=None, **kwargs) -> list:
    """Solve ``problem`` once per seed in ``seeds`` (same n and options), the SBTM trainings of
    all members batched into one fused pass per Adam step. Book: "Runtime".

    Parameters are those of :func:`landau_nb.solve` (``n``, ``dt``, ``t_end``, ``device``,
    ``dtype``, estimator options such as ``lr``...) except: ``seeds`` (distinct integers
    >= 0), ``checkpoint`` (a folder: member k checkpoints in ``checkpoint/seed{seeds[k]}``
    and resumes from there; or a list of one folder per seed, e.g. the runner's per-run
    folders), ``callback`` (called as ``callback(k_member, k, t, x, s, v)``). A member's
    checkpoint is a single run's: either can resume the other.
    Returns the list of :class:`~landau_nb.Trajectory`, in the order of ``seeds``. If some
    members fail, the others still finish and :class:`EnsembleError` is raised with all
    results; if all fail the same way, the first member's exception is raised as it is.
    """
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a list of integers, got {seeds!r}")
    seeds = [check_int("seeds[i]", s, low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds} repeats a seed; the members of an ensemble must differ")
    check_choice("method", method, tuple(ESTIMATORS))
    for key in ("x0", "seed"):
        if key in kwargs:
            raise ValueError(f"solve_ensemble draws each member's sample from its seed in seeds; {key} is not "
                             "accepted")
    if checkpoint is None:
        folders = [None] * len(seeds)
    elif isinstance(checkpoint, (list, tuple)):
        if len(checkpoint) != len(seeds):
            raise ValueError(f"checkpoint lists {len(checkpoint)} folders for {len(seeds)} seeds; give one per seed")
        folders = [Path(c) for c in checkpoint]
    else:
        folders = [Path(checkpoint) / f"seed{s}" for s in seeds]
    if checkpoint is not None:
        # two members in one folder would overwrite each other's checkpoints (and a resumed
        # member would find the other's): refused before anything runs
        where: dict = {}
        for i, folder in enumerate(folders):
            key = folder.resolve()
            if key in where:
                raise ValueError(f"checkpoint: members seed {seeds[where[key]]} and seed {seeds[i]} share the "
                                 f"folder {folder}; give each member its own checkpoint folder")
            where[key] = i
    solve_keys = set(solve.__code__.co_varnames[:solve.__code__.co_argcount + solve.__code__.co_kwonlyargcount])
    options = {k: v for k, v in kwargs.items() if k not in solve_keys}
    solve_kw = {k: v for k, v in kwargs.items() if k in solve_keys}

    def member_callback(i):
        return None if callback is None else (lambda *a: callback(i, *a))

    results: list = [None] * len(seeds)
    errors: dict[int, BaseException] = {}
    if method != "sbtm" or options.get("backend") == "torch":
        # nothing to batch (autograd trains each network on its own): one member after another
        for i, seed in enumerate(seeds):
            try:
                results[i] = solve(problem, method, n=n, seed=seed, checkpoint=folders[i],
                                   callback=member_callback(i), **solve_kw, **options)
            except Exception as exc:                  # noqa: BLE001 - reported with the others
                errors[i] = exc
    else:
        members = [_MemberSBTM(**options) for _ in seeds]
        rendezvous = _Rendezvous(members)
        for i, m in enumerate(members):
            m._rendezvous, m._member = rendezvous, i

        def run(i):
            with rendezvous.cond:                     # the member's turn (see _Rendezvous)
                try:
                    results[i] = solve(problem, members[i], n=n, seed=seeds[i], checkpoint=folders[i],
                                       callback=member_callback(i), **solve_kw)
                except BaseException as exc:          # noqa: BLE001 - re-raised in the caller
                    errors[i] = exc
                finally:
                    rendezvous.leave(i)

        threads = [threading.Thread(target=run, args=(i,), name=f"ensemble-seed{s}", daemon=True)
                   for i, s in enumerate(seeds)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            rendezvous.trainer.shutdown(wait=True)
    if errors:
        first = min(errors)
        interrupt = [e for e in errors.values() if not isinstance(e, Exception)]
        if interrupt:
            raise interrupt[0]
        if len(errors) == len(seeds) and len({type(e) for e in errors.values()}) == 1:
            raise errors[first]                     # the same failure everywhere: raise it as is
        raise EnsembleError(f"{len(errors)} of {len(seeds)} members failed; first (seed {seeds[first]}): "
                            f"{type(errors[first]).__name__}: {errors[first]}", errors, results) from errors[first]
    return results
