"""Typed keys for what the emulator keeps on its aiohttp application."""

from __future__ import annotations

from aiohttp import web

from smsgate.emulator.callbacks import CallbackDispatcher
from smsgate.emulator.state import EmulatorState

STATE = web.AppKey("state", EmulatorState)
CALLBACKS = web.AppKey("callbacks", CallbackDispatcher)
