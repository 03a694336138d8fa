"""Where the runs of a sweep execute: in this process, a local process pool, or a Dask cluster.

Every executor runs the same function on the same run list; each run takes its lock
(:mod:`landau_nb.experiments.locks`) and writes its own files, so results do not depend on the executor
(each run uses one torch thread). Stopping is cooperative first (a stop file that every run
polls once per time step, and a flag set by SIGTERM in local workers), then forced after a
grace period (local workers are killed; their runs keep their last checkpoint).
Book: "Experiments" (running a sweep on many machines).
"""

from __future__ import annotations

import os
import signal
import time

__all__ = ["Executor", "InProcess", "LocalPool", "DaskExecutor", "make_executor", "stop_requested"]

_STOP = False


def stop_requested() -> bool:
    """True once this worker process was asked to stop (SIGTERM, or its parent died)."""
    return _STOP


def _on_sigterm(signum, frame):
    global _STOP
    _STOP = True


def _worker_init():
    """Local pool workers: Ctrl-C is the parent's business; SIGTERM (also sent when the parent
    dies, Linux PR_SET_PDEATHSIG) asks the running run to stop at its next step."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)           # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:                       # parent already gone
        _on_sigterm(None, None)


class Executor:
    """Runs ``fn(*args)`` for each ``args`` of a list; ``run`` yields (index, result) as they
    finish and raises the first exception of a call. ``stop(grace)`` ends what is running."""

    name = "executor"

    def run(self, fn, calls: list):
        raise NotImplementedError

    def stop(self, grace: float) -> None:
        pass

    def close(self) -> None:
        pass


class InProcess(Executor):
    """One run after another in this process (CUDA runs, runtime experiments, ``workers=1``)."""

    name = "in-process"

    def run(self, fn, calls):
        for i, args in enumerate(calls):
            yield i, fn(*args)


class LocalPool(Executor):
    """A pool of ``workers`` spawned processes on this machine (the default on CPU)."""

    name = "local"

    def __init__(self, workers: int):
        import concurrent.futures as cf
        import multiprocessing as mp
        self.workers = workers
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                           initializer=_worker_init)
        self.futures = []
        self.stopped = False

    def run(self, fn, calls):
        import concurrent.futures as cf
        index = {}
        for i, args in enumerate(calls):
            fut = self.pool.submit(fn, *args)
            index[fut] = i
            self.futures.append(fut)
        for fut in cf.as_completed(index):
            yield index[fut], fut.result()

    def _processes(self) -> list:
        return list(getattr(self.pool, "_processes", {}).values())

    def stop(self, grace: float) -> None:
        """Cancel queued runs, ask running ones to stop (SIGTERM sets their stop flag; they
        return at their next step, releasing their lock), let the workers exit, and kill
        those still alive after ``grace`` seconds."""
        self.stopped = True
        for fut in self.futures:
            fut.cancel()
        procs = self._processes()
        for p in procs:
            if p.is_alive():
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        self.pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace
        for p in procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(timeout=5)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """Runs on a Dask distributed cluster: ``client`` is a ``distributed.Client``, or the
    scheduler's address (``"tcp://host:8786"``). Every worker must see the results folder
    (a shared file system); start workers with one thread each (``--nthreads 1``), since torch's
    thread count is per process. A run whose worker dies is rescheduled by Dask and resumes
    from its checkpoint under its lock; ``retries`` more attempts are made after an error."""

    name = "dask"

    def __init__(self, client, retries: int = 2):
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("executor='dask' needs the 'distributed' package "
                             "(pip install 'landau_nb[cluster]')") from None
        self.own = not isinstance(client, Client)
        self.client = Client(client) if self.own else client
        self.retries = int(retries)
        self.futures = []

    def run(self, fn, calls):
        from distributed import as_completed
        import secrets
        tag = secrets.token_hex(4)
        index, batch = {}, []
        for i, args in enumerate(calls):
            fut = self.client.submit(fn, *args, pure=False, retries=self.retries, key=f"landau-run-{tag}-{i}")
            index[fut.key] = i
            batch.append(fut)
        self.futures.extend(batch)
        for fut in as_completed(batch):
            yield index[fut.key], fut.result()

    def stop(self, grace: float) -> None:
        """Runs see the stop file at their next step; queued ones are cancelled."""
        deadline = time.monotonic() + grace
        pending = [f for f in self.futures if f.status == "pending"]
        while pending and time.monotonic() < deadline:
            time.sleep(0.1)
            pending = [f for f in pending if f.status == "pending"]
        self.client.cancel(self.futures)

    def close(self) -> None:
        if self.own:
            self.client.close()


def make_executor(executor, workers: int) -> Executor:
    """``executor``: "local" (a pool of ``workers`` processes, or this process if 1), "dask"
    (a Dask cluster whose scheduler address is in ``DASK_SCHEDULER_ADDRESS``), a scheduler
    address "tcp://...", a ``distributed.Client``, or an :class:`Executor`."""
    if isinstance(executor, Executor):
        return executor
    if executor is None or executor == "local":
        return InProcess() if workers == 1 else LocalPool(workers)
    if executor == "dask":
        address = os.environ.get("DASK_SCHEDULER_ADDRESS")
        if not address:
            raise ValueError("executor='dask' needs a scheduler address (--scheduler tcp://HOST:8786 or "
                             "DASK_SCHEDULER_ADDRESS)")
        return DaskExecutor(address)
    if isinstance(executor, str) and "://" in executor:
        return DaskExecutor(executor)
    try:
        from distributed import Client
    except ImportError:
        Client = ()
    if Client and isinstance(executor, Client):
        return DaskExecutor(executor)
    raise ValueError(f"executor={executor!r} is not known; allowed: 'local', 'dask', a scheduler address "
                     "'tcp://HOST:PORT', a distributed.Client or a landau_nb.experiments.executors.Executor")
