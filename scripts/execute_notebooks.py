#!/usr/bin/env python3
"""Re-execute the book's notebooks in place and record their wall times.

The ``.md`` file of each jupytext pair is the source of truth. For each chapter
this script

1. syncs ``book/NAME.md`` -> ``book/NAME.ipynb`` with
   ``jupytext --to ipynb --update`` (inputs replaced, outputs kept);
2. executes ``book/NAME.ipynb`` in place with nbconvert's ExecutePreprocessor
   (kernel ``python3`` of this interpreter, working directory ``book/``,
   ``record_timing=False`` so re-execution gives byte-identical files when the
   outputs do not change, 900 s per cell);
   Each Markdown cell's ``{eval}`expr` `` is evaluated in the kernel once all code cells ran,
   and stored in the cell's metadata (``user_expressions``: what JupyterLab and the HTML book
   show); widget views without stored state are dropped from the outputs (the static fallback
   of the bundle stays). See ``BookExecutor``.
3. writes the wall time of each notebook to ``book/execution_times.json``
   (merged with the entries of notebooks not re-run), read by the status page.

Environment of the kernel: ``TQDM_DISABLE=1``, ``OMP_NUM_THREADS=2`` and the
inline matplotlib backend (``MPLBACKEND`` is reset: ``Agg`` would drop figures),
the same as under nbval in ``make test``.

With ``--paper-scale FOLDER`` the experiment chapters (those reading
``ln.chapter_results``) run with ``LANDAU_SCALE=paper`` instead: they load the
committed runs of ``results/paper/`` and compute none, so this checks that every paper-scale
assertion holds. The executed copies go to ``FOLDER``; nothing in ``book/`` is written.

Usage::

    python scripts/execute_notebooks.py                 # every book/*.md pair
    python scripts/execute_notebooks.py preface kl_bound # by name, .md or .ipynb path
    python scripts/execute_notebooks.py --paper-scale /tmp/paper-chapters
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
TIMES = BOOK / "execution_times.json"
CELL_TIMEOUT = 900

# Exported before any kernel starts: kernels inherit os.environ.
os.environ["TQDM_DISABLE"] = "1"
os.environ["OMP_NUM_THREADS"] = "2"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle threads sleep: no spin on busy machines
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
# jupyter_client maps the kernelspec's "python" to sys.executable; the PATH entry
# makes any other `python` the kernel spawns resolve to this environment too.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

import jupytext  # noqa: E402
import nbformat  # noqa: E402
from nbconvert.preprocessors import ExecutePreprocessor  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_notebooks import has_jupytext_header  # noqa: E402


def resolve(names: list[str]) -> list[Path]:
    """Chapter .md files for the given names (all jupytext pairs when empty)."""
    if not names:
        return sorted(p for p in BOOK.glob("*.md") if has_jupytext_header(p))
    out = []
    for name in names:
        stem = Path(name).stem
        md = BOOK / f"{stem}.md"
        if not md.exists() or not has_jupytext_header(md):
            sys.exit(f"execute_notebooks: {md.relative_to(ROOT)} is not a jupytext notebook")
        out.append(md)
    return out


def sync(md: Path) -> Path:
    ipynb = md.with_suffix(".ipynb")
    subprocess.run(
        [sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb", "--update", str(md)],
        check=True,
    )
    return ipynb


def is_experiment(md: Path) -> bool:
    """A chapter whose runs follow ``LANDAU_SCALE`` (it calls ``ln.chapter_results`` or
    ``experiments.settings()``)."""
    text = md.read_text(encoding="utf-8")
    return "chapter_results(" in text or "experiments.settings()" in text


EVAL = re.compile(r"\{eval\}`([^`]+)`")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class BookExecutor(ExecutePreprocessor):
    """Executes the code cells, then evaluates the inline ``{eval}`expr` `` of each Markdown cell
    in the kernel once the whole notebook has run (prose may name a number glued further
    down, as with myst-nb's glue), storing the answers in the cell's
    metadata ``user_expressions`` (the format jupyterlab-myst reads and writes; the HTML book
    shows them through book/_ext/eval_role.py). An expression that fails fails the chapter.

    Widget views: without stored widget state (``store_widget_state=False``) a stored
    ``application/vnd.jupyter.widget-view+json`` can only show "Error displaying widget" (or
    its ``VBox(children=...`` text) before the cell is run; it is dropped from the stored
    output, leaving the static fallback of the bundle (the explorers add their figure as PNG)."""

    def preprocess(self, nb, resources=None, km=None):
        self._pending = []
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            cell.metadata.pop("user_expressions", None)
            if EVAL.search(cell.source):
                self._pending.append((index, cell))
        else:
            cell, resources = super().preprocess_cell(cell, resources, index)
            if not self.store_widget_state:
                for out in cell.get("outputs", []):
                    data = out.get("data", {})
                    if WIDGET_VIEW in data and set(data) - {WIDGET_VIEW, "text/plain"}:
                        del data[WIDGET_VIEW]
        if index == len(self.nb.cells) - 1:
            # prose may name a number glued further down (as myst-nb's glue allowed): every
            # expression is evaluated once the whole notebook has run, in the final kernel state
            for i, md in self._pending:
                expressions = list(dict.fromkeys(EVAL.findall(md.source)))
                md.metadata["user_expressions"] = self.evaluate(expressions, i)
        return cell, resources

    def evaluate(self, expressions: list[str], index: int) -> list[dict]:
        msg_id = self.kc.execute("", silent=True, store_history=False,
                                 user_expressions={str(i): e for i, e in enumerate(expressions)})
        reply = self.wait_for_reply(msg_id)
        answers = reply["content"].get("user_expressions", {})
        stored = []
        for i, expression in enumerate(expressions):
            result = answers.get(str(i))
            if result is None or result.get("status") != "ok":
                why = f"{result.get('ename')}: {result.get('evalue')}" if result else "no answer"
                raise RuntimeError(f"Markdown cell {index + 1}: {{eval}}`{expression}` failed: {why}")
            result = {"status": "ok", "data": dict(result.get("data", {})),
                      "metadata": dict(result.get("metadata", {}))}
            stored.append({"expression": expression, "result": result})
        return stored


def run(nb, folder: Path) -> float:
    """Execute the notebook ``nb`` in place (working directory ``folder``); its wall time."""
    # store_widget_state=False: the explorers' widget state (with their PNGs) stays out of the
    # notebook metadata, so the HTML book loads no ipywidgets JavaScript from a CDN (offline)
    ep = BookExecutor(timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=False,
                      store_widget_state=False)
    start = time.perf_counter()
    ep.preprocess(nb, {"metadata": {"path": str(folder)}})
    return time.perf_counter() - start


def execute(ipynb: Path) -> float:
    """Execute ``ipynb`` (in ``book/``) and write it back."""
    nb = nbformat.read(ipynb, as_version=4)
    seconds = run(nb, ipynb.parent)
    nbformat.write(nb, ipynb)
    return seconds


def paper_scale(mds: list[Path], out: Path) -> int:
    """Every experiment chapter of ``mds`` executed at paper scale into ``out``."""
    os.environ["LANDAU_SCALE"] = "paper"
    out.mkdir(parents=True, exist_ok=True)
    failed, times = [], {}
    chapters = [m for m in mds if is_experiment(m)]
    if not chapters:                   # a check that runs nothing must not pass
        print(f"no experiment chapter among {[m.stem for m in mds]}: nothing to execute at paper scale",
              file=sys.stderr)
        return 1
    for md in chapters:
        nb = jupytext.read(md)        # the .md, the source of truth; book/ is not written
        print(f"executing {md.relative_to(ROOT)} at paper scale ...", flush=True)
        try:
            times[md.stem] = run(nb, md.parent)
            nbformat.write(nb, out / f"{md.stem}.ipynb")
        except Exception as exc:  # CellExecutionError, timeouts, dead kernels
            print(f"FAILED {md.relative_to(ROOT)} (LANDAU_SCALE=paper):\n{exc}", file=sys.stderr)
            failed.append(md.stem)
    for name, seconds in times.items():
        print(f"{name:<20} {seconds:8.2f} s")
    print(f"{len(times)} chapter(s) passed at paper scale, {len(failed)} failed; executed copies in {out}")
    if failed:
        print(f"execute_notebooks: failed at paper scale: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="chapters to run (default: all)")
    parser.add_argument("--paper-scale", metavar="FOLDER", type=Path,
                        help="run the experiment chapters with LANDAU_SCALE=paper into FOLDER")
    args = parser.parse_args()

    mds = resolve(args.names)
    if args.paper_scale is not None:
        return paper_scale(mds, args.paper_scale.resolve())
    # the status page reads the times file: run it last, after the file is written
    mds = [m for m in mds if m.stem != "status"] + [m for m in mds if m.stem == "status"]
    times = {}
    if TIMES.exists():
        times = json.loads(TIMES.read_text(encoding="utf-8")).get("notebooks", {})

    def write_times():
        record = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "python": platform.python_version(),
            "omp_num_threads": os.environ["OMP_NUM_THREADS"],
            "notebooks": dict(sorted(times.items())),
        }
        TIMES.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    failed = []
    for md in mds:
        ipynb = sync(md)
        print(f"executing {ipynb.relative_to(ROOT)} ...", flush=True)
        try:
            seconds = execute(ipynb)
        except Exception as exc:  # CellExecutionError, timeouts, dead kernels
            print(f"FAILED {ipynb.relative_to(ROOT)}:\n{exc}", file=sys.stderr)
            failed.append(ipynb.stem)
            continue
        times[ipynb.stem] = {
            "seconds": round(seconds, 2),
            "executed": _dt.date.today().isoformat(),
        }
        write_times()       # after each notebook: the status page (run last) sees this run's times

    write_times()

    width = max([len(k) for k in times] + [8])
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  executed")
    for name in sorted(times):
        mark = "" if any(name == m.stem for m in mds) else "  (not re-run)"
        print(f"{name:<{width}}  {times[name]['seconds']:>8.2f}  {times[name]['executed']}{mark}")
    print(f"{'total':<{width}}  {sum(t['seconds'] for t in times.values()):>8.2f}")
    print(f"wrote {TIMES.relative_to(ROOT)}")
    if failed:
        print(f"execute_notebooks: {len(failed)} notebook(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
