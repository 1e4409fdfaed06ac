"""The emulator as an aiohttp application: Plivo's Message API plus the control API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from smsgate.emulator import api, control
from smsgate.emulator.callbacks import CallbackDispatcher
from smsgate.emulator.keys import CALLBACKS, STATE
from smsgate.emulator.responses import plivo_error
from smsgate.emulator.state import EmulatorState

_ACCOUNT = "/v1/Account/{auth_id}/"


def create_emulator_app(state: EmulatorState) -> web.Application:
    """An application serving ``state``; run it with any aiohttp runner."""
    app = web.Application(middlewares=[_plivo_shaped_routing_errors])
    app[STATE] = state
    app.cleanup_ctx.append(_callback_dispatcher)
    app.router.add_post(_ACCOUNT + "Message/", api.send_message)
    app.router.add_get(_ACCOUNT + "Message/", api.list_messages)
    app.router.add_get(_ACCOUNT + "Message/{message_uuid}/", api.get_message)
    app.router.add_get(_ACCOUNT, api.get_account)
    app.router.add_get(_ACCOUNT + "Pricing/", api.get_pricing)
    app.router.add_routes(control.routes)
    return app


async def _callback_dispatcher(app: web.Application) -> AsyncIterator[None]:
    # One session for every callback, opened with the app and closed after its last task.
    async with aiohttp.ClientSession() as session:
        dispatcher = CallbackDispatcher(app[STATE], session)
        app[CALLBACKS] = dispatcher
        yield
        await dispatcher.close()


@web.middleware
async def _plivo_shaped_routing_errors(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    # Plivo answers every error with JSON; aiohttp's router would answer 404/405 in text.
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return plivo_error(404, "not found")
    except web.HTTPMethodNotAllowed as exc:
        return plivo_error(405, "method not allowed", {"Allow": ", ".join(exc.allowed_methods)})
