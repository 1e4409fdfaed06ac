"""``smsgate doctor``: each check against the real thing (the emulator for Plivo, a served
smsgate for the public URL, Redis, RabbitMQ, SQLite), healthy and broken."""

from __future__ import annotations

import asyncio
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smsgate.cli import app
from smsgate.cli.doctor import Check, Level, run_checks
from smsgate.config import Settings, get_settings
from smsgate.db.migrate import upgrade
from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorServer
from tests.cli.test_cli import environment, smsgate
from tests.conftest import ServeApp, SettingsFactory
from tests.support.redis import private_redis
from tests.support.servers import free_port

RABBITMQ = os.environ.get("SMSGATE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def lines(output: str) -> dict[str, list[str]]:
    """Each check's lines by topic: "ok    plivo: the credentials work" -> {"plivo": ["ok ..."]}."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        level, _, rest = line.partition(" ")
        topic, colon, detail = rest.strip().partition(": ")
        if colon and level in {"ok", "warn", "fail"}:
            found.setdefault(topic, []).append(f"{level} {detail}")
    return found


def by_topic(checks: list[Check]) -> dict[str, list[Check]]:
    found: dict[str, list[Check]] = {}
    for check in checks:
        found.setdefault(check.topic, []).append(check)
    return found


def checks_for(settings: Settings) -> dict[str, list[Check]]:
    """Every check of a doctor run, by topic, through the command's own entry."""
    found: list[Check] = []
    asyncio.run(run_checks(settings, found.append))
    return by_topic(found)


def test_a_working_installation_passes_and_a_broken_one_says_what_to_fix(
    migrated_sqlite_template: Path,
    tmp_path: Path,
    emulator: EmulatorServer,
    serve: ServeApp,
) -> None:
    database = tmp_path / "smsgate.db"
    shutil.copyfile(migrated_sqlite_template, database)
    public = serve()  # a smsgate sending through Plivo (the emulator), as this configuration
    plivo = {
        "PLIVO_AUTH_ID": DEFAULT_AUTH_ID,
        "PLIVO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "PLIVO_SENDER_ID": "+14155550199",
        "PLIVO_API_URL": emulator.base_url,
    }
    wrong_token = "wrong-token-never-shown"
    with private_redis() as redis, ThreadPoolExecutor(2) as pool:
        good = pool.submit(
            smsgate,
            "doctor",
            env=environment(
                **plivo,
                SMSGATE_DATABASE_URL=f"sqlite:///{database}",
                SMSGATE_BROKER_URL=redis.url,
                SMSGATE_PUBLIC_URL=public,
            ),
            cwd=tmp_path,
        )
        bad = pool.submit(
            smsgate,
            "doctor",
            env=environment(
                **{**plivo, "PLIVO_AUTH_TOKEN": wrong_token},
                SMSGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'missing.db'}",
                SMSGATE_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0",
                SMSGATE_PUBLIC_URL=f"http://127.0.0.1:{free_port()}",
            ),
            cwd=tmp_path,
        )
        healthy, broken = good.result(), bad.result()

    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    said = lines(healthy.stdout)
    assert said["configuration"] == ["ok the settings are valid"]
    assert said["provider"][0].startswith("ok plivo, sending from +14155550199")
    assert said["database"][0].startswith(f"ok SQLite {database}, schema up to date")
    assert said["database"][1].startswith("warn SQLite with a broker")
    assert said["api keys"][0].startswith("ok none: the API is open, on 127.0.0.1 only")
    assert said["broker"] == [f"ok {redis.url} answers; run smsgate worker to hand messages over"]
    assert said["limits, pacing"] == [f"ok shared through Redis at {redis.url}"]
    assert said["plivo"] == [
        "ok the credentials work: account 'smsgate emulator', 100.00000 in credit"
    ]
    assert said["public url"][0].startswith(f"warn {public} is not https")
    assert said["public url"][1].startswith("warn 127.0.0.1 resolves to 127.0.0.1, not a public")
    assert said["public url"][2] == f"ok {public}/healthz answers from smsgate"
    assert healthy.stdout.strip().endswith("smsgate doctor: 0 failed, 3 warning(s)")

    assert broken.returncode == 1, broken.stdout + broken.stderr
    said = lines(broken.stdout)
    assert said["database"] == [
        f"fail the SQLite file {tmp_path / 'missing.db'} does not exist: run smsgate db "
        "upgrade to create it (serve does too), or fix SMSGATE_DATABASE_URL"
    ]
    assert not (tmp_path / "missing.db").exists()  # looking created nothing
    assert said["broker"][0].startswith("fail cannot reach redis://127.0.0.1:")
    assert said["limits, pacing"][0].startswith("fail cannot reach Redis")
    assert "fix SMSGATE_BROKER_URL" in said["limits, pacing"][0]  # where that Redis is named
    assert said["plivo"] == [
        "fail Plivo answered HTTP 401: it refused smsgate's credentials; check PLIVO_AUTH_ID "
        "and PLIVO_AUTH_TOKEN"
    ]
    assert said["public url"][-1].startswith("fail http://127.0.0.1:")
    assert "is smsgate serve running" in said["public url"][-1]
    assert wrong_token not in broken.stdout + broken.stderr
    assert broken.stdout.strip().endswith("failed, 2 warning(s)")

    # One read-only request per run to Plivo's account, and nothing sent.
    asked = [(r.method, r.path, r.status) for r in emulator.requests()]
    account = f"/v1/Account/{DEFAULT_AUTH_ID}/"
    assert sorted(asked) == [("GET", account, 200), ("GET", account, 401)]


def test_a_schema_behind_or_missing_is_a_failure_naming_db_upgrade(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    upgrade(behind, "0005")
    empty = tmp_path / "empty.db"
    empty.touch()
    checks = {
        name: checks_for(make_settings(database_url=url))["database"]
        for name, url in (("behind", behind), ("empty", f"sqlite:///{empty}"))
    }
    (behind_check,) = checks["behind"]
    assert behind_check.level is Level.FAIL
    assert "is at schema 0005, and this smsgate needs" in behind_check.detail
    assert behind_check.detail.endswith("run smsgate db upgrade")
    (empty_check,) = checks["empty"]
    assert empty_check.level is Level.FAIL
    assert empty_check.detail.endswith("has no smsgate schema yet: run smsgate db upgrade")


def test_a_rabbitmq_broker_is_reached_with_a_login_and_a_dead_one_fails(
    make_settings: SettingsFactory,
) -> None:
    dead = checks_for(make_settings(broker_url=f"amqp://127.0.0.1:{free_port()}/"))
    assert dead["broker"][0].level is Level.FAIL
    assert "AMQPConnectionError" in dead["broker"][0].detail
    # RabbitMQ carries no pacing: each process paces alone, which is worth a warning.
    assert dead["limits, pacing"][0].level is Level.WARN
    try:
        import pika

        pika.BlockingConnection(pika.URLParameters(RABBITMQ)).close()
    except Exception as exc:
        problem = f"RabbitMQ at {RABBITMQ.split('@')[-1]} unreachable: {type(exc).__name__}"
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI is set, so this fails instead of skipping)")
        pytest.skip(problem)
    alive = checks_for(make_settings(broker_url=RABBITMQ))
    assert alive["broker"][0].level is Level.OK, alive["broker"][0]
    assert "guest:***@" in alive["broker"][0].detail  # the password is not shown


def test_a_public_url_reaching_something_else_is_named(
    make_settings: SettingsFactory, emulator: EmulatorServer, serve: ServeApp
) -> None:
    # The emulator is not smsgate: its /healthz is a 404.
    elsewhere = checks_for(make_settings(public_url=emulator.base_url))
    assert elsewhere["public url"][-1].level is Level.FAIL
    assert "answers HTTP 404, not smsgate's" in elsewhere["public url"][-1].detail
    # A smsgate that sends through Plivo, seen from a sandbox configuration.
    other = checks_for(make_settings(public_url=serve()))
    assert other["public url"][-1].level is Level.WARN
    assert "sending through plivo, but this configuration sends through sandbox" in (
        other["public url"][-1].detail
    )
    unresolved = checks_for(make_settings(public_url="https://smsgate.invalid"))
    assert unresolved["public url"] == [
        Check(
            "public url",
            Level.FAIL,
            "smsgate.invalid does not resolve (gaierror): fix SMSGATE_PUBLIC_URL or its DNS record",
        )
    ]


def test_settings_that_do_not_load_are_one_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGATE_PORT", "eighty")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert result.stdout.startswith("fail  configuration: SMSGATE_PORT is invalid: ")


def test_settings_are_valid_is_said_only_when_no_setting_check_fails(
    make_settings: SettingsFactory, migrated_sqlite_template: Path
) -> None:
    """ "ok configuration" never stands above "fail provider" (issue #13, item 6)."""
    url = f"sqlite:///{migrated_sqlite_template}"
    malformed = make_settings(
        database_url=url,
        plivo_auth_id="MAnotanid",
        plivo_auth_token=DEFAULT_AUTH_TOKEN,
        plivo_sender_id="+14155550199",
    )
    found: list[Check] = []
    asyncio.run(run_checks(malformed, found.append))
    topics = [(check.topic, check.level) for check in found]
    assert ("configuration", Level.OK) not in topics
    assert topics[0] == ("provider", Level.FAIL)
    assert "PLIVO_AUTH_ID is malformed" in found[0].detail
    fine: list[Check] = []
    asyncio.run(run_checks(make_settings(database_url=url), fine.append))
    assert (fine[0].topic, fine[0].level, fine[0].detail) == (
        "configuration",
        Level.OK,
        "the settings are valid",
    )


def test_an_unreachable_plivo_names_the_url_tried_and_its_setting(
    make_settings: SettingsFactory, migrated_sqlite_template: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(
        database_url=f"sqlite:///{migrated_sqlite_template}",
        plivo_auth_id=DEFAULT_AUTH_ID,
        plivo_auth_token=DEFAULT_AUTH_TOKEN,
        plivo_sender_id="+14155550199",
        plivo_api_url=nowhere,
    )
    (plivo,) = checks_for(settings)["plivo"]
    assert plivo.level is Level.FAIL
    assert plivo.detail.startswith(f"Plivo is unreachable at {nowhere} (PLIVO_API_URL): ")


def test_a_spend_limit_with_an_unpriced_allowed_country_fails_as_serve_would(
    make_settings: SettingsFactory, migrated_sqlite_template: Path
) -> None:
    url = f"sqlite:///{migrated_sqlite_template}"
    (spend,) = checks_for(make_settings(database_url=url, daily_spend_limit="5"))["spend limit"]
    assert spend.level is Level.FAIL
    assert spend.detail.startswith("serve refuses to start: SMSGATE_DAILY_SPEND_LIMIT is set")
    assert "no rate for CA" in spend.detail
    only_us = make_settings(database_url=url, daily_spend_limit="5", allowed_countries="US")
    assert "spend limit" not in checks_for(only_us)
