"""Charts drawn on the server as inline SVG: no script, no library, readable by a screen
reader (each has a title and a description listing its values)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

WIDTH, BAR_HEIGHT, GAP, LABEL = 520, 18, 6, 150


def bar_chart(
    title: str,
    values: Sequence[tuple[str, float | None]],
    *,
    scale: float | None = None,
    label: Callable[[float | None], str] = lambda v: "—" if v is None else f"{v:g}",
    ident: str = "chart",
) -> Markup:
    """Horizontal bars, one per (label, value); ``scale`` is the value of a full bar (the
    largest value when not given)."""
    top = scale or max((v or 0 for _, v in values), default=0) or 1
    height = len(values) * (BAR_HEIGHT + GAP) + GAP
    room = WIDTH - LABEL - 60
    desc = "; ".join(f"{name}: {label(v)}" for name, v in values)
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="{ident}-t {ident}-d" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>',
    ]
    for n, (name, v) in enumerate(values):
        y = GAP + n * (BAR_HEIGHT + GAP)
        w = 0 if not v else max(1, round(room * min(v, top) / top))
        parts.append(
            f'<text x="{LABEL - 6}" y="{y + 13}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{LABEL}" y="{y}" width="{w}" height="{BAR_HEIGHT}" fill="#0b5394"></rect>'
            f'<text x="{LABEL + w + 6}" y="{y + 13}">{escape(label(v))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def percent(v: float | None) -> str:
    return "—" if v is None else f"{round(v * 100)}%"
