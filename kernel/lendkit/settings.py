"""Tenant settings: ``lendkit.toml`` overlaid by ``LENDKIT_*`` variables.

Environment variables win over the file; nested keys use ``__``, e.g.
``LENDKIT_DATABASE__URL`` or ``LENDKIT_PLUGINS__ENABLED='["marketing"]'``.
The file is found at ``$LENDKIT_CONFIG`` or ``./lendkit.toml``; relative
paths in it are relative to the file's folder (the tenant root). A missing
file means all defaults: a demo-ready SQLite tenant in ``./data``.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lendkit.branding import check_logo_setting
from lendkit.config_file import CONFIG_ENV, config_path
from lendkit.errors import LendkitError, StartupError

__all__ = ["CONFIG_ENV", "TOTP_ROLES", "Settings", "config_path", "load_settings"]

ENV_PREFIX = "LENDKIT_"
SUPPORTED_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
TOTP_ROLES = ("admin", "risk_officer", "finance")
# Settings the kernel no longer reads -> what to do instead (shown at start-up).
RETIRED_SETTINGS = Path(__file__).with_name("retired_settings.toml")


def _database_url(value: str) -> str:
    """Accept SQLite and PostgreSQL URLs; PostgreSQL always goes through psycopg 3."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(
            "expected a URL like sqlite:///data/lendkit.db or postgresql://u@h/db"
        ) from None
    backend = url.get_backend_name()
    if backend not in SUPPORTED_DRIVERS:
        raise ValueError(f"expected a sqlite or postgresql URL, not {backend!r}")
    if url.get_driver_name() not in {"pysqlite", "psycopg", "psycopg2"}:
        raise ValueError(f"unsupported driver {url.get_driver_name()!r} (use psycopg)")
    return url.set(drivername=SUPPORTED_DRIVERS[backend]).render_as_string(hide_password=False)


def _colour(value: str) -> str:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise ValueError("expected a colour like #1f6feb")
    return value


def _product_table(value: dict[str, Any]) -> dict[str, Any]:
    """A ``[[products]]`` table, checked for form now (a typo stops start-up); the
    cap is checked when it is seeded, by ``lendkit db upgrade``."""
    from lendkit.lifecycle.product_rules import parse_spec  # only when there are [[products]]

    try:
        parse_spec(value)
    except LendkitError as exc:
        raise ValueError(exc.detail) from None
    return value


DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
Colour = Annotated[str, AfterValidator(_colour)]
LogoFile = Annotated[str, AfterValidator(check_logo_setting)]
PluginName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
Rate = Annotated[Decimal, Field(gt=0, lt=1)]
Money = Annotated[Decimal, Field(gt=0, decimal_places=2)]
Share = Annotated[Decimal, Field(ge=0, le=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tenant(_Section):
    name: str = "Demo Microfinance Co."
    slug: str = Field("demo", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    display_name: str = "演示小贷"
    locale: str = Field("zh_CN", pattern=r"^[a-z]{2}_[A-Z]{2}$")
    primary_colour: Colour = "#b4232a"
    accent_colour: Colour = "#1f6feb"
    # An image in the tenant folder (branding/logo.png), shown in the page header.
    logo: LogoFile | None = None


class Database(_Section):
    url: DatabaseUrl | None = None
    echo: bool = False


class Plugins(_Section):
    enabled: list[PluginName] = Field(default_factory=list)
    # Each plugin's own section, [plugins.options.<name>]: a table as read, replaced
    # by the plugin's validated OPTIONS model when the runtime opens (lendkit.plugin_options).
    options: dict[PluginName, Any] = Field(default_factory=dict)


class Keys(_Section):
    master_key_file: str | None = "keys/master.key"
    master_key_env: str | None = None


class Caps(_Section):
    # The cap on an offer's all-in annualized rate: ``annual_rate`` ("fixed"),
    # or ``lpr_multiple`` × the one-year LPR in force on the offer's date ("lpr"),
    # from the ``lpr`` table (publication date -> rate).
    basis: Literal["fixed", "lpr"] = "fixed"
    annual_rate: Rate = Decimal("0.24")
    lpr_multiple: Annotated[Decimal, Field(gt=0, le=10)] = Decimal("4")
    lpr: dict[date, Rate] = Field(default_factory=dict)
    per_borrower: Money = Decimal("300000.00")
    per_household: Money = Decimal("200000.00")
    income_fraction: Rate = Decimal("0.3333")
    # Co-lending: the lender's own funds carry at least this share of every loan.
    min_own_share: Share = Decimal("0.30")

    @model_validator(mode="after")
    def _lpr_table(self) -> Caps:
        if self.basis == "lpr" and not self.lpr:
            raise ValueError("basis 'lpr' needs the [caps.lpr] table (date = rate)")
        return self

    def rate_cap(self, on: date) -> Decimal:
        """The cap in force on ``on``; ``None``-free: raises ``LookupError`` when the
        LPR table has nothing published on or before that date."""
        if self.basis == "fixed":
            return self.annual_rate
        published = [day for day in self.lpr if day <= on]
        if not published:
            raise LookupError(f"no LPR published on or before {on}")
        return self.lpr[max(published)] * self.lpr_multiple


class Lifecycle(_Section):
    """Loan lifecycle rules that are the tenant's to set (docs/lifecycle.md)."""

    # How long an approved application's offer stays open.
    offer_ttl_days: int = Field(7, ge=1, le=90)
    # Days before a due date that end of day raises ``loan.due_soon``.
    reminder_days: int = Field(3, ge=0, le=31)
    # Five-tier classification: the first day past due of each tier but "normal".
    special_mention_from: int = Field(1, ge=1)
    substandard_from: int = Field(91, ge=1)
    doubtful_from: int = Field(271, ge=1)
    loss_from: int = Field(361, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Lifecycle:
        tiers = (
            self.special_mention_from,
            self.substandard_from,
            self.doubtful_from,
            self.loss_from,
        )
        if list(tiers) != sorted(set(tiers)):
            raise ValueError("classification thresholds must rise: special mention < … < loss")
        return self


class Crypto(_Section):
    # Both backends read and write the same format; gmssl is the slow reference.
    backend: Literal["openssl", "gmssl"] = "openssl"


class Backup(_Section):
    dir: str = "backups"
    keep: int = Field(48, ge=1)


class Auth(_Section):
    """Sign-in, sessions and request signing (see docs/security.md)."""

    idle_timeout_minutes: int = Field(30, ge=1, le=24 * 60)
    session_max_hours: int = Field(12, ge=1, le=24 * 30)
    max_failed_logins: int = Field(5, ge=1, le=100)
    lockout_minutes: int = Field(30, ge=1, le=24 * 60)
    # auto: Secure unless the request came over plain HTTP to a loopback host (the demo).
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    # Staff roles that must sign in with TOTP: every role that moves money
    # (loans.disburse), decides credit (applications.review, kyc.review,
    # collections.manage) or unmasks data (pii.unmask), and the administrator.
    totp_roles: list[str] = Field(default_factory=lambda: list(TOTP_ROLES))
    otp_ttl_seconds: int = Field(300, ge=60, le=1800)
    otp_max_attempts: int = Field(5, ge=1, le=10)
    otp_resend_seconds: int = Field(60, ge=0, le=3600)
    api_clock_skew_seconds: int = Field(300, ge=30, le=900)
    # argon2id, RFC 9106 second recommended option; lower only in tests.
    password_time_cost: int = Field(3, ge=1, le=20)
    password_memory_kib: int = Field(65536, ge=8, le=4 * 1024 * 1024)
    password_parallelism: int = Field(4, ge=1, le=64)
    password_concurrency: int = Field(4, ge=1, le=256)


class Server(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # The largest request body accepted, in KiB (413 ``body_too_large`` above it).
    # The kit's own bodies are a few KiB; this bounds what one request costs.
    max_body_kib: int = Field(256, ge=1, le=100 * 1024)


class Outbox(_Section):
    max_attempts: int = Field(8, ge=1, le=100)
    base_delay_seconds: float = Field(2.0, gt=0)
    batch_size: int = Field(100, ge=1, le=10_000)


class Payments(_Section):
    """Payment orders and channels (docs/clearing.md)."""

    # Where channels send asynchronous results: this tenant's public base URL.
    callback_base_url: str = "http://127.0.0.1:8000"
    # An order in transit this long is queried at its channel.
    in_transit_timeout_minutes: int = Field(30, ge=1, le=7 * 24 * 60)
    # An order the channel never acknowledges is sent this many times (with
    # back-off, about 20 minutes for 10), then queried: failed
    # (``not_acknowledged``) if the channel has no record of it.
    max_instruct_attempts: int = Field(10, ge=1, le=1000)


class Settings(BaseSettings):
    """Everything a tenant configures; immutable once loaded."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    root: Path = Field(default_factory=Path.cwd, exclude=True)
    data_dir: str = "data"
    tenant: Tenant = Tenant()
    database: Database = Database()
    plugins: Plugins = Plugins()
    keys: Keys = Keys()
    caps: Caps = Caps()
    lifecycle: Lifecycle = Lifecycle()
    crypto: Crypto = Crypto()
    backup: Backup = Backup()
    auth: Auth = Auth()
    server: Server = Server()
    outbox: Outbox = Outbox()
    payments: Payments = Payments()
    # Products to seed: [[products]] tables, keys = ProductSpec's fields (docs/lifecycle.md).
    products: list[Annotated[dict[str, Any], AfterValidator(_product_table)]] = Field(
        default_factory=list
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init arguments; the environment overrides it.
        return (env_settings, init_settings)

    def path(self, relative: str) -> Path:
        """A path from the settings, resolved against the tenant root."""
        return (self.root / relative).resolve()

    @property
    def database_url(self) -> str:
        if self.database.url is None:
            return f"sqlite:///{self.path(self.data_dir) / 'lendkit.db'}"
        url = make_url(self.database.url)
        file = url.database or ""
        if (
            url.get_backend_name() == "sqlite"
            and file not in {"", ":memory:"}
            and not file.startswith("file:")
            and not Path(file).is_absolute()
        ):
            # Like every relative path in the settings: relative to the tenant root.
            return url.set(database=str(self.path(file))).render_as_string(hide_password=False)
        return self.database.url


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the settings; raise one clear :class:`StartupError`."""
    file = config_path(path)
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise StartupError(f"{file.name}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise StartupError(f"{file}: cannot read: {exc.strerror or exc}") from None
    try:
        return Settings(root=file.parent, **data)
    except ValidationError as exc:
        raise StartupError(_first_problem(exc, file.name)) from None
    except SettingsError as exc:
        # A LENDKIT_* variable for a list or a table that does not parse.
        raise StartupError(
            f"{exc}: expected JSON, e.g. {ENV_PREFIX}PLUGINS__ENABLED='[\"marketing\"]'"
        ) from None


def _first_problem(exc: ValidationError, file_name: str) -> str:
    error = exc.errors(include_url=False)[0]
    loc = error["loc"]
    key = ".".join(str(part) for part in loc)
    source = _env_source(loc) or file_name
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        hint = _retired().get(key)
        return f"{source}: unknown setting {key!r}" + (f": {hint}" if hint else "")
    if error["type"] == "missing":
        return f"{source}: {key}: required setting is missing"
    return f"{source}: {key} = {_shown(key, error['input'])}: {message}"


def _retired() -> dict[str, str]:
    """Retired setting -> what to do instead, from :data:`RETIRED_SETTINGS`."""
    try:
        table = tomllib.loads(RETIRED_SETTINGS.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}  # the plain "unknown setting" line still says what is wrong
    return {key: str(hint) for key, hint in table.items()}


def _env_source(loc: tuple[int | str, ...]) -> str | None:
    """The ``LENDKIT_*`` variable that set the setting at ``loc``, if one did."""
    parts = [part for part in loc if isinstance(part, str)]
    for length in range(len(parts), 0, -1):
        name = ENV_PREFIX + "__".join(parts[:length]).upper()
        if name in os.environ:
            return name
    return None


def _shown(key: str, value: object) -> str:
    """The offending value for the error line, with any database password hidden."""
    if key == "database.url" and isinstance(value, str):
        value = re.sub(r"(://[^/@:]*:)[^@/]*@", r"\1***@", value)
    return repr(value)
