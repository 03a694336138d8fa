"""The scoreboard's report on the committed paper-scale runs: who made them, on what, how
long they took (book: "Reproduction scoreboard" and "Status"). Nothing is computed."""

from __future__ import annotations

from ..experiments import EXPERIMENTS, get_experiment, paper_results

__all__ = ["summarize", "runs_table"]


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
