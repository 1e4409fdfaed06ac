"""Who is calling, and what they may do: the scopes an API key grants.

``send`` sends and cancels, ``read`` reads messages and batches, ``admin`` does everything,
including managing keys and opt-outs. A test key does the same with the sandbox in place of
Plivo: its messages go nowhere and cost nothing (see ``services.access``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from smsgate.domain.errors import DomainError


class Scope(StrEnum):
    SEND = "send"
    READ = "read"
    ADMIN = "admin"


DEFAULT_SCOPES = frozenset({Scope.SEND, Scope.READ})
ALL_SCOPES = frozenset(Scope)


def parse_scopes(text: str | Iterable[str]) -> frozenset[Scope]:
    """``"send,read"`` -> the scopes; DomainError naming an unknown one."""
    names = text.split(",") if isinstance(text, str) else list(text)
    scopes: set[Scope] = set()
    for name in (n.strip().lower() for n in names):
        if not name:
            continue
        try:
            scopes.add(Scope(name))
        except ValueError:
            known = ", ".join(scope.value for scope in Scope)
            raise DomainError(
                f"{name!r} is not a scope; use {known}.", code="invalid_scope"
            ) from None
    if not scopes:
        raise DomainError("Give at least one scope: send, read or admin.", code="invalid_scope")
    return frozenset(scopes)


def format_scopes(scopes: Iterable[Scope]) -> str:
    """Scopes in a stable order, comma-separated: how they are stored and shown."""
    return ",".join(scope.value for scope in Scope if scope in set(scopes))


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request: an API key, a bootstrap key, or nobody when smsgate is open.

    ``id`` names the caller in limits, idempotency scopes and the messages it sends; ``None``
    is the open, keyless mode of a smsgate on loopback.
    """

    id: str | None
    name: str
    scopes: frozenset[Scope]
    test: bool = False

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    @property
    def limit_key(self) -> str | None:
        """Whose per-key counters a request counts against; None when smsgate is open (no
        keys, loopback only): the per-key limits are against leaked keys, and there are none."""
        return self.id


# Nobody signed in, on a smsgate without keys that answers only this machine.
OPEN = Principal(id=None, name="open (no API keys)", scopes=ALL_SCOPES)
