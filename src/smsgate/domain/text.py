"""What a message's text may hold, checked before anything is stored or sent.

Control characters have no place in an SMS: no handset shows them, some carriers drop the
message, and in smsgate's logs, CSV exports and console they could forge lines or cells.
Newlines and tabs are text; so is the carriage return of a Windows line ending (CR LF).
Every other character of Unicode's "Cc" category (C0, DEL, C1) is refused, naming it.
"""

from __future__ import annotations

import re

from smsgate.domain.encoding import TextInfo, check_length
from smsgate.domain.errors import InvalidCharacters

__all__ = ["check_text"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


def check_text(text: str) -> TextInfo:
    """Raise InvalidCharacters or MessageTooLong unless ``text`` can be sent as it is."""
    found = _CONTROL.search(text)
    if found is not None:
        char = found.group()[0]
        raise InvalidCharacters(
            f"The text holds the control character U+{ord(char):04X} at position "
            f"{found.start() + 1}; only newlines and tabs are allowed among control characters."
        )
    return check_length(text)
