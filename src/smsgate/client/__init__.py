"""A Python client for smsgate's API: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

::

    from smsgate import Client

    with Client("http://127.0.0.1:8000", "sg_live_...") as sms:
        message = sms.send("+14155552671", "Your code is 123456")
        print(message.id, message.status)

Both share everything but their I/O: the requests (``_operations``), the retries and the
deadline (``retry``, ``_core``), the answers (``models``) and the errors (``errors``). The
client needs only httpx; importing it does not import the server.
"""

from smsgate.client.async_ import AsyncClient
from smsgate.client.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidResponse,
    NotFound,
    PayloadTooLarge,
    PaymentRequired,
    RateLimited,
    ServerError,
    SmsgateError,
    TransportError,
    Unauthorized,
    Unprocessable,
)
from smsgate.client.models import (
    Batch,
    BatchAccepted,
    BatchMessage,
    Event,
    Message,
    MessageError,
    MessagePage,
    RowError,
)
from smsgate.client.retry import RetryPolicy
from smsgate.client.sync import Client

__all__ = [
    "AsyncClient",
    "BadRequest",
    "Batch",
    "BatchAccepted",
    "BatchMessage",
    "Client",
    "Conflict",
    "Event",
    "Forbidden",
    "InvalidResponse",
    "Message",
    "MessageError",
    "MessagePage",
    "NotFound",
    "PayloadTooLarge",
    "PaymentRequired",
    "RateLimited",
    "RetryPolicy",
    "RowError",
    "ServerError",
    "SmsgateError",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
]
