"""Senders: the numbers, short codes, alphanumeric IDs and Powerpacks messages go out from.

A sender's kind decides how fast it may send by default, where it may not send (carriers
refuse alphanumeric IDs in some countries) and how the provider is told of it (a Powerpack is
a pool of numbers the provider picks from itself). Senders are grouped in named pools; a
message names a sender, or a pool, or gets the ``default`` pool.

Choosing a sender of a pool for a recipient is two pure rules here, a local sender first (one
of the recipient's country), then the sender the recipient had last time (sticky), and one
left to the pacing: the least busy of what remains is the one whose next slot comes first
(``domain.pacing.earliest``), decided where the slots are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from smsgate.domain.errors import DomainError, InvalidPhoneNumber
from smsgate.domain.phone import is_known_region, is_toll_free, parse_phone_number

__all__ = [
    "ALPHANUMERIC_REFUSED",
    "DEFAULT_MPS",
    "DEFAULT_POOL",
    "MAX_MPS",
    "Sender",
    "SenderAddress",
    "SenderKind",
    "SenderNotAllowed",
    "SenderRegistry",
    "UnknownPool",
    "UnknownSender",
    "compact_address",
    "kind_of",
    "new_sender",
    "prefer",
]


class SenderKind(StrEnum):
    LONG_CODE = "long_code"  # an ordinary phone number
    TOLL_FREE = "toll_free"
    SHORT_CODE = "short_code"  # 3 to 8 digits, one country's
    ALPHANUMERIC = "alphanumeric"  # a name, like "Acme"; nobody can reply to it
    POWERPACK = "powerpack"  # Plivo's number pool, named by its UUID


# Messages a second a sender of each kind may send when the operator declares no rate: Plivo's
# documented US figures (reference §5; plivo.com/docs/faq/messaging/messaging-api). Canada is
# slower for long codes (15 a minute) and short codes (10 a second): declare ``mps`` there.
DEFAULT_MPS: Mapping[SenderKind, float] = {
    SenderKind.LONG_CODE: 1.0,  # an unregistered long code; 10DLC tiers run 0.2 to 15
    SenderKind.TOLL_FREE: 25.0,  # a verified toll-free number
    SenderKind.SHORT_CODE: 100.0,  # "100+"
    # Plivo gives no figure for an ID: its default account rate, 5 a second.
    SenderKind.ALPHANUMERIC: 5.0,
    # None for a Powerpack: its rate is the sum of its numbers', which only the operator knows.
}
MAX_MPS = 10_000.0

# Countries whose carriers refuse alphanumeric sender IDs: a message there needs a number the
# provider rents out (reference §8, "US and Canada: src must be a Plivo number"). Data, so a
# country is added here and nowhere else.
ALPHANUMERIC_REFUSED = frozenset({"US", "CA"})

DEFAULT_POOL = "default"
POOL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

# A sender is a phone number (country code first, at most 14 digits once punctuation is
# removed, as Plivo removes it), a short code, an alphanumeric ID of at most 11 characters
# (reference §1, §8), or a Powerpack's UUID.
NUMBER_PATTERN = re.compile(r"^\+?[0-9]{3,14}$")
ALPHANUMERIC_PATTERN = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
POWERPACK_PATTERN = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)
_PUNCTUATION = re.compile(r"[\s\-.()]")
_SHORT_CODE_DIGITS = 8


class UnknownSender(DomainError):
    """A message named a sender (``from``) that is not registered."""

    code = "unknown_sender"


class UnknownPool(DomainError):
    """A message named a pool no sender belongs to."""

    code = "unknown_pool"


class SenderNotAllowed(DomainError):
    """No sender the message may go from can send to the recipient's country."""

    code = "sender_not_allowed"


def compact_address(address: str) -> str:
    """A numeric sender without its punctuation (Plivo strips it too); others as they are."""
    compact = _PUNCTUATION.sub("", address)
    return compact if NUMBER_PATTERN.match(compact) else address.strip()


def kind_of(address: str) -> SenderKind | None:
    """The kind of sender ``address`` is by its form; None when it cannot be a sender.

    A number with a ``+`` is a phone number (toll-free when libphonenumber says so); digits
    alone are a short code up to 8 of them, a phone number beyond.
    """
    if POWERPACK_PATTERN.match(address.strip()):
        return SenderKind.POWERPACK
    compact = compact_address(address)
    if NUMBER_PATTERN.match(compact):
        digits = compact.removeprefix("+")
        if not compact.startswith("+") and len(digits) <= _SHORT_CODE_DIGITS:
            return SenderKind.SHORT_CODE
        try:
            number = parse_phone_number("+" + digits)
        except InvalidPhoneNumber:
            return SenderKind.LONG_CODE  # Plivo takes what the numbering plan does not know
        return SenderKind.TOLL_FREE if is_toll_free(number) else SenderKind.LONG_CODE
    if ALPHANUMERIC_PATTERN.match(address):
        return SenderKind.ALPHANUMERIC
    return None


@dataclass(frozen=True, slots=True)
class SenderAddress:
    """What the provider is told a message goes from: an address and its kind."""

    address: str
    kind: SenderKind

    @property
    def powerpack(self) -> bool:
        return self.kind is SenderKind.POWERPACK

    @classmethod
    def of(cls, address: str) -> SenderAddress:
        """The address as the provider takes it, its kind read from its form."""
        compact = compact_address(address)
        return cls(compact, kind_of(compact) or SenderKind.ALPHANUMERIC)


@dataclass(frozen=True, slots=True)
class Sender:
    """A registered sender: what it is, where it may send, how fast, in which pools."""

    id: str
    address: str  # compact: "+14155550100", "12345", "Acme", a Powerpack UUID
    kind: SenderKind
    mps: float  # hand-offs a second, paced across every process
    countries: frozenset[str] = frozenset()  # where it may send (ISO alpha-2); empty: anywhere
    pools: tuple[str, ...] = (DEFAULT_POOL,)
    # The country its number belongs to; None for IDs, short codes and Powerpacks, whose
    # ``countries`` say where they are local.
    home: str | None = None
    created_at: datetime | None = field(default=None, compare=False)

    @property
    def as_address(self) -> SenderAddress:
        return SenderAddress(self.address, self.kind)

    def may_send_to(self, region: str | None) -> bool:
        if self.kind is SenderKind.ALPHANUMERIC and region in ALPHANUMERIC_REFUSED:
            return False
        return not self.countries or region in self.countries

    def is_local_to(self, region: str | None) -> bool:
        if region is None:
            return False
        return region == self.home if self.home is not None else region in self.countries

    def refusal(self, region: str | None) -> SenderNotAllowed:
        """Why this sender may not send to ``region`` (call when ``may_send_to`` says no)."""
        where = region or "no country (an international number)"
        if self.kind is SenderKind.ALPHANUMERIC and region in ALPHANUMERIC_REFUSED:
            return SenderNotAllowed(
                f"Carriers in {where} refuse alphanumeric sender IDs such as {self.address!r}; "
                "send from a number instead."
            )
        allowed = ", ".join(sorted(self.countries))
        return SenderNotAllowed(
            f"The sender {self.address!r} sends only to {allowed}, not to {where}."
        )


def new_sender(
    id: str,
    address: object,
    *,
    kind: object = None,
    countries: object = (),
    mps: object = None,
    pools: object = (DEFAULT_POOL,),
    created_at: datetime | None = None,
) -> Sender:
    """A sender as the operator describes it, checked; a DomainError (with its code) if not.

    The kind is read from the address when not given; a declared kind must fit the address
    (only a number may be declared a toll-free one or a long code, whatever libphonenumber
    reads). The rate defaults by kind; a Powerpack's must be declared. Every argument may
    come straight from a JSON body: each is checked for its type too.
    """
    if not isinstance(address, str) or not address.strip():
        raise DomainError("A sender's address is a non-empty string.", code="invalid_sender")
    compact = compact_address(address)
    read = kind_of(compact)
    if read is None:
        raise DomainError(
            f"{address!r} is not a sender: use a phone number in E.164 form (like "
            "+14155552671), a short code, an alphanumeric ID of at most 11 letters and digits, "
            "or a Powerpack's UUID.",
            code="invalid_sender",
        )
    declared = _declared_kind(kind, read, compact)
    regions = _countries(countries)
    if declared is SenderKind.ALPHANUMERIC and (refused := regions & ALPHANUMERIC_REFUSED):
        raise SenderNotAllowed(
            f"Carriers in {', '.join(sorted(refused))} refuse alphanumeric sender IDs; "
            f"{compact!r} cannot send there."
        )
    rate = _rate(mps, declared)
    home = None
    if declared in (SenderKind.LONG_CODE, SenderKind.TOLL_FREE):
        try:
            home = parse_phone_number("+" + compact.removeprefix("+")).region
        except InvalidPhoneNumber:
            home = None
        compact = "+" + compact.removeprefix("+")
    return Sender(
        id=id,
        address=compact,
        kind=declared,
        mps=rate,
        countries=regions,
        pools=pool_names(pools),
        home=home,
        created_at=created_at,
    )


def pool_names(pools: object) -> tuple[str, ...]:
    """Pool names, checked and deduplicated in order; a sender may be in none."""
    if not isinstance(pools, list | tuple):
        raise DomainError("'pools' is a list of pool names.", code="invalid_field_type")
    names: list[str] = []
    for name in pools:
        if not isinstance(name, str) or not POOL_PATTERN.match(name):
            raise DomainError(
                f"{name!r} is not a pool name: 1 to 64 lower-case letters, digits, '-' and "
                "'_', starting with a letter or digit.",
                code="invalid_pool",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def _declared_kind(kind: object, read: SenderKind, address: str) -> SenderKind:
    if kind is None:
        return read
    try:
        declared = SenderKind(str(kind)) if isinstance(kind, str) else None
        if declared is None:
            raise ValueError(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in SenderKind)
        raise DomainError(
            f"{kind!r} is not a kind of sender; use one of {kinds}.", code="invalid_sender_kind"
        ) from None
    numbers = {SenderKind.LONG_CODE, SenderKind.TOLL_FREE}
    if declared is read or (declared in numbers and read in numbers):
        return declared
    raise DomainError(
        f"{address!r} reads as a {read.value}, not a {declared.value}.",
        code="invalid_sender_kind",
    )


def _countries(countries: object) -> frozenset[str]:
    if not isinstance(countries, list | tuple | set | frozenset):
        raise DomainError("'countries' is a list of country codes.", code="invalid_field_type")
    regions: set[str] = set()
    for code in countries:
        if not isinstance(code, str) or not is_known_region(code.strip().upper()):
            raise DomainError(
                f"{code!r} is not an ISO 3166 country code libphonenumber knows.",
                code="invalid_country",
            )
        regions.add(code.strip().upper())
    return frozenset(regions)


def _rate(mps: object, kind: SenderKind) -> float:
    if mps is None:
        default = DEFAULT_MPS.get(kind)
        if default is None:
            raise DomainError(
                "A Powerpack's rate ('mps') is the sum of its numbers' rates; declare it.",
                code="mps_required",
            )
        return default
    if isinstance(mps, bool) or not isinstance(mps, int | float) or not 0 < mps <= MAX_MPS:
        raise DomainError(
            f"'mps' is a number of messages a second above 0 and at most {MAX_MPS:,.0f}.",
            code="invalid_mps",
        )
    return float(mps)


def prefer(
    senders: Sequence[Sender], region: str | None, sticky: str | None = None
) -> list[Sender]:
    """The senders of a pool worth choosing between for a recipient in ``region``.

    Those that may send there; of them the local ones if there are any; of those the sender
    the recipient had last time (``sticky``, a sender id) alone, if it is still among them.
    A sticky sender that left the pool, or is not local where a local one exists, is dropped:
    its recipients move. Empty when no sender may send there.
    """
    eligible = [sender for sender in senders if sender.may_send_to(region)]
    local = [sender for sender in eligible if sender.is_local_to(region)]
    preferred = local or eligible
    for sender in preferred:
        if sender.id == sticky:
            return [sender]
    return preferred


@dataclass(frozen=True, slots=True)
class SenderRegistry:
    """Every registered sender, looked up by id, by address and by pool."""

    senders: tuple[Sender, ...] = ()
    _by_key: dict[str, Sender] = field(default_factory=dict, init=False, repr=False)
    _pools: dict[str, list[Sender]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for sender in self.senders:
            self._by_key[sender.id] = sender
            self._by_key[sender.address] = sender
            for pool in sender.pools:
                self._pools.setdefault(pool, []).append(sender)

    def find(self, key: str) -> Sender | None:
        """The sender with this id or address (as written, compact, or with its "+")."""
        compact = compact_address(key)
        for candidate in (key, compact, "+" + compact.removeprefix("+")):
            if (sender := self._by_key.get(candidate)) is not None:
                return sender
        return None

    def pool(self, name: str) -> list[Sender]:
        """The pool's senders, oldest first; empty for a pool nobody is in."""
        return list(self._pools.get(name, ()))

    def pools(self) -> dict[str, list[Sender]]:
        return {name: list(senders) for name, senders in sorted(self._pools.items())}
