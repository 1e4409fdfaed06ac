"""Everything smsgate knows about Plivo: the Message API adapter, its error codes, its request
signatures, and the checks on its settings. Nothing outside this package (but the composition
root and the emulator, which signs as Plivo does) imports it."""
