"""Counters behind the abuse limits: in this process's memory, or shared in Redis."""
