"""Figure conventions behind the HTML layout (tests/test_browser.py measures the result):
no text in the book's figures smaller than plotting.MIN_FONT_PT, stored at plotting.DPI, and
the HTML extension using the same numbers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import matplotlib

from landau_nb.book import plotting

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "landau_nb" / "book").glob("*.py"))
NAMED = {"xx-small": 5.79, "x-small": 6.94, "small": 8.33, "medium": 10, "large": 12,
         "x-large": 14.4, "xx-large": 17.28, "smaller": 8.33, "larger": 12}


def font_sizes(text: str) -> list[tuple[str, float]]:
    """Every explicit font size in a source: fontsize=/size=/labelsize= numbers and names."""
    out = []
    for m in re.finditer(r"(\b(?:fontsize|labelsize|title_fontsize|size)\s*=|[\"']size[\"']\s*:)\s*"
                         r"([0-9.]+|\"[a-z-]+\"|'[a-z-]+')", text):
        v = m.group(2).strip("'\"")
        out.append((m.group(0), NAMED[v] if v in NAMED else float(v)))
    return out


def test_font_sizes_are_found():
    assert font_sizes('ax.legend(fontsize=8, ncol=2); ax.tick_params(labelsize="small")') == \
        [("fontsize=8", 8.0), ('labelsize="small"', 8.33)]
    assert font_sizes('f"{size:.1f}" {"size": 7}') == [('"size": 7', 7.0)]


def test_no_figure_text_below_the_minimum():
    small = [f"{p.relative_to(ROOT)}: {hit}" for p in SOURCES
             for hit, size in font_sizes(p.read_text(encoding="utf-8"))
             if size < plotting.MIN_FONT_PT and "markersize" not in hit]
    assert not small, "figure text below plotting.MIN_FONT_PT:\n  " + "\n  ".join(small)
    defaults = ["font.size", "xtick.labelsize", "ytick.labelsize", "legend.fontsize",
                "axes.labelsize", "axes.titlesize"]
    from matplotlib.font_manager import FontProperties
    for key in defaults:
        size = FontProperties(size=matplotlib.rcParamsDefault[key]).get_size_in_points()
        assert size >= plotting.MIN_FONT_PT, (key, size)
    assert matplotlib.rcParamsDefault["figure.dpi"] == plotting.DPI


def test_html_extension_uses_the_figure_conventions():
    tree = ast.parse((ROOT / "book" / "_ext" / "html_fixes.py").read_text())
    values = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_config_value":
            values[node.args[0].value] = node.args[1].value
    assert values["landau_figure_min_font_pt"] == plotting.MIN_FONT_PT
    assert values["landau_figure_dpi"] == plotting.DPI
    assert values["landau_figure_min_text_px"] == 9
