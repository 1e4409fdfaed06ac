"""Faults the emulator injects into send requests, so tests can rehearse Plivo misbehaving.

Which sends are hit: every one, or with ``failure_rate`` > 0 that fraction of them (drawn
from the state's seeded random generator). How a hit send fails: ``drop`` if set, else an
HTTP ``status`` (500 when unset) with a Plivo-shaped error body or the raw ``body``.
``latency_ms`` delays every send, hit or not. ``times`` limits all of this to the next N
sends, after which the faults clear themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

Drop = Literal["before_request", "before_response"]
_DROPS: Final = ("before_request", "before_response")


class InvalidFaults(ValueError):
    """A fault description that the emulator cannot apply; the control API answers 400."""


@dataclass(frozen=True, slots=True)
class Faults:
    """What to do to the next send requests; ``Faults()`` means behave normally.

    - ``latency_ms``: wait this long before answering every send (after recording it).
    - ``status``: answer hit sends with this HTTP status (200-599) instead of processing
      them; a 2xx with a ``body`` fakes a success the client cannot read.
    - ``failure_rate``: fraction of sends to hit; 0 means all of them when a fault is set.
    - ``retry_after``: seconds for a ``Retry-After`` header when the injected status is 429.
    - ``drop``: ``"before_request"`` closes the connection before reading the body, and
      nothing is recorded; ``"before_response"`` records and accepts the send (its message
      exists and its callbacks go out), then closes the connection without answering.
    - ``times``: apply to the next N sends only, then reset to ``Faults()``.
    - ``body``: raw response body for injected statuses, e.g. an HTML 502 page.
    - ``seed``: reseed the failure-rate generator when these faults are set.
    - ``drop_rate``: fraction of the sends the faults above do not hit that are accepted, then
      have their connection closed unanswered (a timeout, as the client sees it), so that
      errors and timeouts can be mixed, e.g. ``status=503, failure_rate=0.3, drop_rate=0.05``.
    - ``src``: hit only the sends from this sender (their ``src`` or ``powerpack_uuid``, its
      punctuation ignored); the others are answered normally and not counted in ``times``.
      Such a send's body is read before it is hit, so ``"before_request"`` cannot go with it.
    """

    latency_ms: float = 0
    status: int | None = None
    failure_rate: float = 0.0
    retry_after: int | None = None
    drop: Drop | None = None
    times: int | None = None
    body: str | None = None
    seed: int | None = None
    drop_rate: float = 0.0
    src: str | None = None

    def __post_init__(self) -> None:
        _check(_is_number(self.latency_ms) and self.latency_ms >= 0, "latency_ms must be >= 0")
        _check(
            self.status is None or (_is_int(self.status) and 200 <= self.status <= 599),
            "status must be an HTTP status between 200 and 599",
        )
        _check(
            _is_number(self.failure_rate) and 0 <= self.failure_rate <= 1,
            "failure_rate must be between 0 and 1",
        )
        _check(
            self.retry_after is None or (_is_int(self.retry_after) and self.retry_after >= 0),
            "retry_after must be a whole number of seconds >= 0",
        )
        _check(self.drop is None or self.drop in _DROPS, f"drop must be one of {_DROPS}")
        _check(
            self.times is None or (_is_int(self.times) and self.times >= 1),
            "times must be a whole number >= 1",
        )
        _check(self.body is None or isinstance(self.body, str), "body must be a string")
        _check(self.seed is None or _is_int(self.seed), "seed must be an integer")
        _check(
            _is_number(self.drop_rate) and 0 <= self.drop_rate <= 1,
            "drop_rate must be between 0 and 1",
        )
        _check(self.src is None or isinstance(self.src, str), "src must be a string")
        _check(
            self.src is None or self.drop != "before_request",
            'src cannot go with drop "before_request": the body names the sender',
        )

    def hits_source(self, source: str | None) -> bool:
        """Whether a send from ``source`` is one these faults are for."""
        return self.src is None or (source is not None and _compact(source) == _compact(self.src))

    @classmethod
    def from_json(cls, data: object) -> Faults:
        """Faults from a decoded JSON object, raising InvalidFaults for anything off."""
        if not isinstance(data, Mapping):
            raise InvalidFaults("faults must be a JSON object")
        unknown = set(data) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise InvalidFaults(f"unknown fault fields: {sorted(unknown)}")
        return cls(**data)

    @property
    def injects_failure(self) -> bool:
        """True when hit sends fail (rather than only being slowed down)."""
        return (
            self.failure_rate > 0
            or self.status is not None
            or self.drop is not None
            or self.body is not None
        )

    def as_json(self) -> dict[str, object]:
        """The faults as a JSON-ready dict, the shape ``from_json`` accepts."""
        return dataclasses.asdict(self)


def _compact(source: str) -> str:
    return "".join(character for character in source if character.isalnum()).lower()


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidFaults(message)


def _is_int(value: object) -> bool:
    # JSON true/false decode to bool, a subclass of int; they are not counts or statuses.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return _is_int(value) or isinstance(value, float)
