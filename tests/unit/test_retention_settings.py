"""The retention settings: days are at least one, and texts never outlive their rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from smsgate.config import Settings
from tests.conftest import SettingsFactory


def test_texts_are_kept_30_days_and_rows_400_by_default(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    assert (settings.retain_text_days, settings.retain_days) == (30, 400)


def test_the_environment_sets_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGATE_RETAIN_DAYS", "90")
    monkeypatch.setenv("SMSGATE_RETAIN_TEXT_DAYS", "7")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.retain_text_days, settings.retain_days) == (7, 90)


@pytest.mark.parametrize("field", ["retain_days", "retain_text_days"])
@pytest.mark.parametrize("days", [0, -1])
def test_less_than_a_day_is_refused(make_settings: SettingsFactory, field: str, days: int) -> None:
    with pytest.raises(ValidationError) as raised:
        make_settings(**{field: days})
    assert raised.value.errors()[0]["loc"] == (field,)


def test_texts_kept_longer_than_their_rows_are_refused_naming_the_text_setting(
    make_settings: SettingsFactory,
) -> None:
    with pytest.raises(ValidationError) as raised:
        make_settings(retain_days=10, retain_text_days=11)
    error = raised.value.errors()[0]
    assert error["loc"] == ("retain_text_days",)
    assert "SMSGATE_RETAIN_DAYS (10)" in error["msg"]
    assert make_settings(retain_days=10, retain_text_days=10).retain_text_days == 10
