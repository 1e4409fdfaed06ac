"""`smsgate prices`: fetch an account's rates from Plivo (the emulator) and use them."""

from __future__ import annotations

import json
from pathlib import Path

from smsgate.emulator import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN, EmulatorServer
from tests.cli.test_cli import environment, smsgate


def plivo(emulator: EmulatorServer, **values: str) -> dict[str, str]:
    plivo = {
        "PLIVO_AUTH_ID": DEFAULT_AUTH_ID,
        "PLIVO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "PLIVO_SENDER_ID": "+14155550199",
        "PLIVO_API_URL": emulator.base_url,
    }
    return environment(**{**plivo, **values})


def test_update_writes_the_accounts_rates_and_show_reads_them_back(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    table = tmp_path / "prices.json"
    done = smsgate(
        "prices",
        "update",
        "--countries",
        "us, gb",
        "--out",
        str(table),
        env=plivo(emulator),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Wrote 2 rate(s)" in done.stdout
    assert f"Set SMSGATE_PRICE_TABLE={table}" in done.stdout
    document = json.loads(table.read_text())
    assert document["rates"] == {"GB": "0.00500", "US": "0.00500"}  # the emulator's rate
    assert document["currency"] == "USD"
    assert "Pricing API" in document["source"]
    asked = [r for r in emulator.requests() if r.path.endswith("/Pricing/")]
    assert len(asked) == 2

    shown = smsgate("prices", "show", env=environment(SMSGATE_PRICE_TABLE=str(table)))
    assert shown.returncode == 0, shown.stderr
    assert str(table) in shown.stdout
    assert "GB  0.00500" in shown.stdout


def test_show_without_a_configured_table_shows_the_shipped_one() -> None:
    shown = smsgate("prices", "show")
    assert shown.returncode == 0, shown.stderr
    assert "smsgate/data/sms_prices.json" in shown.stdout
    assert "US  0.00350" in shown.stdout


def test_update_needs_plivo_credentials(tmp_path: Path) -> None:
    done = smsgate("prices", "update", "--out", "p.json", cwd=tmp_path)
    assert done.returncode == 2
    assert "PLIVO_AUTH_ID" in done.stderr
    assert not (tmp_path / "p.json").exists()


def test_update_refuses_a_country_code_that_names_no_country(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    done = smsgate(
        "prices",
        "update",
        "--countries",
        "US,XX",
        "--out",
        "p.json",
        env=plivo(emulator),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "XX" in done.stderr.splitlines()[-1]
    assert not (tmp_path / "p.json").exists()


def test_refused_credentials_leave_the_table_as_it_was(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    table = tmp_path / "prices.json"
    table.write_text("kept")
    done = smsgate(
        "prices",
        "update",
        "--out",
        str(table),
        env=plivo(emulator, PLIVO_AUTH_TOKEN="wrong-token-123"),
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "credentials" in done.stderr
    assert "wrong-token-123" not in done.stderr + done.stdout
    assert table.read_text() == "kept"


def test_update_without_a_destination_says_how_to_give_one(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    done = smsgate("prices", "update", env=plivo(emulator), cwd=tmp_path)
    assert done.returncode == 2
    assert "--out" in done.stderr
    assert "SMSGATE_PRICE_TABLE" in done.stderr
