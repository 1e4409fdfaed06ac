"""Inbound SMS: store what people text us, keep the opt-out list, answer HELP.

A message is an opt-out, opt-in or help keyword only when the keyword is the whole message,
spaces and line breaks around it aside, in any case: "STOP" and "  stop\\n" count, "Stop it!"
does not (reference §7). The provider's own reading (``InboundReport.intent``) wins over ours
when given.

The provider posts a message again when our 200 did not reach it. A repeat is stored once; its
opt-out is applied again (harmless, and it covers a crash after storing), but an opt-in is not,
so a retried START can never undo a STOP sent after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from smsgate.db.inbound import InboundSms, InboundStore
from smsgate.db.opt_outs import OptOutSource, OptOutStore
from smsgate.domain.clock import Clock, utc_now
from smsgate.domain.phone import mask_number
from smsgate.logs import get_logger
from smsgate.providers.base import InboundReport, Intent, Reply

__all__ = [
    "InboundResult",
    "Keyword",
    "classify",
    "handle_inbound",
]

log = get_logger("smsgate.inbound")

# The columns' widths: a longer value is cut (the whole post is kept in ``raw``).
_NUMBER_WIDTH = 16
_UUID_WIDTH = 64
_INTENT_WIDTH = 16


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


@dataclass(frozen=True, slots=True)
class InboundResult:
    """What became of one inbound post.

    ``stored`` is False for a repeat of a stored message UUID. ``sender`` is the sender's
    number in E.164 form, None when it is not a phone number. ``reply`` is the text to answer
    with; None means nothing to answer.
    """

    stored: bool
    keyword: Keyword
    sender: str | None
    opt_out_changed: bool
    reply: Reply | None


def classify(text: str | None, intent: Intent | None = None) -> Keyword:
    """What the message asks for: the provider's reading if it gives one, else the text."""
    if intent is not None:
        return Keyword(intent.value)
    words = (text or "").split()
    # Keywords are plain ASCII words; without this, "ſtop" (long s) would upper-case to "STOP".
    phrase = " ".join(words)
    if not phrase.isascii():
        return Keyword.NONE
    return _KEYWORDS.get(phrase.upper(), Keyword.NONE)


async def handle_inbound(
    report: InboundReport,
    inbound_store: InboundStore,
    opt_outs: OptOutStore,
    help_reply: str,
    *,
    clock: Clock = utc_now,
) -> InboundResult:
    """Store one inbound message, apply its keyword to the opt-out list, and say how to answer."""
    sender = report.sender_number
    keyword = classify(report.text, report.intent)
    stored = await inbound_store.add(_inbound_sms(report, clock()))
    changed = await _apply(opt_outs, keyword, sender, report.intent, first_time=stored)
    log.info(
        "inbound_message",
        stored=stored,
        keyword=keyword.value,
        opt_out_changed=changed,
        sender=mask_number(sender or report.sender),
        to=mask_number(report.recipient),
    )
    reply = _help_reply(report, help_reply) if keyword is Keyword.HELP else None
    return InboundResult(stored, keyword, sender, changed, reply)


def _inbound_sms(report: InboundReport, received_at: datetime) -> InboundSms:
    return InboundSms(
        from_number=report.sender_number or report.sender.strip()[:_NUMBER_WIDTH],
        to_number=report.recipient_number or report.recipient.strip()[:_NUMBER_WIDTH],
        text=report.text,
        received_at=received_at,
        provider_message_uuid=report.message_uuid[:_UUID_WIDTH] or None,
        units=report.units,
        intent=report.intent_word[:_INTENT_WIDTH] or None,
        raw=dict(report.fields),
    )


async def _apply(
    opt_outs: OptOutStore,
    keyword: Keyword,
    sender: str | None,
    intent: Intent | None,
    *,
    first_time: bool,
) -> bool:
    """Change the list as ``keyword`` asks; True when it changed."""
    if sender is None:
        return False
    if keyword is Keyword.OPT_OUT:
        by_provider = intent is Intent.OPT_OUT
        source = OptOutSource.PLIVO if by_provider else OptOutSource.KEYWORD
        return await opt_outs.add(sender, source)
    if keyword is Keyword.OPT_IN and first_time:
        return await opt_outs.remove(sender)
    return False


def _help_reply(report: InboundReport, help_reply: str) -> Reply | None:
    ours, theirs = report.recipient.strip(), report.sender.strip()
    if not help_reply or not ours or not theirs:
        return None
    return Reply(src=ours, dst=theirs, text=help_reply)
