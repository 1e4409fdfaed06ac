"""The dashboard's chart, drawn on the server as SVG: no charting library, no script.

Bars stack each hour's messages by outcome (delivered, failed, still on their way); a line
shows the delivery rate of the hour's settled messages. Only numbers go into the markup, so
nothing needs escaping; a table with the same figures follows the chart for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup

DELIVERED = frozenset({"delivered"})
FAILED = frozenset({"undelivered", "failed", "rejected", "expired", "unknown"})
COLOURS = {"delivered": "#1b6e2d", "failed": "#b00020", "other": "#767676"}
WIDTH, HEIGHT, PAD = 720, 220, 30


@dataclass(frozen=True, slots=True)
class Hour:
    start: datetime
    delivered: int
    failed: int
    other: int  # accepted, sending, queued, sent, canceled

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.other

    @property
    def delivery_rate(self) -> float | None:
        settled = self.delivered + self.failed
        return self.delivered / settled if settled else None


def hours(counts: dict[tuple[str, str], int], now: datetime, span: int = 24) -> list[Hour]:
    """The last ``span`` hours up to ``now``'s, from counts by ("YYYY-MM-DDTHH", status)."""
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=span - 1)
    result = []
    for n in range(span):
        start = first + timedelta(hours=n)
        key = start.strftime("%Y-%m-%dT%H")
        by_status = {status: count for (hour, status), count in counts.items() if hour == key}
        delivered = sum(c for s, c in by_status.items() if s in DELIVERED)
        failed = sum(c for s, c in by_status.items() if s in FAILED)
        other = sum(by_status.values()) - delivered - failed
        result.append(Hour(start, delivered, failed, other))
    return result


def chart(series: list[Hour]) -> Markup:
    peak = max((h.total for h in series), default=0) or 1
    step = (WIDTH - 2 * PAD) / max(len(series), 1)
    usable = HEIGHT - 2 * PAD
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
        'class="chart" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Messages per hour by outcome, and the delivery rate</title>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#767676"/>',
        f'<text x="{PAD}" y="{PAD - 10}" font-size="12" fill="#111">{peak} messages</text>',
    ]
    points = []
    for n, hour in enumerate(series):
        x = PAD + n * step
        bottom = HEIGHT - PAD
        for name in ("delivered", "failed", "other"):
            count = getattr(hour, name)
            if not count:
                continue
            height = usable * count / peak
            bottom -= height
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{bottom:.1f}" width="{step - 2:.1f}" '
                f'height="{height:.1f}" fill="{COLOURS[name]}">'
                f"<title>{hour.start:%H}:00 UTC: {count} {name}</title></rect>"
            )
        if hour.delivery_rate is not None:
            points.append(f"{x + step / 2:.1f},{HEIGHT - PAD - usable * hour.delivery_rate:.1f}")
        if n % 6 == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 10}" font-size="12" fill="#111">'
                f"{hour.start:%H}:00</text>"
            )
    if len(points) > 1:
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="#0b5cad" '
            'stroke-width="2"><title>Delivery rate</title></polyline>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (numbers and fixed words only)
