"""Limits written as ``count/period``: ``60/minute``, ``5/hour``, ``10000/day``, or ``off``."""

from __future__ import annotations

from dataclasses import dataclass

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
OFF = frozenset({"off", "none", "0", "unlimited"})


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: int

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def period(self) -> str:
        """The window in words: "hour", or "300 s"."""
        names = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
        return names.get(self.seconds, f"{self.seconds} s")

    def __str__(self) -> str:
        return f"{self.count}/{self.period.replace(' ', '')}"


def parse_rate(text: str) -> Rate | None:
    """``"60/minute"`` -> Rate(60, 60); ``"off"`` -> None; ValueError saying what is wrong."""
    cleaned = text.strip().lower()
    if cleaned in OFF:
        return None
    count_text, separator, period = cleaned.partition("/")
    period = period.strip()
    if period.endswith("s") and period.rstrip("s") in _PERIODS:
        period = period.rstrip("s")  # "minutes", "hours"
    multiple = 1
    if period and period[0].isdigit():  # "10/5m": ten per five minutes
        digits = len(period) - len(period.lstrip("0123456789"))
        multiple, period = int(period[:digits]), period[digits:]
    if not separator or period not in _PERIODS or not count_text.strip().isdigit():
        raise ValueError(f"{text!r} is not a rate like 60/minute, 5/hour, 1000/day, or off")
    count = int(count_text)
    if count < 1 or multiple < 1:
        raise ValueError(f"{text!r}: use a positive count, like 60/minute, or off")
    return Rate(count, _PERIODS[period] * multiple)
