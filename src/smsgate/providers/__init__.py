"""Adapters that hand messages to an SMS provider: Plivo, or the sandbox that sends nothing."""
