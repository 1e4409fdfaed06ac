"""smsgate: a self-hostable SMS service that sends text messages through Plivo.

``smsgate.Client`` and ``smsgate.AsyncClient`` are its Python client (``smsgate.client``).
They are loaded on first use, so importing ``smsgate`` stays light: the server's modules
import ``__version__`` from here, and the client does not import the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from smsgate.client import AsyncClient, Client, SmsgateError

__all__ = ["AsyncClient", "Client", "SmsgateError", "__version__"]
_CLIENT_NAMES = frozenset({"AsyncClient", "Client", "SmsgateError"})


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from smsgate import client

        return getattr(client, name)
    raise AttributeError(f"module 'smsgate' has no attribute {name!r}")
