"""Inbound keywords: only a whole-message keyword counts; Plivo's intent wins; HELP's XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.providers.plivo.callbacks import help_reply_xml, normalise_number, read_intent
from smsgate.services.inbound import Keyword, classify

K = Keyword

TEXTS = [
    ("STOP", None, K.OPT_OUT),
    ("stop", None, K.OPT_OUT),
    ("  stop \n", None, K.OPT_OUT),
    ("\tStOp\r\n", None, K.OPT_OUT),
    ("STOP ALL", None, K.OPT_OUT),
    ("stop   all", None, K.OPT_OUT),
    ("STOPALL", None, K.OPT_OUT),
    ("Unsubscribe", None, K.OPT_OUT),
    ("cancel", None, K.OPT_OUT),
    ("END", None, K.OPT_OUT),
    ("quit", None, K.OPT_OUT),
    ("REVOKE", None, K.OPT_OUT),
    ("optout", None, K.OPT_OUT),
    ("START", None, K.OPT_IN),
    (" unstop ", None, K.OPT_IN),
    ("yes", None, K.OPT_IN),
    ("HELP", None, K.HELP),
    ("info\n", None, K.HELP),
    ("Stop it!", None, K.NONE),
    ("STOP.", None, K.NONE),
    ("please stop", None, K.NONE),
    ("STOP STOP", None, K.NONE),
    ("stopp", None, K.NONE),
    ("ALL", None, K.NONE),
    ("", None, K.NONE),
    (None, None, K.NONE),
    ("   \n", None, K.NONE),
    ("STOP 🛑", None, K.NONE),
    ("🛑", None, K.NONE),
    ("Grüße, stop", None, K.NONE),
    ("ſtop", None, K.NONE),  # LATIN SMALL LETTER LONG S upper-cases to S; not a keyword
    ("ＳＴＯＰ", None, K.NONE),  # fullwidth letters
    ("STOP\u200b", None, K.NONE),  # a zero-width space is not white space
    ("\u00a0STOP\u00a0", None, K.OPT_OUT),  # a no-break space is
    ("hello", "optout", K.OPT_OUT),
    (None, "optout", K.OPT_OUT),
    ("STOP", "optin", K.OPT_IN),
    ("whatever", " OptIn ", K.OPT_IN),
    ("what is this", "help", K.HELP),
    ("STOP", "", K.OPT_OUT),
    ("STOP", "something-new", K.OPT_OUT),
    ("hello", "something-new", K.NONE),
]


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    TEXTS,
    ids=[f"{text!r}-{intent!r}" for text, intent, _ in TEXTS],
)
def test_a_message_is_a_keyword_only_when_the_keyword_is_all_of_it(
    text: str | None, intent: str | None, expected: Keyword
) -> None:
    assert classify(text, read_intent(intent)) is expected


@given(st.text(), st.one_of(st.none(), st.text()))
def test_any_text_and_intent_classify_without_raising(text: str, intent: str | None) -> None:
    assert classify(text, read_intent(intent)) in set(Keyword)


@given(st.text(min_size=1).filter(lambda t: t.strip() and t.strip().upper() != "STOP"))
def test_stop_with_anything_else_is_not_an_opt_out(extra: str) -> None:
    assert classify("STOP " + extra) is not K.OPT_OUT or extra.strip().upper() == "ALL"


NUMBERS = [
    ("14155552671", "+14155552671"),
    ("+14155552671", "+14155552671"),
    (" 447911123456 ", "+447911123456"),
    ("12345", None),  # a short code
    ("", None),
    (None, None),
    ("01415555267", None),  # no country code starts with 0
    ("1415555267123456", None),  # over 15 digits
    ("+1 415 555 2671", None),
    ("PLIVO", None),
    ("١٤١٥٥٥٥٢٦٧١", None),  # Arabic-Indic digits
]


@pytest.mark.parametrize(("raw", "expected"), NUMBERS, ids=[repr(raw) for raw, _ in NUMBERS])
def test_plivo_numbers_become_e164_with_or_without_their_plus(
    raw: str | None, expected: str | None
) -> None:
    assert normalise_number(raw) == expected


def test_the_help_reply_is_plivo_message_xml_with_the_text_escaped() -> None:
    text = "Tom & Jerry <say> \"hi\" 'there' 👋"
    xml = help_reply_xml(src="14155550199", dst="+14155552671", text=text)
    message = ET.fromstring(xml).find("Message")  # noqa: S314 (our own output)
    assert message is not None
    assert message.attrib == {"src": "14155550199", "dst": "+14155552671"}
    assert message.text == text
    assert "<say>" not in xml


def xml_safe(text: str) -> str:
    return "".join(
        c
        for c in text
        if c in "\t\n\r" or (" " <= c <= "\ufffd" and not "\ud800" <= c <= "\udfff") or c > "\uffff"
    )


@given(st.text(), st.text(), st.text())
def test_any_reply_parses_back_to_what_was_put_in_less_what_xml_cannot_carry(
    src: str, dst: str, text: str
) -> None:
    message = ET.fromstring(help_reply_xml(src, dst, text)).find("Message")  # noqa: S314
    assert message is not None
    got = (message.get("src"), message.get("dst"), message.text or "")
    assert got == (xml_safe(src), xml_safe(dst), xml_safe(text))
