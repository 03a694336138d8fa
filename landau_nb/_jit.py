"""Every process runs the same machine code of a parallel numba kernel (floor; imports numba lazily).

numba compiles a ``parallel=True`` function in two libraries: the loop body (a gufunc),
optimised and loaded on its own, and the function that calls it, into which the gufunc is
linked and optimised a second time. The process that compiles runs the first copy; the
on-disk cache (``cache=True``) stores the second, which every later process loads. With
fastmath the two copies can round differently (measured here: the fused SBTM kernel and the
Vlasov collision sums differ in the last bits between a process that compiled them and one
that loaded them; numba issue #10617 reports the same split for speed), so a run resumed in a
new process, or a member computed on a worker, would not be bit for bit the run computed in
one piece.

:func:`share_cached_code` therefore never lets a process run its own fresh compilation of such
a kernel when numba can cache it: on a cache miss it compiles the kernel in a child process (same
interpreter, same environment, so the same cache folder and CPU target), which writes the
cache, and then loads it like any other process. The first use on a machine costs the compile
plus the child's start-up (a few seconds); later uses load the cache (well under a second).
Where numba cannot cache (no writable cache folder, ``NUMBA_DISABLE_JIT``), every process
compiles for itself and all of them run the same first copy.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
import warnings

#: the LLVM function attribute that lets the loop vectoriser use 512-bit registers where the CPU
#: has them: LLVM's tuning for recent Xeons (Skylake-X ... Emerald Rapids) prefers 256-bit vectors
#: (``prefer-256-bit``), which halves the arithmetic of the SBTM kernels' loops over the hidden
#: units. Set per kernel (``share_cached_code(..., wide=True)``), not for the process: the other
#: kernels keep the code their committed runs were made with. A CPU without AVX-512 ignores it.
WIDE_VECTORS = '"prefer-vector-width"="512"'
_DEFINE = re.compile(r"^(define [^\n]*?)\s*\{[ \t]*$", re.M)   # llvmlite: the brace ends its line


def _signature(disp, args) -> tuple:
    return tuple(disp.typeof_pyval(a) for a in args)


def _cached_on_disk(disp, sig) -> bool | None:
    """Whether numba's on-disk cache holds ``sig`` for ``disp``; None where it cannot cache."""
    from numba.core.caching import FunctionCache
    cache = getattr(disp, "_cache", None)
    if not isinstance(cache, FunctionCache) or not getattr(cache, "_enabled", False):
        return None
    try:                                   # numba's private cache API (numba is pinned; tested)
        key = cache._index_key(sig, disp.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception as exc:  # noqa: BLE001 - another numba: say so, compile here
        warnings.warn(f"cannot read numba's cache index ({type(exc).__name__}: {exc}); kernels are "
                      "compiled in each process that needs them", RuntimeWarning, stacklevel=4)
        return None


def _locate(spec):
    """The dispatcher named by ``spec`` = (module, attribute) or (module, factory, args, index)."""
    mod = importlib.import_module(spec[0])
    obj = getattr(mod, spec[1])
    if len(spec) > 2:
        obj = obj(*spec[2])[spec[3]]
    return obj


def _spec_of(disp) -> tuple:
    fn = disp.py_func
    if "<locals>" in fn.__qualname__:
        raise ValueError(f"{fn.__qualname__} is a closure: pass spec=(module, factory, args, index)")
    return (fn.__module__, fn.__qualname__)


def _describe(t) -> list:
    """A JSON form of an argument's numba type (arrays and scalars: what the kernels take)."""
    from numba.core import types
    if isinstance(t, types.Array):
        return ["array", str(t.dtype), t.ndim, t.layout, not t.mutable, t.aligned]
    if isinstance(t, (types.Integer, types.Float, types.Boolean)):
        return ["scalar", str(t)]
    raise TypeError(f"no JSON form for the numba type {t}")


def _rebuild(desc):
    from numba.core import types
    if desc[0] == "array":
        _, dtype, ndim, layout, readonly, aligned = desc
        return types.Array(getattr(types, dtype), ndim, layout, readonly=readonly, aligned=aligned)
    return getattr(types, desc[1])


@contextlib.contextmanager
def wide_vectors(on: bool = True):
    """While active, every function numba compiles carries :data:`WIDE_VECTORS` (numba has no
    per-function target option: its code library is patched for the duration; compiles hold
    numba's global compiler lock, so no other compile sees the patch). The runtime helpers numba
    compiles once per process (reference counting) and links into later kernels may be compiled
    under it; they hold no loops to vectorise."""
    if not on:
        yield
        return
    import llvmlite.binding as ll
    from numba.core import cgutils
    from numba.core.codegen import CPUCodeLibrary
    plain = CPUCodeLibrary.add_ir_module

    def add_ir_module(self, ir_module):                # numba's own method (numba is pinned), plus the attribute
        self._raise_if_finalized()
        text = _DEFINE.sub(lambda m: f"{m.group(1)} {WIDE_VECTORS} {{", cgutils.normalize_ir_text(str(ir_module)))
        ll_module = ll.parse_assembly(text)
        ll_module.name = ir_module.name
        ll_module.verify()
        self.add_llvm_module(ll_module)

    CPUCodeLibrary.add_ir_module = add_ir_module
    try:
        yield
    finally:
        CPUCodeLibrary.add_ir_module = plain


def _compile_child(arg: str) -> None:
    """Entry point of the child process: compile the named dispatcher for the described signature."""
    spec, sig = json.loads(arg)
    spec = [spec[0], spec[1], tuple(spec[2]), spec[3]] if len(spec) > 2 else spec
    disp = _locate(spec)
    with wide_vectors(getattr(disp, "_landau_wide", False)):
        disp.compile(tuple(_rebuild(t) for t in sig))


def _compile_elsewhere(spec, sig) -> str | None:
    """Compile ``spec`` for ``sig`` in a child process (it writes numba's cache); None if it
    worked, else what went wrong."""
    try:
        desc = [_describe(t) for t in sig]
        if tuple(_rebuild(t) for t in desc) != sig:
            raise TypeError(f"the signature {sig} does not survive its JSON form")
    except (TypeError, AttributeError) as exc:
        return str(exc)
    code = "import sys; from landau_nb._jit import _compile_child; _compile_child(sys.argv[1])"
    try:
        res = subprocess.run([sys.executable, "-c", code, json.dumps([list(spec), desc])], capture_output=True,
                             text=True, timeout=900, env=dict(os.environ))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if res.returncode == 0 else res.stderr.strip()[-2000:]


def ensure_cached(disp, args, spec=None) -> None:
    """Make sure this process will load ``disp``'s code for ``args`` from numba's cache (see the
    module docstring): on a cache miss, compile it in a child process."""
    if not hasattr(disp, "overloads"):                 # NUMBA_DISABLE_JIT: a plain function
        return
    sig = _signature(disp, args)
    if sig not in disp.overloads and _cached_on_disk(disp, sig) is False:
        err = _compile_elsewhere(spec or _spec_of(disp), sig)
        if err is not None or not _cached_on_disk(disp, sig):
            warnings.warn(f"compiling {disp.py_func.__qualname__} in a child process failed "
                          f"({err or 'the cache was not written'}); compiled here instead: its results "
                          "may differ in the last bits from those of processes that load numba's cache",
                          RuntimeWarning, stacklevel=4)


def share_cached_code(disp, spec=None, *, wide: bool = False):
    """Install the rule of the module docstring on the numba dispatcher ``disp`` and return it:
    numba calls ``_compile_for_args`` only for a signature this process has not got yet, so the
    hook costs nothing on later calls. ``spec`` names a dispatcher made by a factory, for the
    child process: (module, factory, factory args, index). ``wide``: compile it with
    :data:`WIDE_VECTORS` (here and in the child)."""
    if not hasattr(disp, "_compile_for_args"):         # NUMBA_DISABLE_JIT: a plain function
        return disp
    fresh = disp._compile_for_args
    disp._landau_wide = bool(wide)

    def compile_for_args(*args, **kws):
        if not kws:                                    # the kernels are called with positional arguments
            ensure_cached(disp, args, spec)
        with wide_vectors(disp._landau_wide):          # loads the cache, or compiles here where numba cannot cache
            return fresh(*args, **kws)

    disp._compile_for_args = compile_for_args
    return disp
