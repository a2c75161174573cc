"""Charts drawn on the server as inline SVG: no script, no CDN, readable with JavaScript off and by screen readers
(each chart has a title, a description, and the figures it draws are in a table next to it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString

# Colour-blind-safe (Okabe-Ito), in the order series are drawn.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 56


def _nice_step(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value``: a tick people read at a glance."""
    magnitude = 1
    while magnitude * 10 < value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _nice_max(value: int) -> int:
    """The axis's top: four equal round ticks (0, 10, 20, 30, 40) that reach ``value``."""
    return 4 * _nice_step(max(1, -(-value // 4)))


def stacked_bars(
    *,
    title: str,
    days: Sequence[date],
    series: Mapping[str, Mapping[date, int]],
    label: Callable[[int], str] = str,
) -> SafeString:
    """One bar per day, stacked by series, with a y axis in ``label``'s units and a legend."""
    names = sorted(series)
    totals = [sum(series[name].get(day, 0) for name in names) for day in days]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = max(slot * 0.7, 1)
    parts = [
        f'<svg class="ll-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'aria-labelledby="{escape(title)}-t">',
        f'<title id="{escape(title)}-t">{escape(title)}</title>',
    ]
    for step in range(5):
        value = top * step // 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d4d4d8" />')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#52525b">'
            f"{escape(label(value))}</text>"
        )
    for index, day in enumerate(days):
        x = LEFT + slot * index + (slot - bar) / 2
        base: float = TOP + plot_h
        for colour_index, name in enumerate(names):
            value = series[name].get(day, 0)
            if not value:
                continue
            height = plot_h * value / top
            base -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{PALETTE[colour_index % len(PALETTE)]}"><title>{escape(name)}, {day:%b %d}: '
                f"{escape(label(value))}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11" '
            f'fill="#52525b">{day:%b %d}</text>'
        )
    legend_x = LEFT
    for colour_index, name in enumerate(names):
        y = HEIGHT - 14
        parts.append(
            f'<rect x="{legend_x}" y="{y - 9}" width="10" height="10" fill="{PALETTE[colour_index % len(PALETTE)]}" />'
        )
        parts.append(f'<text x="{legend_x + 14}" y="{y}" font-size="11" fill="#27272a">{escape(name)}</text>')
        legend_x += 24 + 7 * len(name)
    if not names:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="13" fill="#71717a">'
            "No captures in this range</text>"
        )
    parts.append("</svg>")
    return SafeString("".join(parts))


def percent_bars(*, title: str, rows: Sequence[tuple[str, float | None]]) -> SafeString:
    """Horizontal bars from 0 to 100 %, one per row (``None``: nothing to measure)."""
    row_h, label_w, width = 26, 150, 480
    height = row_h * max(len(rows), 1) + 8
    parts = [
        f'<svg class="ll-chart" viewBox="0 0 {width} {height}" role="img" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
    ]
    for index, (name, percent) in enumerate(rows):
        y = 4 + index * row_h
        span = width - label_w - 60
        parts.append(f'<text x="0" y="{y + 15}" font-size="12" fill="#27272a">{escape(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{span}" height="14" fill="#f4f4f5" />')
        if percent is not None:
            parts.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{span * percent / 100:.1f}" height="14" fill="{PALETTE[0]}" />'
            )
        text = "—" if percent is None else f"{percent:.1f} %"
        parts.append(f'<text x="{width - 52}" y="{y + 15}" font-size="12" fill="#27272a">{text}</text>')
    parts.append("</svg>")
    return SafeString("".join(parts))
