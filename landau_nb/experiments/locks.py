"""One lock per run, so many processes (or machines) can share one results folder.

A lock is a file ``RUN.lock`` created with ``O_CREAT | O_EXCL`` (atomic on local file systems
and on NFS v3+) holding the owner's host, pid, process start time and a random token. While
held, a thread touches the file every ``heartbeat`` seconds. A lock is *stale*, and may be
broken, when its owner is on this host and that process is gone (or the pid now belongs to a
process started at another time), or when it is on another host and has not been touched for
``stale_after`` seconds. Breaking a stale lock is itself serialised by a second ``O_EXCL``
file, so two processes never both take over the same run. Only the owner removes its lock.
Book: "Experiments" (running a sweep on many machines).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path

from .._files import HOST, process_alive, process_start_time

__all__ = ["RunLock", "RunTakenError"]


class RunTakenError(RuntimeError):
    """The run is being computed by another live process (the lock's owner is in the message)."""

    def __init__(self, message, *, owner: dict, path: Path):
        super().__init__(message)
        self.owner, self.path = owner, path

    def __reduce__(self):
        return (_taken, (str(self), self.owner, str(self.path)))


def _taken(message, owner, path):
    return RunTakenError(message, owner=owner, path=Path(path))


def _create_exclusive(path: Path, record: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
    except OSError as exc:           # e.g. a full disk: leave no empty lock behind
        os.close(fd)
        path.unlink(missing_ok=True)
        if exc.filename is None:
            exc.filename = str(path)
        raise
    os.close(fd)
    return True


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}          # being written right now, or damaged: judged by its age


class RunLock:
    """The lock of one run: ``with RunLock(path): ...`` or ``acquire()``/``release()``.

    heartbeat : seconds between touches of the lock file while held.
    stale_after : a lock of another host untouched this long is stale (its owner died).
    """

    def __init__(self, path, *, heartbeat: float = 30.0, stale_after: float = 600.0):
        self.path = Path(path)
        self.heartbeat, self.stale_after = float(heartbeat), float(stale_after)
        self.token = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread = None
        self.held = False

    def _record(self) -> dict:
        return {"host": HOST, "pid": os.getpid(), "start": process_start_time(os.getpid()), "token": self.token,
                "since": time.time()}

    def owner(self) -> dict | None:
        return _read(self.path)

    def is_stale(self, owner: dict) -> bool:
        if owner.get("host") == HOST and isinstance(owner.get("pid"), int):
            return not process_alive(owner["pid"], owner.get("start"))
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        return age > (self.stale_after if owner else 30.0)

    def _break_stale(self, owner: dict) -> None:
        """Remove a stale lock, under a second exclusive file so that only one process does."""
        guard = self.path.with_name(self.path.name + ".break")
        if not _create_exclusive(guard, self._record()):
            g = _read(guard)
            if g is None or not self.is_stale_guard(guard, g):
                return
            guard.unlink(missing_ok=True)          # its owner died while breaking: retry later
            return
        try:
            again = _read(self.path)
            if again is not None and again.get("token") == owner.get("token") and self.is_stale(again):
                self.path.unlink(missing_ok=True)
        finally:
            guard.unlink(missing_ok=True)

    def is_stale_guard(self, guard: Path, g: dict) -> bool:
        if g.get("host") == HOST and isinstance(g.get("pid"), int):
            return not process_alive(g["pid"], g.get("start"))
        try:
            return time.time() - guard.stat().st_mtime > 60.0
        except FileNotFoundError:
            return True

    def try_acquire(self) -> bool:
        """Take the lock if it is free or stale; False if a live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if _create_exclusive(self.path, self._record()):
                self.held = True
                self._start_heartbeat()
                return True
            owner = _read(self.path)
            if owner is None:
                continue                     # released in between: try again
            if not self.is_stale(owner):
                return False
            self._break_stale(owner)
        return False

    def describe_owner(self) -> str:
        o = self.owner() or {}
        try:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(o["since"])))
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            since = "?"
        return f"pid {o.get('pid', '?')} on host {o.get('host', '?')} since {since} (lock {self.path})"

    def skew_note(self) -> str:
        """``"; its lock is stamped 2.0 h in the future (clocks out of step?)"`` when the lock's
        time stamp or recorded start lies ahead of this host's clock (another host's clock is
        ahead: the lock is judged stale only once it has been untouched for ``stale_after`` by
        this clock), else an empty string."""
        o = self.owner() or {}
        stamps = []
        try:
            stamps.append(self.path.stat().st_mtime)
        except OSError:
            pass
        if isinstance(o.get("since"), (int, float)):
            stamps.append(float(o["since"]))
        ahead = max(stamps, default=0.0) - time.time()
        if ahead <= 60.0:
            return ""
        shown = f"{ahead / 3600:.1f} h" if ahead >= 3600 else f"{ahead / 60:.0f} min"
        return f"; its lock is stamped {shown} in the future (clocks out of step?)"

    def acquire(self, wait: bool = True, poll: float = 0.5) -> None:
        """Take the lock; with ``wait`` block until its owner releases it (or dies), else raise
        :class:`RunTakenError`."""
        while not self.try_acquire():
            if not wait:
                raise RunTakenError(f"run {self.path.with_suffix('')} is taken by {self.describe_owner()}; "
                                    "if that process is gone, delete the lock file",
                                    owner=self.owner() or {}, path=self.path)
            time.sleep(poll)

    def _start_heartbeat(self):
        self._stop.clear()

        def beat():
            while not self._stop.wait(self.heartbeat):
                try:
                    os.utime(self.path)
                except OSError:
                    pass

        self._thread = threading.Thread(target=beat, name=f"lock-heartbeat {self.path.name}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Remove the lock if this object holds it (never another process's lock)."""
        if not self.held:
            return
        self._stop.set()
        owner = _read(self.path)
        if owner is not None and owner.get("token") == self.token:
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
