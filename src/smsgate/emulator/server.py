"""Ways to run the emulator: ``run_emulator`` in the foreground, ``EmulatorServer`` in a thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Self, TypeVar

from aiohttp import web

from smsgate.emulator.app import create_emulator_app
from smsgate.emulator.callbacks import CallbackDispatcher
from smsgate.emulator.faults import Faults
from smsgate.emulator.keys import CALLBACKS
from smsgate.emulator.numbers import clean_number
from smsgate.emulator.records import CallbackAttempt, RequestRecord
from smsgate.emulator.state import (
    DEFAULT_AUTH_ID,
    DEFAULT_AUTH_TOKEN,
    EmulatorState,
    check_final_status,
)

T = TypeVar("T")

_BACKLOG = 1024  # the benchmark opens many connections at once; 128 would refuse some


def run_emulator(
    host: str,
    port: int,
    *,
    auth_id: str = DEFAULT_AUTH_ID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    latency_ms: float = 0,
    failure_rate: float = 0.0,
    seed: int | None = None,
    callback_delay_s: float = 0.05,
    allow_remote_callbacks: bool = False,
) -> None:
    """Serve the emulator until interrupted (Ctrl-C or SIGTERM), on uvloop when available.

    ``latency_ms`` and ``failure_rate`` set the initial faults (failures answer 500).
    """
    state = EmulatorState(
        auth_id,
        auth_token,
        seed=seed,
        callback_delay_s=callback_delay_s,
        allow_remote_callbacks=allow_remote_callbacks,
    )
    state.set_faults(Faults(latency_ms=latency_ms, failure_rate=failure_rate))
    with (
        asyncio.Runner(loop_factory=_fast_loop_factory()) as runner,
        contextlib.suppress(KeyboardInterrupt),
    ):
        runner.run(_serve_forever(state, host, port))


async def _serve_forever(state: EmulatorState, host: str, port: int) -> None:
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runner, bound_port = await _start(state, host, port, shutdown_timeout=5.0)
    try:
        print(
            f"Plivo emulator listening on {_url(host, bound_port)}"
            f" (auth id {state.auth_id}, token not shown)",
            flush=True,
        )
        await stop.wait()
    finally:
        await runner.cleanup()


async def _start(
    state: EmulatorState, host: str, port: int, *, shutdown_timeout: float
) -> tuple[web.AppRunner, int]:
    # Access logging is off: at benchmark rates it would cost more than the emulation.
    runner = web.AppRunner(
        create_emulator_app(state), access_log=None, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    sock = None
    try:
        # Binding the socket ourselves tells us the port, even when port 0 picked a free one.
        sock = socket.create_server((host, port), backlog=_BACKLOG)
        await web.SockSite(runner, sock, backlog=_BACKLOG).start()
    except BaseException:
        if sock is not None:
            sock.close()
        await runner.cleanup()
        raise
    return runner, sock.getsockname()[1]


def _fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # optional: uvloop does not exist on Windows
    except ImportError:
        return None
    return uvloop.new_event_loop


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class EmulatorServer:
    """The emulator on ``127.0.0.1`` and a free port, served from a background thread.

    Use it as a context manager. The state belongs to the server's event loop, so change
    or read it through the methods here (they run on that loop and wait for the result)
    or through the control API at ``base_url + "/_emulator/..."``.
    """

    def __init__(self, state: EmulatorState | None = None, *, host: str = "127.0.0.1") -> None:
        self.state = state if state is not None else EmulatorState()
        self.host = host
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Where the emulator listens, e.g. ``http://127.0.0.1:54321``."""
        return _url(self.host, self.port)

    @property
    def plivo_base_uri(self) -> str:
        """The value for ``plivo.rest.client.PLIVO_API_BASE_URI`` to aim the SDK here."""
        return self.base_url + "/v1/Account"

    @property
    def auth_id(self) -> str:
        return self.state.auth_id

    @property
    def auth_token(self) -> str:
        return self.state.auth_token

    def start(self) -> Self:
        """Start serving; returns once the port is open."""
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(started),), name="plivo-emulator", daemon=True
        )
        self._thread.start()
        started.result(timeout=10)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread; callbacks in flight are cancelled."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def set_faults(self, **fields: object) -> Faults:
        """Replace the faults, e.g. ``set_faults(status=503, times=2)``; returns them."""
        faults = Faults.from_json(fields)
        self.call(lambda: self.state.set_faults(faults))
        return faults

    def reset(self) -> None:
        """Forget requests, messages, outcomes and callbacks; clear the faults."""
        self.call(self.state.reset)

    def requests(self, limit: int | None = None) -> list[RequestRecord]:
        """Recorded Plivo API requests, oldest first; ``limit`` keeps the newest ones."""
        recorded = self.call(lambda: list(self.state.requests))
        return recorded[-limit:] if limit else recorded

    def set_outcome(self, dst: str, status: str, error_code: str = "") -> None:
        """Script how messages to ``dst`` end, e.g. ``set_outcome(dst, "failed", "50")``."""
        final, digits = check_final_status(status), clean_number(dst)

        def script() -> None:
            self.state.outcomes[digits] = (final, error_code)

        self.call(script)

    def callback_attempts(self) -> list[CallbackAttempt]:
        return self.call(lambda: list(self.state.callback_attempts))

    def stats(self) -> dict[str, int]:
        return self.call(self.state.stats)

    def wait_for_callbacks(self, timeout: float = 10) -> None:
        """Block until every callback scheduled so far is delivered or given up.

        Raises TimeoutError if some are still in flight after ``timeout`` seconds.
        """

        async def drain() -> None:
            async with asyncio.timeout(timeout):
                await self._callbacks().drain()

        self._await(drain(), timeout + 1)

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the emulator's loop and return its result."""

        async def on_loop() -> T:
            return function()

        return self._await(on_loop(), 10)

    def _await(self, coroutine: Coroutine[None, None, T], timeout: float) -> T:
        if self._loop is None or self._runner is None:
            coroutine.close()
            raise RuntimeError("the emulator is not running; call start() first")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _callbacks(self) -> CallbackDispatcher:
        assert self._runner is not None  # checked by _await before this runs
        return self._runner.app[CALLBACKS]

    async def _serve(self, started: concurrent.futures.Future[None]) -> None:
        try:
            self._stop = asyncio.Event()
            runner, self.port = await _start(self.state, self.host, 0, shutdown_timeout=1.0)
        except Exception as exc:  # e.g. the port is taken: the caller of start() gets it
            started.set_exception(exc)
            return
        self._runner, self._loop = runner, asyncio.get_running_loop()
        started.set_result(None)
        try:
            await self._stop.wait()
        finally:
            self._runner = self._loop = None
            await runner.cleanup()
