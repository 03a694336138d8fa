"""The experiments of Section 5 of the paper, registered with the paper's problems and
hyper-parameters (§5.1) at the book's and the paper's scale, and this book's own additions
(the BKW ablation). SBTM and the blob method share the initial sample of each (n, seed).
Adding an experiment: one :func:`register` call here."""

from __future__ import annotations

from .registry import EXPERIMENTS, Experiment, Sweep, _paper_ns, register

__all__: list[str] = []


_SBTM = {"lr": 4e-4, "K": 25, "alpha": 0.4, "width": 100, "depth": 1}


_PAPER_SEEDS = (0, 1, 2, 3, 4)

#: BKW's initial fit (the nearly singular score at t0 = 5.5): Adam at 1e-3 for at most 300 000
#: steps reaches init_tol = 1e-3 in every paper-scale run (the slowest, n = 12 800 seed 1, in
#: 151 200 steps); Adam at 1e-2 for 20 000 steps stopped at 3.5e-3-7.2e-3 at n = 12 800
_BKW_FIT = {"init_lr": 1e-3, "init_max_iter": 300_000}


def _both(book_sbtm, book_blob, book_seeds, paper_kmax=7, paper_kmax_blob=None, sbtm_opts=None,
          authors_blob=False):
    """Book and paper sweeps for SBTM and blob sharing the initial samples. ``authors_blob``:
    at paper scale also the blob method with the bandwidth rule of the authors' code, which made
    the paper's figures (GradientFlows.jl ``blob_bandwidth`` since commit 5b59c4f, 2024-04-03:
    kernel exp(-|z|^2/eps') with eps' = 4 det(Sigma)^(1/d) n^(-2/(d+4)), i.e. the rule
    ``"reference"``), label ``blob_authors``; the label ``blob`` keeps the rule of the paper's
    text (``"paper"``)."""
    sbtm_opts = sbtm_opts or {}
    paper = (Sweep("sbtm", "sbtm", _paper_ns(paper_kmax), _PAPER_SEEDS, sbtm_opts),
             Sweep("blob", "blob", _paper_ns(paper_kmax_blob or paper_kmax), _PAPER_SEEDS))
    if authors_blob:
        paper += (Sweep("blob_authors", "blob", _paper_ns(paper_kmax_blob or paper_kmax), _PAPER_SEEDS,
                        {"bandwidth": "reference"}),)
    return {
        "book": (Sweep("sbtm", "sbtm", tuple(book_sbtm), tuple(book_seeds), sbtm_opts),
                 Sweep("blob", "blob", tuple(book_blob), tuple(book_seeds))),
        "paper": paper,
    }


register(Experiment(
    name="bkw", title="BKW solution, Maxwellian molecules, d = 3", paper="Example 5.1, Fig. 5.2",
    problem={"name": "bkw", "d": 3},
    options={"sbtm": {**_SBTM, "depth": 2, "init_tol": 1e-3, **_BKW_FIT}, "blob": {"bandwidth": "paper"}},
    solve={"book": {"kde_l2": True, "save_every": 100, "kde_samples": 2**13},
           "paper": {"kde_l2": True, "save_every": 50, "kde_samples": 2**15}},
    scales=_both([100, 200, 400], [100, 200, 400, 800, 1600], [0], authors_blob=True),
))


register(Experiment(
    name="anisotropic_d3", title="Anisotropic Gaussian start, Maxwellian molecules, d = 3",
    paper="Example 5.2, Fig. 5.3",
    problem={"name": "anisotropic_gaussian", "d": 3, "gamma": 0.0},
    options={"sbtm": dict(_SBTM), "blob": {"bandwidth": "paper"}},
    scales=_both([100, 200, 400], [100, 200, 400, 800, 1600], [0, 1], authors_blob=True),
))


register(Experiment(
    name="anisotropic_d10", title="Anisotropic Gaussian start, Maxwellian molecules, d = 10",
    paper="Example 5.2, Fig. 5.4",
    problem={"name": "anisotropic_gaussian", "d": 10, "gamma": 0.0},
    options={"sbtm": dict(_SBTM), "blob": {"bandwidth": "paper"}},
    scales=_both([100, 200, 400], [100, 200, 400, 800, 1600], [0], paper_kmax=8, authors_blob=True),
))


register(Experiment(
    name="coulomb_d3", title="Anisotropic Gaussian start, Coulomb kernel, d = 3",
    paper="Example 5.3, Fig. 5.5",
    problem={"name": "anisotropic_gaussian", "d": 3, "gamma": -3.0},
    options={"sbtm": dict(_SBTM), "blob": {"bandwidth": "paper"}},
    scales=_both([100, 200, 800], [100, 200, 400, 800], [0], authors_blob=True),
))


# Fig. 5.1 as the authors made it: GradientFlows.jl scripts/denoising.jl (commit 689a2dd, "make the
# plots showing the adaptive sbtm"): the linear Fokker-Planck (OU) equation, d = 2, n = 2000,
# dt = 0.01, trainings at t = 0.1, 0.11, ..., 0.49 (t_end = 0.49: 40 trainings, as its
# `while t < 0.5`), a fresh Adam at every time step, eta in {4e-4, 1e-4}, K = 25 or adaptive with
# StoppingStrategy(): check the implicit loss every 5 steps, stop when it fell by less than
# 0.005/5, at most 400 steps. Beside it, this package's adaptive rule (the first non-decrease).
_OU_RULES = (("", {}),
             ("_adaptive", {"adaptive": True, "check_every": 5, "adaptive_atol": 0.005 / 5, "max_steps": 400}),
             ("_adaptive_pkg", {"adaptive": True, "check_every": 5, "max_steps": 400}))

register(Experiment(
    name="learning_rate_ou",
    title="Fig. 5.1 as the authors ran it: learning rate and adaptive training on the OU equation (d = 2)",
    paper="§5.1, Fig. 5.1 (the authors' scripts/denoising.jl)",
    problem={"name": "fokker_planck", "d": 2, "t0": 0.1, "dt": 0.01, "t_end": 0.49},
    options={"sbtm": {**_SBTM, "init_tol": 1e-4, "init_lr": 1e-2, "restart_optimizer": True,
                      "record_losses": "all"}},
    scales={
        scale: tuple(Sweep(f"sbtm_lr{lr:g}{suffix}", "sbtm", ns, seeds, {"lr": lr, **rule})
                     for suffix, rule in _OU_RULES for lr in (4e-4, 1e-4))
        for scale, ns, seeds in (("book", (500,), (0,)), ("paper", (2000,), _PAPER_SEEDS))
    },
))

register(Experiment(
    name="learning_rate", title="Under-fitting at a low learning rate and the adaptive strategy (BKW, d = 3)",
    paper="§5.1, Fig. 5.1 (this book's second example: BKW)",
    problem={"name": "bkw", "d": 3},
    options={"sbtm": {**_SBTM, "depth": 2, "init_tol": 1e-3, **_BKW_FIT, "record_losses": True}},
    solve={"book": {"t_end": 6.5}, "paper": {}},
    scales={
        scale: tuple(Sweep(f"sbtm_lr{lr:g}" + ("_adaptive" if ad else ""), "sbtm", ns, seeds if not ad else (0,),
                           {"lr": lr, "adaptive": ad, "max_steps": 200})
                     for ad in (False, True) for lr in (4e-4, 1e-4))
        # K = 25 at paper scale over five seeds: the finding "finding_bkw_learning_rate" compares them
        for scale, ns, seeds in (("book", (100,), (0,)), ("paper", (1600,), _PAPER_SEEDS))
    },
))


# Ablation of SBTM's bias on BKW (book: "The BKW solution", section "What makes SBTM's score
# biased here"): each sweep changes ONE option of the bkw SBTM settings, or (n_...) only n. Over [5.5, 7.5], where the
# bias appears; no KDE (the score error, entropy rate and fourth moment are what is compared).
_BKW_ABLATION = (("baseline", {}), ("alpha_0.1", {"alpha": 0.1}), ("alpha_0.6", {"alpha": 0.6}),
                 ("init_tol_1e-4", {"init_tol": 1e-4}), ("lr_1e-3", {"lr": 1e-3}),
                 ("loss_weighted_denoising", {"loss": "weighted_denoising"}),
                 ("loss_implicit", {"loss": "implicit"}))


# the sweeps the claim "bkw_learning_rate" compares: five seeds at paper scale (the others one)
_BKW_ABLATION_SEEDED = ("baseline", "lr_1e-3")

register(Experiment(
    name="bkw_ablation", title="What causes SBTM's bias on BKW: one option changed at a time (d = 3)",
    paper="Example 5.1, Fig. 5.2 (ablation, not in the paper)",
    problem=dict(EXPERIMENTS["bkw"].problem),
    options={"sbtm": dict(EXPERIMENTS["bkw"].options["sbtm"])},
    solve={"book": {"t_end": 7.5, "save_every": 10}, "paper": {"t_end": 7.5, "save_every": 10}},
    scales={scale: tuple(Sweep(label, "sbtm", (n,), seeds if label in _BKW_ABLATION_SEEDED else (0,), opts)
                         for label, opts in _BKW_ABLATION)
            + (Sweep(f"n_{4 * n}", "sbtm", (4 * n,), (0,), {}),)      # the baseline with 4x the particles
            for scale, n, seeds in (("book", 200, (0,)), ("paper", 1600, _PAPER_SEEDS))},
))


# The alpha sweep (book: "The BKW solution", section on the fourth-moment overshoot): the bkw SBTM
# settings with only the denoising noise alpha changed, at two n, five seeds. The closed form of
# that chapter predicts a limit M4 -> d(d+2)(1 + alpha^2) whatever n: does the overshoot shrink
# with alpha as predicted, and does the dissipation approach the exact one as n grows? No KDE
# (the fourth moment, the entropy rate and the score error are what is compared).
_BKW_ALPHAS = (0.05, 0.1, 0.2)

register(Experiment(
    name="bkw_alpha", title="SBTM's fourth-moment overshoot on BKW vs the denoising noise alpha (d = 3)",
    paper="Example 5.1, Fig. 5.2 (this book's finding: the alpha-bias, not in the paper)",
    problem=dict(EXPERIMENTS["bkw"].problem),
    options={"sbtm": dict(EXPERIMENTS["bkw"].options["sbtm"])},
    solve={"book": {"save_every": 20}, "paper": {"save_every": 20}},
    scales={scale: tuple(Sweep(f"sbtm_alpha{a:g}", "sbtm", ns, seeds, {"alpha": a}) for a in _BKW_ALPHAS)
            for scale, ns, seeds in (("book", (200,), (0,)), ("paper", (3200, 12800), _PAPER_SEEDS))},
))


_RUNTIME_SBTM = {**_SBTM, "init_tol": 1e-2, "init_lr": 1e-2}


register(Experiment(
    name="runtime", title="Time per step vs n, Maxwellian molecules, d = 3", paper="§5.4, Fig. 5.6 (left)",
    problem={"name": "anisotropic_gaussian", "d": 3, "gamma": 0.0},
    options={"sbtm": _RUNTIME_SBTM, "blob": {"bandwidth": "paper"}},
    solve={"book": {"t_end": 0.06}, "paper": {"t_end": 0.1}},
    scales=_both([100, 200, 400, 800, 1600, 3200], [100, 200, 400, 800, 1600, 3200], [0]),
    kind="runtime",
))


register(Experiment(
    name="runtime_heat", title="Time per step vs n, heat equation, d = 3", paper="§5.4, Fig. 5.6 (right)",
    problem={"name": "heat", "d": 3},
    options={"sbtm": _RUNTIME_SBTM, "blob": {"bandwidth": "paper"}},
    solve={"book": {"t_end": 1.06}, "paper": {"t_end": 1.1}},
    scales=_both([100, 400, 1600, 6400], [100, 400, 1600], [0], paper_kmax=10, paper_kmax_blob=8),
    kind="runtime",
))
