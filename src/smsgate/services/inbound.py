"""Inbound SMS: store what people text us, keep the opt-out list, answer HELP.

A message is an opt-out, opt-in or help keyword only when the keyword is the whole message,
spaces and line breaks around it aside, in any case: "STOP" and "  stop\\n" count, "Stop it!"
does not (reference §7). Plivo's own reading (``MessageIntent``) wins over ours when given.

Plivo posts a message again when our 200 did not reach it. A repeat is stored once; its
opt-out is applied again (harmless, and it covers a crash after storing), but an opt-in is not,
so a retried START can never undo a STOP sent after it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from xml.sax.saxutils import escape, quoteattr

from smsgate.db.inbound import InboundSms, InboundStore
from smsgate.db.opt_outs import OptOutSource, OptOutStore
from smsgate.db.store import Clock, utc_now
from smsgate.domain.phone import mask_number
from smsgate.logs import get_logger
from smsgate.services.callbacks import parse_units, plain_fields

__all__ = [
    "InboundResult",
    "Keyword",
    "classify",
    "handle_inbound",
    "help_reply_xml",
    "normalise_number",
]

log = get_logger("smsgate.inbound")

# The columns' widths: a longer value is cut (the whole post is kept in ``raw``).
_NUMBER_WIDTH = 16
_UUID_WIDTH = 64
_INTENT_WIDTH = 16

# A number as Plivo posts it: country code and digits, with or without "+" (reference §4).
# At least 7 digits: shorter senders are short codes, which cannot be opted out by number.
_PLIVO_NUMBER = re.compile(r"\+?([1-9][0-9]{6,14})")

# A parser reads a raw carriage return in text as a line feed; escaped, it stays itself.
_CARRIAGE_RETURN = {"\r": "&#13;"}
# What XML 1.0 has no way to write, even escaped: control characters other than tab and line
# breaks, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


# The words, upper case with single spaces. Opt-out: Plivo's current and older lists
# (reference §7) and the brief; opt-in: START, UNSTOP and the older YES.
_KEYWORDS: Mapping[str, Keyword] = MappingProxyType(
    {
        **dict.fromkeys(
            [
                "STOP",
                "STOPALL",
                "STOP ALL",
                "UNSUBSCRIBE",
                "CANCEL",
                "END",
                "QUIT",
                "REVOKE",
                "OPTOUT",
            ],
            Keyword.OPT_OUT,
        ),
        **dict.fromkeys(["START", "UNSTOP", "YES"], Keyword.OPT_IN),
        **dict.fromkeys(["HELP", "INFO"], Keyword.HELP),
    }
)

# Plivo's MessageIntent values (long codes and toll-free numbers only).
_INTENTS: Mapping[str, Keyword] = MappingProxyType(
    {"optout": Keyword.OPT_OUT, "optin": Keyword.OPT_IN, "help": Keyword.HELP}
)


@dataclass(frozen=True, slots=True)
class InboundResult:
    """What became of one inbound post.

    ``stored`` is False for a repeat of a stored ``MessageUUID``. ``sender`` is the From
    number in E.164 form, None when it is not a phone number. ``reply_xml`` is the body to
    answer with (``application/xml``); None means an empty 200.
    """

    stored: bool
    keyword: Keyword
    sender: str | None
    opt_out_changed: bool
    reply_xml: str | None


def classify(text: str | None, intent: str | None = None) -> Keyword:
    """What the message asks for: Plivo's ``MessageIntent`` if it says, else the text."""
    by_intent = _INTENTS.get((intent or "").strip().lower())
    if by_intent is not None:
        return by_intent
    words = (text or "").split()
    # Keywords are plain ASCII words; without this, "ſtop" (long s) would upper-case to "STOP".
    phrase = " ".join(words)
    if not phrase.isascii():
        return Keyword.NONE
    return _KEYWORDS.get(phrase.upper(), Keyword.NONE)


def normalise_number(raw: str | None) -> str | None:
    """A number Plivo posted, in E.164 form; None when it is no phone number (a short code)."""
    match = _PLIVO_NUMBER.fullmatch((raw or "").strip())
    return "+" + match.group(1) if match else None


def help_reply_xml(src: str, dst: str, text: str) -> str:
    """Plivo Message XML that texts ``text`` from ``src`` to ``dst``.

    Characters XML cannot carry at all (most control characters) are dropped; a carriage
    return is escaped, or the parser would read it as a line feed.
    """
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message src={quoteattr(_xml_chars(src))} dst={quoteattr(_xml_chars(dst))}>"
        f"{escape(_xml_chars(text), _CARRIAGE_RETURN)}</Message></Response>"
    )


def _xml_chars(text: str) -> str:
    return _NOT_XML.sub("", text)


async def handle_inbound(
    fields: Mapping[str, str],
    inbound_store: InboundStore,
    opt_outs: OptOutStore,
    help_reply: str,
    *,
    clock: Clock = utc_now,
) -> InboundResult:
    """Store one inbound post, apply its keyword to the opt-out list, and say how to answer."""
    raw = plain_fields(fields)
    sender = normalise_number(raw.get("From"))
    intent = (raw.get("MessageIntent") or "").strip().lower()
    keyword = classify(raw.get("Text"), intent)
    stored = await inbound_store.add(_inbound_sms(raw, sender, intent, clock()))
    changed = await _apply(opt_outs, keyword, sender, intent, first_time=stored)
    log.info(
        "inbound_message",
        stored=stored,
        keyword=keyword.value,
        opt_out_changed=changed,
        sender=mask_number(sender or raw.get("From", "")),
        to=mask_number(raw.get("To", "")),
    )
    reply = _help_reply(raw, help_reply) if keyword is Keyword.HELP else None
    return InboundResult(stored, keyword, sender, changed, reply)


def _inbound_sms(
    raw: Mapping[str, str], sender: str | None, intent: str, received_at: datetime
) -> InboundSms:
    recipient = normalise_number(raw.get("To"))
    return InboundSms(
        from_number=sender or raw.get("From", "").strip()[:_NUMBER_WIDTH],
        to_number=recipient or raw.get("To", "").strip()[:_NUMBER_WIDTH],
        text=raw.get("Text"),
        received_at=received_at,
        provider_message_uuid=raw.get("MessageUUID", "").strip()[:_UUID_WIDTH] or None,
        units=parse_units(raw.get("Units")),
        intent=intent[:_INTENT_WIDTH] or None,
        raw=dict(raw),
    )


async def _apply(
    opt_outs: OptOutStore, keyword: Keyword, sender: str | None, intent: str, *, first_time: bool
) -> bool:
    """Change the list as ``keyword`` asks; True when it changed."""
    if sender is None:
        return False
    if keyword is Keyword.OPT_OUT:
        by_plivo = intent == "optout"
        return await opt_outs.add(sender, OptOutSource.PLIVO if by_plivo else OptOutSource.KEYWORD)
    if keyword is Keyword.OPT_IN and first_time:
        return await opt_outs.remove(sender)
    return False


def _help_reply(raw: Mapping[str, str], help_reply: str) -> str | None:
    ours, theirs = raw.get("To", "").strip(), raw.get("From", "").strip()
    if not help_reply or not ours or not theirs:
        return None
    return help_reply_xml(src=ours, dst=theirs, text=help_reply)
