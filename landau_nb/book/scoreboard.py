"""The scoreboard's report on the committed paper-scale runs: who made them, on what, how
long they took (book: "Reproduction scoreboard" and "Status"). Nothing is computed."""

from __future__ import annotations

from ..experiments import EXPERIMENTS, get_experiment, paper_results

__all__ = ["summarize", "runs_table", "init_fits", "init_fits_table", "verdict_changes"]


def summarize(folder=None, names=None) -> dict:
    """Who made the committed paper-scale runs, per experiment (all registered ones, or
    ``names``): {name: {"runs", "registered", "missing" (stems), "commits", "dirty", "machines",
    "devices", "dtypes", "threads", "seconds", "core_hours", "finished"}}. ``core_hours`` is
    the wall time times the torch threads of each run, summed (CPU-hours on a CPU, device-hours
    on a GPU); ``finished`` is (first, last) UTC date. Nothing is computed; an experiment with
    no runs committed has ``runs`` 0. Book: "Reproduction scoreboard"."""
    names = list(EXPERIMENTS) if names is None else [get_experiment(n).name for n in names]
    out = {}
    for name in names:
        registered = len(get_experiment(name).runs("paper"))
        try:
            res = paper_results(name, folder)
        except FileNotFoundError:
            out[name] = {"runs": 0, "registered": registered, "missing": [sp.stem for sp in
                                                                           get_experiment(name).runs("paper")],
                         "commits": set(),
                         "dirty": False, "machines": set(), "devices": set(), "dtypes": set(), "threads": set(),
                         "seconds": 0.0, "core_hours": 0.0, "finished": None}
            continue
        rec = res.provenance()
        hours = 0.0
        for _, tr in res.runs:
            run = tr.meta.get("run", {})
            hours += float(run.get("seconds", 0.0)) * int(run.get("threads") or 1) / 3600.0
        days = sorted(rec.pop("finished"))
        rec.pop("versions")
        out[name] = {**rec, "registered": registered, "missing": res.missing(), "core_hours": hours,
                     "finished": (days[0], days[-1]) if days else None}
    return out


def runs_table(summary: dict) -> str:
    """:func:`summarize` as a Markdown table (one row per experiment and a total row)."""
    def join(values):
        return ", ".join(sorted(str(v) for v in values if v is not None)) or "—"

    rows = ["| experiment | runs committed | commits | machine | device, dtype | threads | wall time (h) "
            "| core-hours | finished (UTC) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in summary.items():
        commits = join(c[:7] + ("+dirty" if r["dirty"] else "") for c in r["commits"] if c)
        when = "—" if r["finished"] is None else (r["finished"][0] if r["finished"][0] == r["finished"][1]
                                                   else f"{r['finished'][0]} to {r['finished'][1]}")
        rows.append(f"| `{name}` | {r['runs']} of {r['registered']} | {commits} | {join(r['machines'])} "
                    f"| {join(r['devices'])}, {join(r['dtypes'])} | {join(r['threads'])} "
                    f"| {r['seconds'] / 3600:.2f} | {r['core_hours']:.2f} | {when} |")
    runs = sum(r["runs"] for r in summary.values())
    registered = sum(r["registered"] for r in summary.values())
    rows.append(f"| **all** | {runs} of {registered} | | | | | {sum(r['seconds'] for r in summary.values()) / 3600:.2f} "
                f"| {sum(r['core_hours'] for r in summary.values()):.2f} | |")
    return "\n".join(rows)


def init_fits(results) -> list[dict]:
    """The SBTM initial fits of ``results`` (a :class:`~landau_nb.experiments.Results`) that
    stopped short of their tolerance, one row per (label, n): {"label", "n", "short" (runs short
    of it), "runs", "worst" and "best" (relative L2 error reached), "tol" (the run's
    ``init_tol``), "steps" (the most iterations used)}. The run records its fit in
    ``meta["estimator"]["init"]``; runs without a fit (blob) are not listed. Book: "Reproduction
    scoreboard", "Initial fits"."""
    rows: dict = {}
    for spec, tr in results.runs:
        est = tr.meta.get("estimator", {})
        fit, tol = est.get("init"), est.get("init_tol")
        if not fit or tol is None:
            continue
        row = rows.setdefault((spec["label"], spec["n"]), {"label": spec["label"], "n": spec["n"], "short": 0,
                                                           "runs": 0, "errors": [], "tol": float(tol), "steps": 0})
        row["runs"] += 1
        row["errors"].append(float(fit["relative_error"]))
        row["steps"] = max(row["steps"], int(fit["steps"]))
        row["short"] += float(fit["relative_error"]) > float(tol)
    out = []
    for key in sorted(rows):
        row = rows[key]
        errors = row.pop("errors")
        if row["short"]:
            out.append({**row, "worst": max(errors), "best": min(errors)})
    return out


def init_fits_table(names=None, folder=None) -> str:
    """A Markdown table of the initial fits short of their tolerance over the experiments
    ``names`` (default: every registered one with committed runs): experiment, sweep, n, runs
    short / runs, the relative errors reached, the tolerance, the iterations. The paper asks
    1e-4 (the authors' code: 1e5 iterations after pretraining on 80 000 samples); the registry's
    tolerances are written in each run."""
    names = list(EXPERIMENTS) if names is None else [get_experiment(n).name for n in names]
    lines = ["| experiment | sweep | n | short of the tolerance | relative error reached | tolerance | iterations |",
             "|---|---|---|---|---|---|---|"]
    for name in names:
        try:
            res = paper_results(name, folder)
        except FileNotFoundError:
            continue
        for r in init_fits(res):
            lines.append(f"| {name} | {r['label']} | {r['n']} | {r['short']} of {r['runs']} | "
                         f"{r['best']:.1e} to {r['worst']:.1e} | {r['tol']:g} | {r['steps']} |")
    return "\n".join(lines) if len(lines) > 2 else "*Every committed initial fit reached its tolerance.*"


def verdict_changes(evaluated, previous: dict, reasons: dict) -> str:
    """A Markdown table, one row per claim whose verdict or test changed since ``previous``
    ({"commit": .., "claims": {key: {"verdict", "value"}}}, a snapshot written by
    ``scripts/snapshot_verdicts.py``): the claim, the verdict then and now, and why (``reasons``,
    {key: sentence}); a claim new since the snapshot reads "new". Book: "Reproduction
    scoreboard", "What changed"."""
    old = previous["claims"]
    lines = [f"| claim | verdict at {previous['commit']} | now | why |", "|---|---|---|---|"]
    for c, v in evaluated:
        before = old.get(c.key, {}).get("verdict", "new")
        if c.key in reasons or before != v.reproduced:
            why = reasons.get(c.key, "the committed runs changed")
            lines.append(f"| `{c.key}` | {before} | **{v.reproduced}** | {' '.join(why.split())} |")
    return "\n".join(lines)
