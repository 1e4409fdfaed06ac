"""What a ``smsgate doctor`` check is: a topic, a level (ok, warn, fail) and a detail in words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

TIMEOUT = 5.0  # seconds for each network check


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    topic: str
    level: Level
    detail: str


def ok(topic: str, detail: str) -> Check:
    return Check(topic, Level.OK, detail)


def warn(topic: str, detail: str) -> Check:
    return Check(topic, Level.WARN, detail)


def fail(topic: str, detail: str) -> Check:
    return Check(topic, Level.FAIL, detail)


Report = Callable[[Check], None]
