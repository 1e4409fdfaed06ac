"""Prometheus metrics: what an operator watches to know smsgate is sending, and how fast.

Each runtime has a registry of its own (tests run many apps in one process). The counters
and the latency histogram are kept as things happen; the gauges that describe the database
(messages by status, queue depth, the oldest due message's age) are read when scraped.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Plivo answers in about 50-500 ms; the buckets reach the default 10 s deadline.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.provider_calls = Histogram(
            "smsgate_provider_call_seconds",
            "Time of each hand-off to the provider, by outcome (accepted, rejected, ...).",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.provider_errors = Counter(
            "smsgate_provider_errors_total",
            "Hand-offs the provider did not accept, by kind.",
            ["outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            "smsgate_retries_total",
            "Queued hand-offs that sent nothing and were scheduled again.",
            registry=self.registry,
        )
        self.throttled = Counter(
            "smsgate_pacing_throttled_total",
            "Queued hand-offs that waited for their sender's pacing slot.",
            registry=self.registry,
        )
        self.messages = Gauge(
            "smsgate_messages",
            "Stored messages by status.",
            ["status"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "smsgate_queue_due_messages",
            "Queued messages due now and not yet handed over.",
            registry=self.registry,
        )
        self.status_reports = Counter(
            "smsgate_status_reports_total",
            "Delivery reports (Plivo's status callbacks) that moved a message, by the status "
            "they moved it to.",
            ["status"],
            registry=self.registry,
        )
        self.spend_today = Gauge(
            "smsgate_estimated_spend_today",
            "Estimated cost of the messages stored since 00:00 UTC (test keys' left out), in "
            "the price table's currency: what SMSGATE_DAILY_SPEND_LIMIT counts.",
            registry=self.registry,
        )
        self.spend_limit = Gauge(
            "smsgate_daily_spend_limit",
            "SMSGATE_DAILY_SPEND_LIMIT (0 when unset).",
            registry=self.registry,
        )
        self.price_table = Gauge(
            "smsgate_price_table_info",
            "The price table in use, by its currency: the currency of the spend gauges and "
            "of every amount smsgate shows. Always 1; absent without a price table.",
            ["currency"],
            registry=self.registry,
        )
        self.oldest_due_age = Gauge(
            "smsgate_queue_oldest_due_age_seconds",
            "How long the longest-waiting due message has waited (0 when none waits).",
            registry=self.registry,
        )

    def provider_call(self, outcome: str, seconds: float) -> None:
        self.provider_calls.labels(outcome).observe(seconds)
        if outcome != "accepted":
            self.provider_errors.labels(outcome).inc()
