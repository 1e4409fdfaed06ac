"""Persistence: the async engine, the tables, their migrations and the message store."""
