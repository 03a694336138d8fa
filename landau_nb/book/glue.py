"""Numbers in a chapter's prose that both readers see: the HTML book and JupyterLab.

A chapter computes a number in a code cell and names it, ``glue("p_ratio", ratio)``; its prose
shows it with the inline role ``{eval}`glued("p_ratio:.1f")` `` (the name, then an optional
format spec as in ``format(value, ".1f")``). The role is MyST's inline expression:

* JupyterLab (jupyterlab-myst) shows the value stored in the Markdown cell's metadata
  (``user_expressions``, what the kernel returned), and re-evaluates it when the cell is run;
* the HTML book (``book/_ext/eval_role.py``) shows the same stored value;
* ``scripts/execute_notebooks.py`` evaluates every ``{eval}`` of the Markdown cells in the kernel
  once the whole notebook has run (prose may name a number glued further down), and stores
  the results.

This replaces myst-nb's ``glue``/``{glue:text}``, which JupyterLab cannot show (it printed the key
and format, ``p_ratio:.1f``), and needs no myst-nb in the reader's environment.
"""

from __future__ import annotations

__all__ = ["glue", "glued", "glued_md"]

_GLUED: dict = {}


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"glue: the name must be an identifier (letters, digits, _), got {name!r}")
    return name


def glue(name: str, value, display: bool = True):
    """Name ``value`` for the prose (``{eval}`glued("name")` ``); with ``display`` (the default,
    as myst-nb's ``glue``) the value is also shown as the cell's output."""
    _GLUED[_check_name(name)] = value
    if display:
        from IPython.display import display as show

        show(value)


def _lookup(name: str):
    if name not in _GLUED:
        known = ", ".join(sorted(_GLUED)) or "nothing yet"
        raise KeyError(f"nothing glued under {name!r} (run the cell that calls glue({name!r}, ...) "
                       f"first); glued so far: {known}")
    return _GLUED[name]


def glued(spec: str) -> str:
    """``"name"`` or ``"name:format"`` -> the glued value as text, ``format(value, format)``."""
    if not isinstance(spec, str):
        raise TypeError(f"glued: expected 'name' or 'name:format', got {type(spec).__name__}")
    name, _, fmt = spec.partition(":")
    value = _lookup(_check_name(name))
    try:
        return format(value, fmt) if fmt else str(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"glued({spec!r}): cannot format {value!r} with {fmt!r}: {exc}") from None


class _Markdown(str):
    """A string shown as Markdown (inline math etc.) by notebook front ends."""

    def _repr_markdown_(self):
        return str(self)


def glued_md(name: str) -> str:
    """The glued value (a Markdown string, e.g. ``"$2\\cdot 10^{5}$"``, or an object with
    ``_repr_markdown_`` such as ``IPython.display.Markdown``), shown as Markdown."""
    value = _lookup(_check_name(name))
    if not isinstance(value, str) and callable(getattr(value, "_repr_markdown_", None)):
        value = value._repr_markdown_()             # IPython.display.Markdown and the like
    if not isinstance(value, str):
        raise TypeError(f"glued_md({name!r}): the glued value is a {type(value).__name__}, not Markdown text")
    return _Markdown(value)
