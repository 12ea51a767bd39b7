"""Settings: LEAD_ARCHIVE_* environment variables over an optional TOML file; read only here."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lead_archive_client.networks import parse_networks
from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lead_archive_server.access.guard import DIALER_OFFICE_HOURS
from lead_archive_server.access.office_hours import (
    OfficeHoursError,
    parse_holidays,
    parse_office_hours,
)
from lead_archive_server.core.database_url import DatabaseUrl, DatabaseUrlError
from lead_archive_server.runtime.astguiclient import DEFAULT_PATH as ASTGUICLIENT_CONF
from lead_archive_server.runtime.astguiclient import AstguiclientError, parse_database
from lead_archive_server.runtime.tls_files import check_pair

ENV_PREFIX = "LEAD_ARCHIVE_"
CONFIG_FILE_ENV = "LEAD_ARCHIVE_CONFIG"
# Variables of the test, soak and benchmark harnesses: not settings, and not refused.
HARNESS_PREFIXES = ("LEAD_ARCHIVE_TEST_", "LEAD_ARCHIVE_SOAK_", "LEAD_ARCHIVE_BENCH_")
DEFAULT_OFFICE_HOURS = "mon-fri 08:00-18:00"
DEFAULT_DATABASE_URL = "mysql://root@127.0.0.1:3306/asterisk"


class SettingsError(ValueError):
    """A setting is wrong; the message is one line naming it."""


def database_from_astguiclient(path: str) -> DatabaseUrl | None:
    """The database Vicidial's astguiclient.conf names; None when there is no such file."""
    file = Path(path)
    if not file.exists():
        return None
    name = "LEAD_ARCHIVE_ASTGUICLIENT_CONF"
    try:
        vicidial = parse_database(file.read_text(errors="replace"))
    except OSError as error:
        raise SettingsError(f"{name}: cannot read {path}: {error.strerror}") from None
    except AstguiclientError as error:
        raise SettingsError(f"{name}: {path}: {error}") from None
    return DatabaseUrl(
        vicidial.server, vicidial.port, vicidial.user, vicidial.password, vicidial.database
    )


class Settings(BaseSettings):
    """Every setting of the service; see the settings table in docs/operations.md."""

    model_config = SettingsConfigDict(env_prefix="LEAD_ARCHIVE_", extra="ignore")

    # Empty: from astguiclient_conf when that file exists, else DEFAULT_DATABASE_URL.
    database_url: str = ""
    astguiclient_conf: str = ASTGUICLIENT_CONF
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    timezone: str = ""
    office_hours: str = DEFAULT_OFFICE_HOURS
    holidays: str = ""
    call_time_id: str = ""
    pool_size: int = Field(default=8, ge=1, le=100)
    retry_attempts: int = Field(default=5, ge=1, le=50)
    # CONTRACT 6: keep leads the dialer uses, take their READY hopper rows (on/off).
    dialer_guard: bool = True
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # Operations: audit, TLS, metrics, logs, health, shutdown.
    audit: bool = True
    audit_timeout_s: float = Field(default=2.0, gt=0, le=60)
    tls_cert: str = ""
    tls_key: str = ""
    grpc_tls_cert: str = ""
    grpc_tls_key: str = ""
    http_tls_cert: str = ""
    http_tls_key: str = ""
    upstream_ca: str = ""
    upstream_server_name: str = ""
    # Proxies whose X-Forwarded-For / x-forwarded-for is believed; none unless named. The
    # REST half of `serve` reaches its gRPC half with a per-process token instead.
    trusted_proxies: str = ""
    # Failed authentications per client per minute before its unknown keys are refused
    # unchecked for a minute (valid keys still work); 0 turns the limit off.
    auth_failure_limit: int = Field(default=10, ge=0, le=100_000)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # The REST port's bounds on each client (see cli/http_limits.py).
    http_max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    http_max_headers: int = Field(default=64, ge=8, le=10_000)
    http_header_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    http_keep_alive_s: int = Field(default=5, ge=1, le=3600)
    http_max_connections: int = Field(default=512, ge=1, le=100_000)
    # A whole request (head and body) must arrive within this; and the open connections one
    # client address may hold (trusted proxies excepted). See cli/http_limits.py.
    http_request_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    http_max_connections_per_client: int = Field(default=64, ge=1, le=100_000)
    # The gRPC port's bounds on each client (see runtime/app.py): streams per connection,
    # seconds to finish the TLS/HTTP2 handshake, seconds a connection may stay idle, and its
    # age, after which it is closed once its calls end (within shutdown_grace_s).
    grpc_max_concurrent_streams: int = Field(default=32, ge=1, le=10_000)
    grpc_handshake_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    grpc_max_connection_idle_s: float = Field(default=60.0, gt=0, le=86_400)
    grpc_max_connection_age_s: float = Field(default=600.0, gt=0, le=86_400)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    health_interval_s: float = Field(default=5.0, gt=0, le=3600)
    shutdown_grace_s: float = Field(default=30.0, ge=0, le=3600)

    # For `lead-archive archive`, a client of the API: the key it sends, and where to.
    api_key: SecretStr = SecretStr("")
    target: str = ""
    # The nightly job (`lead-archive archive --from-settings`, deploy/lead-archive-nightly.*):
    # which leads, chosen as the command's options choose them, and how gently.
    nightly_list_id: str = ""
    nightly_campaign: str = ""
    nightly_status: str = ""
    nightly_called_before_days: int = Field(default=0, ge=0, le=36500)
    nightly_entered_before_days: int = Field(default=0, ge=0, le=36500)
    nightly_sleep_s: float = Field(default=0.0, ge=0, le=3600)
    nightly_max_replica_lag_s: float = Field(default=0.0, ge=0, le=86400)
    nightly_optimize: bool = False
    # A replica of the database to watch (--replica): mysql://user:pass@host:port/
    replica_url: str = ""

    _database_source: str = PrivateAttr(default="LEAD_ARCHIVE_DATABASE_URL")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _resolve_database(self) -> Settings:
        """No database URL given: use Vicidial's astguiclient.conf, as Vicidial's scripts do."""
        if self.database_url:
            return self
        vicidial = database_from_astguiclient(self.astguiclient_conf)
        if vicidial is None:
            self.database_url, self._database_source = DEFAULT_DATABASE_URL, "default"
        else:
            self.database_url, self._database_source = vicidial.url(), self.astguiclient_conf
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment wins over the TOML file named by LEAD_ARCHIVE_CONFIG."""
        config_file = os.environ.get(CONFIG_FILE_ENV, "")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def database(self) -> DatabaseUrl:
        """The parsed database URL."""
        try:
            return DatabaseUrl.parse(self.database_url)
        except DatabaseUrlError as error:
            raise SettingsError(str(error)) from None

    @property
    def archive_target(self) -> str:
        """The gRPC server `archive` calls: LEAD_ARCHIVE_TARGET, else this machine's gRPC port."""
        return self.target or self.local_grpc_target(self.grpc_port)

    def local_grpc_target(self, port: int) -> str:
        """Where a process on this machine reaches the gRPC server listening on `port`.

        A wildcard listen address (every interface) is reached on the loopback.
        """
        host = self.grpc_host
        if host in ("", "0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"  # a bare IPv6 address
        return f"{host}:{port}"

    @property
    def database_source(self) -> str:
        """Where the database URL came from: the variable, the astguiclient.conf, or default."""
        return self._database_source

    @property
    def grpc_tls(self) -> tuple[str, str] | None:
        """(certificate, key) files for the gRPC port, or None for plaintext."""
        return _pair(self.grpc_tls_cert or self.tls_cert, self.grpc_tls_key or self.tls_key)

    @property
    def http_tls(self) -> tuple[str, str] | None:
        """(certificate, key) files for the REST port, or None for plaintext."""
        return _pair(self.http_tls_cert or self.tls_cert, self.http_tls_key or self.tls_key)

    @property
    def configured_zone(self) -> ZoneInfo | None:
        """LEAD_ARCHIVE_TIMEZONE, or None: the database server's clock (CONTRACT 9)."""
        return ZoneInfo(self.timezone) if self.timezone else None

    def check(self) -> None:
        """Raise SettingsError for any setting that cannot work, before start-up."""
        database = self.database
        if not database.database:
            raise SettingsError("LEAD_ARCHIVE_DATABASE_URL names no database (…/dbname)")
        try:
            if self.office_hours.strip().lower() != DIALER_OFFICE_HOURS:
                parse_office_hours(self.office_hours, timezone=UTC)
            elif self.call_time_id:
                raise SettingsError(
                    "LEAD_ARCHIVE_CALL_TIME_ID: not with LEAD_ARCHIVE_OFFICE_HOURS=dialer, "
                    "which reads each campaign's own call time; unset one of them"
                )
            parse_holidays(self.holidays)
        except OfficeHoursError as error:
            raise SettingsError(str(error)) from None
        for port, pair in (("GRPC", self.grpc_tls), ("HTTP", self.http_tls)):
            try:
                check_pair(pair)
            except ValueError as error:
                raise SettingsError(f"LEAD_ARCHIVE_{port}_TLS_CERT/KEY: {error}") from None
        if self.upstream_ca and not Path(self.upstream_ca).is_file():
            raise SettingsError(f"LEAD_ARCHIVE_UPSTREAM_CA: no such file {self.upstream_ca!r}")


def _pair(cert: str, key: str) -> tuple[str, str] | None:
    return (cert, key) if cert or key else None


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and config file, or raise SettingsError.

    A LEAD_ARCHIVE_* variable or a file key that is no setting is refused (with the closest
    valid name), and a bad value is reported under the name it was given by: the variable,
    or the file and its key.
    """
    config_file = os.environ.get(CONFIG_FILE_ENV, "")
    file_keys = _config_file_keys(config_file) if config_file else set()
    _refuse_unknown_names(os.environ, file_keys, config_file)
    source = _Sources(os.environ, file_keys, config_file)
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        if not first["loc"]:  # a whole-model check: its message names the setting
            raise SettingsError(source.named(first["msg"].removeprefix("Value error, "))) from None
        field = "_".join(str(p) for p in first["loc"])
        raise SettingsError(f"{source.of(field)}: {first['msg']}") from None
    except (OSError, ValueError) as error:  # an unreadable or malformed TOML file
        raise SettingsError(f"{CONFIG_FILE_ENV}: {error}") from None
    try:
        settings.check()
    except SettingsError as error:
        raise SettingsError(source.named(str(error))) from None
    return settings


def _config_file_keys(config_file: str) -> set[str]:
    """The keys of the TOML file (SettingsError when it is missing or malformed)."""
    try:
        with open(config_file, "rb") as file:
            return set(tomllib.load(file))
    except FileNotFoundError:
        raise SettingsError(f"{CONFIG_FILE_ENV}: no such file {config_file!r}") from None
    except OSError as error:
        raise SettingsError(f"{CONFIG_FILE_ENV}: cannot read {config_file}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(
            f"{CONFIG_FILE_ENV}: {config_file} is not valid TOML: {error}"
        ) from None


def _refuse_unknown_names(env: Mapping[str, str], file_keys: set[str], config_file: str) -> None:
    names = list(Settings.model_fields)
    for variable in sorted(env):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_FILE_ENV:
            continue
        if upper.startswith(HARNESS_PREFIXES):
            continue
        if upper.removeprefix(ENV_PREFIX).lower() not in names:
            known = [ENV_PREFIX + name.upper() for name in names] + [CONFIG_FILE_ENV]
            raise SettingsError(f"{variable} is not a setting{_closest(upper, known)}")
    for key in sorted(file_keys):
        if key not in names:
            raise SettingsError(f"{config_file}: {key!r} is not a setting{_closest(key, names)}")


def _closest(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else " (see docs/operations.md, Settings)"


@dataclass(frozen=True)
class _Sources:
    """Where each setting's value came from, to name it in an error."""

    env: Mapping[str, str]
    file_keys: set[str]
    config_file: str

    def of(self, field: str) -> str:
        """`LEAD_ARCHIVE_X` when the environment gave it (or no one did), else `file: x`."""
        variable = ENV_PREFIX + field.upper()
        in_env = any(name.upper() == variable for name in self.env)
        if field in self.file_keys and not in_env:
            return f"{self.config_file}: {field}"
        return variable

    def named(self, message: str) -> str:
        """A message that starts with LEAD_ARCHIVE_X, restated with X's true source."""
        found = re.match(r"LEAD_ARCHIVE_([A-Z0-9_]+)(?=[: ])", message)
        if found is None or found.group(1).lower() not in Settings.model_fields:
            return message
        return self.of(found.group(1).lower()) + message[found.end() :]
