"""The wiring's small decisions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest

from smsgate.bootstrap import (
    STATUS_CALLBACK_PATH,
    JobTimes,
    Runtime,
    Services,
    build_services,
    own_address,
)
from smsgate.config import Settings
from smsgate.db.errors import StoreUnavailable
from smsgate.db.rows import NewMessage
from smsgate.domain.access import OPEN, Principal
from smsgate.engines import Job
from smsgate.engines.broker import BrokerEngine, Sweep
from smsgate.engines.inprocess import InProcessEngine
from smsgate.providers.sandbox import SandboxProvider
from tests.conftest import SettingsFactory
from tests.support.fakes import RecordingProvider


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
        ("sms.internal", "http://sms.internal:8000"),
    ],
)
def test_the_server_reaches_itself_at_a_usable_address(host: str, address: str) -> None:
    assert own_address(host, 8000) == address


# What the runtime is built from decides where messages go and who dispatches them.
PLIVO = {
    "plivo_auth_id": "MAXXXXXXXXXXXXXXXXXX",
    "plivo_auth_token": "a-plivo-token",
    "plivo_sender_id": "+14155550100",
    "plivo_api_url": "http://127.0.0.1:9/",
}
REDIS_BROKER = "redis://127.0.0.1:9/0"  # never contacted: building connects to nothing


@asynccontextmanager
async def built(settings: Settings, *, worker: Sweep | None = None) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:
        yield build_services(settings, stack, worker=worker)


def job_names(jobs: list[Job]) -> list[str]:
    """The jobs' coroutine names, closing them (they were built, not run)."""
    names = [job.cr_code.co_qualname for job in jobs]  # type: ignore[attr-defined]
    for job in jobs:
        job.close()
    return names


@pytest.mark.anyio
async def test_with_the_sandbox_configured_live_and_test_keys_share_one_outlet(
    make_settings: SettingsFactory,
) -> None:
    async with built(make_settings()) as services:
        outlets = services.outlets
        assert outlets.live is outlets.test
        assert isinstance(outlets.live.provider, SandboxProvider)
        # The sandbox reports to this server itself, public URL or not.
        assert outlets.live.status_url == f"http://127.0.0.1:8000{STATUS_CALLBACK_PATH}"


@pytest.mark.anyio
async def test_with_plivo_configured_a_test_keys_messages_go_to_the_sandbox(
    make_settings: SettingsFactory,
) -> None:
    async with built(make_settings(**PLIVO)) as services:
        outlets = services.outlets
        assert outlets.live.provider.name == "plivo"
        assert isinstance(outlets.test.provider, SandboxProvider)
        assert (
            outlets.for_caller(Principal(id="k", name="test key", scopes=frozenset(), test=True))
            is outlets.test
        )
        assert outlets.for_caller(OPEN) is outlets.live
        # Plivo is asked for reports only at a public address; the sandbox always reports.
        assert outlets.live.status_url is None
        assert outlets.test.status_url == f"http://127.0.0.1:8000{STATUS_CALLBACK_PATH}"
        # Test messages are paced apart from live ones of the same sender.
        assert outlets.pace_key(outlets.test, "+1") == "test:+1"
        assert outlets.pace_key(outlets.live, "+1") == "+1"


@pytest.mark.anyio
async def test_plivo_reports_to_the_public_url_when_there_is_one(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(**PLIVO, public_url="https://sms.example.com")
    async with built(settings) as services:
        live = services.outlets.live
        assert live.status_url == f"https://sms.example.com{STATUS_CALLBACK_PATH}"


@pytest.mark.anyio
async def test_without_a_broker_serve_dispatches_in_process_and_runs_every_job(
    make_settings: SettingsFactory,
) -> None:
    runtime = Runtime(make_settings())
    services = await runtime.open()
    try:
        assert isinstance(services.engine, InProcessEngine)
        jobs = runtime.background_jobs(serving=True, times=JobTimes.of(services.settings))
        assert job_names(jobs) == [
            "Idempotency.purge_forever",
            "Reconciler.run_forever",
            "WebhookDeliverer.run_forever",
            "Retention.run_forever",
            "InProcessEngine.run",
        ]
    finally:
        await runtime.close()


@pytest.mark.anyio
async def test_with_a_broker_serve_only_announces_and_leaves_the_jobs_to_workers(
    make_settings: SettingsFactory,
) -> None:
    runtime = Runtime(make_settings(broker_url=REDIS_BROKER))
    services = await runtime.open()
    try:
        assert isinstance(services.engine, BrokerEngine)
        assert not services.engine.dispatches_here
        jobs = runtime.background_jobs(serving=True, times=JobTimes.of(services.settings))
        assert job_names(jobs) == ["Idempotency.purge_forever"]
    finally:
        await runtime.close()


@pytest.mark.anyio
async def test_a_worker_dispatches_sweeps_and_holds_its_leases(
    make_settings: SettingsFactory,
) -> None:
    runtime = Runtime(make_settings(broker_url=REDIS_BROKER), worker=Sweep())
    services = await runtime.open()
    try:
        assert isinstance(services.engine, BrokerEngine)
        assert services.engine.dispatches_here
        jobs = runtime.background_jobs(serving=False, times=JobTimes.of(services.settings))
        assert job_names(jobs) == [
            "Reconciler.run_forever",
            "WebhookDeliverer.run_forever",
            "Retention.run_forever",
            "BrokerEngine.sweep_forever",
            "BrokerEngine.hold_forever",
        ]
    finally:
        await runtime.close()


@pytest.mark.anyio
async def test_closing_closes_what_was_built_in_reverse_order(
    make_settings: SettingsFactory,
) -> None:
    provider = RecordingProvider()
    runtime = Runtime(make_settings(), injected_provider=provider)
    services = await runtime.open()
    await runtime.close()
    assert not provider.closed  # injected: the caller's to close
    with pytest.raises(StoreUnavailable):  # the group-commit writer was stopped
        await services.store.add(
            NewMessage(to="+14155552671", text="hi", encoding="GSM-7", segments=1, provider="fake")
        )
    with pytest.raises(RuntimeError):
        runtime.services  # noqa: B018 (closed: nothing to hand out)
