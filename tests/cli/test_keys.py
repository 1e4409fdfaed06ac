"""``smsgate keys create|list|revoke``, run as a person runs them: in a subprocess, configured
by SMSGATE_DATABASE_URL alone."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from smsgate.db.api_keys import ApiKeyStore, StoredKey
from tests.conftest import SettingsFactory
from tests.support.api_keys import create_key, revoke_key, rows, with_store

LIVE_KEY = re.compile(r"sg_live_[A-Za-z0-9]{40}")
TEST_KEY = re.compile(r"sg_test_[A-Za-z0-9]{40}")


def keys(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PLIVO_", "SMSGATE_"))}
    return subprocess.run(
        [sys.executable, "-m", "smsgate", "keys", *args],
        capture_output=True,
        text=True,
        env={**env, "SMSGATE_DATABASE_URL": database_url},
        timeout=60,
        check=False,
    )


Command = tuple[str, tuple[str, ...]]  # a database URL, the arguments after "keys"


def side_by_side(commands: dict[str, Command]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Commands run at once, as each start of Python takes a second or two; each on a database
    of its own (smsgate runs one process on a SQLite file)."""
    assert len({url for url, _ in commands.values()}) == len(commands)
    with ThreadPoolExecutor(len(commands)) as pool:
        started = {name: pool.submit(keys, url, *args) for name, (url, args) in commands.items()}
        return {name: future.result() for name, future in started.items()}


def stored(database_url: str, handle: str) -> StoredKey:
    async def everything(store: ApiKeyStore) -> list[StoredKey]:
        return await store.all()

    (found,) = [k for k in with_store(database_url, everything) if handle in (k.id, k.prefix)]
    return found


def test_create_prints_the_key_once_and_stores_only_its_digest(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'fresh.db'}"  # not migrated yet: the command does it
    live = keys(database_url, "create", "--name", "web shop")
    assert live.returncode == 0, live.stderr
    assert LIVE_KEY.fullmatch(live.stdout.strip()), live.stdout
    assert live.stdout.count("\n") == 1  # the key alone: `KEY=$(smsgate keys create ...)`
    live_key = live.stdout.strip()
    assert live_key not in live.stderr
    assert "web shop" in live.stderr
    assert live_key[:16] in live.stderr  # the prefix, to find it in `keys list`
    assert "send,read" in live.stderr  # the default scopes
    assert "cannot be shown again" in live.stderr

    test = keys(database_url, "create", "--name", "staging", "--scope", "send", "--test", "--json")
    assert test.returncode == 0, test.stderr
    record = json.loads(test.stdout)
    test_key = record.pop("key")
    assert TEST_KEY.fullmatch(test_key), test_key
    assert record["prefix"] == test_key[:16]
    assert record["name"] == "staging"
    assert record["scopes"] == ["send"]
    assert record["mode"] == "test"
    assert record["last_used_at"] is None
    assert record["revoked_at"] is None
    assert test_key not in test.stderr

    table = rows(database_url, "SELECT * FROM api_keys ORDER BY name")
    assert [(row["name"], row["scopes"], bool(row["test"])) for row in table] == [
        ("staging", "send", True),
        ("web shop", "send,read", False),
    ]
    for row, key in zip(table, (test_key, live_key), strict=True):
        assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
        assert row["prefix"] == key[:16]
        secret = key[16:]  # what the shown prefix leaves out
        assert not any(secret in str(value) for value in row.values()), row
    assert stored(database_url, record["id"]).test


def test_list_shows_prefix_name_scopes_mode_and_last_use(make_settings: SettingsFactory) -> None:
    database_url = make_settings().database_url
    shop, _ = create_key(database_url, "web shop", "send,read")
    staging, _ = create_key(database_url, "staging", "send", test=True)
    ops, _ = create_key(database_url, "ops", "admin")

    async def use(store: ApiKeyStore) -> None:
        await store.touch(shop)

    with_store(database_url, use)
    revoke_key(database_url, ops.id)
    used = stored(database_url, shop.id).last_used_at
    assert used is not None

    # Migrated and without keys: a read never migrates (tests/cli/test_read_only.py).
    empty = make_settings().database_url
    results = side_by_side({"table": (database_url, ("list",)), "empty": (empty, ("list",))})
    results["json"] = keys(database_url, "list", "--json")
    for result in results.values():
        assert result.returncode == 0, result.stderr

    lines = results["table"].stdout.splitlines()
    assert lines[0].split() == ["PREFIX", "NAME", "SCOPES", "MODE", "LAST", "USED", "STATE"]
    shown = {line.split()[0]: line for line in lines[1:]}
    assert set(shown) == {shop.prefix, staging.prefix, ops.prefix}
    assert re.search(
        rf"web shop\s+send,read\s+live\s+{used:%Y-%m-%d %H:%M}\s+active$", shown[shop.prefix]
    )
    assert re.search(r"staging\s+send\s+test\s+never\s+active$", shown[staging.prefix])
    assert re.search(r"ops\s+admin\s+live\s+never\s+revoked \d{4}-\d\d-\d\d$", shown[ops.prefix])

    documents = {d["prefix"]: d for d in map(json.loads, results["json"].stdout.splitlines())}
    assert set(documents) == {shop.prefix, staging.prefix, ops.prefix}
    assert documents[shop.prefix]["name"] == "web shop"
    assert documents[shop.prefix]["scopes"] == ["read", "send"]
    assert documents[shop.prefix]["mode"] == "live"
    assert documents[shop.prefix]["last_used_at"] == used.isoformat()
    assert documents[staging.prefix]["mode"] == "test"
    assert documents[staging.prefix]["last_used_at"] is None
    assert documents[ops.prefix]["revoked_at"] is not None
    assert all("key" not in d and "key_hash" not in d for d in documents.values())

    assert results["empty"].stdout == ""
    assert "No API keys yet" in results["empty"].stderr


def test_revoke_by_prefix_by_id_or_with_the_key_itself(make_settings: SettingsFactory) -> None:
    """With the key itself too: someone holding a leaked key need not look it up first."""
    made: dict[str, tuple[str, StoredKey, str, StoredKey]] = {}
    for how in ("by prefix", "by id", "by the key"):
        database_url = make_settings().database_url
        target, key = create_key(database_url, "web shop", test=how == "by id")
        kept, _ = create_key(database_url, "kept")
        made[how] = (database_url, target, key, kept)
    handles = {
        "by prefix": made["by prefix"][1].prefix,
        "by id": made["by id"][1].id,
        "by the key": made["by the key"][2],
    }
    results = side_by_side({how: (made[how][0], ("revoke", handles[how])) for how in made})
    for how, (database_url, target, key, kept) in made.items():
        result = results[how]
        assert result.returncode == 0, (how, result.stderr)
        assert result.stdout.strip() == f"Revoked 'web shop' ({target.prefix}).", how
        assert key not in result.stdout + result.stderr
        assert not stored(database_url, target.id).active, how
        assert stored(database_url, kept.id).active, how

    database_url, target, _, _ = made["by prefix"]
    first = stored(database_url, target.id).revoked_at
    again = keys(database_url, "revoke", target.prefix)  # nothing left to do: still fine
    assert again.returncode == 0, again.stderr
    assert stored(database_url, target.id).revoked_at == first


UNKNOWN_KEY = "sg_live_NoSuchK1" + "s3cr3tRest" * 3 + "abcd"


def test_bad_input_exits_2_with_a_clear_message_and_stores_nothing(
    make_settings: SettingsFactory,
) -> None:
    expected = {
        "unknown scope": (("create", "--name", "x", "--scope", "send,write"), "'write' is not"),
        "empty name": (("create", "--name", ""), "--name must be 1 to 100 printable"),
        "blank name": (("create", "--name", "   "), "--name must be 1 to 100 printable"),
        "unknown prefix": (("revoke", "sg_live_NoSuchKy"), "'sg_live_NoSuchKy'; see smsgate keys"),
        "unknown whole key": (("revoke", UNKNOWN_KEY), "'sg_live_NoSuchK1...'; see smsgate keys"),
    }
    databases = {case: make_settings().database_url for case in expected}
    results = side_by_side({case: (databases[case], args) for case, (args, _) in expected.items()})
    wrong = []
    for case, result in results.items():
        words = expected[case][1]
        if result.returncode != 2 or words not in result.stderr or result.stdout:
            wrong.append(f"{case}: exit {result.returncode}, {result.stdout!r}, {result.stderr!r}")
        if rows(databases[case], "SELECT count(*) AS n FROM api_keys") != [{"n": 0}]:
            wrong.append(f"{case}: a key was stored")
    assert not wrong, "\n".join(wrong)
    # A whole key is not repeated back: a pasted secret must not land in a terminal's log.
    assert UNKNOWN_KEY[16:] not in results["unknown whole key"].stderr
    assert "s3cr3t" not in results["unknown whole key"].stderr
