"""``ApiKeyStore.revoke_by_handle`` on real SQLite and real PostgreSQL: the key a person names."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from smsgate.db.api_keys import ApiKeyStore, StoredKey
from smsgate.db.engine import make_engine, make_sessions
from smsgate.domain.access import DEFAULT_SCOPES

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def store(migrated: str) -> AsyncIterator[ApiKeyStore]:
    engine = make_engine(migrated)
    store = ApiKeyStore(make_sessions(engine), database_url=migrated)
    try:
        yield store
    finally:
        store.close()
        await engine.dispose()


def active(keys: list[StoredKey]) -> dict[str, bool]:
    return {key.name: key.active for key in keys}


@pytest.mark.parametrize("by", ["id", "prefix", "whole key"])
async def test_a_key_is_revoked_by_its_id_its_prefix_or_the_key_itself(
    store: ApiKeyStore, by: str
) -> None:
    """Only the key named is revoked; the other keeps working."""
    target, key = await store.create("web shop", DEFAULT_SCOPES, test=False)
    await store.create("kept", DEFAULT_SCOPES, test=False)
    handle = {"id": target.id, "prefix": target.prefix, "whole key": key}[by]
    revoked = await store.revoke_by_handle(handle)
    assert revoked is not None
    assert (revoked.id, revoked.active) == (target.id, False)
    assert active(await store.all()) == {"web shop": False, "kept": True}


async def test_revoking_again_changes_nothing(store: ApiKeyStore) -> None:
    target, key = await store.create("web shop", DEFAULT_SCOPES, test=True)
    first = await store.revoke_by_handle(key)
    again = await store.revoke_by_handle(target.prefix)
    assert first is not None
    assert again is not None
    assert again.revoked_at == first.revoked_at


async def test_a_whole_key_that_was_never_issued_revokes_nothing(store: ApiKeyStore) -> None:
    """Found by its digest only: a made-up key with a real key's prefix matches nothing."""
    target, key = await store.create("web shop", DEFAULT_SCOPES, test=False)
    forged = target.prefix + "x" * (len(key) - len(target.prefix))
    assert await store.revoke_by_handle(forged) is None
    assert await store.revoke_by_handle("no-such-id") is None
    assert active(await store.all()) == {"web shop": True}
