"""Queued sending over a message broker (Dramatiq on Redis or RabbitMQ), for many processes.

The database stays the source of truth: a broker message only says "work on message N now".
Losing one delays a message until the sweeper re-submits it; delivering one twice sends
nothing twice, because the worker's claim on the row admits one dispatcher.
"""
