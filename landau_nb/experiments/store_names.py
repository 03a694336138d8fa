"""The name of a run's files: ``LABEL/n000100_seed0`` (written by :func:`run_stem`, read back
by :func:`parse_stem`), the one place that knows the format. Labels and experiment names are
checked here too: they become parts of a path, so they must be plain names."""

from __future__ import annotations

import re

__all__ = ["run_stem", "parse_stem", "check_name"]

_STEM = re.compile(r"n(\d{6,})_seed(\d+)")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def check_name(what: str, value) -> str:
    """``value`` as a path component: a non-empty name of letters, digits and ``_ . + -``, not
    starting with a dot (no separators, no ``..``, not absolute)."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"{what}={value!r} must be a plain name (letters, digits, _ . + -, not starting "
                         "with a dot): it names a folder inside the results folder")
    return value


def run_stem(label: str, n: int, seed: int) -> str:
    """``label/n000100_seed0``: where run (label, n, seed) lives inside its experiment's folder."""
    return f"{label}/n{int(n):06d}_seed{int(seed)}"


def parse_stem(name: str) -> tuple[int, int] | None:
    """(n, seed) of a file stem ``n000100_seed0`` (``-failed`` and a suffix allowed), else None."""
    base = name.split(".", 1)[0].removesuffix("-failed")
    m = _STEM.fullmatch(base)
    return (int(m.group(1)), int(m.group(2))) if m else None
