"""The book's interactive explorers: compute functions, widget construction, Run, bad inputs."""

import numpy as np
import pytest

import landau_nb as ln
from landau_nb.book import explorers as ex

pytest.importorskip("ipywidgets")

FAST = {"n": 20, "t_end": 0.03}          # 3 Euler steps at the paper's dt = 0.01


@pytest.mark.parametrize("method", ["sbtm", "blob"])
def test_relaxation_curves_maxwell(method):
    c = ln.relaxation_curves(0.0, method=method, **FAST)
    assert c["t"].shape == (4,)
    for key in ("sigma11", "sigma22", "closed11", "closed22", "entropy_rate"):
        assert c[key].shape == (4,), key
        assert np.all(np.isfinite(c[key])), key
    # the closed form starts from the sample's own Sigma(0)
    assert c["closed11"][0] == pytest.approx(c["sigma11"][0])
    assert c["params"]["method"] == method and c["paper_t_end"] == 4.0
    assert c["trajectory"].meta["n"] == 20


def test_relaxation_curves_coulomb_uses_its_time_scale():
    c = ln.relaxation_curves(-3, method="blob", n=20, t_end=2.0)
    assert c["params"]["dt"] == 1.0 and c["paper_t_end"] == 300.0
    assert c["t"].tolist() == [0.0, 1.0, 2.0]
    assert c["closed11"] is None and c["closed22"] is None       # no closed form for gamma = -3
    assert np.all(np.isfinite(c["entropy_rate"]))
    fig = ex.plot_relaxation(c)
    assert len(fig.axes) == 2


@pytest.mark.parametrize("kwargs,exc,word", [
    ({"gamma": -1.0}, ValueError, "gamma"),
    ({"n": 1}, ValueError, "n="),
    ({"n": 10.5}, TypeError, "n must"),
    ({"method": "exact"}, ValueError, "method"),        # no exact solution for this problem
    ({"method": "kde"}, ValueError, "method"),
    ({"alpha": 0.0}, ValueError, "alpha"),
    ({"lr": -1e-3}, ValueError, "lr"),
    ({"dt": float("nan")}, ValueError, "dt"),
    ({"dt": 0.3, "t_end": 1.0}, ValueError, "dt=0.3"),
])
def test_relaxation_bad_inputs(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        ln.relaxation_curves(**kwargs)


def test_denoising_bias_variance_shapes_and_trade_off():
    alphas = [1e-3, 0.05, 0.4, 2.0]
    c = ln.denoising_bias_variance(alphas, n=50, draws=50)
    for key in ("bias", "variance", "std"):
        assert c[key].shape == (4,) and np.all(np.isfinite(c[key])), key
    assert np.all(c["bias"] >= 0) and np.all(c["variance"] > 0)
    assert c["bias"][2] > 10 * c["bias"][1]                       # bias grows with alpha
    assert c["std"][0] == pytest.approx(c["std_limit"], rel=0.05)  # variance does not vanish
    assert c["divergence"].shape == (50,)


def test_denoising_bias_variance_custom_field_and_errors():
    linear = lambda y: -y / 2.0                                   # noqa: E731  (div = -3/2)
    c = ln.denoising_bias_variance([0.01, 1.0], n=20, draws=20, field=linear)
    assert np.allclose(c["bias"], 0, atol=1e-12)                  # linear field: unbiased
    assert np.allclose(c["divergence"], -1.5)
    with pytest.raises(ValueError, match="alphas"):
        ln.denoising_bias_variance([0.1, -1.0], n=20, draws=20)
    with pytest.raises(ValueError, match="n="):
        ln.denoising_bias_variance(n=1)
    with pytest.raises(TypeError, match="field"):
        ln.denoising_bias_variance(n=20, field=3.0)


def test_relaxation_explorer_builds_and_runs():
    import ipywidgets as w

    box = ln.relaxation_explorer(method="blob", **FAST)
    assert isinstance(box, w.VBox)
    assert set(box.controls) == {"gamma", "n", "method", "alpha", "lr", "dt", "t_end"}
    assert box.result is None and box.image.value == b""
    box.run()
    first, png = box.result, box.image.value
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and first["params"]["n"] == 20
    box.controls["n"].value = 40                                   # move a slider, click Run
    box.button.click()
    assert box.result["params"]["n"] == 40 and box.image.value != png
    assert "done" in box.status.value
    # switching to Coulomb moves dt and t_end to its time scale
    box.controls["gamma"].value = -3.0
    assert box.controls["dt"].value == 1.0 and box.controls["t_end"].value == 50.0
    # a bad combination is reported in the status line, not raised into the event loop
    box.controls["dt"].value = 0.7
    box.button.click()
    assert "error" in box.status.value and "dt=0.7" in box.status.value
    assert not box.button.disabled


def test_denoising_explorer_builds_and_updates():
    box = ln.denoising_explorer(n=40, draws=20)
    box.run()
    png, curves = box.image.value, box.result
    assert png and curves["alpha"] == pytest.approx(0.4)
    box.controls["alpha"].value = 0.01                              # observed: redraws at once
    assert box.result["alpha"] == pytest.approx(0.01) and box.image.value != png
    assert box.result["bias"] is curves["bias"]                      # curves cached, marker moved
    box.controls["n"].value = 60
    assert box.result["n"] == 60


@pytest.mark.parametrize("factory,kwargs,exc,word", [
    (ln.relaxation_explorer, {"gamma": 1.0}, ValueError, "gamma"),
    (ln.relaxation_explorer, {"lr": 0}, ValueError, "lr"),
    (ln.relaxation_explorer, {"steps": 3}, TypeError, "unknown option"),
    (ln.denoising_explorer, {"alpha": 5.0}, ValueError, "alpha"),
    (ln.denoising_explorer, {"n": 0}, ValueError, "n="),
    (ln.denoising_explorer, {"field": "score"}, TypeError, "field"),
])
def test_explorer_bad_inputs(factory, kwargs, exc, word):
    with pytest.raises(exc, match=word):
        factory(**kwargs)


def test_an_explorer_displays_a_static_figure_beside_its_widget_view():
    """Stored notebooks keep no widget state: the bundle carries the last figure as PNG and one
    line of text, never the VBox(children=...) repr (scripts/execute_notebooks.py drops the view)."""
    import base64

    pytest.importorskip("ipywidgets")
    from IPython.core.formatters import DisplayFormatter

    box = ln.denoising_explorer(n=40, draws=20)
    data, _ = DisplayFormatter().format(box)
    assert "image/png" not in data and "VBox(" not in data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in data
    box.run()
    data, _ = DisplayFormatter().format(box)
    assert base64.b64decode(data["image/png"]) == box.image.value
    assert data["text/plain"].startswith("Denoising explorer (ipywidgets)") and "last run" in data["text/plain"]
def test_relaxation_explorer_out_of_range_is_said_and_the_figure_marked_stale():
    box = ln.relaxation_explorer(method="blob", **FAST)
    box.run()
    png, params = box.image.value, dict(box.result["params"])
    assert box.stale.value == "" and box.notes["dt"].value == ""
    box.controls["dt"].value = 20.0                    # typed: not clamped to 10
    assert box.controls["dt"].value == 20.0
    assert "outside" in box.notes["dt"].value and "20" in box.notes["dt"].value
    assert box.button.disabled and "stale" in box.stale.value
    assert "dashed" in box.image.layout.border
    assert box.run() is None and box.image.value == png and box.result["params"] == params
    box.controls["dt"].value = params["dt"]            # back in range and as run: nothing stale
    assert box.notes["dt"].value == "" and box.stale.value == "" and not box.button.disabled
    box.controls["n"].value = 40                        # in range but not yet run: stale, Run enabled
    assert "press Run" in box.stale.value and not box.button.disabled
    box.button.click()
    assert box.stale.value == "" and box.result["params"]["n"] == 40


def test_denoising_explorer_titles_show_the_slider_value_rounded():
    import numpy as np
    from matplotlib.figure import Figure

    box = ln.denoising_explorer(n=40, draws=20)
    box.run()
    box.controls["alpha"].value = 0.501187233627        # a log-slider value between grid points
    assert box.controls["alpha_text"].value == 0.501
    assert box.result["alpha"] == 0.501
    fig = ex.plot_denoising(box.result, box.result["alpha"], fig=Figure(figsize=(10, 3.8)))
    titles = [ax.get_title() for ax in fig.axes]
    assert all("0.501" in t and "approx" not in t for t in titles), titles
    at = ex.curves_at(box.result, 0.501)
    a = box.result["alphas"]
    lo, hi = np.searchsorted(a, 0.501) - 1, np.searchsorted(a, 0.501)
    assert min(box.result["bias"][lo], box.result["bias"][hi]) <= at["bias"] \
        <= max(box.result["bias"][lo], box.result["bias"][hi])
    # a typed alpha out of range: said next to the box, not clamped, the figure marked stale
    png = box.image.value
    box.controls["alpha_text"].value = 5.0
    assert "outside" in box.notes["alpha"].value and box.controls["alpha_text"].value == 5.0
    assert box.image.value == png and "stale" in box.stale.value
    box.controls["alpha_text"].value = 0.1
    assert box.notes["alpha"].value == "" and box.stale.value == ""
    assert abs(box.controls["alpha"].value - 0.1) < 1e-12 and box.result["alpha"] == 0.1
    with pytest.raises(ValueError, match="outside"):
        ex.curves_at(box.result, 5.0)


def test_explorer_figures_have_no_label_over_the_ticks():
    """Every axis label lies outside its tick labels' boxes (constrained layout)."""
    curves = ex.denoising_bias_variance(n=30, draws=20)
    for fig in (ex.plot_denoising(curves, 0.4),):
        fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        r = canvas.get_renderer()
        boxes = []
        for ax in fig.axes:
            ticks = [t.get_window_extent(r) for t in ax.get_yticklabels() + ax.get_xticklabels()
                     if t.get_visible() and t.get_text()]
            for label in (ax.yaxis.label, ax.xaxis.label, ax.title):
                lb = label.get_window_extent(r)
                assert not any(lb.overlaps(t) for t in ticks), (label.get_text(), ax)
            boxes.append(ax.get_tightbbox(r))
        assert not boxes[0].overlaps(boxes[1]), "the two panels overlap"
