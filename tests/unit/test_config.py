"""Settings: where they come from, which provider they pick, and what stops `serve`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from smsgate.bootstrap import check_provider, check_serving, load_prices
from smsgate.config import ConfigError, ProviderName, Settings
from smsgate.domain.addresses import is_loopback
from tests.conftest import SettingsFactory

GOOD_ID = "MAODUXYWQ2ZJAWZWY0OT"
GOOD_PLIVO = {
    "plivo_auth_id": GOOD_ID,
    "plivo_auth_token": "ZDgxZmY5YWRiOTI5YmQ1Njg0",
    "plivo_sender_id": "+14155550199",
}


def test_without_credentials_the_sandbox_is_the_default(make_settings: SettingsFactory) -> None:
    assert make_settings().resolved_provider is ProviderName.SANDBOX


def test_with_both_credentials_plivo_is_the_default(make_settings: SettingsFactory) -> None:
    assert make_settings(**GOOD_PLIVO).resolved_provider is ProviderName.PLIVO


@pytest.mark.parametrize("missing", ["plivo_auth_id", "plivo_auth_token"])
def test_with_one_credential_the_sandbox_is_the_default(
    make_settings: SettingsFactory, missing: str
) -> None:
    values = {k: v for k, v in GOOD_PLIVO.items() if k != missing}
    assert make_settings(**values).resolved_provider is ProviderName.SANDBOX


def test_an_explicit_provider_wins(make_settings: SettingsFactory) -> None:
    assert make_settings(provider="SANDBOX", **GOOD_PLIVO).resolved_provider == "sandbox"


def test_settings_come_from_the_environment_with_the_seeds_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PLIVO_* keep the tutorial's names; the rest is SMSGATE_*."""
    monkeypatch.setenv("PLIVO_AUTH_ID", GOOD_ID)
    monkeypatch.setenv("PLIVO_AUTH_TOKEN", "secret-token-value")
    monkeypatch.setenv("PLIVO_SENDER_ID", "+14155550199")
    monkeypatch.setenv("PLIVO_API_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("SMSGATE_PORT", "9001")
    monkeypatch.setenv("SMSGATE_PLIVO_TIMEOUT", "2.5")
    monkeypatch.setenv("SMSGATE_DEFAULT_REGION", "gb")
    monkeypatch.setenv("SMSGATE_API_KEYS", "a, b,,c")
    settings = Settings()
    assert settings.plivo_auth_id == GOOD_ID
    assert settings.plivo_api_url == "http://127.0.0.1:9/"
    assert settings.port == 9001
    assert settings.plivo_timeout == 2.5
    assert settings.default_region == "GB"
    assert [k.get_secret_value() for k in settings.api_keys] == ["a", "b", "c"]
    assert settings.resolved_provider is ProviderName.PLIVO


def test_a_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    """`.env` then `.env.local` (the seed's file) are read; the environment wins over both."""
    (tmp_path / ".env").write_text("SMSGATE_PORT=8100\nPLIVO_SENDER_ID=+14155550100\n")
    (tmp_path / ".env.local").write_text("PLIVO_SENDER_ID=+14155550199\n")
    settings = Settings()
    assert settings.port == 8100
    assert settings.plivo_sender_id == "+14155550199"


def test_the_default_api_url_is_plivos(make_settings: SettingsFactory) -> None:
    assert make_settings().plivo_api_url == "https://api.plivo.com"


def test_secrets_never_appear_in_the_repr(make_settings: SettingsFactory) -> None:
    settings = make_settings(api_keys="key-abcdef", **GOOD_PLIVO)
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert "ZDgxZmY5YWRiOTI5YmQ1Njg0" not in text
        assert "key-abcdef" not in text


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"plivo_auth_id": None, "provider": "plivo"}, "PLIVO_AUTH_ID"),
        ({"plivo_auth_id": "MA123"}, "PLIVO_AUTH_ID"),
        ({"plivo_auth_id": "XX" + "A" * 18}, "PLIVO_AUTH_ID"),
        ({"plivo_auth_id": "ma" + "a" * 18}, "PLIVO_AUTH_ID"),
        ({"plivo_auth_token": None, "provider": "plivo"}, "PLIVO_AUTH_TOKEN"),
        ({"plivo_auth_token": "short"}, "PLIVO_AUTH_TOKEN"),
        ({"plivo_auth_token": "has a space in it"}, "PLIVO_AUTH_TOKEN"),
        ({"plivo_sender_id": None}, "PLIVO_SENDER_ID"),
        ({"plivo_sender_id": "not a sender!"}, "PLIVO_SENDER_ID"),
        ({"plivo_sender_id": "TwelveLetter"}, "PLIVO_SENDER_ID"),
        ({"plivo_api_url": "ftp://api.plivo.com"}, "PLIVO_API_URL"),
        ({"plivo_api_url": "http://"}, "PLIVO_API_URL"),
        ({"plivo_api_url": "http://[::1"}, "PLIVO_API_URL"),
        ({"plivo_api_url": "http://127.0.0.1:99999"}, "PLIVO_API_URL"),
        ({"plivo_api_url": "api.plivo.com"}, "PLIVO_API_URL"),
        ({"plivo_api_url": "http://api.plivo.com"}, "PLIVO_API_URL"),
        ({"plivo_api_url": "https://user:pw@api.plivo.com"}, "PLIVO_API_URL"),
        ({"plivo_api_url": "https://api.plivo.com/?debug=1"}, "PLIVO_API_URL"),
    ],
    ids=[
        "id missing",
        "id short",
        "id prefix",
        "id lowercase",
        "token missing",
        "token short",
        "token with spaces",
        "sender missing",
        "sender malformed",
        "sender too long",
        "api url scheme",
        "api url without host",
        "api url unparsable",
        "api url port out of range",
        "api url without scheme",
        "api url in clear text to another machine",
        "api url with credentials",
        "api url with a query",
    ],
)
def test_an_unusable_plivo_configuration_names_its_variable(
    make_settings: SettingsFactory, override: dict[str, object], variable: str
) -> None:
    settings = make_settings(**{**GOOD_PLIVO, **override})
    with pytest.raises(ConfigError) as raised:
        check_provider(settings)
    assert raised.value.variable == variable
    assert str(raised.value).startswith(variable)


@pytest.mark.parametrize("sender", ["+14155550199", "1 415 555 0199", "ACME", "Acme Shop", "12345"])
def test_usable_senders_pass(make_settings: SettingsFactory, sender: str) -> None:
    check_provider(make_settings(**{**GOOD_PLIVO, "plivo_sender_id": sender}))


@pytest.mark.parametrize(
    "url",
    [
        "https://api.plivo.com",
        "https://api.plivo.com/",
        "http://127.0.0.1:8099",
        "http://localhost:8099/",
    ],
)
def test_usable_api_urls_pass(make_settings: SettingsFactory, url: str) -> None:
    """https anywhere; plain http only to this machine, where the emulator runs."""
    check_provider(make_settings(**{**GOOD_PLIVO, "plivo_api_url": url}))


def test_a_non_loopback_host_without_api_keys_is_refused(make_settings: SettingsFactory) -> None:
    """An open SMS endpoint on the network is refused unless the operator insists."""
    settings = make_settings(host="0.0.0.0")
    with pytest.raises(ConfigError) as raised:
        check_serving(settings)
    assert raised.value.variable == "SMSGATE_API_KEYS"
    check_serving(settings, insecure_no_auth=True)
    check_serving(make_settings(host="0.0.0.0", api_keys="k"))


def test_a_spend_limit_with_an_allowed_country_unpriced_is_refused_at_the_start(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """Every message to Canada would be 402 price_unknown: serve says so, naming the country."""
    settings = make_settings(daily_spend_limit=Decimal("5"))  # allowed: US, CA; priced: US
    with pytest.raises(ConfigError) as raised:
        check_serving(settings)
    assert raised.value.variable == "SMSGATE_DAILY_SPEND_LIMIT"
    assert "no rate for CA" in str(raised.value)
    assert "--countries CA" in str(raised.value)
    check_serving(make_settings(daily_spend_limit=Decimal("5"), allowed_countries="US"))
    check_serving(make_settings(daily_spend_limit=Decimal("5"), allowed_countries="*"))
    check_serving(make_settings())  # no spend limit: an unpriced country costs nothing counted
    priced = tmp_path / "prices.json"
    priced.write_text(
        '{"currency": "USD", "source": "test", "as_of": "2026-12-01", '
        '"rates": {"US": "0.0035", "CA": "0.0040"}}'
    )
    check_serving(make_settings(daily_spend_limit=Decimal("5"), price_table=priced))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.4", False),
        ("example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_unknown_default_region_is_refused(make_settings: SettingsFactory) -> None:
    with pytest.raises(ValueError, match="ISO 3166"):
        make_settings(default_region="XX")


REPO = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting() -> None:
    """`.env.example` documents every variable Settings reads, under the name users set."""
    listed = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    expected = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        expected.add(str(choices[0]) if choices else f"SMSGATE_{name.upper()}")
    assert listed == expected


def test_env_example_copied_to_env_gives_a_working_sandbox(tmp_path: Path) -> None:
    """A new user who copies the example and fills in nothing gets the sandbox, ready to serve."""
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    settings = Settings()
    assert settings.resolved_provider is ProviderName.SANDBOX
    check_serving(settings)


def test_a_blank_price_table_means_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SMSGATE_PRICE_TABLE=\n")
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert settings.price_table is None
    assert load_prices(settings).rate("US") is not None
