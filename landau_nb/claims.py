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

import numpy as np

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

def _lr_variant(lr: float, adaptive: bool) -> str:
    return f"sbtm_lr{lr:g}" + ("_adaptive" if adaptive else "")


def lr_numbers(results) -> dict:
    """The numbers behind the §5.1 claims (book: exp_learning_rate), from the four runs of
    ``learning_rate``: per variant (lr, adaptive) the mean normalised score error over the
    run (``err``) and over its first tenth (``early``), the total gradient steps
    (``steps``), and the mean steps per time step in the first and last quarter after t0
    (``steps_early``, ``steps_late``). KeyError when a run is not committed."""
    out: dict = {}
    for lr in (4e-4, 1e-4):
        for ad in (False, True):
            label = _lr_variant(lr, ad)
            n = results.experiment.runs(results.scale, labels=[label])[0].n
            tr = results.get(label, n)                       # KeyError: not committed yet
            err, g = np.asarray(tr["score_error"], float), np.asarray(tr["gd_steps"], float)
            q, ten = max(1, (len(g) - 1) // 4), max(1, len(err) // 10)
            out[lr, ad] = {"n": n, "err": float(np.mean(err)), "early": float(np.mean(err[:ten])),
                           "steps": int(np.nansum(g)), "steps_early": float(np.mean(g[1:1 + q])),
                           "steps_late": float(np.mean(g[-q:]))}
    return out


@claim("lr_underfitting", experiment="learning_rate", where="§5.1, Fig. 5.1 (top right)",
       chapter="exp_learning_rate",
       quote="Figure 5.1 demonstrates how a poor choice of the learning rate η and the number of GD steps "
             "K can lead to severe underfitting.")
def _lr_underfitting(results):
    m = lr_numbers(results)
    ratio = m[1e-4, False]["err"] / m[4e-4, False]["err"]
    early = m[1e-4, False]["early"] / m[4e-4, False]["early"]
    verdict = "yes" if ratio > 1.5 else "partly" if ratio > 1.1 or early > 1.5 else "no"
    return Verdict(f"score error η = 1e-4 / η = 4e-4 with K = 25: {ratio:.2f} (mean over the run), "
                   f"{early:.2f} (first tenth)", verdict,
                   f"mean normalised true score error, n = {m[4e-4, False]['n']}; 'severe' read as > 1.5")


@claim("lr_adaptive_robust", experiment="learning_rate", where="§5.1, Fig. 5.1 (bottom)",
       chapter="exp_learning_rate",
       quote="The adaptive strategy proposed above does well for a wide range of learning rates (compare the "
             "two bottom plots), while the non-adaptive strategy of taking K GD steps is very sensitive to "
             "the learning rate.")
def _lr_adaptive_robust(results):
    m = lr_numbers(results)
    fixed = m[1e-4, False]["err"] / m[4e-4, False]["err"]
    adaptive = m[1e-4, True]["err"] / m[4e-4, True]["err"]
    well = max(m[lr, True]["err"] for lr in (4e-4, 1e-4)) <= 1.25 * m[4e-4, False]["err"]
    less = abs(np.log(adaptive)) < abs(np.log(fixed))
    if less and abs(np.log(adaptive)) < np.log(1.25) and abs(np.log(fixed)) > np.log(1.5) and well:
        verdict = "yes"
    else:
        verdict = "partly" if less else "no"
    return Verdict(f"error ratio η = 1e-4 / 4e-4: adaptive {adaptive:.2f}, K = 25 {fixed:.2f}", verdict,
                   "mean normalised score error; 'does well': both adaptive runs within 25 % of each other and "
                   "of K = 25 at η = 4e-4; 'very sensitive': K = 25 ratio beyond 1.5")


@claim("lr_adaptive_speedup", experiment="learning_rate", where="§5.1, Fig. 5.1 (left)",
       chapter="exp_learning_rate",
       quote="When the solution gets closer to the steady state, fewer GD steps are needed to keep a good "
             "approximation of the score, which may lead to a significant speed-up if the adaptive strategy "
             "is used – compare the total number of epochs on the horizontal axis of the two subfigures on "
             "the left.")
def _lr_adaptive_speedup(results):
    m = lr_numbers(results)
    ad, fx = m[4e-4, True], m[4e-4, False]
    steps = ad["steps"] / fx["steps"]
    err = ad["err"] / fx["err"]
    fewer_late = ad["steps_late"] < ad["steps_early"]
    verdict = ("yes" if steps < 0.8 and fewer_late and err < 1.25
               else "partly" if steps < 1 or fewer_late else "no")
    return Verdict(f"η = 4e-4: adaptive/K = 25 gradient steps {steps:.2f}, score error {err:.2f}; adaptive steps "
                   f"per time step {ad['steps_early']:.1f} (first quarter) → {ad['steps_late']:.1f} (last)",
                   verdict, "yes needs < 0.8 of the steps, fewer steps late than early, error within 25 %")


def lr_sawtooth(trajectory) -> dict:
    """The saw-tooth of the per-gradient-step training loss of one run (book:
    exp_learning_rate, §5.1): from ``saved["loss_log"]`` (time-step index, denoising loss),
    the jump between the last step of a time step and the first of the next (the particles
    moved), and the change from the first to the last step within a time step, each as mean
    and standard error over the time steps."""
    if "loss_log" not in trajectory.saved or len(trajectory.saved["loss_log"]) == 0:
        raise KeyError("the run has no loss_log (it was not run with record_losses=True)")
    log = np.asarray(trajectory.saved["loss_log"], float)
    k, v = log[:, 0].astype(int), log[:, 1]
    starts = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
    ends = np.r_[starts[1:] - 1, len(k) - 1]
    first, last = v[starts], v[ends]
    jump, within = first[1:] - last[:-1], last - first

    def sem(a):
        return float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")

    return {"jump": float(jump.mean()), "jump_sem": sem(jump), "within": float(within.mean()),
            "within_sem": sem(within), "time_steps": len(starts), "spread": float(v.std())}


@claim("lr_sawtooth", experiment="learning_rate", where="§5.1, Fig. 5.1", chapter="exp_learning_rate",
       quote="Each time the particles move, the loss increases, and each step of GD the loss decreases.")
def _lr_sawtooth(results):
    label = _lr_variant(4e-4, False)
    S = lr_sawtooth(results.get(label, results.experiment.runs(results.scale, labels=[label])[0].n))
    up, down = S["jump"] > 2 * S["jump_sem"], S["within"] < -2 * S["within_sem"]
    return Verdict(f"denoising loss, η = 4e-4, K = 25: jump when the particles move {S['jump']:+.3g} ± "
                   f"{S['jump_sem']:.2g}, change over a time step's training {S['within']:+.3g} ± "
                   f"{S['within_sem']:.2g}", "yes" if up and down else "partly" if up or down else "no",
                   "only the denoising loss is recorded per gradient step; mean ± standard error over the "
                   f"{S['time_steps']} time steps, single-step losses spread by {S['spread']:.2g}")


# --- Example 5.1, Fig. 5.2: BKW (exp_bkw) --------------------------------------------------


# --- Example 5.2, Fig. 5.3: anisotropic Gaussian, d = 3 (exp_anisotropic) ------------------


# --- Example 5.2, Fig. 5.4: anisotropic Gaussian, d = 10 (exp_dimension10) -----------------


# --- Example 5.3, Fig. 5.5: Coulomb (exp_coulomb) -------------------------------------------

#: the paper's large and small n of Fig. 5.5
COULOMB_N_REF, COULOMB_N_LOW = 12_800, 100


def _all_seeds(results, label: str, n: int) -> list:
    """The runs (label, n) of every registered seed of ``results.scale``; KeyError naming
    the seeds not committed yet (the claim is then pending)."""
    seeds = sorted({sp.seed for sp in results.experiment.runs(results.scale, labels=[label]) if sp.n == n})
    if not seeds:
        raise ValueError(f"{label} n={n} is not a registered run of {results.experiment.name} "
                         f"at scale {results.scale!r}")
    runs = {s: results.select(label, n, s) for s in seeds}
    gone = [s for s, r in runs.items() if not r]
    if gone:
        raise KeyError(f"{label} n={n} seed(s) {gone} not committed yet")
    return [runs[s][0] for s in seeds]


def coulomb_reference(results, n: int = COULOMB_N_REF) -> dict:
    """The paper's reference of Example 5.3 (book: exp_coulomb): Sigma(t) and the estimated
    entropy rate of SBTM and blob at ``n``, each averaged over all seeds, their mean (the
    reference) and gaps: ``gap`` = ||Sigma_sbtm - Sigma_blob||_F (t), ``rel_gap`` = its
    maximum over t / (Sigma_11 - Sigma_22)(0) of the reference, ``rate_gap`` = mean over t
    of |rate_sbtm - rate_blob| / mean over t of |rate_ref|."""
    per = {lab: _all_seeds(results, lab, n) for lab in ("sbtm", "blob")}
    sig = {lab: np.mean([tr["second_moment"].astype(float) for tr in trs], axis=0) for lab, trs in per.items()}
    rate = {lab: np.mean([tr["entropy_rate"].astype(float) for tr in trs], axis=0) for lab, trs in per.items()}
    ref, rate_ref = (sig["sbtm"] + sig["blob"]) / 2, (rate["sbtm"] + rate["blob"]) / 2
    gap = np.linalg.norm(sig["sbtm"] - sig["blob"], axis=(1, 2))
    signal = float(ref[0, 0, 0] - ref[0, 1, 1])
    return {"n": n, "t": per["sbtm"][0].t, "sigma": sig, "rate": rate, "ref": ref, "rate_ref": rate_ref,
            "gap": gap, "signal": signal, "rel_gap": float(gap.max() / signal),
            "rate_gap": float(np.mean(np.abs(rate["sbtm"] - rate["blob"])) / np.mean(np.abs(rate_ref))),
            "seeds": len(per["sbtm"])}


def coulomb_distances(results, quantity: str = "second_moment", n: int = COULOMB_N_LOW,
                      n_ref: int = COULOMB_N_REF) -> dict:
    """Distance of each seed's run at ``n`` to the reference of :func:`coulomb_reference`,
    mean over t: Frobenius norm of Sigma(t) - Sigma_ref(t) (``quantity`` "second_moment")
    or |rate(t) - rate_ref(t)| ("entropy_rate"). Returns {"sbtm": array over seeds, "blob":
    ..., "ratio": blob/sbtm of the means, "diff": mean of blob - sbtm (paired: a seed is the
    same sample for both), "sem": its standard error, "uncertainty": the mean over t of the
    gap between the two methods at n_ref (the reference's own uncertainty)}."""
    check_choice("quantity", quantity, ("second_moment", "entropy_rate"))
    runs = {lab: _all_seeds(results, lab, n) for lab in ("sbtm", "blob")}
    R = coulomb_reference(results, n_ref)
    out: dict = {}
    for lab, trs in runs.items():
        if quantity == "second_moment":
            e = [np.linalg.norm(tr["second_moment"].astype(float) - R["ref"], axis=(1, 2)).mean() for tr in trs]
        else:
            e = [np.abs(tr["entropy_rate"].astype(float) - R["rate_ref"]).mean() for tr in trs]
        out[lab] = np.asarray(e)
    d = out["blob"] - out["sbtm"]
    out.update(ratio=float(out["blob"].mean() / out["sbtm"].mean()), diff=float(d.mean()),
               sem=float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan"),
               uncertainty=float(R["gap"].mean() if quantity == "second_moment"
                                 else np.mean(np.abs(R["rate"]["sbtm"] - R["rate"]["blob"]))))
    return out


def _closer_verdict(D: dict) -> str:
    """yes: the blob method is farther than SBTM, beyond 2 standard errors and beyond the
    reference's own uncertainty; partly: farther on average only; no otherwise."""
    if not D["diff"] > 0:
        return "no"
    significant = np.isfinite(D["sem"]) and D["diff"] > 2 * D["sem"]
    return "yes" if significant and D["diff"] > D["uncertainty"] else "partly"


@claim("coulomb_reference", experiment="coulomb_d3", where="Example 5.3", chapter="exp_coulomb",
       quote="if the trajectories of the SBTM and the blob method with large n coincide, that trajectory is "
             "likely the correct one and serves as the reference for the trajectories with low n")
def _coulomb_reference(results):
    R = coulomb_reference(results)
    both = max(R["rel_gap"], R["rate_gap"])
    verdict = "yes" if both < 0.05 else "partly" if min(R["rel_gap"], R["rate_gap"]) < 0.05 or both < 0.15 else "no"
    return Verdict(f"n = {R['n']}: max_t ||Σ_SBTM − Σ_blob||_F = {R['gap'].max():.3f} = {R['rel_gap']:.1%} of "
                   f"Σ11 − Σ22 at t = 0; entropy rates differ by {R['rate_gap']:.1%} (mean over t)", verdict,
                   f"mean over {R['seeds']} seeds per method; 'coincide' read as within 5 %")


@claim("coulomb_covariance", experiment="coulomb_d3", where="Example 5.3, Fig. 5.5", chapter="exp_coulomb",
       quote="SBTM achieves better accuracy with n=100 particles in terms of matching covariance [...] of the "
             "simulations with n=12800 particles.")
def _coulomb_covariance(results):
    D = coulomb_distances(results, "second_moment")
    return Verdict(f"n = 100, mean over t of ||Σ − Σ_ref||_F: SBTM {D['sbtm'].mean():.4f}, blob "
                   f"{D['blob'].mean():.4f} (blob/SBTM {D['ratio']:.2f}; difference {D['diff']:.4f} ± "
                   f"{D['sem']:.4f})", _closer_verdict(D),
                   f"reference: mean of both methods at n = 12800, uncertain by {D['uncertainty']:.4f} "
                   "(their gap, mean over t)")


@claim("coulomb_entropy", experiment="coulomb_d3", where="Example 5.3, Fig. 5.5", chapter="exp_coulomb",
       quote="SBTM achieves better accuracy with n=100 particles in terms of matching [...] entropy decay "
             "rate of the simulations with n=12800 particles.")
def _coulomb_entropy(results):
    D = coulomb_distances(results, "entropy_rate")
    return Verdict(f"n = 100, mean over t of |rate − rate_ref|: SBTM {D['sbtm'].mean():.3g}, blob "
                   f"{D['blob'].mean():.3g} (blob/SBTM {D['ratio']:.2f})", _closer_verdict(D),
                   f"reference: mean of both methods at n = 12800, uncertain by {D['uncertainty']:.3g} "
                   "(their gap, mean over t)")


# --- §5.4, Fig. 5.6: run time (exp_runtime) -------------------------------------------------
