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
import sys
import threading
import time

__all__ = ["Executor", "InProcess", "LocalPool", "DaskExecutor", "make_executor", "stop_requested"]

_STOP = False
_ACTIVE = 0                     # tasks running in this worker process (the watchdog waits for them)
_ACTIVE_LOCK = threading.Lock()
#: seconds a worker whose parent died gives its running task to stop (at its next step or
#: between two blocks of a long call, releasing its lock) before it exits anyway
ORPHAN_GRACE = 5.0
#: seconds between two looks of a worker's watchdog at its parent
WATCH_EVERY = 0.2


def stop_requested() -> bool:
    """True once this worker process was asked to stop (SIGTERM, or its parent died)."""
    return _STOP


def _on_sigterm(signum, frame):
    global _STOP
    _STOP = True


def _tracked(fn, *args):
    """Run a task in a pool worker, counted in ``_ACTIVE`` for the watchdog."""
    global _ACTIVE
    with _ACTIVE_LOCK:
        _ACTIVE += 1
    try:
        return fn(*args)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE -= 1


def _watch_parent(parent: int) -> None:
    """A worker's watchdog: once its parent is gone (killed by any signal: SIGKILL and SIGHUP
    leave no chance to stop the pool), set the stop flag, give the running task
    ``ORPHAN_GRACE`` seconds to return (it keeps its last checkpoint and releases its lock),
    then exit. The pool's queues are then closed for good, so the multiprocessing resource
    tracker, whose last users were the parent and the workers, exits too."""
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY)
    _on_sigterm(None, None)
    deadline = time.monotonic() + ORPHAN_GRACE
    while _ACTIVE and time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(128 + signal.SIGTERM)


def _worker_init(parent: int | None = None):
    """Local pool workers: Ctrl-C is the parent's business; SIGTERM (also sent when the parent
    dies, Linux PR_SET_PDEATHSIG) asks the running run to stop at its next step; a watchdog
    thread makes the worker exit once its parent ``parent`` is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)           # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    parent = os.getppid() if parent is None else parent
    threading.Thread(target=_watch_parent, args=(parent,), name="landau-parent-watch", daemon=True).start()


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
                                           initializer=_worker_init, initargs=(os.getpid(),))
        self.futures = []
        self.stopped = False

    def run(self, fn, calls):
        import concurrent.futures as cf
        index = {}
        for i, args in enumerate(calls):
            fut = self.pool.submit(_tracked, fn, *args)
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

    def __init__(self, client, retries: int = 2, timeout: float | None = None):
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("executor='dask' needs the 'distributed' package "
                             "(pip install 'landau_nb[cluster]')") from None
        self.own = not isinstance(client, Client)
        self.client = _connect(client, CONNECT_TIMEOUT if timeout is None else timeout) if self.own else client
        self.retries = int(retries)
        self.futures = []

    def _report_no_workers(self) -> None:
        """Say so (one line on stderr) when the scheduler has no worker yet: the sweep waits
        for one, which may be for ever."""
        try:
            workers = self.client.scheduler_info().get("workers", {})
        except Exception:                                    # noqa: BLE001 - a report, not a check
            return
        if not workers:
            since = time.strftime("%H:%M:%S")
            print(f"landau_nb: waiting for a Dask worker since {since}: no Dask worker is connected to the "
                  f"scheduler at {self.client.scheduler.address}; start one (dask worker ADDRESS --nthreads 1) "
                  "or press Ctrl-C", file=sys.stderr, flush=True)

    def run(self, fn, calls):
        from distributed import as_completed
        import secrets
        self._report_no_workers()
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


#: seconds to reach a Dask scheduler (and complete its handshake) before giving up
CONNECT_TIMEOUT = 10.0


def _connect(address, timeout: float):
    """A ``distributed.Client`` for the scheduler at ``address``, or a ``ValueError`` in one
    line within about ``timeout`` seconds: nothing listening, a host that does not resolve, or
    a server that is not a Dask scheduler (an HTTP server's reply read as a message length once
    asked for exabytes)."""
    import socket
    import struct
    from urllib.parse import urlsplit

    from distributed import Client
    text = str(address)
    parts = urlsplit(text if "://" in text else f"tcp://{text}")
    if parts.scheme not in ("tcp", "tls", "ws", "wss", "inproc", "ucx") or (parts.scheme != "inproc" and not parts.hostname):
        raise ValueError(f"--scheduler {text}: not a Dask scheduler address (expected tcp://HOST:PORT)")
    if parts.scheme in ("tcp", "tls", "ws", "wss"):
        try:
            port = parts.port or 8786
            with socket.create_connection((parts.hostname, port), timeout=min(timeout, 5.0)) as sock:
                if parts.scheme == "tcp":
                    # a Dask scheduler speaks first: its handshake, 8 bytes of length then the
                    # message; a server that stays silent, or whose first bytes are no sane
                    # length (b"HTTP/1.0" reads as 3 EiB), is not one
                    sock.settimeout(min(timeout, 3.0))
                    head = b""
                    try:
                        while len(head) < 8:
                            chunk = sock.recv(8 - len(head))
                            if not chunk:
                                break
                            head += chunk
                    except socket.timeout:
                        raise ValueError(f"--scheduler {text}: something listens there but it is not a Dask "
                                         "scheduler (it sent no handshake)") from None
                    if len(head) < 8 or struct.unpack("<Q", head)[0] > 2**26:
                        raise ValueError(f"--scheduler {text}: something listens there but it is not a Dask "
                                         f"scheduler (it answered {head!r})")
        except OSError as exc:
            why = exc.strerror or str(exc) or type(exc).__name__
            raise ValueError(f"--scheduler {text}: no Dask scheduler answers there ({why})") from None
    try:
        return Client(text, timeout=timeout, set_as_default=False)
    except Exception as exc:                           # noqa: BLE001 - any failure is one line
        why = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]
        raise ValueError(f"--scheduler {text}: no Dask scheduler answers there, or it is not one ({why})") from None


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
