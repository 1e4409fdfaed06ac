"""Price tables on disk: the one shipped, and those `smsgate prices update` writes."""

from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path

from smsgate.domain.pricing import PriceTable, PriceTableError

BUNDLED = "smsgate/data/sms_prices.json"


def bundled_price_table() -> PriceTable:
    """The table shipped in the package (its source and date are in the file)."""
    text = resources.files("smsgate").joinpath("data/sms_prices.json").read_text("utf-8")
    return PriceTable.from_json(json.loads(text), origin=BUNDLED)


def load_price_table(path: Path | None) -> PriceTable:
    """The table at ``path``, or the bundled one; raise PriceTableError naming the problem."""
    if path is None:
        return bundled_price_table()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceTableError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PriceTableError(f"{path}: not valid JSON ({exc})") from None
    return PriceTable.from_json(document, origin=str(path))


def save_price_table(table: PriceTable, path: Path) -> None:
    """Write ``table`` whole or not at all: a server reading it never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(table.as_json(), file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
