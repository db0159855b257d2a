"""Bar charts as inline SVG, drawn in Python: no script, no library, no build step. Pure.

Every text in a chart (its title, each bar's label and figure) is escaped here, so a
repository or installation name cannot add markup to the page. A chart is an image with a
<title> (`role="img"`, `aria-labelledby`); each bar has a <title> of its own, which browsers
show on hover. The page also gives the figures as text or a table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count

from markupsafe import Markup, escape

# The drawing's size in user units; the SVG scales to its container's width (a third of a
# wide page: about as many pixels), so its text stays readable.
WIDTH = 400
PLOT_HEIGHT = 120
# Room above the plot (the largest figure) and below it (labels under the bars).
TOP, BOTTOM = 20, 22
GAP = 2
BAR_COLOUR = "#0969da"
_ids = count(1)


@dataclass(frozen=True)
class Bar:
    """One bar: what it stands for (a day, an outcome) and its figure."""

    label: str
    value: float
    colour: str = BAR_COLOUR
    short: str = ""
    """What is written under the bar, when shorter than its label (`Dec 4`)."""


def heights(values: Sequence[float], tallest: float = PLOT_HEIGHT) -> list[float]:
    """Each value's bar height, in proportion to the largest (all zero when none is above 0)."""
    top = max((v for v in values if v > 0), default=0)
    return [tallest * max(v, 0) / top if top else 0.0 for v in values]


def bar_chart(title: str, bars: Sequence[Bar], figure: Callable[[float], str],
              label_every: int = 1) -> Markup:
    """A vertical bar chart of `bars`, left to right. `figure` writes a value in words
    (`3 runs`, `$1.20`); the last bar, and every `label_every`-th before it, is labelled
    underneath."""
    chart_id = f"chart-{next(_ids)}"
    width = (WIDTH - GAP * len(bars)) / max(len(bars), 1)
    opening = (f'<svg class="chart" role="img" aria-labelledby="{chart_id}-title" '
               f'viewBox="0 0 {WIDTH} {TOP + PLOT_HEIGHT + BOTTOM}" '
               f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">')
    parts = [opening, f'<title id="{chart_id}-title">{escape(title)}</title>', _axis(bars, figure)]
    for index, (bar, height) in enumerate(zip(bars, heights([b.value for b in bars]), strict=True)):
        x = index * (width + GAP)
        y = TOP + PLOT_HEIGHT - height
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
                     f'height="{height:.1f}" fill="{escape(bar.colour)}">'
                     f'<title>{escape(bar.label)}: {escape(figure(bar.value))}</title></rect>')
        if (len(bars) - 1 - index) % label_every == 0:
            parts.append(_label(bar.short or bar.label, x + width / 2, index == len(bars) - 1))
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis(bars: Sequence[Bar], figure: Callable[[float], str]) -> str:
    """The baseline, and the largest figure at the top left as the scale."""
    top = max((b.value for b in bars), default=0)
    base = TOP + PLOT_HEIGHT
    return (f'<line x1="0" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#8c959f"/>'
            f'<text x="0" y="13" font-size="12" fill="#57606a">max {escape(figure(top))}</text>')


def _label(text: str, middle: float, last: bool) -> str:
    """A bar's label under it; the last one ends at the right edge rather than past it."""
    x, anchor = (WIDTH, "end") if last else (middle, "middle")
    return (f'<text x="{x:.1f}" y="{TOP + PLOT_HEIGHT + 16}" font-size="12" '
            f'text-anchor="{anchor}" fill="#57606a">{escape(text)}</text>')
