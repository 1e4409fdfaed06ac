"""The dashboard's hours: counts by hour and status folded into outcomes and a rate."""

from __future__ import annotations

from datetime import UTC, datetime

from smsgate.api.charts import chart, hours

NOW = datetime(2026, 11, 29, 14, 35, tzinfo=UTC)


def test_hours_fold_statuses_into_outcomes_and_a_delivery_rate() -> None:
    counts = {
        ("2026-11-29T14", "delivered"): 6,
        ("2026-11-29T14", "undelivered"): 1,
        ("2026-11-29T14", "failed"): 1,
        ("2026-11-29T14", "queued"): 4,
        ("2026-11-29T13", "delivered"): 2,
        ("2026-11-28T14", "delivered"): 99,  # 24 hours ago: outside the window
    }
    series = hours(counts, NOW)
    assert len(series) == 24
    assert series[0].start == datetime(2026, 11, 28, 15, tzinfo=UTC)
    last, before = series[-1], series[-2]
    assert (last.delivered, last.failed, last.other) == (6, 2, 4)
    assert last.delivery_rate == 0.75
    assert before.delivery_rate == 1.0
    assert series[0].delivery_rate is None  # nothing settled: no rate, not 0%
    assert sum(h.total for h in series) == 14


def test_the_chart_draws_a_bar_per_outcome_and_the_rate_line() -> None:
    series = hours({("2026-11-29T14", "delivered"): 3, ("2026-11-29T13", "failed"): 1}, NOW)
    svg = str(chart(series))
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert svg.count("<rect ") == 2
    assert "<polyline" in svg  # two hours with a rate
    assert "3 messages" in svg  # the scale's peak
