"""Shared figure conventions of the book: one colour per solver everywhere, closed-form
references dashed. Imported lazily (matplotlib is only needed for figures)."""

from __future__ import annotations

__all__ = ["COLORS", "REFERENCE_STYLE", "solver_style", "plot_second_moments"]

#: one colour per score estimator across the whole book
COLORS = {
    "sbtm": "#1f77b4",          # blue
    "sbtm_adaptive": "#17becf",  # cyan
    "blob": "#d62728",          # red
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

    from .problems import problem_from_params

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
