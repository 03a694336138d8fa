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

__all__ = ["Claim", "Verdict", "CLAIMS", "claim", "evaluate", "scoreboard", "VERDICTS"]

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


def scoreboard(keys=None, folder=None) -> str:
    """The reproduction scoreboard as a Markdown table: claim, where in the paper, the
    paper-scale number that tests it, reproduced?, chapter. Display it with
    ``IPython.display.Markdown``."""
    rows = ["| claim (paper) | where | paper-scale number | reproduced | chapter |",
            "|---|---|---|---|---|"]
    for c, v in evaluate(keys, folder):
        quote = c.quote.replace("|", "\\|")
        value = v.value.replace("|", "\\|") + (f" — {v.detail}" if v.detail else "")
        rows.append(f"| {quote} | {c.where} | {value} | **{v.reproduced}** | {{doc}}`{c.chapter}` |")
    return "\n".join(rows)


# The claims, one section per experiment chapter (each defined next to its own chapter's
# numbers). ------------------------------------------------------------------------------

# --- §5.1, Fig. 5.1: learning rate and the adaptive strategy (exp_learning_rate) ------------


# --- Example 5.1, Fig. 5.2: BKW (exp_bkw) --------------------------------------------------

def _complete(res, labels=None):
    """Raise KeyError naming the first registered run (of ``labels``) not committed yet."""
    missing = [m for m in res.missing() if labels is None or m.split("/")[0] in labels]
    if missing:
        raise KeyError(f"run {missing[0]} is not committed yet ({len(missing)} missing)")


def _decreases(table, lab) -> bool:
    """The mean at the largest n is below the mean at the smallest, and the fitted slope < 0."""
    m = table.mean[lab]
    return m[max(m)] < m[min(m)] and table.slope[lab] < 0


@claim("bkw-decent", experiment="bkw", where="Fig. 5.2 (caption)", chapter="exp_bkw",
       quote="Both the blob method and SBTM do a decent job of approximating the solution.")
def _bkw_decent(res):
    """Every error of Fig. 5.2 (covariance, score, KDE L2 at t_end) decreases with n for both
    methods, and the normalised score error at the largest n is below 0.1 for both."""
    _complete(res)
    tabs = {k: res.table(k, "end") for k in ("cov_error", "score_error", "kde_l2")}
    down = {(k, lab): _decreases(t, lab) for k, t in tabs.items() for lab in ("sbtm", "blob")}
    top = {lab: tabs["score_error"].mean[lab][max(tabs["score_error"].mean[lab])] for lab in ("sbtm", "blob")}
    value = ("slopes " + "; ".join(f"{k} sbtm {tabs[k].slope['sbtm']:.2f}, blob {tabs[k].slope['blob']:.2f}"
                                   for k in tabs)
             + f"; score error at the largest n: sbtm {top['sbtm']:.3g}, blob {top['blob']:.3g}")
    failing = [f"{k} ({lab})" for (k, lab), ok in down.items() if not ok]
    if not failing and max(top.values()) < 0.1:
        return Verdict(value, "yes", "all errors decrease with n and both score errors end below 0.1")
    if len(failing) <= len(down) // 2:
        why = (f"not decreasing: {', '.join(failing)}" if failing else "all errors decrease with n") \
              + ("" if max(top.values()) < 0.1 else "; a score error stays above 0.1 at the largest n")
        return Verdict(value, "partly", why)
    return Verdict(value, "no", f"not decreasing: {', '.join(failing)}")


@claim("bkw-moments-sampling", experiment="bkw", where="Remark 5.1", chapter="exp_bkw",
       quote="Since the BKW solution stays isotropic, second moments are automatically matched, "
             "up to the sampling error, on the order of $\\frac{1}{\\sqrt{n}}$.")
def _bkw_moments_sampling(res):
    """The slope of ||Sigma(t_end) - I||_F vs n is near -1/2 for both methods."""
    _complete(res)
    tab = res.table("cov_error", "end")
    slopes = {lab: tab.slope[lab] for lab in ("sbtm", "blob")}
    value = f"slopes of the covariance error: sbtm {slopes['sbtm']:.2f}, blob {slopes['blob']:.2f}"
    worst = max(abs(s + 0.5) for s in slopes.values())
    verdict = "yes" if worst < 0.15 else "partly" if worst < 0.3 else "no"
    return Verdict(value, verdict, "mean over the seeds at t_end, fitted over n = 100 ... 12 800; "
                                   "yes if both within 0.15 of -1/2")


@claim("bkw-moments-alike", experiment="bkw", where="Remark 5.1", chapter="exp_bkw",
       quote="Thus, we do not expect to see a big discrepancy between blob and SBTM in terms of "
             "matching the second moments.")
def _bkw_moments_alike(res):
    """SBTM's covariance error at t_end over the blob method's, at every n."""
    _complete(res)
    tab = res.table("cov_error", "end")
    ratios = {n: tab.mean["sbtm"][n] / tab.mean["blob"][n] for n in tab.mean["sbtm"] if n in tab.mean["blob"]}
    lo, hi = min(ratios.values()), max(ratios.values())
    value = f"SBTM / blob covariance error at t_end: {lo:.2f} to {hi:.2f} over n"
    spread = max(hi, 1 / lo)
    verdict = "yes" if spread < 1.5 else "partly" if spread < 3 else "no"
    return Verdict(value, verdict, "mean over the seeds; yes if within a factor 1.5 at every n")


@claim("bkw-momentum", experiment="bkw", where="Example 5.1, text on Fig. 5.2", chapter="exp_bkw",
       quote="As predicted by Proposition 3.1, this quantity is identically zero, up to floating point error.")
def _bkw_momentum(res):
    """Largest momentum drift over every step of every run, in units of the runs' machine epsilon."""
    import numpy as np
    _complete(res)
    eps = max(float(np.finfo(tr.meta["dtype"]).eps) for _, tr in res.runs)
    worst = max(float(np.nanmax(tr["momentum_drift"])) for _, tr in res.runs)
    value = f"largest momentum drift {worst:.2g} = {worst / eps:.1f} eps"
    verdict = "yes" if worst < 10 * eps else "partly" if worst < 1000 * eps else "no"
    return Verdict(value, verdict, f"max over t and over all {len(res.runs)} runs; yes if below 10 eps")


@claim("bkw-energy", experiment="bkw", where="Example 5.1, text on Fig. 5.2", chapter="exp_bkw",
       quote="This quantity is not identically zero because of time discretization. "
             "But it is on the order of $\\Delta t = 0.01$.")
def _bkw_energy(res):
    """|E(t_end) - E(t0)| of every run: above round-off and at most Delta t."""
    import numpy as np
    _complete(res)
    dt = res.experiment.make_problem().dt
    drifts = np.array([abs(float(tr["energy"][-1] - tr["energy"][0])) for _, tr in res.runs])
    eps = max(float(np.finfo(tr.meta["dtype"]).eps) for _, tr in res.runs)
    value = f"energy drift {drifts.min():.2g} to {drifts.max():.2g} (dt = {dt:g})"
    if drifts.min() <= 100 * eps * 3:                       # E ~ d = 3: not above round-off
        return Verdict(value, "no", "some run's drift is at round-off level")
    verdict = "yes" if drifts.max() <= dt else "partly" if drifts.max() <= 10 * dt else "no"
    return Verdict(value, verdict, "all runs; yes if every drift is above round-off and at most dt")


def _ablation(res, label):
    """Score error (mean over the run) of the ablation's sweep ``label`` (n = 1600, seed 0)."""
    import numpy as np
    n = res.experiment.sweeps(res.scale)[0].ns[0]
    return float(np.nanmean(res.get(label, n, 0)["score_error"]))


@claim("bkw-learning-rate", experiment="bkw_ablation", where="Example 5.1, text on Fig. 5.2",
       chapter="exp_bkw",
       quote="It is likely that the learning rate of $\\eta = 4 \\cdot 10^{-4}$ is too low for this example")
def _bkw_learning_rate(res):
    """Score error with lr = 1e-3 over that with the paper's 4e-4 (n = 1600, t in [5.5, 7.5])."""
    base, fast = _ablation(res, "baseline"), _ablation(res, "lr_1e-3")
    q = fast / base
    value = f"mean score error: lr 4e-4 {base:.3g}, lr 1e-3 {fast:.3g} (ratio {q:.2f})"
    verdict = "yes" if q < 0.9 else "partly" if q < 1.1 else "no"
    return Verdict(value, verdict, "bkw_ablation, n = 1600, seed 0; yes if the larger rate lowers it by 10 %")


@claim("bkw-alpha-bias", experiment="bkw_ablation", where="§5.1 (tested on Example 5.1)", chapter="exp_bkw",
       quote="The choice of α presents a bias-variance trade-off: higher values of α introduce bias "
             "but reduce the variance of the approximation of (3.1).")
def _bkw_alpha_bias(res):
    """Score error at alpha = 0.1, 0.4, 0.6 (bias: grows with alpha), and the step-to-step
    scatter of the score error relative to its mean (variance: shrinks with alpha)."""
    import numpy as np
    n = res.experiment.sweeps(res.scale)[0].ns[0]
    runs = {a: res.get(lab, n, 0)["score_error"] for a, lab in ((0.1, "alpha_0.1"), (0.4, "baseline"),
                                                                 (0.6, "alpha_0.6"))}
    err = {a: float(np.nanmean(v)) for a, v in runs.items()}
    scatter = {a: float(np.nanmedian(np.abs(np.diff(v))) / np.nanmean(v)) for a, v in runs.items()}
    value = ("mean score error " + ", ".join(f"α={a:g}: {v:.3g}" for a, v in err.items())
             + "; relative step-to-step scatter " + ", ".join(f"α={a:g}: {v:.2g}" for a, v in scatter.items()))
    bias = err[0.1] < err[0.4] < err[0.6]
    variance = scatter[0.1] > scatter[0.4] > scatter[0.6]
    if bias and variance:
        return Verdict(value, "yes", "the error grows with α and its scatter shrinks (n = 1600)")
    if bias or variance:
        return Verdict(value, "partly", ("only the bias half: the error grows with α" if bias else
                                         "only the variance half: the scatter shrinks with α"))
    return Verdict(value, "no", "neither the error grows nor the scatter shrinks with α")


# --- Example 5.2, Fig. 5.3: anisotropic Gaussian, d = 3 (exp_anisotropic) ------------------


# --- Example 5.2, Fig. 5.4: anisotropic Gaussian, d = 10 (exp_dimension10) -----------------


# --- Example 5.3, Fig. 5.5: Coulomb (exp_coulomb) -------------------------------------------


# --- §5.4, Fig. 5.6: run time (exp_runtime) -------------------------------------------------
