"""Tests of Plivo's SMS error code table (smsgate.providers.plivo.errors)."""

from __future__ import annotations

import pytest

from smsgate.providers.plivo.errors import PlivoErrorCode, describe_error_code, lookup


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        pytest.param("000", "Delivered successfully", id="000 delivered"),
        pytest.param(
            "10", "Invalid message: rejected downstream (blank or too long)", id="10 invalid"
        ),
        pytest.param("20", "Network error: temporary, retry later", id="20 network"),
        pytest.param(
            "30",
            "Spam detected: carrier filtering, or high volume from a long code",
            id="30 spam",
        ),
        pytest.param(
            "40",
            "Invalid source number: bad format, not SMS-enabled, or not on the account",
            id="40 bad source",
        ),
        pytest.param(
            "50",
            "Invalid destination number: bad format, not SMS-capable, or a landline",
            id="50 bad destination",
        ),
        pytest.param("60", "Loop detected", id="60 loop"),
        pytest.param("70", "Destination permanently unavailable", id="70 permanent"),
        pytest.param("80", "Destination temporarily unavailable: retry later", id="80 temporary"),
        pytest.param("90", "No route available", id="90 no route"),
        pytest.param("100", "Prohibited by carrier", id="100 carrier"),
        pytest.param(
            "110", "Message too long: over 1,600 GSM or 737 UCS-2 characters", id="110 too long"
        ),
        pytest.param(
            "200", "Destination opted out (STOP) from this source number", id="200 opted out"
        ),
        pytest.param(
            "201",
            "US toll-free number sending to a Canadian destination: blocked",
            id="201 toll-free to Canada",
        ),
        pytest.param("300", "Failed to dispatch", id="300 dispatch, third-party source"),
        pytest.param("420", "Expired in Plivo's queue (3 hours by default)", id="420 expired"),
        pytest.param("450", "Destination country barred by Geo Permissions", id="450 geo"),
        pytest.param("900", "Insufficient credit", id="900 credit"),
        pytest.param("910", "Account disabled", id="910 disabled, third-party source"),
        pytest.param("1000", "Unknown error", id="1000 unknown error"),
    ],
)
def test_every_known_code_is_described_by_its_meaning(code: str, meaning: str) -> None:
    """describe_error_code gives the meaning, and lookup the entry, for each listed code."""
    assert describe_error_code(code) == meaning
    entry = lookup(code)
    assert entry is not None
    assert (entry.code, entry.meaning) == (code, meaning)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param("000", "000", id="000 as Plivo writes it"),
        pytest.param("0", "000", id="0 is success too"),
        pytest.param("00", "000", id="00 is success too"),
        pytest.param("020", "20", id="leading zero on a code"),
        pytest.param("0030", "30", id="two leading zeros"),
        pytest.param(" 80\n", "80", id="surrounding whitespace"),
        pytest.param("01000", "1000", id="leading zero on four digits"),
    ],
)
def test_codes_are_matched_by_number_not_spelling(raw: str, code: str) -> None:
    """Zero padding and whitespace do not hide a known code."""
    entry = lookup(raw)
    assert entry is not None
    assert entry.code == code


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        pytest.param("42", "Unknown Plivo error code 42", id="unlisted number"),
        pytest.param("0042", "Unknown Plivo error code 42", id="unlisted with zero padding"),
        pytest.param("9999", "Unknown Plivo error code 9999", id="large unlisted number"),
        pytest.param("E30", "Unknown Plivo error code E30", id="not a number"),
        pytest.param("²", "Unknown Plivo error code ²", id="a digit int() refuses"),
    ],
)
def test_unknown_codes_are_described_as_unknown(raw: str, description: str) -> None:
    """A code not in the table is named as unknown and has no entry."""
    assert describe_error_code(raw) == description
    assert lookup(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(None, id="None"),
        pytest.param("", id="empty"),
        pytest.param("  ", id="blank"),
    ],
)
def test_an_absent_code_has_no_description(raw: str | None) -> None:
    """No code, as on a sent or queued message, gives None rather than a sentence."""
    assert describe_error_code(raw) is None
    assert lookup(raw) is None


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        pytest.param("000", False, id="000 success is not a failure to retry"),
        pytest.param("10", False, id="10 invalid message is permanent"),
        pytest.param("20", True, id="20 network error is temporary"),
        pytest.param("30", False, id="30 spam is permanent"),
        pytest.param("40", False, id="40 bad source is permanent"),
        pytest.param("50", False, id="50 bad destination is permanent"),
        pytest.param("60", False, id="60 loop is permanent"),
        pytest.param("70", False, id="70 permanently unavailable is permanent"),
        pytest.param("80", True, id="80 temporarily unavailable is temporary"),
        pytest.param("90", False, id="90 no route is permanent"),
        pytest.param("100", False, id="100 prohibited is permanent"),
        pytest.param("110", False, id="110 too long is permanent"),
        pytest.param("200", False, id="200 opted out is permanent"),
        pytest.param("201", False, id="201 toll-free to Canada is permanent"),
        pytest.param("300", False, id="300 failed to dispatch is not known to be temporary"),
        pytest.param("420", False, id="420 expired is permanent"),
        pytest.param("450", False, id="450 geo barred is permanent"),
        pytest.param("900", False, id="900 insufficient credit needs a person"),
        pytest.param("910", False, id="910 account disabled needs a person"),
        pytest.param("1000", False, id="1000 unknown error is not known to be temporary"),
    ],
)
def test_only_the_temporary_failures_are_retryable(code: str, retryable: bool) -> None:
    """Only 20 and 80, which Plivo calls temporary, are worth another try."""
    entry = lookup(code)
    assert entry is not None
    assert entry.retryable is retryable


def test_an_entry_cannot_be_changed() -> None:
    """Entries are frozen, so no caller can rewrite the shared table."""
    entry = lookup("20")
    assert isinstance(entry, PlivoErrorCode)
    with pytest.raises(AttributeError):
        entry.retryable = False  # type: ignore[misc]
