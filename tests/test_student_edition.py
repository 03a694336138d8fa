"""The student edition of the notebooks: no solution, a starter for every ⌨ exercise, and it runs.

The student notebooks are the chapters' .ipynb with every solution region cut out by
``book/_ext/student_edition.strip_solutions_from_notebook`` (the same function that strips the
downloadable notebooks of ``make student``). For every chapter:

* no solution is left: no ``{solution-start}``/``{solution-end}`` fence, no code cell and no
  prose paragraph of a solution;
* every ⌨ exercise is followed by its starter cell (tag ``exercise-starter``), before the next
  exercise, and every self-check a starter calls exists (``landau_nb.book.exercises``);
* it executes in a fresh kernel: the install cell, the chapter's first code cell (its setup)
  and the starter cells ALONE, in that order (a starter must not need the rest of the chapter),
  every starter's check saying "not answered yet"; the theory chapters' whole student
  notebooks are executed too (seconds each). Experiment chapters run with
  ``LANDAU_SCALE=paper``: their setup then loads the committed runs and computes nothing.

The execution tests start one kernel per chapter (about 2-4 minutes in all on 2 cores); they
are marked ``slow`` and skipped unless ``LANDAU_STUDENT_TEST=1`` (``make student-test``).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(p.stem for p in BOOK.glob("*.ipynb"))
EXPERIMENTS = [c for c in CHAPTERS if c.startswith("exp_")]
RUN = os.environ.get("LANDAU_STUDENT_TEST") == "1"


def _student_module():
    spec = importlib.util.spec_from_file_location("student_edition", BOOK / "_ext" / "student_edition.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


STUDENT = _student_module()


def src(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def load(name: str) -> dict:
    return json.loads((BOOK / f"{name}.ipynb").read_text(encoding="utf-8"))


def student(name: str) -> dict:
    nb = copy.deepcopy(load(name))
    STUDENT.strip_solutions_from_notebook(nb)
    return nb


def solution_parts(nb: dict) -> tuple[list[str], list[str]]:
    """Code cells and prose paragraphs (>= 40 characters) inside solution regions."""
    code, prose, inside = [], [], False
    start = re.compile(r"^(`{3,}|:{3,})\{solution-start\}", re.M)
    end = re.compile(r"^(`{3,}|:{3,})\{solution-end\}", re.M)
    for cell in nb["cells"]:
        s = src(cell)
        if cell["cell_type"] == "markdown":
            pieces = re.split(r"(^(?:`{3,}|:{3,})\{solution-(?:start|end)\}[^\n]*$)", s, flags=re.M)
            for piece in pieces:
                if start.match(piece):
                    inside = True
                elif end.match(piece):
                    inside = False
                elif inside:
                    prose += [p.strip() for p in piece.split("\n\n") if len(p.strip()) >= 40
                              and not p.strip().startswith(("```", ":"))]
        elif inside and s.strip():
            code.append(s)
    return code, prose


def starters_after_exercises(nb: dict) -> list[tuple[str, bool]]:
    """(label, has a starter) for every ⌨ exercise, in page order."""
    out, current = [], None
    for cell in nb["cells"]:
        s = src(cell)
        if cell["cell_type"] == "markdown":
            for m in re.finditer(r"\{exercise-start\}([^\n]*)\n:label: (\S+)", s):
                if current is not None:
                    out.append((current, False))
                current = m.group(2) if "⌨" in m.group(1) else None
        elif current is not None and "exercise-starter" in tags(cell):
            out.append((current, True))
            current = None
    if current is not None:
        out.append((current, False))
    return out


@pytest.mark.parametrize("name", CHAPTERS)
def test_student_notebook_has_no_solution(name):
    full, stu = load(name), student(name)
    code, prose = solution_parts(full)
    text = "\n".join(src(c) for c in stu["cells"])
    assert not re.search(r"\{solution-(start|end)\}", text), f"{name}: a solution fence is left"
    left = [c[:60] for c in code if any(src(s) == c for s in stu["cells"])]
    assert not left, f"{name}: solution code in the student notebook: {left[:3]}"
    leaked = [p[:60] for p in prose if p in text]
    assert not leaked, f"{name}: solution text in the student notebook: {leaked[:3]}"


def test_solution_parts_finds_solutions():
    nb = {"cells": [
        {"cell_type": "markdown", "source": "```{solution-start} ex-1\n:class: dropdown\n```\n\n"
                                            "A paragraph of the solution that is long enough to count."},
        {"cell_type": "code", "source": "x = 1", "metadata": {}},
        {"cell_type": "markdown", "source": "```{solution-end}\n```\n\nProse after the solution, long enough too."},
    ]}
    code, prose = solution_parts(nb)
    assert code == ["x = 1"] and prose == ["A paragraph of the solution that is long enough to count."]
    STUDENT.strip_solutions_from_notebook(nb)
    assert [src(c) for c in nb["cells"]] == ["Prose after the solution, long enough too."]


def test_every_coding_exercise_has_a_starter_and_its_check_exists():
    from landau_nb.book import exercises

    counts, missing, labels = 0, [], []
    for name in CHAPTERS:
        nb = student(name)
        for label, has in starters_after_exercises(nb):
            counts += 1
            labels.append(label)
            if not has:
                missing.append(f"{name}: {label}")
        for cell in nb["cells"]:
            for m in re.finditer(r'check\("([^"]+)"', src(cell)):
                assert m.group(1) in exercises.CHECKS, f"{name}: no self-check {m.group(1)!r}"
    assert counts >= 20, f"only {counts} ⌨ exercises found"
    assert not missing, "⌨ exercises without a starter cell:\n  " + "\n  ".join(missing)
    # every check belongs to an exercise of the book; every exercise is checked or says why not
    assert set(exercises.CHECKS) | set(exercises.UNCHECKED) == set(labels)


# --------------------------------------------------------------------------- execution
def execute(cells: list, name: str, scale: str | None) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.reads(json.dumps({**load(name), "cells": cells}), as_version=4)   # sources as str
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    env = {"TQDM_DISABLE": "1", "OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    if scale:
        env["LANDAU_SCALE"] = scale
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}},
                       record_timing=False).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def setup_and_starters(nb: dict) -> list:
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    install, setup = code[0], code[1]
    assert 'find_spec("landau_nb")' in src(install), "the first code cell should be the install cell"
    return [install, setup] + [c for c in code if "exercise-starter" in tags(c)]


def outputs_text(cell) -> str:
    return "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                   for o in cell.get("outputs", []))


@pytest.mark.slow
@pytest.mark.skipif(not RUN, reason="student notebooks executed with LANDAU_STUDENT_TEST=1 (make student-test)")
@pytest.mark.parametrize("name", [c for c in CHAPTERS if any(starters_after_exercises(student(c)))])
def test_starters_run_after_the_setup_cell_alone(name):
    cells = setup_and_starters(student(name))
    done = execute(cells, name, "paper" if name in EXPERIMENTS else None)
    for cell in done.cells[2:]:
        if "check(" in cell.source:
            assert "not answered yet" in outputs_text(cell), \
                f"{name}: a starter's self-check did not run:\n{cell.source[:200]}"


@pytest.mark.slow
@pytest.mark.skipif(not RUN, reason="student notebooks executed with LANDAU_STUDENT_TEST=1 (make student-test)")
@pytest.mark.parametrize("name", [c for c in CHAPTERS if c not in EXPERIMENTS
                                  and c not in ("scoreboard", "status")])
def test_theory_student_notebook_executes(name):
    execute(student(name)["cells"], name, None)
