"""Dependencies shared by routes: the provider, the settings, and the API-key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from smsgate.api.errors import ApiError
from smsgate.config import Settings
from smsgate.providers.base import SmsProvider


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_provider(request: Request) -> SmsProvider:
    provider: SmsProvider = request.app.state.provider
    return provider


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ProviderDep = Annotated[SmsProvider, Depends(get_provider)]


def require_api_key(request: Request, settings: SettingsDep) -> None:
    """With SMSGATE_API_KEYS set, every /api route needs ``Authorization: Bearer <key>``."""
    if not settings.api_keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise _unauthorized("A valid API key is required: send 'Authorization: Bearer <key>'.")
    if not _matches_any(presented.strip().encode(), settings):
        raise _unauthorized("The API key is not valid.")


def _matches_any(presented: bytes, settings: Settings) -> bool:
    # Compare against every key, always, so the time taken says nothing about which one matched.
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(presented, key.get_secret_value().encode())
    return matched


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})
