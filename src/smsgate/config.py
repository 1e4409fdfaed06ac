"""Settings, read from the environment and from `.env` (then `.env.local`) in the working directory.

Plivo's variables keep the names of the tutorial smsgate grew from (``PLIVO_AUTH_ID``,
``PLIVO_AUTH_TOKEN``, ``PLIVO_SENDER_ID``); everything else is ``SMSGATE_*``. Values from the
environment win over the files. Secrets are ``SecretStr``, so they never show in a repr or a log.

Loading is lenient so that commands which never talk to Plivo (``segments``, ``emulator``) work
with any configuration, and this module checks only the values' shapes. Whether the Plivo
values are usable is Plivo's rule (``providers/plivo/settings.py``); bootstrap's
``check_provider`` and ``check_serving`` are the strict gates ``serve`` and ``send`` pass first.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import phonenumbers
from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from yarl import URL

from smsgate.domain.geo import CountryPolicy
from smsgate.domain.rates import OFF, parse_rate


class ProviderName(StrEnum):
    PLIVO = "plivo"
    SANDBOX = "sandbox"


class ConfigError(Exception):
    """A setting that makes the service unusable; ``variable`` names what to fix."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem}")
        self.variable = variable
        self.problem = problem


def _plivo(name: str) -> AliasChoices:
    # Accept the prefixed spelling too, so every variable can be written SMSGATE_*.
    return AliasChoices(f"PLIVO_{name}", f"SMSGATE_PLIVO_{name}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SMSGATE_",
        env_file=(".env", ".env.local"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
        populate_by_name=True,
    )

    plivo_auth_id: str | None = Field(default=None, validation_alias=_plivo("AUTH_ID"))
    plivo_auth_token: SecretStr | None = Field(default=None, validation_alias=_plivo("AUTH_TOKEN"))
    plivo_sender_id: str | None = Field(default=None, validation_alias=_plivo("SENDER_ID"))
    plivo_api_url: str = Field(default="https://api.plivo.com", validation_alias=_plivo("API_URL"))

    provider: ProviderName | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    plivo_timeout: float = Field(default=10.0, gt=0, le=300)
    # Plivo documents 100 simultaneous API requests per account (reference §5); past that it
    # answers 429, so by default we queue locally instead of provoking it.
    plivo_max_connections: int = Field(default=100, ge=1, le=10_000)
    default_region: str | None = None
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    # Websites whose pages may call /api from a browser (CORS), e.g. https://app.example.com;
    # off when empty. Their requests still need an API key.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Countries messages may go to (ISO codes, comma-separated); "*" allows every country.
    allowed_countries: Annotated[tuple[str, ...], NoDecode] = ("US", "CA")
    log_level: str = "info"
    log_format: str = "json"
    # SQLite in the working directory by default; a postgresql:// URL for PostgreSQL.
    database_url: str = "sqlite:///./smsgate.db"
    # The address Plivo reaches this smsgate at (scheme, host, port, path prefix), e.g.
    # https://sms.example.com. When set, sends ask Plivo for status callbacks there, and
    # callback signatures are checked against it (so they hold behind a proxy).
    public_url: str | None = None
    # How long an Idempotency-Key is remembered, in hours.
    idempotency_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    # The reply to an inbound HELP or INFO, as Plivo Message XML; empty sends no reply.
    help_reply: str = "Reply STOP to stop messages, START to receive them again."
    # A price table (JSON, as `smsgate prices update` writes it) for cost estimates; unset
    # uses the one shipped in the package.
    price_table: Path | None = None
    # Queued sending. Hand-offs per second per sender number (Plivo's default account rate
    # is 5); 0 turns pacing off.
    sender_mps: float = Field(default=5.0, ge=0, le=10_000)
    # Queued messages handed over at once by the dispatcher in `serve`.
    dispatch_concurrency: int = Field(default=50, ge=1, le=1_000)
    # Retries of a queued hand-off that certainly sent nothing: at most this many attempts,
    # and none later than this many seconds after the message was accepted.
    retry_max_attempts: int = Field(default=5, ge=1, le=100)
    retry_max_age: float = Field(default=3600.0, gt=0, le=7 * 24 * 3600)
    # A Dramatiq broker (redis://... or amqp://...). When set, `serve` only queues, and
    # `smsgate worker` processes hand the messages over; unset, `serve` does it itself.
    broker_url: str | None = None
    # Redis for pacing shared by every process; defaults to SMSGATE_BROKER_URL when that is
    # redis://. Without it, each process paces on its own.
    redis_url: str | None = None
    # Seconds a hand-off may stay "sending" before it counts as cut off by a crash and is
    # reconciled with Plivo's records; unset: twice SMSGATE_PLIVO_TIMEOUT plus 30 s.
    stale_sending_after: float | None = Field(default=None, gt=0, le=24 * 3600)
    # Abuse limits (services/limits.py). Requests per API key, as a token bucket: "60/minute";
    # "off" for none.
    rate_limit: str = "60/minute"
    # Messages to one destination number in any window, against SMS pumping and loops.
    destination_limit: str = "5/hour"
    # Messages one API key may send per UTC day; "off" for none.
    daily_message_limit: int | None = Field(default=10_000, ge=1)
    # Estimated spend per UTC day, in the account's currency (the price table's); unset: none.
    daily_spend_limit: Decimal | None = Field(default=None, gt=0)
    # Let requests through, unlimited, when Redis (which keeps the limits) is down; by
    # default they are refused with 503.
    limits_fail_open: bool = False
    # Webhooks to the user's app. Private, loopback and link-local URLs are refused unless
    # this is true (SSRF); tests and private networks set it.
    webhooks_allow_private: bool = False
    # Seconds a receiver has to answer 2xx; the first retry waits about this base, doubling,
    # and an event is given up ("dead") this many seconds after it happened.
    webhook_timeout: float = Field(default=10.0, gt=0, le=120)
    webhook_retry_base: float = Field(default=10.0, gt=0, le=3600)
    webhook_max_age: float = Field(default=86400.0, gt=0, le=7 * 86400)
    # Signs the status webhooks sent to a message's own callback_url (endpoints have their
    # own secrets); callback_url is refused while it is unset.
    callback_secret: SecretStr | None = None
    # Retention: rows (messages with their timelines, inbound messages, empty batches) are
    # deleted this many days after they were made, and texts redacted after the second (no
    # later than their rows). Only messages whose text nothing will read again are touched.
    retain_days: int = Field(default=400, ge=1, le=36_500)
    retain_text_days: int = Field(default=30, ge=1, le=36_500)

    @field_validator(
        "plivo_auth_id",
        "plivo_sender_id",
        "default_region",
        "price_table",
        "stale_sending_after",
        "broker_url",
        "redis_url",
        "daily_spend_limit",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("retain_text_days")
    @classmethod
    def _texts_go_first(cls, value: int, info: ValidationInfo) -> int:
        rows = info.data.get("retain_days")
        if rows is not None and value > rows:
            raise ValueError(
                f"must be at most SMSGATE_RETAIN_DAYS ({rows}): a text cannot outlive its row"
            )
        return value

    @field_validator("daily_message_limit", mode="before")
    @classmethod
    def _off_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in OFF | {""}:
            return None
        return value

    @field_validator("rate_limit", "destination_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)  # raises ValueError saying what is wrong
        return value

    @field_validator("plivo_auth_token", "callback_secret", mode="before")
    @classmethod
    def _blank_token_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("provider", mode="before")
    @classmethod
    def _provider_lower(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not an ISO 3166 country code libphonenumber knows")
        return region

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(
                origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()
            )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _web_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            url = URL(origin)
            if url.scheme not in {"http", "https"} or not url.host or url.path not in {"", "/"}:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @field_validator("allowed_countries", mode="before")
    @classmethod
    def _split_countries(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(code.strip().upper() for code in value.split(",") if code.strip())
        return value

    @field_validator("allowed_countries")
    @classmethod
    def _known_countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('list at least one country, or "*" for all')
        if "*" in value:
            return ("*",)
        unknown = [code for code in value if code not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not ISO 3166 codes libphonenumber knows")
        return value

    @property
    def country_policy(self) -> CountryPolicy:
        if "*" in self.allowed_countries:
            return CountryPolicy(None)
        return CountryPolicy(frozenset(self.allowed_countries))

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            if not value:
                return None
            parsed = URL(value)
            if parsed.scheme not in {"http", "https"} or not parsed.host:
                raise ValueError("must be an http(s) URL, like https://sms.example.com")
            if parsed.query_string or parsed.fragment:
                raise ValueError("must not have a query or a fragment")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        from sqlalchemy.exc import ArgumentError

        from smsgate.db.engine import async_url

        try:
            async_url(value)
        except (ArgumentError, ValueError) as exc:
            raise ValueError(f"is not a usable database URL: {exc}") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return level

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        fmt = value.strip().lower()
        if fmt not in {"json", "console"}:
            raise ValueError("must be json or console")
        return fmt

    @property
    def resolved_provider(self) -> ProviderName:
        """The explicit choice, else Plivo when both credentials are set, else the sandbox."""
        if self.provider is not None:
            return self.provider
        if self.plivo_auth_id and self.plivo_auth_token:
            return ProviderName.PLIVO
        return ProviderName.SANDBOX

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value is not None and value.split(":", 1)[0].lower() not in BROKER_SCHEMES:
            raise ValueError("use a redis://, rediss://, amqp:// or amqps:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is not None and value.split(":", 1)[0].lower() not in {"redis", "rediss"}:
            raise ValueError("use a redis:// or rediss:// URL")
        return value

    @property
    def pacing_redis_url(self) -> str | None:
        """Where pacing is shared: SMSGATE_REDIS_URL, else a Redis broker's URL."""
        if self.redis_url is not None:
            return self.redis_url
        if self.broker_url is not None and self.broker_url.lower().startswith("redis"):
            return self.broker_url
        return None

    @property
    def send_grace(self) -> float:
        """Seconds a stop waits for hand-offs already claimed: one Plivo deadline (its
        retries included) and the outcome's write. ``serve``, ``smsgate worker`` and
        ``send-bulk --wait`` all stop within it; unclaimed messages stay queued."""
        return self.plivo_timeout + 10

    @property
    def stale_after(self) -> float:
        """Seconds after which a hand-off still "sending" was cut off (see the field)."""
        if self.stale_sending_after is not None:
            return self.stale_sending_after
        return 2 * self.plivo_timeout + 30

    @property
    def auth_required(self) -> bool:
        return bool(self.api_keys)

    def check_stale_after(self) -> None:
        if self.stale_after <= self.plivo_timeout:
            raise ConfigError(
                "SMSGATE_STALE_SENDING_AFTER",
                f"must be longer than a send may take ({self.plivo_timeout:g} s, "
                "SMSGATE_PLIVO_TIMEOUT), or sends in progress would be reconciled",
            )


BROKER_SCHEMES = frozenset({"redis", "rediss", "amqp", "amqps"})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build ``Settings(...)`` directly instead."""
    return Settings()
