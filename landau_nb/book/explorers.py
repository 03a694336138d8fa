"""Interactive explorers for the book (ipywidgets), built on the public API only.

Computation and display are separate:

* :func:`relaxation_curves` runs ``solve(anisotropic_gaussian(3, gamma), ...)`` and returns the
  trajectory with Sigma_11(t), Sigma_22(t), their closed form (where one exists) and the
  estimated entropy-production rate; :func:`plot_relaxation` draws it
  (book: "Anisotropic relaxation, Maxwellian molecules").
* :func:`denoising_bias_variance` measures the bias and the variance of the denoising estimate
  of a divergence, :func:`denoising_divergence`, against the exact :func:`divergence` over a
  grid of alpha; :func:`plot_denoising` draws it (book: "Score matching").

:func:`relaxation_explorer` and :func:`denoising_explorer` wrap these in widgets. Each returns
an ``ipywidgets.VBox`` with a ``run()`` method (renders the figure for the current controls
without clicking), the last result in ``.result`` and the figure as PNG in ``.image.value``.
ipywidgets and matplotlib are imported only when a widget or a figure is made.
"""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import torch

from .._checks import check_choice, check_int, check_positive, check_real

__all__ = ["alpha_text", "curves_at", "RANGES", "relaxation_curves", "plot_relaxation", "relaxation_explorer", "RELAXATION_DEFAULTS",
           "denoising_bias_variance", "plot_denoising", "denoising_explorer", "DENOISING_DEFAULTS"]

#: gamma -> (paper's dt, paper's t_end, explorer's default t_end)
_TIME_SCALES = {0.0: (0.01, 4.0, 1.0), -3.0: (1.0, 300.0, 50.0)}

#: defaults of :func:`relaxation_curves` / :func:`relaxation_explorer` (a run of ~ seconds)
RELAXATION_DEFAULTS = {"gamma": 0.0, "n": 100, "method": "sbtm", "alpha": 0.4, "lr": 4e-4,
                       "dt": None, "t_end": None, "seed": 0}

#: defaults of :func:`denoising_bias_variance` / :func:`denoising_explorer`
DENOISING_DEFAULTS = {"alpha": 0.4, "n": 200, "draws": 200, "seed": 0}

_SOLVERS = ("sbtm", "blob")


def _check_gamma(gamma) -> float:
    gamma = check_real("gamma", gamma)
    if gamma not in _TIME_SCALES:
        raise ValueError(f"gamma={gamma:g} is not offered by the explorer; allowed: 0 (Maxwellian "
                         "molecules) or -3 (Coulomb)")
    return gamma


def _solvers(problem) -> tuple:
    return _SOLVERS + (("exact",) if problem.has_exact_solution else ())


def relaxation_curves(gamma=0.0, n=100, method="sbtm", *, alpha=0.4, lr=4e-4, dt=None, t_end=None,
                      seed=0) -> dict:
    """One run of the anisotropic relaxation (paper Examples 5.2, gamma = 0, and 5.3, gamma = -3;
    book: "Anisotropic relaxation, Maxwellian molecules", section "Explore it yourself").

    ``dt`` defaults to the paper's (0.01 for gamma = 0, 1 for gamma = -3); ``t_end`` defaults to a
    shortened horizon (1 and 50, paper: 4 and 300) so that a run takes seconds. ``alpha`` (the
    denoising constant) and ``lr`` (learning rate) are SBTM's; the blob method ignores them.

    Returns a dict with ``t``, ``sigma11``, ``sigma22`` (arrays over time), ``closed11``,
    ``closed22`` (the closed form from the sample's Sigma(0), or None where there is none:
    gamma = -3), ``entropy_rate``, ``trajectory`` (the :class:`~landau_nb.Trajectory`),
    ``params`` (the arguments used), ``paper_t_end`` and ``seconds`` (wall time of the run).
    """
    from ..equation.problems import anisotropic_gaussian
    from ..solver.integrate import solve

    gamma = _check_gamma(gamma)
    n = check_int("n", n, low=2, high=5000)
    alpha = check_positive("alpha", alpha)
    lr = check_positive("lr", lr)
    seed = check_int("seed", seed, low=0)
    paper_dt, paper_t_end, short_t_end = _TIME_SCALES[gamma]
    dt = paper_dt if dt is None else check_positive("dt", dt)
    t_end = short_t_end if t_end is None else check_positive("t_end", t_end)
    problem = anisotropic_gaussian(3, gamma, dt=dt, t_end=t_end)
    method = check_choice("method", method, _solvers(problem))
    options = {"lr": lr, "alpha": alpha, "init_tol": 1e-3, "init_lr": 1e-2} if method == "sbtm" else {}
    start = time.perf_counter()
    traj = solve(problem, method, n=n, seed=seed, dt=dt, t_end=t_end, **options)
    seconds = time.perf_counter() - start
    sig = traj["second_moment"]
    closed11 = closed22 = None
    if problem.has_closed_covariance:
        ref = problem.second_moment_from(torch.as_tensor(sig[0]), torch.as_tensor(traj["mean"][0]),
                                         torch.as_tensor(traj.t)).numpy()
        closed11, closed22 = ref[:, 0, 0], ref[:, 1, 1]
    return {"t": np.asarray(traj.t), "sigma11": sig[:, 0, 0].copy(), "sigma22": sig[:, 1, 1].copy(),
            "closed11": closed11, "closed22": closed22, "entropy_rate": np.asarray(traj["entropy_rate"]),
            "trajectory": traj, "seconds": seconds, "paper_t_end": paper_t_end,
            "params": {"gamma": gamma, "n": n, "method": method, "alpha": alpha, "lr": lr,
                       "dt": dt, "t_end": t_end, "seed": seed}}


def plot_relaxation(curves: dict, fig=None):
    """Draw :func:`relaxation_curves` output: Sigma_11, Sigma_22 with the closed form dashed
    (left) and the entropy-production rate (right). Returns the matplotlib figure."""
    from matplotlib.figure import Figure

    from . import plotting as lp

    fig = Figure(figsize=(10, 3.8), layout="constrained") if fig is None else fig
    ax_s, ax_e = fig.subplots(1, 2)
    p = curves["params"]
    lp.plot_second_moments(ax_s, curves["trajectory"])
    if curves["closed11"] is None:
        ax_s.axhline(1.0, **lp.REFERENCE_STYLE, label=r"equilibrium $\Sigma = I$")
    ax_s.legend(fontsize=9)
    name = "Maxwellian molecules" if p["gamma"] == 0 else "Coulomb"
    ax_s.set_title(rf"$\gamma = {p['gamma']:g}$ ({name}), {p['method']}, $n = {p['n']}$, "
                   rf"$\Delta t = {p['dt']:.3g}$", fontsize=10)
    ax_s.set_xlabel(rf"$t$ (to {p['t_end']:.4g}; paper: {curves['paper_t_end']:g})")
    ax_e.plot(curves["t"], curves["entropy_rate"], **lp.solver_style(p["method"]), label=p["method"])
    ax_e.set_xlabel(r"$t$")
    ax_e.set_ylabel(r"entropy rate $\frac{1}{n}\sum_i s_i\cdot v_i$")
    sbtm = (rf", $\alpha = {p['alpha']:.3g}$, lr $= {p['lr']:.2g}$" if p["method"] == "sbtm" else "")
    ax_e.set_title(f"estimated entropy production{sbtm}", fontsize=10)
    ax_e.legend(fontsize=9)
    return fig


def _jacobian(field, x):
    """(n, d, d) Jacobian of a pointwise field at the rows of x (d backward passes)."""
    x = x.detach().requires_grad_(True)
    out = field(x)
    rows = [torch.autograd.grad(out[:, a].sum(), x, retain_graph=True)[0] for a in range(x.shape[1])]
    return torch.stack(rows, 1).detach()


def _default_field():
    from ..equation.problems import gaussian_mixture

    mixture = gaussian_mixture(3)
    return mixture, (lambda y: mixture.score(y, 0.0))


def denoising_bias_variance(alphas=None, *, n=200, draws=200, field=None, seed=0) -> dict:
    """Bias and variance of ``denoising_divergence(field, x, z, alpha)`` against the exact
    ``divergence(field, x)`` at ``n`` points of the book's two-Gaussian mixture, over ``draws``
    noise draws per point (the same draws for every alpha), as in the "Score matching" chapter
    (section "Bias and variance in alpha").

    ``field`` defaults to the exact score of ``gaussian_mixture(3)`` at t = 0 (a closed-form,
    smooth field); any function (n, 3) -> (n, 3), such as a fitted SBTM network, can be given.
    ``alphas`` defaults to 19 values from 1e-3 to 2 (log-spaced).

    Returns a dict with ``alphas``, ``bias`` (root mean square over the points of the mean
    error, with the control variate Z^T J Z, whose mean is the exact divergence),
    ``variance`` (variance of one draw, averaged over the points), ``std`` (its square root),
    ``std_limit`` (the alpha -> 0 limit sqrt(2 |J_sym|_F^2)), ``n``, ``draws``.
    """
    from ..scores.losses import denoising_divergence, divergence
    from .._seeding import make_generator

    n = check_int("n", n, low=2, high=20_000)
    draws = check_int("draws", draws, low=2, high=10_000)
    seed = check_int("seed", seed, low=0)
    if alphas is None:
        alphas = np.logspace(-3, np.log10(2.0), 19)
    alphas = np.atleast_1d(np.asarray(alphas, dtype=float))
    if alphas.ndim != 1 or alphas.size == 0:
        raise ValueError("alphas must be a non-empty 1-d sequence of positive numbers")
    for a in alphas:
        check_positive("alphas[i]", float(a))
    mixture, exact = _default_field()
    if field is None:
        field = exact
    elif not callable(field):
        raise TypeError(f"field must be a function of points (n, 3) -> (n, 3), got {type(field).__name__}")
    x = mixture.sample(n, make_generator(seed, "explorer-points"))
    d = x.shape[1]
    z = torch.randn(draws, n, d, dtype=x.dtype, generator=make_generator(seed, "explorer-noise"))
    J = _jacobian(field, x)
    div_exact = divergence(field, x).detach()
    trace_gap = float((J.diagonal(dim1=1, dim2=2).sum(1) - div_exact).abs().max())
    if trace_gap > 1e-6 * (1 + float(div_exact.abs().max())):
        raise RuntimeError("field is not pointwise: its Jacobian trace disagrees with divergence()")
    zJz = torch.einsum("rna,nab,rnb->rn", z, J, z)
    J_sym = 0.5 * (J + J.transpose(1, 2))
    x_rep, z_flat = x.repeat(draws, 1), z.reshape(-1, d)
    bias, var = [], []
    for alpha in alphas:
        with torch.no_grad():
            est = denoising_divergence(field, x_rep, z_flat, float(alpha)).reshape(draws, n)
        bias.append(float((est - zJz).mean(0).pow(2).mean().sqrt()))
        var.append(float(est.var(0).mean()))
    var = np.array(var)
    return {"alphas": alphas, "bias": np.array(bias), "variance": var, "std": np.sqrt(var),
            "std_limit": float((2 * (J_sym ** 2).sum((1, 2))).mean().sqrt()),
            "divergence": div_exact.numpy(), "n": n, "draws": draws}


def plot_denoising(curves: dict, alpha=None, fig=None, *, label="exact mixture score"):
    """Draw :func:`denoising_bias_variance` output (score_matching chapter): bias against alpha
    (left, log-log) and standard deviation of one draw (right, linear axis from 0: it barely
    changes with alpha), the alpha -> 0 limit dashed, ``alpha`` marked."""
    from matplotlib.figure import Figure

    from . import plotting as lp

    fig = Figure(figsize=(10, 3.8), layout="constrained") if fig is None else fig
    ax_b, ax_s = fig.subplots(1, 2)
    a = curves["alphas"]
    color = lp.COLORS["exact"] if label == "exact mixture score" else lp.COLORS["sbtm"]
    ax_b.loglog(a, curves["bias"], "o-", ms=3, color=color, label=label)
    ax_s.semilogx(a, curves["std"], "o-", ms=3, color=color, label=label)
    ax_s.axhline(curves["std_limit"], **lp.REFERENCE_STYLE, label=r"$\alpha\to0$: $\sqrt{2\|J_{sym}\|_F^2}$")
    if alpha is not None:
        alpha = check_positive("alpha", alpha)
        at = curves_at(curves, alpha)   # the curves at the alpha the slider shows (log-log interpolation)
        shown = alpha_text(alpha)
        for ax, key in ((ax_b, "bias"), (ax_s, "std")):
            ax.axvline(alpha, color="gray", lw=1, label=rf"$\alpha = {shown}$")
            ax.plot([alpha], [at[key]], "s", ms=8, mfc="none", color="black")
        ax_b.set_title(rf"bias at $\alpha = {shown}$: {at['bias']:.2e}", fontsize=10)
        ax_s.set_title(rf"std of one draw at $\alpha = {shown}$: {at['std']:.3g}", fontsize=10)
    for ax in (ax_b, ax_s):
        ax.set_xlabel(r"denoising constant $\alpha$")
        ax.legend(fontsize=9)
    ax_b.set_ylabel(f"bias (RMS over {curves['n']} points)")
    ax_s.set_ylabel(f"std of one draw ({curves['draws']} draws)")
    ax_s.set_ylim(0, 1.15 * max(float(np.max(curves["std"])), curves["std_limit"]))
    return fig


def alpha_text(alpha) -> str:
    """alpha as the explorer's slider shows it (3 significant digits, readout format ``.3g``)."""
    return f"{float(alpha):.3g}"


def curves_at(curves: dict, alpha) -> dict:
    """``bias`` and ``std`` of :func:`denoising_bias_variance` output at ``alpha``, interpolated
    linearly in log-log between the grid's values (alpha outside the grid: ValueError)."""
    a = np.asarray(curves["alphas"], dtype=float)
    alpha = check_positive("alpha", alpha)
    if not a.min() * (1 - 1e-9) <= alpha <= a.max() * (1 + 1e-9):
        raise ValueError(f"alpha={alpha:.3g} is outside the computed grid [{a.min():.3g}, {a.max():.3g}]")
    alpha = min(max(alpha, a.min()), a.max())
    order = np.argsort(a)
    out = {}
    for key in ("bias", "std"):
        y = np.asarray(curves[key], dtype=float)[order]
        out[key] = float(np.exp(np.interp(np.log(alpha), np.log(a[order]), np.log(np.maximum(y, 1e-300)))))
    return out


#: what the relaxation explorer accepts for its typed values: name -> (low, high, label)
RELAXATION_RANGES = {"dt": (1e-4, 10.0, "Δt"), "t_end": (1e-3, 1e4, "t_end")}

#: the denoising explorer's alpha range (the grid of :func:`denoising_bias_variance`)
DENOISING_RANGES = {"alpha": (1e-3, 2.0, "α")}

RANGES = {"relaxation": RELAXATION_RANGES, "denoising": DENOISING_RANGES}


def range_problem(value, low, high, label) -> str | None:
    """The note shown next to a control whose value is outside [low, high] (None: in range)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return f"{label} must be a number"
    if not np.isfinite(v) or not low <= v <= high:
        return f"{label} = {v:.4g} is outside [{low:g}, {high:g}]: not used"
    return None


def _with_range_notes(w, controls: dict, ranges: dict) -> dict:
    """Each control in an HBox; those in ``ranges`` with an HTML note beside them."""
    rows = {}
    for k, wid in controls.items():
        rows[k] = w.HBox([wid, w.HTML()]) if k in ranges else wid
    return rows


def _range_problems(controls: dict, ranges: dict, rows: dict) -> list:
    bad = []
    for k, (low, high, label) in ranges.items():
        msg = range_problem(controls[k].value, low, high, label)
        rows[k].children[1].value = f"<span style='color:#b00'>⚠ {msg}</span>" if msg else ""
        if msg:
            bad.append(msg)
    return bad


def _params_text(p: dict) -> str:
    text = f"γ = {p['gamma']:g}, {p['method']}, n = {p['n']}, Δt = {p['dt']:.3g}, t_end = {p['t_end']:.4g}"
    if p["method"] == "sbtm":
        text += f", α = {p['alpha']:.3g}, lr = {p['lr']:.2g}"
    return text


# --- widgets ----------------------------------------------------------------------------------

def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _with_static_view(box, what: str):
    """Give ``box`` a static fallback: its display bundle gets the figure of its last run (PNG)
    and one line of text beside the widget view. A notebook stores no widget state (offline
    HTML), so before the cell is run a reader sees this figure, not "VBox(children=..."."""
    widget_bundle = box._repr_mimebundle_

    def bundle(**kwargs):
        data = dict(widget_bundle(**kwargs) or {})
        if box.image.value:
            data["image/png"] = base64.b64encode(box.image.value).decode("ascii")
        data["text/plain"] = (f"{what} (ipywidgets): run this cell to use its controls"
                              + ("; the figure is its last run" if box.image.value else ""))
        return data

    box._repr_mimebundle_ = bundle
    return box


def _merge(defaults: dict, given: dict, what: str) -> dict:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise TypeError(f"{what}: unknown option(s) {unknown}; allowed: {sorted(defaults)}")
    return {**defaults, **given}


def relaxation_explorer(**defaults):
    """Widgets for :func:`relaxation_curves`: gamma, n, solver, alpha, learning rate, dt, t_end
    and a Run button (a run takes seconds, so nothing is computed on slider moves).

    Keyword arguments override :data:`RELAXATION_DEFAULTS`. Returns an ``ipywidgets.VBox``
    with ``.run()`` (compute and draw now), ``.controls`` (dict of widgets), ``.button``,
    ``.image`` (the figure, PNG), ``.status`` and ``.result`` (the last curves).
    """
    import ipywidgets as w

    p = _merge(RELAXATION_DEFAULTS, defaults, "relaxation_explorer")
    gamma = _check_gamma(p["gamma"])
    # validate everything once, cheaply, before building widgets
    check_int("n", p["n"], low=2, high=5000)
    check_choice("method", p["method"], _SOLVERS)
    check_positive("alpha", p["alpha"])
    check_positive("lr", p["lr"])
    dt = _TIME_SCALES[gamma][0] if p["dt"] is None else check_positive("dt", p["dt"])
    t_end = _TIME_SCALES[gamma][2] if p["t_end"] is None else check_positive("t_end", p["t_end"])
    style = {"description_width": "110px"}
    c = {
        "gamma": w.Dropdown(options=[("0 (Maxwellian)", 0.0), ("-3 (Coulomb)", -3.0)], value=gamma,
                            description="γ", style=style),
        "n": w.IntSlider(value=p["n"], min=min(20, p["n"]), max=max(800, p["n"]), step=20,
                         description="n particles", continuous_update=False, style=style),
        "method": w.Dropdown(options=list(_SOLVERS), value=p["method"], description="solver", style=style),
        "alpha": w.FloatLogSlider(value=p["alpha"], base=10, min=-3, max=0.5, step=0.05,
                                  description="α (denoising)", continuous_update=False, style=style),
        "lr": w.FloatLogSlider(value=p["lr"], base=10, min=-5, max=-2, step=0.1,
                               description="learning rate", continuous_update=False, style=style),
        # free text, checked against RANGES: a bounded box would clamp a typed value silently
        "dt": w.FloatText(value=dt, step=dt, description="Δt", style=style),
        "t_end": w.FloatText(value=t_end, description="t_end", style=style),
    }
    rows = _with_range_notes(w, c, RELAXATION_RANGES)
    paper = w.HTML()
    button = w.Button(description="Run", button_style="primary", icon="play")
    status = w.HTML()
    stale = w.HTML()
    image = w.Image(format="png")

    def note(*_):
        g = c["gamma"].value
        paper.value = (f"<small>paper: Δt = {_TIME_SCALES[g][0]:g}, t_end = {_TIME_SCALES[g][1]:g} "
                       f"(a run to t_end = {_TIME_SCALES[g][1]:g} takes minutes)</small>")
        sb = c["method"].value == "sbtm"
        c["alpha"].disabled = c["lr"].disabled = not sb

    def on_gamma(change):
        g = change["new"]
        c["dt"].value, c["t_end"].value = _TIME_SCALES[g][0], _TIME_SCALES[g][2]
        note()

    def current() -> dict:
        return {k: c[k].value for k in ("gamma", "n", "method", "alpha", "lr", "dt", "t_end")}

    def refresh(*_):
        """Range notes next to the controls, Run disabled while one is out of range, and the
        figure marked stale when the controls no longer match the run it shows."""
        bad = _range_problems(c, RELAXATION_RANGES, rows)
        button.disabled = bool(bad)
        shown = box.result["params"] if box.result is not None else None
        now = current()
        if shown is not None and any(shown[k] != now[k] for k in now):
            stale.value = ("<b style='color:#b00'>⚠ stale figure: it shows the last run ("
                           + _params_text(shown) + "); "
                           + ("fix the value marked in red" if bad else "press Run for the new settings")
                           + ".</b>")
            image.layout.border = "3px dashed #b00"
        else:
            stale.value = ""
            image.layout.border = ""

    c["gamma"].observe(on_gamma, names="value")
    c["method"].observe(note, names="value")
    for wid in c.values():
        wid.observe(refresh, names="value")
    note()

    box = w.VBox([w.HBox([w.VBox([rows[k] for k in ("gamma", "n", "method", "alpha")]),
                          w.VBox([rows[k] for k in ("lr", "dt", "t_end")] + [paper])]),
                  w.HBox([button, status]), stale, image])
    box.controls, box.button, box.status, box.image, box.result = c, button, status, image, None
    box.stale, box.notes = stale, {k: rows[k].children[1] for k in RELAXATION_RANGES}

    def run(*_):
        if _range_problems(c, RELAXATION_RANGES, rows):
            status.value = "<span style='color:#b00'>not run: a value is out of range (marked in red)</span>"
            refresh()
            return None
        button.disabled = True
        status.value = "running…"
        try:
            curves = relaxation_curves(**current(), seed=p["seed"])
        except (ValueError, TypeError, FloatingPointError) as exc:
            status.value = f"<span style='color:#b00'>error: {exc}</span>"
            return None
        finally:
            button.disabled = False
        box.result = curves
        image.value = _png(plot_relaxation(curves))
        status.value = f"done in {curves['seconds']:.1f} s"
        refresh()
        return curves

    button.on_click(run)
    box.run = run
    return _with_static_view(box, "Relaxation explorer")


def denoising_explorer(field=None, label="exact mixture score", **defaults):
    """Widgets for :func:`denoising_bias_variance`: alpha (log slider) and n points; the curves
    are recomputed when n changes (well under a second), the marker moves with alpha.

    ``field`` (optional) replaces the exact mixture score, e.g. by a fitted SBTM network, with
    ``label`` as its legend. Keyword arguments override :data:`DENOISING_DEFAULTS`. Returns an
    ``ipywidgets.VBox`` with ``.run()``, ``.controls``, ``.button``, ``.image``, ``.result``.
    """
    import ipywidgets as w

    p = _merge(DENOISING_DEFAULTS, defaults, "denoising_explorer")
    alpha = check_real("alpha", p["alpha"], low=1e-3, high=2.0)
    n = check_int("n", p["n"], low=2, high=20_000)
    draws = check_int("draws", p["draws"], low=2, high=10_000)
    if field is not None and not callable(field):
        raise TypeError(f"field must be a function of points (n, 3) -> (n, 3), got {type(field).__name__}")
    style = {"description_width": "110px"}
    c = {
        # the slider's readout is off: a value typed there would be clamped silently; the text
        # box beside it takes any number and says when it is out of range
        "alpha": w.FloatLogSlider(value=alpha, base=10, min=-3, max=np.log10(2.0), step=0.05,
                                  description="α", continuous_update=False, readout=False, style=style),
        "alpha_text": w.FloatText(value=float(alpha_text(alpha)), layout=w.Layout(width="90px")),
        "n": w.IntSlider(value=n, min=min(20, n), max=max(1000, n), step=20, description="n points",
                         continuous_update=False, style=style),
    }
    note = w.HTML()
    button = w.Button(description="Run", button_style="primary", icon="play")
    status = w.HTML()
    stale = w.HTML()
    image = w.Image(format="png")
    box = w.VBox([w.HBox([c["alpha"], c["alpha_text"], note]), w.HBox([c["n"], button, status]),
                  stale, image])
    box.controls, box.button, box.status, box.image, box.result = c, button, status, image, None
    box.stale, box.notes = stale, {"alpha": note}
    cache = {}
    sync = {"busy": False}

    def mark(msg):
        note.value = f"<span style='color:#b00'>⚠ {msg}</span>" if msg else ""
        if msg and box.result is not None:
            stale.value = (f"<b style='color:#b00'>⚠ stale figure: it shows α = "
                           f"{alpha_text(box.result['alpha'])}, n = {box.result['n']}.</b>")
            image.layout.border = "3px dashed #b00"
        elif not msg:
            stale.value, image.layout.border = "", ""

    def on_text(change):
        if sync["busy"]:
            return
        low, high, lab = DENOISING_RANGES["alpha"]
        msg = range_problem(change["new"], low, high, lab)
        mark(msg)
        if msg is None:
            sync["busy"] = True
            try:
                c["alpha"].value = float(change["new"])
            finally:
                sync["busy"] = False
            run()

    def on_slider(change):
        if sync["busy"]:
            return
        sync["busy"] = True
        try:
            c["alpha_text"].value = float(alpha_text(change["new"]))
        finally:
            sync["busy"] = False
        mark(None)
        run()

    def run(*_):
        low, high, lab = DENOISING_RANGES["alpha"]
        msg = range_problem(c["alpha_text"].value, low, high, lab)
        if msg:
            mark(msg)
            status.value = "<span style='color:#b00'>not run: α is out of range</span>"
            return None
        key = (c["n"].value, draws, p["seed"])
        start = time.perf_counter()
        if key not in cache:
            cache.clear()
            cache[key] = denoising_bias_variance(n=key[0], draws=draws, seed=key[2], field=field)
        shown = float(alpha_text(c["alpha"].value))     # the value the text box shows
        box.result = {**cache[key], "alpha": shown, **{f"{k}_at_alpha": v
                                                       for k, v in curves_at(cache[key], shown).items()}}
        image.value = _png(plot_denoising(cache[key], shown, label=label))
        status.value = f"{time.perf_counter() - start:.1f} s"
        mark(None)
        return box.result

    button.on_click(run)
    c["alpha"].observe(on_slider, names="value")
    c["alpha_text"].observe(on_text, names="value")
    c["n"].observe(run, names="value")
    box.run = run
    return _with_static_view(box, "Denoising explorer")
