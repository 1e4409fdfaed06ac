"""What FastAPI routes off the hot path depend on, declared in their signatures.

A route takes ``services: ServicesDep`` (and reads ``services.settings`` for a setting) rather
than reaching into the app's state. The dependencies are ``async def`` on purpose: FastAPI
runs a plain ``def`` dependency in a worker thread, which costs more than a whole send
(measured: docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from smsgate.bootstrap import Runtime, Services


def runtime_of(request: Request) -> Runtime:
    """The running smsgate, for the ASGI layers and the console's helpers (the app's
    lifespan opened it)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def services_of(request: Request) -> Services:
    return runtime_of(request).services


ServicesDep = Annotated[Services, Depends(services_of)]
