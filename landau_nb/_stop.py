"""A stop request that reaches into long calls. The floor of the package: it imports nothing
from landau_nb.

A run stops cooperatively: the runner polls its stop flag once per time step. A single step
can be long (a compiled pair sum over 10^7 particles, an SBTM training at large n), so the
long loops also call :func:`poll_stop` between their chunks of work (row blocks of a pair
sum, groups of Adam steps). The runner installs the check with :func:`stop_hook`; the check
raises to stop (the exception travels up through ``solve`` like one raised by its callback).
In the main thread Ctrl-C and SIGTERM need no hook: their handlers run between the chunks.
"""

from __future__ import annotations

import contextlib

__all__ = ["poll_stop", "stop_hook", "quiet_start", "started_as_command"]

_HOOK = None


def poll_stop() -> None:
    """Call the installed stop check (it raises when a stop was asked for); cheap without one."""
    hook = _HOOK
    if hook is not None:
        hook()


@contextlib.contextmanager
def stop_hook(check):
    """Install ``check`` (a callable that raises to stop) for the duration of the block; the
    previous one is restored afterwards. One per process: the runner's worker executes one
    task at a time (an ensemble's members share their task's check)."""
    global _HOOK
    previous, _HOOK = _HOOK, check
    try:
        yield
    finally:
        _HOOK = previous


def started_as_command() -> bool:
    """True while this interpreter was started as ``python -m landau_nb ...``."""
    import sys
    argv = list(getattr(sys, "orig_argv", []))
    return any(a == "-m" and b == "landau_nb" for a, b in zip(argv, argv[1:]))


def quiet_start(signum, frame):           # pragma: no cover - exercised in a subprocess
    """SIGINT handler from the first line of ``import landau_nb`` under ``python -m landau_nb``
    until the command's ``main()`` runs (importing torch takes a second or two): Ctrl-C then
    exits 130 with one line, no traceback, and without raising inside an import (an exception
    thrown through torch's C++ start-up can abort the interpreter)."""
    import os
    os.write(2, b"python -m landau_nb: interrupted while starting; nothing was done\n")
    os._exit(130)
