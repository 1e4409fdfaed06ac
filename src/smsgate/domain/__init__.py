"""The pure core: phone numbers, text encoding and the rules of a message. No I/O here."""
