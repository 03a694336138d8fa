"""The claims of Section 5 of the paper, each tested on the committed paper-scale runs.

A :class:`Claim` quotes one sentence of Section 5 and holds a test: a function of the
experiment's :class:`~landau_nb.experiments.Results` (read by
:func:`~landau_nb.experiments.paper_results`, nothing is computed) that returns a
:class:`Verdict` — the number that tests the claim, and whether it is reproduced ("yes",
"partly", "no", or "pending" while the runs it needs are not committed yet). The experiment
chapters show each claim's test where they discuss it; the page "Reproduction scoreboard"
lists them all (:func:`scoreboard`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ._checks import check_choice

__all__ = ["Claim", "Verdict", "CLAIMS", "claim", "evaluate", "scoreboard", "summary", "tally", "VERDICTS"]

VERDICTS = ("yes", "partly", "no", "pending")


@dataclass(frozen=True)
class Verdict:
    """The outcome of a claim's test: ``value`` (the measured number(s), as text),
    ``reproduced`` (one of :data:`VERDICTS`) and ``detail`` (one sentence: what was compared)."""

    value: str
    reproduced: str
    detail: str = ""

    def __post_init__(self):
        check_choice("reproduced", self.reproduced, VERDICTS)


@dataclass(frozen=True)
class Claim:
    """One claim of Section 5: ``key``, the ``experiment`` whose runs test it, the paper's
    words (``quote``, with ``where`` in the paper), the book chapter that shows it
    (``chapter``, a document name such as ``exp_bkw``) and its ``test``."""

    key: str
    experiment: str
    quote: str
    where: str
    chapter: str
    test: Callable

    def check(self, results=None, folder=None) -> Verdict:
        """Run the test on ``results`` (default: the committed paper-scale runs). Runs that
        are not committed yet give a "pending" verdict naming what is missing."""
        if results is None:
            from .experiments import paper_results
            try:
                results = paper_results(self.experiment, folder)
            except FileNotFoundError:
                return Verdict("—", "pending", f"no paper-scale runs of {self.experiment} committed yet")
        try:
            verdict = self.test(results)
        except (KeyError, ValueError) as exc:        # a run the test needs is missing
            missing = results.missing()
            if not missing:
                raise
            return Verdict("—", "pending", f"needs runs not committed yet ({len(missing)} missing, "
                                           f"e.g. {missing[0]}): {exc}")
        if not isinstance(verdict, Verdict):
            raise TypeError(f"claim {self.key!r}: its test returned {type(verdict).__name__}, not a Verdict")
        return verdict


CLAIMS: dict[str, Claim] = {}


def claim(key: str, *, experiment: str, quote: str, where: str, chapter: str):
    """Register the decorated function ``test(results) -> Verdict`` as claim ``key``."""
    def register(test):
        if key in CLAIMS:
            raise ValueError(f"claim {key!r} is registered twice")
        CLAIMS[key] = Claim(key, experiment, quote, where, chapter, test)
        return test
    return register


def evaluate(keys=None, folder=None) -> list[tuple[Claim, Verdict]]:
    """Each claim (all, or those in ``keys``) with its verdict on the committed runs; the
    runs of an experiment are read once."""
    from .experiments import paper_results
    keys = list(CLAIMS) if keys is None else [check_choice("claim", k, tuple(CLAIMS)) for k in keys]
    cache: dict = {}
    out = []
    for k in keys:
        c = CLAIMS[k]
        if c.experiment not in cache:
            try:
                cache[c.experiment] = paper_results(c.experiment, folder)
            except FileNotFoundError:
                cache[c.experiment] = None
        res = cache[c.experiment]
        out.append((c, c.check(res, folder) if res is not None else c.check(None, folder)))
    return out


def tally(evaluated) -> dict:
    """How many of the ``evaluated`` claims (pairs from :func:`evaluate`) have each verdict:
    ``{"yes": .., "partly": .., "no": .., "pending": ..}`` (every verdict present, in that order)."""
    counts = dict.fromkeys(VERDICTS, 0)
    for _, v in evaluated:
        counts[v.reproduced] += 1
    return counts


def summary(evaluated) -> str:
    """One line: "12 claims of Section 5: 5 reproduced, 3 partly, 1 not reproduced, 3 pending"."""
    c = tally(evaluated)
    total = sum(c.values())
    return (f"{total} claim{'s' if total != 1 else ''} of Section 5: {c['yes']} reproduced, {c['partly']} partly, "
            f"{c['no']} not reproduced, {c['pending']} pending")


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell (one line, no bare column bar)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def scoreboard(keys=None, folder=None, *, evaluated=None) -> str:
    """The reproduction scoreboard as a MyST Markdown table, one row per claim: the paper's
    words, where in the paper, the paper-scale number that tests it (and what was compared),
    reproduced?, the chapter that shows it (a ``{doc}`` link: render the output as MyST, cell
    metadata ``mystnb: {markdown_format: myst}``). ``evaluated``: the pairs of
    :func:`evaluate`, when already computed. Book: "Reproduction scoreboard"."""
    evaluated = evaluate(keys, folder) if evaluated is None else evaluated
    rows = ["| claim (paper) | where | paper-scale number | reproduced | chapter |",
            "|---|---|---|---|---|"]
    for c, v in evaluated:
        shown = _cell(v.value) if v.value.strip() not in ("", "—") else ""
        value = " — ".join(t for t in (shown, _cell(v.detail)) if t) or "—"
        rows.append(f"| \u201c{_cell(c.quote)}\u201d | {_cell(c.where)} | {value} | **{v.reproduced}** "
                    f"| {{doc}}`{c.chapter}` |")
    return "\n".join(rows)


# The claims, one section per experiment chapter (each defined next to its own chapter's
# numbers). ------------------------------------------------------------------------------

# --- §5.1, Fig. 5.1: learning rate and the adaptive strategy (exp_learning_rate) ------------


# --- Example 5.1, Fig. 5.2: BKW (exp_bkw) --------------------------------------------------


# --- Example 5.2, Fig. 5.3: anisotropic Gaussian, d = 3 (exp_anisotropic) ------------------


# --- Example 5.2, Fig. 5.4: anisotropic Gaussian, d = 10 (exp_dimension10) -----------------


# --- Example 5.3, Fig. 5.5: Coulomb (exp_coulomb) -------------------------------------------


# --- §5.4, Fig. 5.6: run time (exp_runtime) -------------------------------------------------


def _upper_slope(timing: dict) -> tuple[float, list]:
    """Log-log slope of seconds per step vs n over the upper half of the n range (where the
    arithmetic, not per-call overhead, sets the cost; book: "Cost")."""
    from .experiments import loglog_slope
    ns = sorted(timing)[len(timing) // 2:]
    if len(ns) < 2:
        raise ValueError(f"needs at least four particle counts to fit an upper-half slope, has {sorted(timing)}")
    return loglog_slope(ns, [timing[n] for n in ns]), ns


def _score_timing(results, label: str) -> dict:
    """{n: median seconds of the score step per time step} of one label (CPU runs)."""
    import numpy as np
    out: dict = {}
    for spec, tr in results.runs:
        if spec["label"] == label and tr.meta.get("device", "cpu").startswith("cpu"):
            out.setdefault(spec["n"], []).append(float(np.median(tr["time_score"][1:])))
    if len(out) < 4:
        raise KeyError(f"{label}: CPU timings at {sorted(out)} only")
    return {n: float(np.median(v)) for n, v in sorted(out.items())}


@claim("runtime_sbtm_linear", experiment="runtime", where="§5.4, Fig. 5.6 (left)", chapter="exp_runtime",
       quote="The runtime of the score estimation routine in SBTM is linear in the number of particles")
def _runtime_sbtm_linear(results):
    slope, ns = _upper_slope(_score_timing(results, "sbtm"))
    verdict = "yes" if 0.75 <= slope <= 1.25 else ("partly" if 0.5 <= slope <= 1.5 else "no")
    return Verdict(f"slope {slope:.2f}", verdict,
                   f"SBTM score step, seconds per time step vs n = {ns[0]}…{ns[-1]} on the CPU (log-log)")


@claim("runtime_blob_quadratic", experiment="runtime", where="§5.4, Fig. 5.6 (left)", chapter="exp_runtime",
       quote="The blob method has quadratic asymptotic complexity")
def _runtime_blob_quadratic(results):
    slope, ns = _upper_slope(_score_timing(results, "blob"))
    verdict = "yes" if 1.7 <= slope <= 2.3 else ("partly" if 1.3 <= slope <= 2.5 else "no")
    return Verdict(f"slope {slope:.2f}", verdict,
                   f"blob score, seconds per time step vs n = {ns[0]}…{ns[-1]} on the CPU (log-log)")


@claim("runtime_gpu_heat", experiment="runtime_heat", where="§5.4, Fig. 5.6 (right)", chapter="exp_runtime",
       quote="we observed a roughly O(n^0.6) scaling of the computational time on the GPU for the SBTM method")
def _runtime_gpu_heat(results):
    import numpy as np

    from .experiments import loglog_slope
    gpu: dict = {}
    for spec, tr in results.runs:
        if spec["label"] == "sbtm" and tr.meta.get("device", "cpu").startswith("cuda"):
            gpu.setdefault(spec["n"], []).append(float(np.median(tr["time_score"][1:] + tr["time_velocity"][1:])))
    if len(gpu) < 3:
        return Verdict("—", "pending", "needs paper-scale runtime_heat runs on a GPU (none committed: no GPU was "
                                       "lent to the sessions that made results/paper)")
    ns = sorted(gpu)
    slope = loglog_slope(ns, [float(np.median(gpu[n])) for n in ns])
    verdict = "yes" if 0.4 <= slope <= 0.8 else ("partly" if slope <= 1.1 else "no")
    return Verdict(f"slope {slope:.2f}", verdict, f"SBTM, heat equation, GPU, n = {ns[0]}…{ns[-1]}")
