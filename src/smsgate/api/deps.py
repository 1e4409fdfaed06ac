"""Dependencies for FastAPI routes off the hot path.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread,
which costs more than a whole send (measured: docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from smsgate.bootstrap import Runtime
from smsgate.config import Settings


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def runtime_of(request: Request) -> Runtime:
    """The running smsgate's services, for a route (the app's lifespan opened them)."""
    runtime: Runtime = request.app.state.runtime
    return runtime
