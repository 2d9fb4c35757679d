"""The briefing's charts as SVG markup, drawn on the server: the same vector
image in the page and the PDF, crisp at any zoom, no JavaScript.

Every text that reaches the markup (labels, titles, ids) goes through
`escape`, so nothing from a record can break out of the SVG. Each chart has a
title and a description for screen readers and a <title> on every bar, which
browsers show on hover.
"""

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

from crm.vocabulary import SOURCES
from reports.briefing.model import MonthActivity, MonthAlerts, MonthTickets

# The timeline's source colours (static/css/timeline.css), but for sales a lighter amber:
# stacked next to monitoring's orange, the timeline's brown could not be told apart.
SOURCE_COLOURS = {
    "billing": "#0f7b6c",
    "rmm": "#c2410c",
    "tickets": "#1f6feb",
    "marketing": "#a21caf",
    "sales": "#e3a008",
    "manual": "#4d5b6a",
}
OPENED, RESOLVED = "#1f6feb", "#1a7f37"
RAISED = SOURCE_COLOURS["rmm"]
INK, MUTED, GRID = "#1d2733", "#5b6775", "#dde3ea"
WIDTH, HEIGHT = 680, 250
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 34, 40
FONT = "Briefing, 'DejaVu Sans', system-ui, sans-serif"


def activity_chart(months: Sequence[MonthActivity], id_prefix: str = "chart") -> Markup:
    """Events per month stacked by source."""
    plot = _Plot(len(months), *axis(max((m.total for m in months), default=0)))
    parts = plot.grid()
    for index, month in enumerate(months):
        x, width = plot.bar(index, 0.7)
        base = 0
        for source in SOURCES:
            count = month.by_source.get(source, 0)
            if not count:
                continue
            y0, y1 = plot.y(base + count), plot.y(base)
            tip = f"{month.month:%b %Y} · {source}: {count}"
            parts.append(_rect(x, y0, width, y1 - y0, SOURCE_COLOURS[source], tip))
            base += count
    parts += plot.month_labels([m.month for m in months])
    parts += _legend([(source, SOURCE_COLOURS[source]) for source in SOURCES])
    total = sum(m.total for m in months)
    busiest = max(months, key=lambda m: m.total, default=None)
    description = f"{total} events in {len(months)} months"
    if busiest is not None and busiest.total:
        description += f"; busiest month {busiest.month:%b %Y} with {busiest.total}"
    if not total:
        parts.append(plot.nothing("No activity in these twelve months"))
    return _svg(id_prefix, "Activity per month, by source", description, parts)


def tickets_chart(months: Sequence[MonthTickets], id_prefix: str = "chart") -> Markup:
    """Tickets opened and solved per month, side by side."""
    counts = [(m.month, m.opened, m.resolved) for m in months]
    return _paired_chart(counts, "tickets", (("opened", OPENED), ("solved", RESOLVED)), id_prefix)


def alerts_chart(months: Sequence[MonthAlerts], id_prefix: str = "chart") -> Markup:
    """Alerts raised and resolved per month, side by side: every time an alert
    fired counts, not the alerts (reports.briefing.numbers)."""
    counts = [(m.month, m.raised, m.resolved) for m in months]
    return _paired_chart(counts, "alerts", (("raised", RAISED), ("resolved", RESOLVED)), id_prefix)


def _paired_chart(
    months: Sequence[tuple[date, int, int]],
    noun: str,
    series: tuple[tuple[str, str], tuple[str, str]],
    id_prefix: str,
) -> Markup:
    """Two counts of `noun` per month side by side: (month, first, second)
    with each series' (word, colour); its title and description say the
    words and the totals."""
    (first_word, _), (second_word, _) = series
    first, second = sum(m[1] for m in months), sum(m[2] for m in months)
    title = f"{noun.capitalize()} {first_word} and {second_word} per month"
    description = f"{first} {noun} {first_word} and {second} {second_word} in {len(months)} months"
    plot = _Plot(len(months), *axis(max((max(a, b) for _, a, b in months), default=0)))
    parts = plot.grid()
    for index, (month, *counts) in enumerate(months):
        x, width = plot.bar(index, 0.76)
        half = width / 2
        for offset, count, (word, colour) in zip((0, half), counts, series, strict=True):
            if count:
                y = plot.y(count)
                tip = f"{month:%b %Y}: {count} {word}"
                parts.append(_rect(x + offset, y, half - 1, plot.y(0) - y, colour, tip))
    parts += plot.month_labels([month for month, _, _ in months])
    parts += _legend(list(series))
    if not first and not second:
        parts.append(plot.nothing(f"No {noun} in these twelve months"))
    return _svg(id_prefix, title, description, parts)


def axis(largest: int, most_ticks: int = 5) -> tuple[int, int]:
    """(top, step) of a value axis for values up to `largest`: the step is
    1, 2 or 5 times a power of ten, the smallest that needs at most
    `most_ticks` steps; the top is the first whole step at or above `largest`
    (at least 4, so a quiet month does not fill the chart)."""
    largest = max(largest, 4)
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            steps = -(-largest // step)
            if steps <= most_ticks:
                return steps * step, step
        magnitude *= 10


class _Plot:
    """The frame every chart shares: a value axis and one band per month."""

    def __init__(self, bands: int, top: int, step: int):
        self.bands, self.top, self.step = max(bands, 1), top, step
        self.width = WIDTH - LEFT - RIGHT
        self.height = HEIGHT - TOP - BOTTOM

    def y(self, value: float) -> float:
        return TOP + self.height * (1 - value / self.top)

    def bar(self, index: int, share: float) -> tuple[float, float]:
        band = self.width / self.bands
        return LEFT + band * index + band * (1 - share) / 2, band * share

    def grid(self) -> list[str]:
        parts = []
        for tick in range(0, self.top + 1, self.step):
            y = self.y(tick)
            parts.append(
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{GRID if tick else MUTED}" stroke-width="1"/>'
            )
            parts.append(
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                f'font-size="11" fill="{MUTED}">{tick}</text>'
            )
        return parts

    def month_labels(self, months) -> list[str]:
        parts = []
        band = self.width / self.bands
        for index, month in enumerate(months):
            x = LEFT + band * (index + 0.5)
            y = TOP + self.height + 15
            parts.append(
                f'<text x="{x:.1f}" y="{y}" text-anchor="middle" font-size="11" '
                f'fill="{INK}">{escape(f"{month:%b}")}</text>'
            )
            if index == 0 or month.month == 1:
                parts.append(
                    f'<text x="{x:.1f}" y="{y + 13}" text-anchor="middle" font-size="10" '
                    f'fill="{MUTED}">{month.year}</text>'
                )
        return parts

    def nothing(self, text: str) -> str:
        return (
            f'<text x="{LEFT + self.width / 2:.1f}" y="{TOP + self.height / 2:.1f}" '
            f'text-anchor="middle" font-size="13" fill="{MUTED}">{escape(text)}</text>'
        )


def _rect(x: float, y: float, width: float, height: float, colour: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0.5):.1f}" '
        f'height="{max(height, 0.5):.1f}" fill="{colour}"><title>{escape(tip)}</title></rect>'
    )


def _legend(entries: list[tuple[str, str]]) -> list[str]:
    """One slot per entry, all as wide as the longest name: even spacing
    without measuring text."""
    slot = 30 + 7 * max(len(name) for name, _ in entries)
    parts = []
    for number, (name, colour) in enumerate(entries):
        x = LEFT + slot * number
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" rx="2" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="17" font-size="11" fill="{INK}">{escape(name)}</text>')
    return parts


def _svg(id_prefix: str, title: str, description: str, parts: list[str]) -> Markup:
    ident = escape(id_prefix)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" class="chart" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" font-family="{FONT}">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(description)}</desc>' + "".join(parts) + "</svg>"
    )
