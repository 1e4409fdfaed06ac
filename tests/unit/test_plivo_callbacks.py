"""Plivo's callback reader: its forms become provider-neutral reports, its answers Plivo XML."""

from __future__ import annotations

from decimal import Decimal

from smsgate.domain.message import MessageStatus
from smsgate.providers.base import CallbackReader, Intent, Reply
from smsgate.providers.plivo.callbacks import NO_REPLY, PlivoCallbackReader
from smsgate.providers.plivo.signature import signature_headers

TOKEN = "reader-auth-token"
PUBLIC = "https://sms.example.com"
PATH = "/api/v1/webhooks/plivo/status"
READER: CallbackReader = PlivoCallbackReader(TOKEN, PUBLIC)


def test_a_status_callback_becomes_a_delivery_report_with_the_errors_meaning() -> None:
    fields = {
        "MessageUUID": " uuid-1 ",
        "Status": "Undelivered",
        "To": "14155552671",
        "Units": "2",
        "TotalAmount": "0.0065",
        "ErrorCode": "30",
        "MCC": "3\x0010",
    }
    report = READER.delivery_report(fields)
    assert (report.message_uuid, report.status, report.status_word) == (
        "uuid-1",
        MessageStatus.UNDELIVERED,
        "Undelivered",
    )
    assert (report.to, report.units, report.amount) == ("14155552671", 2, Decimal("0.00650"))
    assert report.error_code == "30"
    assert report.error_reason is not None
    assert report.error_reason.startswith("Spam detected")
    assert report.fields["MCC"] == "3\ufffd10"  # storable, like every string of a report


def test_a_status_plivo_does_not_send_for_sms_and_a_success_code_are_no_news() -> None:
    report = READER.delivery_report({"MessageUUID": "u", "Status": "read", "ErrorCode": "000"})
    assert (report.status, report.error_code, report.error_reason) == (None, None, None)
    assert READER.delivery_report({}).message_uuid == ""


def test_an_inbound_post_becomes_an_inbound_report_with_plivos_intent() -> None:
    fields = {
        "From": "14155552671",
        "To": "72345",
        "Text": "please no more",
        "MessageUUID": "in-1",
        "Units": "1",
        "MessageIntent": " OptOut ",
    }
    report = READER.inbound_report(fields)
    assert (report.sender_number, report.recipient_number) == ("+14155552671", None)
    assert (report.sender, report.recipient, report.text) == (
        "14155552671",
        "72345",
        fields["Text"],
    )
    assert (report.message_uuid, report.units) == ("in-1", 1)
    assert (report.intent, report.intent_word) == (Intent.OPT_OUT, "optout")
    assert report.fields == fields


def test_an_unknown_intent_is_no_intent_but_its_word_is_kept() -> None:
    report = READER.inbound_report({"MessageIntent": "something-new"})
    assert (report.intent, report.intent_word, report.message_uuid) == (None, "something-new", "")


def test_the_answer_is_message_xml_or_an_empty_response() -> None:
    assert READER.reply_document(None).body == NO_REPLY
    document = READER.reply_document(Reply(src="14155550199", dst="14155552671", text="a & b"))
    assert document.media_type == "application/xml"
    assert document.body.endswith(
        '<Message src="14155550199" dst="14155552671">a &amp; b</Message></Response>'
    )


def test_a_request_signed_with_the_token_over_the_public_url_is_plivos() -> None:
    form = {"MessageUUID": "uuid-1", "Status": "delivered"}
    headers = signature_headers("POST", PUBLIC + PATH, TOKEN, form)
    as_lists = {name: [value] for name, value in form.items()}
    assert READER.verify("POST", PATH, "", headers, as_lists)
    other_token = PlivoCallbackReader("another-token", PUBLIC)
    assert not other_token.verify("POST", PATH, "", headers, as_lists)
    other_host = PlivoCallbackReader(TOKEN, "https://elsewhere.example.com")
    assert not other_host.verify("POST", PATH, "", headers, as_lists)
    assert not READER.verify("POST", PATH, "", {}, as_lists)
