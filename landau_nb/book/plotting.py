"""Shared figure conventions of the book: one colour per solver everywhere, closed-form
references dashed. Imported lazily (matplotlib is only needed for figures)."""

from __future__ import annotations

__all__ = ["MIN_FONT_PT", "DPI", "COLORS", "REFERENCE_STYLE", "solver_style", "plot_second_moments", "plot_second_moment_runs",
           "plot_error_vs_n", "plot_run_metric", "plot_timing",
           "plot_covariance_figure"]

#: the smallest font size (points) of any text in the book's figures: legends, ticks and labels
#: are never set smaller (tests/test_book_layout.py checks the sources). With :data:`DPI`, the
#: HTML book keeps each figure wide enough for this text to be at least 9 px on screen
#: (book/_ext/html_fixes.py, checked in a browser by tests/test_browser.py).
MIN_FONT_PT = 9

#: resolution of the figures stored in the notebooks (matplotlib's default figure.dpi, used by
#: the inline backend)
DPI = 100

#: one colour per score estimator across the whole book
COLORS = {
    "sbtm": "#1f77b4",          # blue
    "sbtm_adaptive": "#17becf",  # cyan
    "blob": "#d62728",          # red
    "blob_authors": "#9467bd",  # purple: the blob method with the bandwidth of the authors' code
    "kde": "#ff7f0e",           # orange
    "exact": "#2ca02c",         # green
    "reference": "black",
}

#: closed-form / reference curves: black dashed
REFERENCE_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.2}


def solver_style(method: str, **extra) -> dict:
    """Line style for a solver name (colour from :data:`COLORS`)."""
    return {"color": COLORS.get(method, "gray"), "linewidth": 1.6, **extra}


def plot_second_moments(ax, trajectory, entries=((0, 0), (1, 1)), *, closed_form=True, label=None,
                        sample_reference=True):
    """Plot Sigma_ab(t) of a :class:`~landau_nb.Trajectory` on ``ax`` (solid, the solver's
    colour; Sigma_11 solid, others dotted), with the closed form dashed where known
    (started from the sample's own Sigma(t0) when ``sample_reference``)."""
    import numpy as np
    import torch

    from ..equation.problems import problem_from_params

    method = trajectory.method
    sig = trajectory["second_moment"]
    t = trajectory.t
    styles = ["-", ":", "-.", (0, (1, 3))]
    for k, (a, b) in enumerate(entries):
        ax.plot(t, sig[:, a, b], linestyle=styles[k % len(styles)],
                label=f"{label or method} $\\Sigma_{{{a + 1}{b + 1}}}$", **{**solver_style(method)})
    if closed_form:
        problem = problem_from_params(trajectory.meta["problem"])
        if problem.has_closed_covariance:
            if sample_reference:
                ref = problem.second_moment_from(torch.as_tensor(sig[0]), torch.as_tensor(trajectory["mean"][0]),
                                                 torch.as_tensor(t)).numpy()
            else:
                ref = problem.covariance(torch.as_tensor(t)).numpy()
            for k, (a, b) in enumerate(entries):
                ax.plot(t, ref[:, a, b], **REFERENCE_STYLE,
                        label="closed form" if k == 0 else None)
    ax.set_xlabel("$t$")
    ax.set_ylabel(r"$\Sigma_{ab}(t)$")
    return np.asarray(t)


# --- panels of the experiment chapters (paper §5) ------------------------------------------

def _shade(method: str, k: int, count: int):
    """Solver colour, lighter for smaller n (k = 0 the smallest of ``count``)."""
    from matplotlib.colors import to_rgb
    base = to_rgb(COLORS.get(method.split("_")[0], "gray"))
    w = 0.55 * (1 - (k + 1) / count)
    return tuple(c + (1 - c) * w for c in base)


def plot_second_moment_runs(ax, results, entry=(0, 0), *, ns=None, labels=None, seed=0,
                            reference="closed"):
    """Sigma_ab(t) of the runs of an experiment's :class:`~landau_nb.Results` for several n
    (darker = more particles), with the reference dashed: ``"closed"`` (closed form from the
    sample's Sigma(0)), ``"results"`` (the large-n reference of
    :meth:`Results.reference_second_moment`), ``"equilibrium"`` or None."""
    import numpy as np
    import torch

    from ..equation.problems import problem_from_params

    a, b = entry
    labels = labels or results.labels
    for lab in labels:
        use = [n for n in results.ns(lab) if ns is None or n in ns]
        for k, n in enumerate(use):
            for tr in results.select(lab, n, seed):
                ax.plot(tr.t, tr["second_moment"][:, a, b], color=_shade(lab, k, len(use)), linewidth=1.4,
                        label=f"{lab}, n = {n}")
    tr = results.runs[0][1]
    if reference == "closed":
        problem = problem_from_params(tr.meta["problem"])
        if problem.has_closed_covariance:
            ref = problem.covariance(torch.as_tensor(tr.t)).numpy()
            ax.plot(tr.t, ref[:, a, b], **REFERENCE_STYLE, label=r"closed form $\Sigma^*$")
    elif reference == "results":
        t, ref, _ = results.reference_second_moment()
        ax.plot(t, ref[:, a, b], **REFERENCE_STYLE, label="large-n reference")
    elif reference == "equilibrium":
        eq = float(np.trace(tr["second_moment"][0])) / tr["second_moment"].shape[1] * (a == b)
        ax.axhline(eq, **REFERENCE_STYLE, label="equilibrium")
    ax.set_xlabel("$t$")
    ax.set_ylabel(rf"$\Sigma_{{{a + 1}{b + 1}}}(t)$")
    return ax


def plot_error_vs_n(ax, table, *, ylabel=None, slopes=True, bars="std", labels=None):
    """A metric vs n on log-log axes for each label of an :class:`ErrorTable` (mean over
    seeds; ``bars`` "std" = spread over seeds, "sem" = standard error of the mean, as the
    paper's figures), with the fitted slope in the legend."""
    import numpy as np

    from .._checks import check_choice
    check_choice("bars", bars, ("std", "sem"))
    spread = table.std if bars == "std" else table.sem
    for lab, d in table.mean.items():
        if labels is not None and lab not in labels:
            continue
        ns = np.array(list(d))
        mean = np.array(list(d.values()))
        std = np.nan_to_num(np.array([spread[lab][n] for n in ns]))
        lbl = lab + (f" (slope {table.slope[lab]:.2f})" if slopes and np.isfinite(table.slope[lab]) else "")
        ax.errorbar(ns, mean, yerr=std, marker="o", capsize=3, label=lbl, **solver_style(lab.split("_")[0]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of particles $n$")
    ax.set_ylabel(ylabel or table.key.replace("_", " "))
    return ax


def plot_run_metric(ax, results, key, *, ns=None, labels=None, seed=0, reference=None, log=False):
    """A per-step record (``entropy_rate``, ``score_error``, ...) vs t for several n;
    ``reference`` an optional (t, values, label) drawn dashed."""
    labels = labels or results.labels
    for lab in labels:
        use = [n for n in results.ns(lab) if ns is None or n in ns]
        for k, n in enumerate(use):
            for tr in results.select(lab, n, seed):
                ax.plot(tr.t, tr[key], color=_shade(lab, k, len(use)), linewidth=1.4, label=f"{lab}, n = {n}")
    if reference is not None:
        t, vals, lbl = reference
        ax.plot(t, vals, **REFERENCE_STYLE, label=lbl)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("$t$")
    ax.set_ylabel(key.replace("_", " "))
    return ax


def plot_timing(ax, timing: dict, *, unit="s"):
    """Seconds per time step vs n (log-log) per label of :meth:`Results.timing`, with the
    fitted log-log slope in the legend."""
    import numpy as np

    from ..experiments import loglog_slope
    for lab, d in timing.items():
        ns = np.array(list(d))
        secs = np.array(list(d.values()))
        ax.plot(ns, secs, marker="o", label=f"{lab} (slope {loglog_slope(ns, secs):.2f})",
                **solver_style(lab.split("_")[0]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of particles $n$")
    ax.set_ylabel(f"time per step ({unit})")
    return ax


def plot_covariance_figure(results, *, ns=None, floor=None, rate_exact0=None, seed=0):
    """The panels of the paper's Figs. 5.3/5.4 (Example 5.2) from an experiment's
    :class:`~landau_nb.Results`, as a 2 x 3 matplotlib Figure: Sigma_11 and Sigma_22 vs t for
    the n in ``ns`` (default: smallest and largest of each solver) with Sigma* dashed; the
    estimated entropy-production rate (SBTM's largest-n mean dashed, ``rate_exact0`` starred
    at t0); the error against Sigma* at t_end and the fair error (max over t) vs n, mean +-
    standard error over seeds, with the sampling floor ``floor(n, tau)`` dashed; energy and
    momentum drift. Book: exp_anisotropic and exp_dimension10, "At the paper's scale"."""
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [lab for lab in ("sbtm", "blob") if lab in results.labels]
    show = {lab: (list(ns) if ns is not None else [results.ns(lab)[0], results.ns(lab)[-1]]) for lab in labels}
    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    for ax, entry in zip(axes[0, :2], [(0, 0), (1, 1)]):
        for lab in labels:
            plot_second_moment_runs(ax, results, entry, ns=show[lab], labels=[lab], seed=seed,
                                    reference="closed" if lab == labels[-1] else None)
        ax.legend(fontsize=9)
    ax = axes[0, 2]
    ref = None
    if "sbtm" in labels:
        n_ref = results.ns("sbtm")[-1]
        trs = results.select("sbtm", n_ref)
        ref = (trs[0].t, np.mean([tr["entropy_rate"] for tr in trs], axis=0),
               f"SBTM, n = {n_ref} (mean of {len(trs)} seeds)")
    for lab in labels:
        plot_run_metric(ax, results, "entropy_rate", ns=show[lab], labels=[lab], seed=seed,
                        reference=ref if lab == labels[-1] else None)
    t0 = results.runs[0][1].t[0]
    if rate_exact0 is not None:
        ax.plot([t0], [rate_exact0], marker="*", markersize=12, color="black", linestyle="none",
                label=f"exact at $t = {t0:g}$")
    ax.set_ylabel(r"$\frac{1}{n}\sum_i s_i \cdot v_i$")
    ax.legend(fontsize=9)
    end = results.table("cov_error", "end")
    fair = results.table("cov_error_sample", "max")
    plot_error_vs_n(axes[1, 0], end, bars="sem",
                    ylabel=r"$\|\Sigma(t_{\mathrm{end}}) - \Sigma^*(t_{\mathrm{end}})\|_F$")
    if floor is not None:
        nn = np.array(sorted({n for d in end.mean.values() for n in d}))
        tau = results.runs[0][1].t[-1] - t0
        axes[1, 0].plot(nn, floor(nn, tau), **REFERENCE_STYLE, label="exact solver, same sample (RMS)")
    axes[1, 0].legend(fontsize=9)
    plot_error_vs_n(axes[1, 1], fair, bars="sem",
                    ylabel=r"$\max_t\|\Sigma(t) - \Sigma^{\mathrm{cf}}_{\Sigma(0)}(t)\|_F$")
    axes[1, 1].legend(fontsize=9)
    ax = axes[1, 2]
    energy = results.table("energy_drift", reference=None)
    momentum = results.table("momentum_drift", "max", reference=None)
    for lab in labels:
        ax.loglog(list(energy.mean[lab]), list(energy.mean[lab].values()), "o-",
                  label=f"{lab}: energy $|E(t_{{\\mathrm{{end}}}}) - E(0)|$", **solver_style(lab))
        ax.loglog(list(momentum.mean[lab]), list(momentum.mean[lab].values()), "s:",
                  label=f"{lab}: momentum $|V(t) - V(0)|$, max over $t$", **solver_style(lab))
    ax.set_xlabel("number of particles $n$")
    ax.set_ylabel("drift")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig
