"""The one error the database layer raises to its callers."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The database could not be reached or refused the work; the API answers 503.

    Its message names only the kind of failure: a connection error's own text can hold the
    database URL, password included.
    """
