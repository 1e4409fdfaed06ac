"""The country names table agrees with libphonenumber's geocoder, which it replaces (#14)."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import geocoder

from smsgate.domain.country_names import COUNTRY_NAMES, country_name


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_each_region_has_the_geocoders_english_name(region: str) -> None:
    example = phonenumbers.example_number(region)
    expected = geocoder.country_name_for_number(example, "en") if example else ""
    assert COUNTRY_NAMES.get(region, "") == expected


def test_a_lookup_ignores_case_and_knows_nothing_of_unknown_codes() -> None:
    assert country_name("ca") == "Canada"
    assert country_name("ZZ") is None


def test_the_server_never_imports_the_geocoder() -> None:
    """98 MiB of memory for one word: the app's modules must not pull it in."""
    import subprocess
    import sys

    probe = (
        "import sys, smsgate.api.app, smsgate.cli; print('phonenumbers.geocoder' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
