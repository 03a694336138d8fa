"""Printing the essential lines of a landau_nb function (the book's code listings)."""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap

__all__ = ["show_source"]


def _resolve(obj):
    if isinstance(obj, str):
        module, _, name = obj.rpartition(".")
        if not module or not name:
            raise ValueError(f"obj={obj!r}: give a function or a name 'module.function' inside landau_nb, "
                             "e.g. 'collision._velocity_direct'")
        try:
            mod = importlib.import_module(f"landau_nb.{module}")
            return getattr(mod, name)
        except (ImportError, AttributeError):
            raise ValueError(f"obj={obj!r}: no function {name!r} in landau_nb.{module}") from None
    return obj


def show_source(obj, start: str | None = None, end: str | None = None, *,
                docstring: bool = False) -> str:
    """The essential lines of a landau_nb function, for printing in the book.

    ``obj`` is a function or method of landau_nb, or its name inside the package
    (``"collision._velocity_direct"``). Returns its ``def`` line(s), then the body from the
    first line containing ``start`` to the first line after it containing ``end`` (defaults:
    the first and the last line of the body); the docstring is left out unless
    ``docstring=True``, and a line ``...`` marks each cut (argument checks, say).
    """
    func = inspect.unwrap(_resolve(obj))
    module = getattr(func, "__module__", "") or ""
    if not (inspect.isfunction(func) or inspect.ismethod(func)) or not module.startswith("landau_nb"):
        raise TypeError(f"obj must be a function of landau_nb, got {obj!r}")
    lines = textwrap.dedent(inspect.getsource(func)).splitlines()
    node = ast.parse("\n".join(lines)).body[0]
    body = node.body
    has_doc = (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
               and isinstance(body[0].value.value, str))
    header = lines[:body[0].lineno - 1]
    first = body[1] if has_doc and len(body) > 1 else body[0]
    if has_doc and docstring:
        header = lines[:first.lineno - 1]
    rest = lines[first.lineno - 1:]
    i = 0
    if start is not None:
        hits = [k for k, line in enumerate(rest) if start in line]
        if not hits:
            raise ValueError(f"start={start!r} is not in the body of {func.__qualname__}")
        i = hits[0]
    j = len(rest) - 1
    if end is not None:
        hits = [k for k in range(i, len(rest)) if end in rest[k]]
        if not hits:
            raise ValueError(f"end={end!r} is not in the body of {func.__qualname__} after start")
        j = hits[0]
    pad = " " * (len(rest[i]) - len(rest[i].lstrip()))
    out = header + ([pad + "..."] if i > 0 else []) + rest[i:j + 1]
    if j < len(rest) - 1:
        out.append(pad + "...")
    return "\n".join(out)
