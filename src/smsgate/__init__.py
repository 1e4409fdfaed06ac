"""smsgate: a self-hostable SMS service that sends text messages through Plivo."""

__version__ = "0.1.0"
