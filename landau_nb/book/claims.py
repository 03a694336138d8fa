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

from .._checks import check_choice
from .._stats import t_interval

__all__ = ["Claim", "Verdict", "CLAIMS", "claim", "evaluate", "committed_runs", "scoreboard", "summary", "tally", "VERDICTS", "t_interval",
           "bandwidth_table", "BLOB_FIGURE",
           "score_step_timing", "upper_half_slope"]

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

    def __str__(self) -> str:
        return f"{self.reproduced.upper()}: {self.value}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Claim:
    """One claim of Section 5: ``key``, the ``experiment`` whose runs test it, the paper's
    words (``quote``, with ``where`` in the paper), the book chapter that shows it
    (``chapter``, a document name such as ``exp_bkw``) and its ``test``. ``kind`` is "paper"
    (a sentence of the paper), "finding" (a result of this book, quoted from the chapter
    that derives it) or "precondition" (a conditional sentence of the paper, "if ..., then
    ...": its test says whether the condition holds, "yes" read as "holds"; the scoreboard
    keeps the three apart)."""

    key: str
    experiment: str
    quote: str
    where: str
    chapter: str
    test: Callable
    kind: str = "paper"

    def check(self, results=None, folder=None) -> Verdict:
        """Run the test on ``results`` (default: the committed paper-scale runs). Runs that
        are not committed yet give a "pending" verdict naming what is missing."""
        if results is None:
            try:
                results = committed_runs(self.experiment, folder)
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

    def check_settings(self, results=None, folder=None) -> Verdict:
        """The verdict on the setting that made the paper's figure, with the text's beside it.
        Where the experiment has blob runs with the bandwidth of the authors' code (label
        ``blob_authors``), the claim's test runs on a view in which those are the blob runs
        (:meth:`~landau_nb.Results.relabel`) and again on the runs with the rule of the paper's
        text (label ``blob``); the verdict is the first, and its value names both when they
        differ. Other claims: :meth:`check`."""
        if results is None:
            try:
                results = committed_runs(self.experiment, folder)
            except FileNotFoundError:
                return self.check(None, folder)
        if not hasattr(results.experiment, "sweeps"):          # a Vlasov–Landau experiment
            return self.check(results)
        labels = {sw.label for sw in results.experiment.sweeps(results.scale)}
        if BLOB_FIGURE not in labels:
            return self.check(results)
        text = self.check(results)
        figure = self.check(results.relabel({BLOB_FIGURE: "blob"}, drop=["blob"]))
        if (figure.reproduced, figure.value) == (text.reproduced, text.value):
            return figure
        return Verdict(f"{figure.value} [blob with the bandwidth of the authors' code; with the paper text's "
                       f"rule: {text.reproduced.upper()}, {text.value}]", figure.reproduced, figure.detail)

    def report(self, results=None, folder=None, *, verdict: Verdict | None = None) -> str:
        """The claim as the chapters print it: key, the paper's words and where, and the verdict
        (``verdict``, or :meth:`check` on ``results``)."""
        verdict = self.check(results, folder) if verdict is None else verdict
        return f"[{self.key}] {self.where}: \"{self.quote}\"\n  -> {verdict}"


CLAIMS: dict[str, Claim] = {}


KINDS = ("paper", "finding", "precondition")

#: the label of the blob runs with the bandwidth rule of the authors' code (GradientFlows.jl),
#: which made the paper's figures; ``"blob"`` has the rule of the paper's text
BLOB_FIGURE = "blob_authors"


def claim(key: str, *, experiment: str, quote: str, where: str, chapter: str, kind: str = "paper"):
    """Register the decorated function ``test(results) -> Verdict`` as claim ``key``."""
    check_choice("kind", kind, KINDS)

    def register(test):
        if key in CLAIMS:
            raise ValueError(f"claim {key!r} is registered twice")
        CLAIMS[key] = Claim(key, experiment, quote, where, chapter, test, kind)
        return test
    return register


def committed_runs(experiment: str, folder=None):
    """The committed paper-scale runs of ``experiment``: a :class:`~landau_nb.Results`, or for a
    Vlasov–Landau experiment a :class:`~landau_nb.experiments.phase_space.VlasovRuns`."""
    from ..experiments import VLASOV_EXPERIMENTS, paper_results, vlasov_results
    if experiment in VLASOV_EXPERIMENTS:
        return vlasov_results(experiment, "paper", out=folder, by="run")
    return paper_results(experiment, folder)


def evaluate(keys=None, folder=None) -> list[tuple[Claim, Verdict]]:
    """Each claim (all, or those in ``keys``) with its verdict on the committed runs; the
    runs of an experiment are read once."""
    keys = list(CLAIMS) if keys is None else [check_choice("claim", k, tuple(CLAIMS)) for k in keys]
    cache: dict = {}
    out = []
    for k in keys:
        c = CLAIMS[k]
        if c.experiment not in cache:
            try:
                cache[c.experiment] = committed_runs(c.experiment, folder)
            except FileNotFoundError:
                cache[c.experiment] = None
        res = cache[c.experiment]
        out.append((c, c.check_settings(res, folder) if res is not None else c.check(None, folder)))
    return out


def tally(evaluated) -> dict:
    """How many of the ``evaluated`` claims (pairs from :func:`evaluate`) have each verdict:
    ``{"yes": .., "partly": .., "no": .., "pending": ..}`` (every verdict present, in that order)."""
    counts = dict.fromkeys(VERDICTS, 0)
    for _, v in evaluated:
        counts[v.reproduced] += 1
    return counts


def summary(evaluated) -> str:
    """One line: "12 claims of Section 5: 5 reproduced, 3 partly, 1 not reproduced, 3 pending"
    (the paper's claims), followed by the book's own findings when there are any."""
    paper = [(c, v) for c, v in evaluated if c.kind == "paper"]
    found = [(c, v) for c, v in evaluated if c.kind == "finding"]
    c = tally(paper)
    total = sum(c.values())
    text = (f"{total} claim{'s' if total != 1 else ''} of Section 5: {c['yes']} reproduced, {c['partly']} partly, "
            f"{c['no']} not reproduced, {c['pending']} pending")
    if found:
        f = tally(found)
        text += (f"; {len(found)} finding{'s' if len(found) != 1 else ''} of this book: {f['yes']} hold, "
                 f"{f['partly']} partly, {f['no']} do not, {f['pending']} pending")
    cond = [(c, v) for c, v in evaluated if c.kind == "precondition"]
    if cond:
        f = tally(cond)
        text += (f"; {len(cond)} precondition{'s' if len(cond) != 1 else ''} of the paper's tests: {f['yes']} "
                 f"hold, {f['partly']} partly, {f['no']} fail, {f['pending']} pending")
    return text


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell (one line, no bare column bar)."""
    return " ".join(str(text).split()).replace("|", "\\|")


#: a verdict as a coloured badge (sphinx-design roles; the word itself stays in the badge)
BADGES = {"yes": "{bdg-success}`yes`", "partly": "{bdg-warning}`partly`", "no": "{bdg-danger}`no`",
          "pending": "{bdg-secondary}`pending`"}


def scoreboard(keys=None, folder=None, *, evaluated=None) -> str:
    """The reproduction scoreboard as a MyST Markdown table, one row per claim, readable at a
    glance: the verdict first, as a coloured badge (:data:`BADGES`), then the paper's words, the
    paper-scale number that tests it in bold (with its 95 % CI where the claim has one) and
    what was compared, where in the paper, and the chapter that shows it (a ``{doc}`` link:
    render the output as MyST, cell metadata ``mystnb: {markdown_format: myst}``).
    ``evaluated``: the pairs of :func:`evaluate`, when already computed. Book: "Reproduction
    scoreboard"."""
    evaluated = evaluate(keys, folder) if evaluated is None else evaluated
    rows = ["| reproduced | claim (paper) | paper-scale number | where | chapter |",
            "|---|---|---|---|---|"]
    for c, v in evaluated:
        shown = f"**{_cell(v.value)}**" if v.value.strip() not in ("", "—") else ""
        value = " — ".join(t for t in (shown, _cell(v.detail)) if t) or "—"
        rows.append(f"| {BADGES[v.reproduced]} | \u201c{_cell(c.quote)}\u201d | {value} | {_cell(c.where)} "
                    f"| {{doc}}`{c.chapter}` |")
    return "\n".join(rows)


def bandwidth_table(results, key: str, at: str = "end") -> str:
    """The blob method with the two bandwidth rules side by side at the paper's scale: per n,
    the mean over seeds (± 95 % t-interval) of ``key`` at ``at`` for the rule of the paper's
    text (label ``blob``) and the rule of the authors' code (``blob_authors``), and their
    ratio; SBTM's mean beside them. Book: the experiment chapters' "two bandwidths"."""
    labels = [lab for lab in ("sbtm", "blob", BLOB_FIGURE) if lab in results.labels]
    vals = results.values(key, at=at)
    ns = sorted(set().union(*(vals.get(lab, {}) for lab in labels)))
    head = f"{key} ({at}), mean ± 95 % CI over seeds"
    rows = [head, f"{'n':>6} {'sbtm':>18} {'blob, text rule':>20} {'blob, authors code':>20} {'authors/text':>13}"]

    def cell(lab, n):
        v = vals.get(lab, {}).get(n)
        return "—" if v is None else f"{np.mean(v):.4g} ± {t_interval(v):.2g}" if len(v) > 1 else f"{np.mean(v):.4g}"

    for n in ns:
        a, b = vals.get("blob", {}).get(n), vals.get(BLOB_FIGURE, {}).get(n)
        ratio = f"{np.mean(b) / np.mean(a):.2f}" if a is not None and b is not None else "—"
        rows.append(f"{n:>6} {cell('sbtm', n):>18} {cell('blob', n):>20} {cell(BLOB_FIGURE, n):>20} {ratio:>13}")
    return "\n".join(rows)


# The claims, one section per experiment chapter (each defined next to its own chapter's
# numbers). ------------------------------------------------------------------------------

# --- §5.1, Fig. 5.1: learning rate and the adaptive strategy (exp_learning_rate) ------------
# The paper's Fig. 5.1 was made by the authors' scripts/denoising.jl on the OU (linear
# Fokker-Planck) equation: the claims are decided on `learning_rate_ou`, which reruns that setup
# (5 seeds). The BKW version (`learning_rate`) is this book's second example: a finding row.

def _lr_variant(lr: float, adaptive: bool) -> str:
    return f"sbtm_lr{lr:g}" + ("_adaptive" if adaptive else "")


def _ou_runs(results, label):
    """The committed runs of ``label`` (one per seed); KeyError while any is missing."""
    _complete(results, [label])
    n = results.experiment.runs(results.scale, labels=[label])[0].n
    return [results.get(label, n, seed) for seed in results.seeds(label)]


def _ci(values) -> tuple[float, float]:
    """(mean, half-width of the 95 % t-interval) over seeds."""
    v = np.asarray(values, float)
    return float(v.mean()), t_interval(v)


def _fmt(mean, half, digits=2) -> str:
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def ou_numbers(results) -> dict:
    """Per variant label of ``learning_rate_ou`` and per seed: the mean normalised score error
    over the run (``err``), the total gradient steps (``steps``), the mean steps per time step
    in the first and the last quarter (``early``, ``late``). Book: exp_learning_rate."""
    out = {}
    for sw in results.experiment.sweeps(results.scale):
        rows = []
        for tr in _ou_runs(results, sw.label):
            # 40 trainings (t = 0.1 ... 0.49, as the authors' script), the last one included
            err, g = np.asarray(tr["score_error"], float), np.asarray(tr["gd_steps"], float)
            q = max(1, len(g) // 4)
            rows.append({"err": float(np.nanmean(err)), "steps": float(g.sum()),
                         "early": float(g[:q].mean()), "late": float(g[-q:].mean())})
        out[sw.label] = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return out


@claim("lr_underfitting", experiment="learning_rate_ou", where="§5.1, Fig. 5.1 (top right)",
       chapter="exp_learning_rate",
       quote="Figure 5.1 demonstrates how a poor choice of the learning rate η and the number of GD steps "
             "K can lead to severe underfitting.")
def _lr_underfitting(results):
    m = ou_numbers(results)
    ratio = m[_lr_variant(1e-4, False)]["err"] / m[_lr_variant(4e-4, False)]["err"]
    mean, half = _ci(ratio)
    low = mean - half
    verdict = "yes" if low > 1.5 else "partly" if low > 1.1 else "no"
    return Verdict(f"score error η = 1e-4 / η = 4e-4 with K = 25: {_fmt(mean, half, 1)} (95 % CI over "
                   f"{len(ratio)} seeds)", verdict,
                   "mean normalised score error over the run, OU d = 2, n = 2000 as the authors' script; "
                   "'severe': the whole interval above 1.5")


@claim("lr_adaptive_robust", experiment="learning_rate_ou", where="§5.1, Fig. 5.1 (bottom)",
       chapter="exp_learning_rate",
       quote="The adaptive strategy proposed above does well for a wide range of learning rates (compare the "
             "two bottom plots), while the non-adaptive strategy of taking K GD steps is very sensitive to "
             "the learning rate.")
def _lr_adaptive_robust(results):
    m = ou_numbers(results)
    best = m[_lr_variant(4e-4, False)]["err"]
    fixed = m[_lr_variant(1e-4, False)]["err"] / best
    adapt = np.maximum(m[_lr_variant(1e-4, True)]["err"], m[_lr_variant(4e-4, True)]["err"]) / best
    (fm, fh), (am, ah) = _ci(fixed), _ci(adapt)
    well, sensitive = am + ah < 1.25, fm - fh > 1.5
    verdict = "yes" if well and sensitive else "partly" if well or sensitive else "no"
    return Verdict(f"error / best K = 25 run: adaptive, worse of the two rates {_fmt(am, ah)}; K = 25 at "
                   f"η = 1e-4 {_fmt(fm, fh, 1)}", verdict,
                   "authors' stopping rule; 'does well': the adaptive runs at both rates within 25 % of K = 25 "
                   "at η = 4e-4 (upper CI end); 'very sensitive': K = 25 at η = 1e-4 beyond 1.5 (lower end)")


@claim("lr_adaptive_speedup", experiment="learning_rate_ou", where="§5.1, Fig. 5.1 (left)",
       chapter="exp_learning_rate",
       quote="When the solution gets closer to the steady state, fewer GD steps are needed to keep a good "
             "approximation of the score, which may lead to a significant speed-up if the adaptive strategy "
             "is used – compare the total number of epochs on the horizontal axis of the two subfigures on "
             "the left.")
def _lr_adaptive_speedup(results):
    m = ou_numbers(results)
    ad, fx = m[_lr_variant(4e-4, True)], m[_lr_variant(4e-4, False)]
    (sm, sh) = _ci(ad["steps"] / fx["steps"])
    (em, eh) = _ci(ad["err"] / fx["err"])
    (lm, lh) = _ci(ad["late"] / ad["early"])
    fewer_late, faster, accurate = lm + lh < 1, sm + sh < 0.9, em - eh < 1.25
    verdict = "yes" if fewer_late and faster and accurate else "partly" if faster or fewer_late else "no"
    return Verdict(f"η = 4e-4: adaptive / K = 25 epochs {_fmt(sm, sh)}, score error {_fmt(em, eh)}; adaptive steps "
                   f"per time step, last / first quarter {_fmt(lm, lh)}", verdict,
                   "authors' stopping rule, 95 % CIs over the seeds; yes: fewer epochs late than early, "
                   "< 0.9 of K = 25's epochs, the error not 25 % worse")


def lr_sawtooth(trajectory, column: int = 1) -> dict:
    """The saw-tooth of a per-gradient-step loss of one run (book: exp_learning_rate, §5.1),
    from ``saved["loss_log"]`` rows (time-step index, loss, ...): ``column`` 1 is the training
    (denoising) loss, 2 the implicit loss of ``record_losses="all"``. The jump between the last
    step of a time step and the first of the next (the particles moved), the change from the
    first to the last step within a time step (mean and standard error over the time steps),
    and the fraction of gradient steps within a time step that lower the loss."""
    if "loss_log" not in trajectory.saved or len(trajectory.saved["loss_log"]) == 0:
        raise KeyError("the run has no loss_log (it was not run with record_losses=True)")
    log = np.asarray(trajectory.saved["loss_log"], float)
    k, v = log[:, 0].astype(int), log[:, column]
    starts = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
    ends = np.r_[starts[1:] - 1, len(k) - 1]
    first, last = v[starts], v[ends]
    jump, within = first[1:] - last[:-1], last - first
    inside = np.diff(v)[np.diff(k) == 0]

    def sem(a):
        return float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")

    return {"jump": float(jump.mean()), "jump_sem": sem(jump), "within": float(within.mean()),
            "within_sem": sem(within), "time_steps": len(starts), "spread": float(v.std()),
            "jump_up": float(np.mean(jump > 0)), "steps_down": float(np.mean(inside < 0))}


@claim("lr_sawtooth", experiment="learning_rate_ou", where="§5.1, Fig. 5.1", chapter="exp_learning_rate",
       quote="Each time the particles move, the loss increases, and each step of GD the loss decreases.")
def _lr_sawtooth(results):
    S = [lr_sawtooth(tr, column=2) for tr in _ou_runs(results, _lr_variant(4e-4, False))]
    (um, uh), (dm, dh) = _ci([s["jump_up"] for s in S]), _ci([s["steps_down"] for s in S])
    up, down = um - uh > 0.9, dm - dh > 0.9
    return Verdict(f"implicit loss, η = 4e-4, K = 25: it rose at {_fmt(100 * um, 100 * uh, 0)} % of the particle "
                   f"moves and fell at {_fmt(100 * dm, 100 * dh, 0)} % of the gradient steps", 
                   "yes" if up and down else "partly" if up or down else "no",
                   "the implicit loss (3.4) with the exact divergence, logged after every gradient step (the "
                   "noise-free one of the authors' three curves); 95 % CIs over the seeds; yes: both above 90 %")


def lr_numbers(results) -> dict:
    """The numbers of the BKW learning-rate runs (``learning_rate``, this book's second example
    of §5.1; book: exp_learning_rate): per variant (lr, adaptive) the mean normalised score
    error over the run (``err``) and over its first tenth (``early``), the total gradient steps
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


@claim("finding_bkw_learning_rate", experiment="learning_rate", where="this book: exp_learning_rate (BKW)",
       chapter="exp_learning_rate", kind="finding",
       quote="On BKW (d = 3, n = 1600) the lower learning rate η = 1e-4 with K = 25 is not under-fitted: "
             "its score error is no larger than at η = 4e-4.")
def _finding_bkw_learning_rate(results):
    """Per seed (the same initial sample for both rates), the mean score error over the run at
    eta = 1e-4 over that at 4e-4, K = 25; its mean and 95 % t-interval."""
    n = results.experiment.runs(results.scale, labels=[_lr_variant(4e-4, False)])[0].n
    err = {lr: np.asarray([float(np.mean(np.asarray(tr["score_error"], float)))
                           for tr in _all_seeds(results, _lr_variant(lr, False), n)]) for lr in (4e-4, 1e-4)}
    ratio, half = _ci(err[1e-4] / err[4e-4])
    return Verdict(f"score error η = 1e-4 / η = 4e-4 with K = 25: {_fmt(ratio, half)} (mean over the run; 95 % CI "
                   f"over {len(err[1e-4])} seeds)",
                   "yes" if ratio + half <= 1.0 else "no" if ratio - half > 1.0 else "partly",
                   f"paired seeds at n = {n} (the registered BKW sweep); yes if the whole interval is at most 1, "
                   f"no if it lies above 1")


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


#: "decent": the relative error of E|X|^4 at t_end (mean over seeds, upper end of its 95 % CI)
#: below this at the largest n, for both methods (the fourth moment is what the chapter plots)
DECENT_M4 = 0.05


def fourth_moment_error(results, label: str, n: int) -> np.ndarray:
    """Per seed, |M4(t_end) / M4_exact(t_end) - 1| of the BKW runs (label, n). Book: exp_bkw."""
    problem = results.experiment.make_problem()
    out = []
    for tr in _all_seeds(results, label, n):
        m4 = np.asarray(tr.saved["fourth_moment"], float)
        out.append(abs(m4[-1] / problem.fourth_moment(float(tr.saved_t[-1])) - 1))
    return np.asarray(out)


@claim("bkw_decent", experiment="bkw", where="Fig. 5.2 (caption)", chapter="exp_bkw",
       quote="Both the blob method and SBTM do a decent job of approximating the solution.")
def _bkw_decent(res):
    """Every error of Fig. 5.2 (covariance, score, KDE L2 at t_end) decreases with n for both
    methods, the normalised score error at the largest n is below 0.1 for both, and the fourth
    moment (the chapter's other panel of the solution) is within DECENT_M4 at the largest n
    (95 % CI over the seeds)."""
    _complete(res)
    tabs = {k: res.table(k, "end") for k in ("cov_error", "score_error", "kde_l2")}
    down = {(k, lab): _decreases(t, lab) for k, t in tabs.items() for lab in ("sbtm", "blob")}
    top = {lab: tabs["score_error"].mean[lab][max(tabs["score_error"].mean[lab])] for lab in ("sbtm", "blob")}
    n_top = {lab: max(res.ns(lab)) for lab in ("sbtm", "blob")}
    m4 = {lab: _ci(fourth_moment_error(res, lab, n_top[lab])) for lab in ("sbtm", "blob")}
    m4_ok = {lab: m + h < DECENT_M4 for lab, (m, h) in m4.items()}
    value = ("slopes " + "; ".join(f"{k} sbtm {tabs[k].slope['sbtm']:.2f}, blob {tabs[k].slope['blob']:.2f}"
                                   for k in tabs)
             + f"; score error at the largest n: sbtm {top['sbtm']:.3g}, blob {top['blob']:.3g}"
             + "; |M4/M4_exact - 1| at t_end, largest n: "
             + ", ".join(f"{lab} {100 * m:.1f} ± {100 * h:.1f} %" for lab, (m, h) in m4.items()))
    failing = [f"{k} ({lab})" for (k, lab), ok in down.items() if not ok]
    failing += [f"fourth moment ({lab})" for lab, ok in m4_ok.items() if not ok]
    rule = (f"yes if every error decreases with n, both score errors end below 0.1 and both fourth moments "
            f"are within {DECENT_M4:.0%} at the largest n (95 % CI over the seeds)")
    if not failing and max(top.values()) < 0.1:
        return Verdict(value, "yes", rule)
    if sum(not ok for ok in down.values()) <= len(down) // 2:
        why = (f"short of it: {', '.join(failing)}" if failing else "all errors decrease with n") \
              + ("" if max(top.values()) < 0.1 else "; a score error stays above 0.1 at the largest n")
        return Verdict(value, "partly", f"{why}; {rule}")
    return Verdict(value, "no", f"short of it: {', '.join(failing)}; {rule}")


def _per_seed_end(results, key: str, label: str) -> dict:
    """{n: array over the registered seeds (in seed order) of record ``key`` at t_end}."""
    return {n: np.asarray([float(np.asarray(tr[key], float)[-1]) for tr in _all_seeds(results, label, n)])
            for n in results.ns(label)}


def _seed_slopes(results, key: str, label: str) -> np.ndarray:
    """The log-log slope vs n of ``key`` at t_end, one per seed (seed s at every n is a fresh
    sample: the slopes are independent)."""
    from ..experiments import loglog_slope
    per = _per_seed_end(results, key, label)
    ns = sorted(per)
    return np.asarray([loglog_slope(ns, [per[n][k] for n in ns]) for k in range(len(per[ns[0]]))])


@claim("bkw_moments_sampling", experiment="bkw", where="Remark 5.1", chapter="exp_bkw",
       quote="Since the BKW solution stays isotropic, second moments are automatically matched, "
             "up to the sampling error, on the order of $\\frac{1}{\\sqrt{n}}$.")
def _bkw_moments_sampling(res):
    """The slope of ||Sigma(t_end) - I||_F vs n, fitted per seed, near -1/2 for both methods:
    its mean and 95 % t-interval over the seeds."""
    _complete(res)
    slopes = {lab: _ci(_seed_slopes(res, "cov_error", lab)) for lab in ("sbtm", "blob")}
    value = ("slopes of the covariance error (per seed, 95 % CI over the seeds): "
             + ", ".join(f"{lab} {_fmt(m, h)}" for lab, (m, h) in slopes.items()))
    consistent = all(abs(m + 0.5) <= h + 0.02 for m, h in slopes.values())    # 0.02: the slope's rounding
    sharp = all(h < 0.25 for _, h in slopes.values())
    near = all(abs(m + 0.5) + h < 0.3 for m, h in slopes.values())
    verdict = "yes" if consistent and sharp else "partly" if near or consistent else "no"
    return Verdict(value, verdict, "at t_end, fitted over n = 100 ... 12 800 for each seed; yes if both "
                                   "intervals hold -1/2 and are narrower than ±0.25 (so that they tell "
                                   "n^(-1/2) from n^(-1/4) and n^(-3/4))")


@claim("bkw_moments_alike", experiment="bkw", where="Remark 5.1", chapter="exp_bkw",
       quote="Thus, we do not expect to see a big discrepancy between blob and SBTM in terms of "
             "matching the second moments.")
def _bkw_moments_alike(res):
    """SBTM's covariance error at t_end over the blob method's, per seed (the same initial
    sample for both), at every n: the extreme ends of the 95 % intervals over n."""
    _complete(res)
    s, b = _per_seed_end(res, "cov_error", "sbtm"), _per_seed_end(res, "cov_error", "blob")
    ci = {n: _ci(s[n] / b[n]) for n in s if n in b}
    lo = min(m - h for m, h in ci.values())
    hi = max(m + h for m, h in ci.values())
    mid = [m for m, _ in ci.values()]
    value = (f"SBTM / blob covariance error at t_end, paired per seed: means {min(mid):.2f} to {max(mid):.2f} "
             f"over n; 95 % intervals within [{lo:.2f}, {hi:.2f}]")
    spread = max(hi, 1 / max(lo, 1e-12))
    spread_mean = max(max(mid), 1 / min(mid))
    verdict = "yes" if spread < 2 else "partly" if spread_mean < 2 else "no"
    return Verdict(value, verdict, "a 'big discrepancy' read as a factor 2: yes if every interval lies within a "
                                   "factor 2 of 1 at every n, partly if only the means do")


@claim("bkw_momentum", experiment="bkw", where="Example 5.1, text on Fig. 5.2", chapter="exp_bkw",
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


@claim("bkw_energy", experiment="bkw", where="Example 5.1, text on Fig. 5.2", chapter="exp_bkw",
       quote="This quantity is not identically zero because of time discretization. "
             "But it is on the order of $\\Delta t = 0.01$.")
def _bkw_energy(res):
    """The energy drift is the time discretisation's, and at most Delta t. Forward Euler gives
    E_{k+1} - E_k = (2 dt/n) sum_i X_i.v_i + (dt^2/n) sum_i |v_i|^2, and the first term is zero
    (A(z) z = 0, Proposition 3.1): the energy rises by dt^2 mean|v|^2 > 0 at every step, while
    round-off has no sign. So: the fraction of steps (of all runs) where E rises, and the
    drift E(t_end) - E(t0) of each run against dt."""
    import numpy as np
    _complete(res)
    dt = res.experiment.make_problem().dt
    energies = [np.asarray(tr["energy"], dtype=float) for _, tr in res.runs]
    drifts = np.array([e[-1] - e[0] for e in energies])
    rising = float(np.mean(np.concatenate([np.diff(e) > 0 for e in energies])))
    value = (f"energy drift {drifts.min():.2g} to {drifts.max():.2g} (dt = {dt:g}); "
             f"E rises at {100 * rising:.2f} % of the steps")
    if rising == 1.0 and drifts.max() <= dt:
        verdict = "yes"
    elif rising >= 0.99 and drifts.max() <= 10 * dt:
        verdict = "partly"
    else:
        verdict = "no"
    return Verdict(value, verdict, f"all {len(energies)} runs; yes if E rises at every step "
                                   "(the dt^2 mean|v|^2 of forward Euler) and every drift is at most dt")


def _ablation(res, label):
    """Score error (mean over the run) of the ablation's sweep ``label`` at n = 1600, per seed
    (every registered seed; KeyError while one is missing)."""
    n = res.experiment.sweeps(res.scale)[0].ns[0]
    return np.asarray([float(np.nanmean(tr["score_error"])) for tr in _all_seeds(res, label, n)])


@claim("bkw_learning_rate", experiment="bkw_ablation", where="Example 5.1, text on Fig. 5.2",
       chapter="exp_bkw",
       quote="It is likely that the learning rate of $\\eta = 4 \\cdot 10^{-4}$ is too low for this example")
def _bkw_learning_rate(res):
    """Score error with lr = 1e-3 over that with the paper's 4e-4 (n = 1600, t in [5.5, 7.5]),
    per seed (a seed is the same initial sample for both), with its 95 % t-interval."""
    base, fast = _ablation(res, "baseline"), _ablation(res, "lr_1e-3")
    q, half = _ci(fast / base)
    value = (f"mean score error: lr 4e-4 {_fmt(*_ci(base), 3)}, lr 1e-3 {_fmt(*_ci(fast), 3)}; "
             f"ratio lr 1e-3 / lr 4e-4 {_fmt(q, half)} (95 % CI over {len(base)} seeds)")
    verdict = "yes" if q + half < 0.9 else "no" if q - half > 1.0 else "partly"
    return Verdict(value, verdict, "bkw_ablation, n = 1600, paired seeds; yes if the larger rate lowers the "
                                   "error by 10 % (the whole interval below 0.9), no if it raises it (the whole "
                                   "interval above 1)")


#: the alpha sweep's particle count the claim bkw_alpha_bias reads (every alpha, 5 seeds there)
ALPHA_BIAS_N = 3200


def alpha_sweep(results, n: int = ALPHA_BIAS_N) -> dict:
    """{alpha: per-seed arrays} of the BKW alpha sweep at ``n`` (experiment ``bkw_alpha`` plus the
    alpha = 0.4 runs of ``bkw``): "score_error" (mean over the run), "m4_error" (|M4/M4_exact - 1|
    at t_end) and "overshoot" (measured / predicted rise of M4, :func:`fourth_moment_overshoot`).
    Book: exp_bkw, "The alpha sweep"."""
    from ..experiments import paper_results
    from pathlib import Path
    bkw = paper_results("bkw", Path(results.folder).parent)      # results.folder: .../bkw_alpha
    sets = {float(sw.options["alpha"]): (results, sw.label) for sw in results.experiment.sweeps(results.scale)}
    sets[float(bkw.experiment.options["sbtm"]["alpha"])] = (bkw, "sbtm")
    out = {}
    for a, (res, label) in sorted(sets.items()):
        trs = _all_seeds(res, label, n)
        problem = res.experiment.make_problem()
        out[a] = {"score_error": np.asarray([float(np.nanmean(tr["score_error"])) for tr in trs]),
                  "m4_error": np.asarray([abs(float(tr.saved["fourth_moment"][-1])
                                              / problem.fourth_moment(float(tr.saved_t[-1])) - 1) for tr in trs]),
                  "overshoot": np.asarray([fourth_moment_overshoot(tr, a) for tr in trs])}
    return out


def _sd_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Sample standard deviation of ``values`` and its chi-square confidence interval."""
    from scipy import stats
    v = np.asarray(values, float)
    m, sd = v.size - 1, float(v.std(ddof=1))
    lo = sd * np.sqrt(m / stats.chi2.ppf((1 + level) / 2, m))
    hi = sd * np.sqrt(m / stats.chi2.ppf((1 - level) / 2, m))
    return sd, float(lo), float(hi)


@claim("bkw_alpha_bias", experiment="bkw_alpha", where="§5.1 (tested on Example 5.1)", chapter="exp_bkw",
       quote="The choice of α presents a bias-variance trade-off: higher values of α introduce bias "
             "but reduce the variance of the approximation of (3.1).")
def _bkw_alpha_bias(res):
    """On the alpha sweep at n = ALPHA_BIAS_N (five seeds per alpha). Bias: the fourth moment's
    error at t_end (the chapter's closed form: SBTM with a fixed alpha relaxes to
    d(d+2)(1 + alpha^2)) is larger at the largest alpha than at the smallest, beyond the 95 %
    intervals. Variance: the score error, which the noise of the divergence estimate (3.5) adds
    to at small alpha, is smaller at some larger alpha than at the smallest, beyond the
    intervals. The seed-to-seed spread of the score error is printed beside (five seeds cannot
    resolve it). The variance of the estimate itself, point by point, is measured in
    score_matching."""
    sw = alpha_sweep(res)
    alphas = sorted(sw)
    bias = {a: _ci(sw[a]["m4_error"]) for a in alphas}
    err = {a: _ci(sw[a]["score_error"]) for a in alphas}
    spread = {a: _sd_interval(sw[a]["score_error"]) for a in alphas}
    a0, a1 = alphas[0], alphas[-1]
    grows = bias[a0][0] + bias[a0][1] < bias[a1][0] - bias[a1][1]
    falls = any(err[a0][0] - err[a0][1] > err[a][0] + err[a][1] for a in alphas[1:])
    best = min(alphas, key=lambda a: err[a][0])
    value = (f"n = {ALPHA_BIAS_N}, 5 seeds: |M4/M4_exact - 1| at t_end "
             + ", ".join(f"α={a:g}: {100 * m:.1f} ± {100 * h:.1f} %" for a, (m, h) in bias.items())
             + "; mean score error " + ", ".join(f"α={a:g}: {_fmt(m, h, 3)}" for a, (m, h) in err.items())
             + f" (smallest at α = {best:g}); seed-to-seed sd of the score error "
             + ", ".join(f"α={a:g}: {sd:.2g}" for a, (sd, _, _) in spread.items()))
    rule = ("bias: the M4 error larger at the largest α than at the smallest, beyond the 95 % t-intervals; "
            "variance: the score error smaller at a larger α than at the smallest, beyond the intervals")
    if grows and falls:
        return Verdict(value, "yes", rule)
    if grows or falls:
        return Verdict(value, "partly", ("only the bias half holds; " if grows else "only the variance half holds; ")
                       + rule)
    return Verdict(value, "no", rule)


def fourth_moment_overshoot(trajectory, alpha: float) -> float:
    """Measured / predicted rise of E|X|^4 of one SBTM run of BKW over its saved window, the
    prediction being the closed form of book exp_bkw, "SBTM's fourth moment relaxes to a heavier
    tail": the rise (d(d+2)... with the run's own M_2) (d+2)(M_2 + d alpha^2) - M_4(t0), times
    1 - exp(-4B(d-1)(t - t0))."""
    meta = trajectory.meta["problem"]
    d, B = int(meta["d"]), float(meta["B"])
    ts, M4 = trajectory.saved_t, np.asarray(trajectory.saved["fourth_moment"], float)
    M2 = float(trajectory["energy"][0])                       # (1/n) sum |X|^2, conserved
    pred = ((d + 2) * (M2 + d * alpha**2) - M4[0]) * (1 - np.exp(-4 * B * (d - 1) * (ts[-1] - ts[0])))
    return float(M4[-1] - M4[0]) / pred


@claim("finding_bkw_alpha_overshoot", experiment="bkw", where="this book: exp_bkw, Proposition "
       "(SBTM's fourth moment)", chapter="exp_bkw", kind="finding",
       quote="SBTM's denoising loss with a fixed α drives the BKW fourth moment toward d(d+2)(1 + α²) instead "
             "of d(d+2), at the exact rate, whatever n: at the largest n the rise is the predicted one.")
def _finding_bkw_alpha_overshoot(results):
    _complete(results, ["sbtm"])
    n = max(results.ns("sbtm"))
    alpha = float(results.experiment.options["sbtm"]["alpha"])
    r = [fourth_moment_overshoot(results.get("sbtm", n, s), alpha) for s in results.seeds("sbtm")]
    mean, half = _ci(r)
    inside = all(abs(v - 1) < 0.1 for v in r)
    return Verdict(f"measured / predicted rise at n = {n}: {_fmt(mean, half, 3)} (95 % CI over {len(r)} seeds; "
                   f"every seed within {max(abs(v - 1) for v in r):.3f} of 1)",
                   "yes" if inside and abs(mean - 1) < 0.1 else "partly" if abs(mean - 1) < 0.2 else "no",
                   f"α = {alpha}; yes if every seed is within 10 % of the prediction")

# --- Example 5.2, Fig. 5.3: anisotropic Gaussian, d = 3 (exp_anisotropic) ------------------

#: "matches the covariance": the fair error (max over t) below this fraction of the size of the
#: relaxation ||Sigma(0) - Sigma(inf)||_F (1.13 for diag(1.8, 0.2, 1, ...) in every d)
COVARIANCE_MATCH = 0.1


def _relaxation_size(problem) -> float:
    """||Sigma*(0) - Sigma*(inf)||_F: how far the second moments travel (Example 5.2)."""
    import numpy as np
    s0 = problem.initial_second_moment().double().numpy()
    return float(np.linalg.norm(s0 - np.trace(s0) / problem.d * np.eye(problem.d)))


def _fair_error(results, label: str, n: int) -> tuple[float, int]:
    """Mean over seeds of max_t cov_error_sample (the error against the closed form from
    the run's own Sigma(0), book: exp_anisotropic), and the number of seeds; KeyError if
    no run of (label, n) is there."""
    vals = results.values("cov_error_sample", "max", label).get(label, {})
    if n not in vals:
        raise KeyError(f"no {label} run with n = {n}")
    return float(vals[n].mean()), len(vals[n])


def _curve_gap(results, label: str, n: int, ref) -> float:
    """Mean over seeds of the relative L2-in-t distance of the entropy-rate curve to ``ref``."""
    import numpy as np
    trs = results.select(label, n)
    if not trs:
        raise KeyError(f"no {label} run with n = {n}")
    return float(np.mean([np.linalg.norm(tr["entropy_rate"] - ref) / np.linalg.norm(ref) for tr in trs]))


@claim("anisotropic_d3_covariance", experiment="anisotropic_d3",
       quote="SBTM matches covariance well even with $n=100$ particles, while the blob method needs "
             "a lot more particles to achieve the same accuracy.",
       where="Example 5.2, Fig. 5.3", chapter="exp_anisotropic")
def _anisotropic_d3_covariance(results) -> Verdict:
    """SBTM at n = 100 within COVARIANCE_MATCH of the relaxation size (fair error, max over
    t), and the blob method reaching that error only at n >= 8 * 100 (or not at all)."""
    problem = results.experiment.make_problem()
    size = _relaxation_size(problem)
    e_sbtm, seeds = _fair_error(results, "sbtm", 100)
    half = t_interval(results.values("cov_error_sample", "max", "sbtm")["sbtm"][100])
    fair = results.values("cov_error_sample", "max", "blob")["blob"]
    blob_ns = sorted(fair)
    hit = [n for n in blob_ns if fair[n].mean() <= e_sbtm]
    paper = results.table("cov_error", "end")              # the paper's panel: vs Sigma* at t_end
    hit_paper = paper.crossover.get("blob")
    good = (e_sbtm + (half if np.isfinite(half) else 0.0)) < COVARIANCE_MATCH * size
    many = not hit or hit[0] >= 800
    where = f"first at n = {hit[0]}" if hit else f"not at any n <= {blob_ns[-1]}"
    where_paper = f"n = {hit_paper}" if hit_paper else f"not at n <= {max(paper.mean['blob'])}"
    value = (f"SBTM, n = 100: max_t fair error {e_sbtm:.3f} ± {half:.3f} ({e_sbtm / size:.1%} of the relaxation); "
             f"blob reaches it {where}; with the paper's metric (error vs Sigma* at t_end) at {where_paper}")
    verdict = "yes" if good and many else ("partly" if good or many else "no")
    return Verdict(value, verdict, f"fair error = ||Sigma(t) - closed form from the run's Sigma(0)||_F, "
                                   f"mean of {seeds} seeds with its 95 % interval; 'well' = the interval below "
                                   f"{COVARIANCE_MATCH:.0%} of "
                                   f"||Sigma(0) - Sigma(inf)||_F = {size:.2f}, 'a lot more' = at least 8x")


@claim("anisotropic_d3_entropy", experiment="anisotropic_d3",
       quote="Using the entropy decay trajectories with $n=12800$ as a reference, SBTM with $n=100$ "
             "matches it well, unlike the blob method.",
       where="Example 5.2, Fig. 5.3", chapter="exp_anisotropic")
def _anisotropic_d3_entropy(results) -> Verdict:
    """The n = 12 800 SBTM curve (mean of seeds) as reference, trusted only if it is within
    10 % of the exact Gaussian rate at t = 0 (book: exp_anisotropic,
    "Entropy production of a Gaussian") and within
    10 % (relative L2 in t) of the n = 6400 curve. "yes": SBTM's n = 100 runs are closer to
    it than the blob runs at n = 100 and at n = 12 800, and the mean of SBTM's n = 100 curves
    is within 0.2 of it; "partly": closer than the blob method at n = 100 only."""
    import numpy as np
    problem = results.experiment.make_problem()
    s0 = problem.initial_second_moment().double().numpy()
    exact0 = -2 * problem.B * (np.trace(s0) * np.trace(np.linalg.inv(s0)) - problem.d ** 2)
    ref_runs = results.select("sbtm", 12800)
    if not ref_runs:
        raise KeyError("no sbtm run with n = 12800")
    ref = np.mean([tr["entropy_rate"] for tr in ref_runs], axis=0)
    anchor = abs(ref[0] / exact0 - 1)
    converged = _curve_gap(results, "sbtm", 6400, ref)
    gaps = {"sbtm 100": _curve_gap(results, "sbtm", 100, ref), "blob 100": _curve_gap(results, "blob", 100, ref),
            "blob 12800": _curve_gap(results, "blob", 12800, ref)}
    at0 = {lab: float(np.mean([tr["entropy_rate"][0] for tr in results.select(lab, 100)]) / exact0)
           for lab in ("sbtm", "blob")}
    mean100 = np.mean([tr["entropy_rate"] for tr in results.select("sbtm", 100)], axis=0)
    bias = float(np.linalg.norm(mean100 - ref) / np.linalg.norm(ref))
    trusted = anchor < 0.1 and converged < 0.1
    per = {lab: np.array([np.linalg.norm(tr["entropy_rate"] - ref) / np.linalg.norm(ref)
                          for tr in _all_seeds(results, lab, 100)]) for lab in ("sbtm", "blob")}
    ratio, half = _ci(per["blob"] / per["sbtm"])          # paired: a seed is one sample for both
    value = (f"distance to the reference at n = 100: SBTM {_fmt(*_ci(per['sbtm']))}, blob "
             f"{_fmt(*_ci(per['blob']))}, blob / SBTM {_fmt(ratio, half)} (95 % CI over {len(per['sbtm'])} "
             f"seeds; SBTM's mean curve {bias:.2f}); blob at n = 12800 {gaps['blob 12800']:.2f}; reference at "
             f"t = 0 {anchor:.1%} from the exact {exact0:.3f}, n = 6400 curve {converged:.2f} from it; "
             f"rate at t = 0 / exact, n = 100: SBTM {at0['sbtm']:.2f}, blob {at0['blob']:.2f}")
    rule = ("relative L2-in-t distance of the estimated entropy-production rate to SBTM's n = 12800 mean, "
            "trusted through the exact Gaussian rate at t = 0 and the n = 6400 curve (both within 10 %); "
            "the sentence compares the two methods at n = 100: yes if the blob method is farther, the whole "
            "95 % interval of the paired ratio above 1.5 ('unlike'); partly if above 1")
    if not trusted:
        return Verdict(value, "partly" if ratio - half > 1 else "no", "the reference is not trusted; " + rule)
    verdict = "yes" if ratio - half > 1.5 else "partly" if ratio - half > 1 else "no"
    return Verdict(value, verdict, rule)


# --- Example 5.2, Fig. 5.4: anisotropic Gaussian, d = 10 (exp_dimension10) -----------------

@claim("anisotropic_d10_covariance", experiment="anisotropic_d10",
       quote="Even $n=25600$ particles are not enough for the blob method to match the true covariance "
             "trajectory, whereas SBTM gives a very good prediction.",
       where="Example 5.2, Fig. 5.4", chapter="exp_dimension10")
def _anisotropic_d10_covariance(results) -> Verdict:
    """Both methods at n = 25 600, the n of the sentence (fair error, max over t, per seed): the
    blob method "does not match" when the lower end of its 95 % interval is above
    COVARIANCE_MATCH of the relaxation size, SBTM is "very good" when the upper end of its interval
    is below it. SBTM at n = 100 is shown beside (the paper's figure also draws it)."""
    problem = results.experiment.make_problem()
    size = _relaxation_size(problem)
    n = 25600
    fair = {lab: results.values("cov_error_sample", "max", lab).get(lab, {}) for lab in ("blob", "sbtm")}
    for lab in fair:
        _all_seeds(results, lab, n)                 # KeyError (pending) while a seed is missing
    (mb, hb), (ms, hs) = _ci(fair["blob"][n]), _ci(fair["sbtm"][n])
    s100 = fair["sbtm"].get(100)
    blob_fails = mb - hb > COVARIANCE_MATCH * size
    sbtm_good = ms + hs < COVARIANCE_MATCH * size
    value = (f"max_t fair error at n = {n}: blob {_fmt(mb, hb, 3)} ({mb / size:.1%} of the relaxation), SBTM "
             f"{_fmt(ms, hs, 3)} ({ms / size:.1%}); blob / SBTM {mb / ms:.1f}"
             + (f"; SBTM at n = 100: {s100.mean():.3f} ({s100.mean() / size:.1%})" if s100 is not None else ""))
    verdict = "yes" if blob_fails and sbtm_good else ("partly" if blob_fails or sbtm_good else "no")
    return Verdict(value, verdict, f"fair error as in d = 3, 95 % CIs over {len(fair['blob'][n])} seeds; "
                                   f"threshold {COVARIANCE_MATCH:.0%} of ||Sigma(0) - Sigma(inf)||_F = {size:.2f}")


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
                      n_ref: int = COULOMB_N_REF, *, from_start: bool = False) -> dict:
    """Distance of each seed's run at ``n`` to the reference of :func:`coulomb_reference`,
    mean over t: Frobenius norm of Sigma(t) - Sigma_ref(t) (``quantity`` "second_moment")
    or |rate(t) - rate_ref(t)| ("entropy_rate"). Returns {"sbtm": array over seeds, "blob":
    ..., "ratio": blob/sbtm of the means, "diff": mean of blob - sbtm (paired: a seed is the
    same sample for both), "sem": its standard error, "uncertainty": the mean over t of the
    gap between the two methods at n_ref (the reference's own uncertainty)}. ``from_start``
    (second moments only): compare the changes Sigma(t) - Sigma(0) instead, which removes the
    error of the initial sample (the same for both methods at a seed, and the largest part of
    the plain distance at n = 100)."""
    check_choice("quantity", quantity, ("second_moment", "entropy_rate"))
    runs = {lab: _all_seeds(results, lab, n) for lab in ("sbtm", "blob")}
    R = coulomb_reference(results, n_ref)
    out: dict = {}
    for lab, trs in runs.items():
        if quantity == "second_moment" and from_start:
            ref = R["ref"] - R["ref"][0]
            e = [np.linalg.norm(tr["second_moment"].astype(float) - tr["second_moment"][0].astype(float) - ref,
                                axis=(1, 2)).mean() for tr in trs]
        elif quantity == "second_moment":
            e = [np.linalg.norm(tr["second_moment"].astype(float) - R["ref"], axis=(1, 2)).mean() for tr in trs]
        else:
            e = [np.abs(tr["entropy_rate"].astype(float) - R["rate_ref"]).mean() for tr in trs]
        out[lab] = np.asarray(e)
    d = out["blob"] - out["sbtm"]
    out.update(ratio=float(out["blob"].mean() / out["sbtm"].mean()), diff=float(d.mean()),
               sem=float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan"),
               uncertainty=float(np.linalg.norm((R["sigma"]["sbtm"] - R["sigma"]["sbtm"][0])
                                                - (R["sigma"]["blob"] - R["sigma"]["blob"][0]), axis=(1, 2)).mean()
                                 if quantity == "second_moment" and from_start
                                 else R["gap"].mean() if quantity == "second_moment"
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
       kind="precondition",
       quote="if the trajectories of the SBTM and the blob method with large n coincide, that trajectory is "
             "likely the correct one and serves as the reference for the trajectories with low n")
def _coulomb_reference(results):
    """A conditional sentence: whether its condition holds (the two methods coincide at
    n = 12 800), which the Coulomb claims need for their reference."""
    R = coulomb_reference(results)
    both = max(R["rel_gap"], R["rate_gap"])
    verdict = "yes" if both < 0.05 else "partly" if min(R["rel_gap"], R["rate_gap"]) < 0.05 or both < 0.15 else "no"
    return Verdict(f"n = {R['n']}: max_t ||Σ_SBTM − Σ_blob||_F = {R['gap'].max():.3f} = {R['rel_gap']:.1%} of "
                   f"Σ11 − Σ22 at t = 0; entropy rates differ by {R['rate_gap']:.1%} (mean over t)", verdict,
                   f"a precondition, not a result: the Coulomb claims use the mean of the two methods as their "
                   f"reference and carry this gap as its uncertainty; mean over {R['seeds']} seeds per method; "
                   f"'coincide' read as within 5 %")


@claim("coulomb_covariance", experiment="coulomb_d3", where="Example 5.3, Fig. 5.5", chapter="exp_coulomb",
       quote="SBTM achieves better accuracy with n=100 particles in terms of matching covariance [...] of the "
             "simulations with n=12800 particles.")
def _coulomb_covariance(results):
    """The distance of Sigma(t) at n = 100 to the reference's, as the sentence says, compared
    seed by seed: at a seed SBTM and the blob method start from the same sample, so the error of
    that sample, the largest part of either distance, cancels in their paired difference, which
    is tested against its standard error and the reference's own uncertainty. The distance of
    the changes Sigma(t) - Sigma(0) is shown beside (it does not remove the shared error: the
    sample's own equilibrium, fixed by its energy, differs from the reference's)."""
    D = coulomb_distances(results, "second_moment")
    inc = coulomb_distances(results, "second_moment", from_start=True)
    return Verdict(f"n = 100, mean over t of ||Σ − Σ_ref||_F: SBTM {D['sbtm'].mean():.4f}, blob "
                   f"{D['blob'].mean():.4f} (blob/SBTM {D['ratio']:.2f}; paired difference {D['diff']:.4f} ± "
                   f"{D['sem']:.4f} s.e. over {len(D['sbtm'])} seeds); of the changes Σ(t) − Σ(0): SBTM "
                   f"{inc['sbtm'].mean():.4f}, blob {inc['blob'].mean():.4f}", _closer_verdict(D),
                   f"reference: mean of both methods at n = 12800, uncertain by {D['uncertainty']:.4f} (their gap, "
                   "mean over t); yes if the blob method is farther, the paired difference beyond 2 s.e. and "
                   "beyond that uncertainty")


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


def upper_half_slope(timing: dict) -> tuple[float, list]:
    """Log-log slope of ``timing`` = {n: seconds per step} over the upper half of the n range
    (where the arithmetic, not per-call overhead, sets the cost) and those n. Book: "Cost"."""
    from ..experiments import loglog_slope
    ns = sorted(timing)[len(timing) // 2:]
    if len(ns) < 2:
        raise ValueError(f"needs at least four particle counts to fit an upper-half slope, has {sorted(timing)}")
    return loglog_slope(ns, [timing[n] for n in ns]), ns


def score_step_timing(results, label: str) -> dict:
    """{n: median over seeds of the median seconds of the score step per time step} of one
    label's CPU runs (the first step, with its warm-up, left out). Book: "Cost"."""
    import numpy as np
    out: dict = {}
    for spec, tr in results.runs:
        if spec["label"] == label and tr.meta.get("device", "cpu").startswith("cpu"):
            out.setdefault(spec["n"], []).append(float(np.median(tr["time_score"][1:])))
    if len(out) < 4:
        raise KeyError(f"{label}: CPU timings at {sorted(out)} only")
    return {n: float(np.median(v)) for n, v in sorted(out.items())}


def _slope_verdict(results, label: str, yes: tuple, partly: tuple, what: str) -> Verdict:
    """Verdict on the upper-half log-log slope of ``label``'s score step: "yes" inside the
    interval ``yes``, "partly" inside ``partly``, else "no"."""
    slope, ns = upper_half_slope(score_step_timing(results, label))
    verdict = "yes" if yes[0] <= slope <= yes[1] else ("partly" if partly[0] <= slope <= partly[1] else "no")
    return Verdict(f"slope {slope:.2f}", verdict,
                   f"{what}, seconds per time step vs n = {ns[0]}…{ns[-1]} on the CPU (log-log)")


@claim("runtime_sbtm_linear", experiment="runtime", where="§5.4, Fig. 5.6 (left)", chapter="exp_runtime",
       quote="The runtime of the score estimation routine in SBTM is linear in the number of particles")
def _runtime_sbtm_linear(results):
    return _slope_verdict(results, "sbtm", (0.75, 1.25), (0.5, 1.5), "SBTM score step")


@claim("runtime_blob_quadratic", experiment="runtime", where="§5.4, Fig. 5.6 (left)", chapter="exp_runtime",
       quote="The blob method has quadratic asymptotic complexity")
def _runtime_blob_quadratic(results):
    return _slope_verdict(results, "blob", (1.7, 2.3), (1.3, 2.5), "blob score")


@claim("runtime_gpu_heat", experiment="runtime_heat", where="§5.4, Fig. 5.6 (right)", chapter="exp_runtime",
       quote="we observed a roughly O(n^0.6) scaling of the computational time on the GPU for the SBTM method")
def _runtime_gpu_heat(results):
    import numpy as np

    from ..experiments import loglog_slope
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


# --- beyond the paper: Vlasov–Landau II (vlasov_collisions) -----------------------------------

@claim("finding_vlasov_sbtm_vs_blob", experiment="vlasov_damping_curve",
       where="this book: vlasov_collisions (1D-3V Landau damping, Coulomb, B = 0.4)", chapter="vlasov_collisions",
       kind="finding",
       quote="In phase space SBTM is the better score at equal cost: at the largest particle number its score is "
             "closer to the local Maxwellian than the two-term blob's, and its run costs no more.")
def _finding_vlasov_sbtm_vs_blob(runs):
    """Per seed at B = 0.4: the time-mean score error (relative distance to the local-Maxwellian
    score) of SBTM over the blob's, at the largest n where both have every registered seed; and
    the ratio of their compute times (vl.run_seconds)."""
    ns = sorted({n for (lab, n, _) in runs if lab in ("sbtm_B0.4", "blob_B0.4")})
    registered = {(r.label, r.n, r.seed) for r in runs.experiment.runs(runs.scale)}
    def seeds_at(lab, n):
        return {s for (la, nn, s) in registered if la == lab and nn == n}

    # a particle number counts only where both scores are registered (the blob alone runs at 16 n0)
    # and every one of their seeds is committed
    full = [n for n in ns if seeds_at("sbtm_B0.4", n) and seeds_at("blob_B0.4", n)
            and all(k in runs for k in registered if k[0] in ("sbtm_B0.4", "blob_B0.4") and k[1] == n)]
    if not full:
        raise KeyError("no particle number has every seed of sbtm_B0.4 and blob_B0.4 committed")
    n = max(full)
    seeds = sorted(seeds_at("sbtm_B0.4", n) & seeds_at("blob_B0.4", n))
    err = {lab: np.array([float(np.nanmean(runs[(lab, n, s)]["score_error"])) for s in seeds])
           for lab in ("sbtm_B0.4", "blob_B0.4")}
    from ..vlasov import run_seconds
    sec = {lab: np.array([run_seconds(runs[(lab, n, s)]) for s in seeds]) for lab in err}
    ratio, half = _ci(err["sbtm_B0.4"] / err["blob_B0.4"])
    cost = float(np.mean(sec["sbtm_B0.4"]) / np.mean(sec["blob_B0.4"]))
    verdict = ("yes" if ratio + half < 1 and cost <= 1 else "no" if ratio - half > 1 else "partly")
    return Verdict(f"score error SBTM / blob at n = {n}: {_fmt(ratio, half)} (time mean; 95 % CI over "
                   f"{len(seeds)} seeds); compute time SBTM / blob {cost:.2f}",
                   verdict, "paired seeds, one core each, compute time by run_seconds; yes if the error ratio's "
                            "interval lies below 1 and SBTM's run is no slower, no if the interval lies above 1")


@claim("finding_vlasov_score_reference", experiment="vlasov_score_reference",
       where="this book: vlasov_collisions (1D-3V Landau damping, B = 0.001, n = 2e4, against the exact score)",
       chapter="vlasov_collisions", kind="finding",
       quote="Against the exact score of the collisionless solution SBTM's score is closer than the blob's, yet no "
             "estimator resolves what separates f from a local Maxwellian: each is farther from the exact score than "
             "the local Maxwellian of the particles' moments.")
def _finding_vlasov_score_reference(runs):
    """Per seed, the mean over the records with 1 <= t <= 10 of score_error_ref (relative squared
    distance to the exact score): SBTM over the blob; and of each estimator's excess
    score_error_ref - lm_error_ref over its own run's local Maxwellian."""
    absent = runs.missing()
    if absent:
        raise KeyError(f"run {absent[0]} is not committed yet")
    registered = runs.experiment.runs(runs.scale)
    seeds = sorted({r.seed for r in registered})

    def mean_after(tr, key):
        return float(np.mean(np.asarray(tr[key])[np.asarray(tr.t) >= 1.0]))

    n = max(r.n for r in registered)
    err = {lab: np.array([mean_after(runs[(lab, n, s)], "score_error_ref") for s in seeds])
           for lab in ("sbtm", "blob")}
    ratio, half = _ci(err["sbtm"] / err["blob"])
    labels = [lab for lab in ("blob", "kde", "sbtm", "sbtm-K40") if any(r.label == lab for r in registered)]
    excess = {lab: _ci([mean_after(runs[(lab, n, s)], "score_error_ref") - mean_after(runs[(lab, n, s)], "lm_error_ref")
                        for s in seeds]) for lab in labels}
    none_resolves = all(m - h > 0 for m, h in excess.values())
    verdict = "no" if ratio - half > 1 else "yes" if ratio + half < 1 and none_resolves else "partly"
    return Verdict(f"distance to the exact score SBTM / blob {_fmt(ratio, half)}; excess over the local Maxwellian: "
                   + ", ".join(f"{lab} {_fmt(*excess[lab], 3)}" for lab in labels)
                   + f" (means over 1 <= t <= 10, n = {n}, 95 % CI over {len(seeds)} seeds)", verdict,
                   "yes if the ratio's interval lies below 1 and every estimator's excess interval above 0; no if the "
                   "ratio's interval lies above 1")


@claim("finding_vlasov_collision_strength", experiment="vlasov_collision_strength",
       where="this book: vlasov_collisions (anisotropy relaxation, 1D-3V Coulomb, B = 2)", chapter="vlasov_collisions",
       kind="finding",
       quote="A kernel score runs a weaker collision operator than the one asked for: at the damping curve's particle "
             "numbers the two-term blob score relaxes a temperature anisotropy at well under the rate of the nominal "
             "B, SBTM at most of it.")
def _finding_vlasov_collision_strength(runs):
    """Per label and n, every registered seed: the effective collision strength (isotropisation
    rate over λB, vl.effective_collision_strength) with its interval; the local-Gaussian score
    (exact for a Gaussian) must give 1 for the measurement to count."""
    from ..vlasov import effective_collision_strength
    absent = runs.missing()
    if absent:
        raise KeyError(f"run {absent[0]} is not committed yet")
    registered = runs.experiment.runs(runs.scale)
    est = {}
    for label, n in sorted({(r.label, r.n) for r in registered}):
        vals = [effective_collision_strength(runs[(label, n, r.seed)])["strength"] for r in registered
                if r.label == label and r.n == n]
        est[label, n] = _ci(vals)
    ns = sorted({n for _, n in est})
    sound = all(abs(est["gaussian", n][0] - 1) + est["gaussian", n][1] < 0.05 for n in ns)
    weak = all(sum(est["blob", n]) < 0.8 for n in ns)
    sbtm_more = all(est["sbtm", n][0] - est["sbtm", n][1] > sum(est["blob", n]) for n in ns)
    parts = [f"n = {n}: " + ", ".join(f"{lab} {_fmt(*est[lab, n])}" for lab in ("gaussian", "blob", "kde", "sbtm",
                                                                                   "sbtm-a0.1") if (lab, n) in est)
             for n in ns]
    verdict = "no" if not (sound and weak) else "yes" if sbtm_more else "partly"
    return Verdict("effective strength (rate / λB): " + "; ".join(parts) + " (95 % CI over 3 seeds)", verdict,
                   "yes if the local-Gaussian reference is within 0.05 of 1, the blob's interval lies below 0.8 at "
                   "every n and SBTM's above the blob's")


@claim("finding_vlasov_alpha_equilibrium", experiment="vlasov_relaxation",
       where="this book: vlasov_collisions (relaxation, 1D-3V Coulomb, B = 2)", chapter="vlasov_collisions",
       kind="finding",
       quote="With SBTM scores the collision step relaxes the particles to the law whose score the denoising loss "
             "learns: the equilibrium's v₁ kurtosis is 3(1 + α²), not the Maxwellian's 3.")
def _finding_vlasov_alpha_equilibrium(runs):
    """Per SBTM label of the relaxation runs at n = 2·10⁴ (α = 0.4 and 0.1), every registered
    seed: the end-state kurtosis of the v₁ marginal against 3(1 + α²)."""
    from ..vlasov import relaxation_checks
    registered = [r for r in runs.experiment.runs(runs.scale) if r.label.startswith("sbtm") and r.n == 20_000]
    absent = [r.stem for r in registered if (r.label, r.n, r.seed) not in runs]
    if absent:
        raise KeyError(f"run {absent[0]} is not committed yet")
    parts, ok, close = [], True, True
    for label in sorted({r.label for r in registered}):
        trs = [runs[(r.label, r.n, r.seed)] for r in registered if r.label == label]
        alpha = float(trs[0].meta["score"]["alpha"])
        k = np.array([relaxation_checks(tr)["kurtosis"][-1] for tr in trs])
        mean, half = _ci(k)
        want = 3 * (1 + alpha**2)
        ok &= abs(mean - want) + half < 0.05
        close &= abs(mean - want) < 0.1
        parts.append(f"α = {alpha:g}: {_fmt(mean, half)} (3(1 + α²) = {want:.2f})")
    return Verdict("end-state kurtosis " + "; ".join(parts) + f" (95 % CI over {len(trs)} seeds, n = 20 000)",
                   "yes" if ok else "partly" if close else "no",
                   "yes if every interval lies within 0.05 of 3(1 + α²); the blob score's end state is "
                   "thin-tailed instead (kurtosis about 2.5)")
