"""Queued sending: who runs the dispatcher for queued messages, and when.

The in-process engine runs inside ``serve`` (and ``send-bulk --wait``); the broker engine
announces messages to Dramatiq, whose workers dispatch them. The database stays the source of
truth either way.
"""
