"""Settings: LEAD_ARCHIVE_* environment variables over an optional TOML file; read only here.

Every setting is a field of Settings, under the name its variable and file key carry. The
values that need parsing (URLs, zones, networks, office hours, holidays) are parsed once,
when the settings are read, and what each part of the service needs is handed to it as one
typed, frozen group: `server`, `http`, `bulk_client`, `nightly`. A value that cannot work is
refused with one line naming where it came from: the variable, or the file and its key. The
names of the settings are written here and nowhere else (`env_name`).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lead_archive_client.networks import IpNetwork, parse_networks
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

from lead_archive_server.access.office_hours import (
    DIALER,
    OfficeHoursError,
    parse_holidays,
    parse_office_hours,
)
from lead_archive_server.access.schedules import OfficeHoursConfig, SettingNames
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
TlsFiles = tuple[str, str]  # (certificate chain, private key), PEM files


class SettingsError(ValueError):
    """A setting is wrong; the message is one line naming it."""


class SettingProblem(Exception):
    """A value that cannot work, found while the settings are read: the field it belongs to
    and why. (Not a ValueError, so pydantic passes it on as it is; load_settings names the
    field by where its value came from.)"""

    def __init__(self, field: str, reason: str, *, label: str | None = None) -> None:
        super().__init__(reason)
        self.field, self.reason, self.label = field, reason, label


def env_name(field: str) -> str:
    """The environment variable of a setting (KeyError for a name that is no setting)."""
    if field not in Settings.model_fields:
        raise KeyError(field)
    return ENV_PREFIX + field.upper()


# --- The groups the parts of the service are given -----------------------------------------


@dataclass(frozen=True)
class GrpcPort:
    """Where gRPC listens, over what, and its bounds on each client."""

    host: str
    port: int
    tls: TlsFiles | None
    max_concurrent_streams: int
    handshake_timeout_s: float
    max_connection_idle_s: float
    max_connection_age_s: float

    def local_target(self, port: int | None = None) -> str:
        """Where a process on this machine reaches it (a wildcard address on the loopback)."""
        host = self.host
        if host in ("", "0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"  # a bare IPv6 address
        return f"{host}:{self.port if port is None else port}"


@dataclass(frozen=True)
class ServerSettings:
    """The gRPC service and what runs around it."""

    database: DatabaseUrl
    pool_size: int
    retry_attempts: int
    dialer_guard: bool
    range_locks: bool
    event_loop: str
    grpc: GrpcPort
    office: OfficeHoursConfig
    audit: bool
    audit_timeout_s: float
    trusted_proxies: tuple[IpNetwork, ...]
    auth_failure_limit: int
    key_use_flush_s: float
    metrics_host: str
    metrics_port: int
    health_interval_s: float
    shutdown_grace_s: float


@dataclass(frozen=True)
class HttpSettings:
    """The REST port: where it listens, over what, its bounds, and how the shim reaches a
    TLS gRPC server."""

    host: str
    port: int
    tls: TlsFiles | None
    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    keep_alive_s: int
    max_connections: int
    request_timeout_s: float
    max_connections_per_client: int
    trusted_proxies: tuple[IpNetwork, ...]
    upstream_ca: str
    upstream_server_name: str


@dataclass(frozen=True)
class BulkClientSettings:
    """`lead-archive archive` and `restore` as clients of the API."""

    api_key: str
    target: str  # LEAD_ARCHIVE_TARGET, else this machine's gRPC port
    own_port: bool  # the target is this machine's gRPC port (its TLS then applies)
    grpc_tls: TlsFiles | None
    upstream_ca: str
    upstream_server_name: str
    replica: DatabaseUrl | None


@dataclass(frozen=True)
class NightlySettings:
    """The nightly job (`archive --from-settings`): which leads, and how gently."""

    # The settings that select its leads (a file's keys), for the line that says none does.
    SELECTION_KEYS: ClassVar[tuple[str, ...]] = (
        "nightly_list_id",
        "nightly_campaign",
        "nightly_status",
        "nightly_called_before_days",
        "nightly_entered_before_days",
    )

    list_id: str
    campaign: str
    status: str
    called_before_days: int
    entered_before_days: int
    sleep_s: float
    max_replica_lag_s: float
    optimize: bool


@dataclass(frozen=True)
class _Parsed:
    """The values parsed when the settings were read."""

    database: DatabaseUrl
    database_source: str
    replica: DatabaseUrl | None
    trusted_proxies: tuple[IpNetwork, ...]
    office: OfficeHoursConfig


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
    # The named lock a batch holds: the database's (one batch at a time), or one per range of
    # lead IDs (batches on other leads side by side). The bulk commands on this machine keep
    # more batches in flight under range locks (bulk.job.IN_FLIGHT).
    batch_locks: Literal["database", "ranges"] = "database"
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
    # How often the keys' last use (kept in memory) is written to the key table: at most
    # one write per key per interval, and one at shutdown.
    key_use_flush_s: float = Field(default=60.0, gt=0, le=3600)
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

    _parsed: _Parsed | None = PrivateAttr(default=None)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _parse(self) -> Settings:
        """Parse what needs parsing, once; a value that cannot work is a SettingProblem."""
        database, source = self._database()
        self._parsed = _Parsed(
            database=database,
            database_source=source,
            replica=_url("replica_url", self.replica_url) if self.replica_url else None,
            trusted_proxies=_networks(self.trusted_proxies),
            office=self._office(),
        )
        return self

    def _database(self) -> tuple[DatabaseUrl, str]:
        """The database: the URL given, else Vicidial's astguiclient.conf, as Vicidial's own
        scripts read it, else the default."""
        if self.database_url:
            url, source = _url("database_url", self.database_url), env_name("database_url")
        else:
            found = _from_astguiclient(self.astguiclient_conf)
            url, source = (
                found or DatabaseUrl.parse(DEFAULT_DATABASE_URL),
                (self.astguiclient_conf if found else "default"),
            )
            self.database_url = url.url()
        if not url.database:
            raise SettingProblem("database_url", "names no database (…/dbname)")
        return url, source

    def _office(self) -> OfficeHoursConfig:
        dialer = self.office_hours.strip().lower() == DIALER
        if dialer and self.call_time_id:
            raise SettingProblem(
                "call_time_id",
                f"not with {env_name('office_hours')}=dialer, which reads each campaign's own "
                "call time; unset one of them",
            )
        holidays = _holidays(self.holidays)
        try:
            weekly = parse_office_hours("none" if dialer else self.office_hours, timezone=UTC)
        except OfficeHoursError as error:
            raise SettingProblem("office_hours", str(error)) from None
        return OfficeHoursConfig(
            weekly=replace(weekly, holidays=holidays),
            dialer=dialer,
            call_time_id=self.call_time_id,
            holidays=holidays,
            zone=ZoneInfo(self.timezone) if self.timezone else None,
            names=SettingNames(
                office_hours=env_name("office_hours"),
                call_time_id=env_name("call_time_id"),
                timezone=env_name("timezone"),
            ),
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
        """Environment wins over the TOML file named by LEAD_ARCHIVE_CONFIG."""
        config_file = os.environ.get(CONFIG_FILE_ENV, "")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def parsed(self) -> _Parsed:
        """What was parsed when the settings were read."""
        assert self._parsed is not None  # set by the model validator
        return self._parsed

    @property
    def database(self) -> DatabaseUrl:
        """The database every command works on."""
        return self.parsed.database

    @property
    def database_source(self) -> str:
        """Where the database URL came from: the variable, the astguiclient.conf, or default."""
        return self.parsed.database_source

    @cached_property
    def server(self) -> ServerSettings:
        """The gRPC service's settings."""
        parsed = self.parsed
        return ServerSettings(
            database=parsed.database,
            pool_size=self.pool_size,
            retry_attempts=self.retry_attempts,
            dialer_guard=self.dialer_guard,
            range_locks=self.batch_locks == "ranges",
            event_loop=self.event_loop,
            grpc=self.grpc,
            office=parsed.office,
            audit=self.audit,
            audit_timeout_s=self.audit_timeout_s,
            trusted_proxies=parsed.trusted_proxies,
            auth_failure_limit=self.auth_failure_limit,
            key_use_flush_s=self.key_use_flush_s,
            metrics_host=self.metrics_host,
            metrics_port=self.metrics_port,
            health_interval_s=self.health_interval_s,
            shutdown_grace_s=self.shutdown_grace_s,
        )

    @cached_property
    def grpc(self) -> GrpcPort:
        """The gRPC port."""
        return GrpcPort(
            host=self.grpc_host,
            port=self.grpc_port,
            tls=_pair(self.grpc_tls_cert or self.tls_cert, self.grpc_tls_key or self.tls_key),
            max_concurrent_streams=self.grpc_max_concurrent_streams,
            handshake_timeout_s=self.grpc_handshake_timeout_s,
            max_connection_idle_s=self.grpc_max_connection_idle_s,
            max_connection_age_s=self.grpc_max_connection_age_s,
        )

    @cached_property
    def http(self) -> HttpSettings:
        """The REST port."""
        return HttpSettings(
            host=self.http_host,
            port=self.http_port,
            tls=_pair(self.http_tls_cert or self.tls_cert, self.http_tls_key or self.tls_key),
            max_header_bytes=self.http_max_header_bytes,
            max_headers=self.http_max_headers,
            header_timeout_s=self.http_header_timeout_s,
            keep_alive_s=self.http_keep_alive_s,
            max_connections=self.http_max_connections,
            request_timeout_s=self.http_request_timeout_s,
            max_connections_per_client=self.http_max_connections_per_client,
            trusted_proxies=self.parsed.trusted_proxies,
            upstream_ca=self.upstream_ca,
            upstream_server_name=self.upstream_server_name,
        )

    @cached_property
    def bulk_client(self) -> BulkClientSettings:
        """The bulk commands as clients of the API."""
        return BulkClientSettings(
            api_key=self.api_key.get_secret_value(),
            target=self.target or self.grpc.local_target(),
            own_port=not self.target,
            grpc_tls=self.grpc.tls,
            upstream_ca=self.upstream_ca,
            upstream_server_name=self.upstream_server_name,
            replica=self.parsed.replica,
        )

    @cached_property
    def nightly(self) -> NightlySettings:
        """The nightly job's selection and pace."""
        return NightlySettings(
            list_id=self.nightly_list_id,
            campaign=self.nightly_campaign,
            status=self.nightly_status,
            called_before_days=self.nightly_called_before_days,
            entered_before_days=self.nightly_entered_before_days,
            sleep_s=self.nightly_sleep_s,
            max_replica_lag_s=self.nightly_max_replica_lag_s,
            optimize=self.nightly_optimize,
        )

    def given(self, field: str) -> bool:
        """Whether the environment, the file or the caller gave this setting a value."""
        return field in self.model_fields_set

    def check(self) -> None:
        """Raise SettingProblem for files the settings name that cannot be used: TLS pairs
        that do not load, a CA bundle that is not there."""
        for port, pair in (("grpc", self.grpc.tls), ("http", self.http.tls)):
            try:
                check_pair(pair)
            except ValueError as error:
                label = f"{env_name(port + '_tls_cert')}/KEY"
                raise SettingProblem(f"{port}_tls_cert", str(error), label=label) from None
        if self.upstream_ca and not Path(self.upstream_ca).is_file():
            raise SettingProblem("upstream_ca", f"no such file {self.upstream_ca!r}")


def _url(field: str, text: str) -> DatabaseUrl:
    try:
        return DatabaseUrl.parse(text)
    except DatabaseUrlError as error:
        raise SettingProblem(field, str(error)) from None


def _networks(text: str) -> tuple[IpNetwork, ...]:
    try:
        return parse_networks(text)
    except ValueError as error:
        raise SettingProblem("trusted_proxies", str(error)) from None


def _holidays(text: str) -> frozenset[date]:
    try:
        return parse_holidays(text)
    except OfficeHoursError as error:
        raise SettingProblem("holidays", str(error)) from None


def _from_astguiclient(path: str) -> DatabaseUrl | None:
    """The database Vicidial's astguiclient.conf names; None when there is no such file."""
    file = Path(path)
    if not file.exists():
        return None
    try:
        vicidial = parse_database(file.read_text(errors="replace"))
    except OSError as error:
        raise SettingProblem("astguiclient_conf", f"cannot read {path}: {error.strerror}") from None
    except AstguiclientError as error:
        raise SettingProblem("astguiclient_conf", f"{path}: {error}") from None
    return DatabaseUrl(
        vicidial.server, vicidial.port, vicidial.user, vicidial.password, vicidial.database
    )


def _pair(cert: str, key: str) -> TlsFiles | None:
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
        settings.check()
    except ValidationError as error:
        first = error.errors()[0]
        field = "_".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{source.of(field)}: {message}") from None
    except SettingProblem as problem:
        raise SettingsError(
            f"{problem.label or source.of(problem.field)}: {problem.reason}"
        ) from None
    except (OSError, ValueError) as error:  # an unreadable or malformed TOML file
        raise SettingsError(f"{CONFIG_FILE_ENV}: {error}") from None
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
