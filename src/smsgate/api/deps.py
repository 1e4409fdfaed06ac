"""Dependencies for FastAPI routes off the hot path.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread,
which costs more than a whole send (measured: docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from smsgate.config import Settings


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
