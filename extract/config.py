"""Configuration: YAML files in one folder, ${VAR} / ${VAR:-default} substitution, typed dataclasses."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from extract.errors import ConfigError

TICKER_PATTERN = re.compile(r"^[A-Z][A-Za-z0-9.\-]{0,11}$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CONFIG_FILES = ("instruments.yml", "pipeline.yml", "s3.yml", "database.yml", "api.yml")
TARGETS = ("duckdb", "postgres")
LAND_SCOPES = ("all", "configured")


class Secret:
    """A value that never shows itself in a repr, str or log line."""

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True)
class Instrument:
    ticker: str
    name: str
    type: str
    exchange: str
    sector: str
    active: bool = True
    previous_tickers: tuple[str, ...] = ()  # earlier tickers of the same instrument, newest first


@dataclass(frozen=True)
class PipelineConfig:
    dataset: str
    start_date: date
    lookback_days: int
    download_workers: int
    cache_dir: Path
    land_scope: str
    load_connections: int = 2
    lake_location: str = "lake"


@dataclass(frozen=True)
class S3Config:
    endpoint: str
    bucket: str
    prefix: str
    access_key: Secret
    secret_key: Secret
    max_attempts: int = 8
    connect_timeout_seconds: int = 10
    read_timeout_seconds: int = 60


@dataclass(frozen=True)
class ApiConfig:
    """The provider's REST API (reference data), or a folder of its pages."""

    base_url: str
    key: Secret
    source: str = ""
    lookback_days: int = 90


@dataclass(frozen=True)
class PostgresConfig:
    host: str
    port: int
    dbname: str
    user: str
    password: Secret
    lock_timeout_seconds: int = 60

    def describe(self) -> str:
        """Where we connect, for error messages: never the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class DatabaseConfig:
    duckdb_path: Path
    postgres: PostgresConfig
    landing_schema: str = "landing"


@dataclass(frozen=True)
class Config:
    config_dir: Path
    instruments: tuple[Instrument, ...]
    groups: dict[str, tuple[str, ...]]
    pipeline: PipelineConfig
    s3: S3Config
    database: DatabaseConfig
    api: ApiConfig
    source: str = ""
    target: str = "duckdb"

    def all_tickers(self) -> list[str]:
        return [i.ticker for i in self.instruments]

    def active_tickers(self) -> list[str]:
        return [i.ticker for i in self.instruments if i.active]

    def group(self, name: str) -> list[str]:
        if name not in self.groups:
            known = ", ".join(sorted(self.groups)) or "none"
            raise ConfigError(f"unknown group '{name}' (groups in instruments.yml: {known})")
        return list(self.groups[name])

    def validate_environment(self) -> list[str]:
        """Problems that stop a run in this environment, as sentences a user can act on."""
        problems = []
        if self.source.startswith("s3://") or not self.source:
            if not self.s3.access_key or not self.s3.secret_key:
                problems.append(
                    "POLYGON_S3_ACCESS_KEY and POLYGON_S3_SECRET_KEY must be set to read from S3 "
                    "(or set TBP_SOURCE to a local mirror folder)"
                )
        elif not Path(self.source).is_dir():
            problems.append(f"TBP_SOURCE={self.source} is neither s3://bucket[/prefix] nor an existing folder")
        if self.target == "postgres" and not self.database.postgres.host:
            problems.append("DB_HOST must be set for TBP_TARGET=postgres")
        return problems


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file; comments and blank lines are skipped."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def substitute(value: Any, env: dict[str, str], where: str) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {k: substitute(v, env, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        file, _, key = where.partition(":")
        key = key.lstrip(".")
        raise ConfigError(f"{file}: key '{key}' needs environment variable {name}, which is not set")

    return _VARIABLE.sub(replace, value)


def load_config(config_dir: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Read, substitute and validate the four config files; raise ConfigError naming what to fix."""
    env = dict(os.environ if environ is None else environ)
    config_dir = Path(config_dir or env.get("TBP_CONFIG_DIR") or "config")
    if not config_dir.is_dir():
        raise ConfigError(f"config folder '{config_dir}' does not exist (set TBP_CONFIG_DIR or --config-dir)")
    env = {**read_dotenv(Path(".env")), **env}
    raw = {name: _read_yaml(config_dir / name, env) for name in CONFIG_FILES}
    instruments, groups = _instruments(raw["instruments.yml"])
    target = env.get("TBP_TARGET") or "duckdb"
    if target not in TARGETS:
        raise ConfigError(f"TBP_TARGET must be one of {', '.join(TARGETS)}, not '{target}'")
    return Config(
        config_dir=config_dir,
        instruments=instruments,
        groups=groups,
        pipeline=_pipeline(raw["pipeline.yml"]),
        s3=_s3(raw["s3.yml"]),
        database=_database(raw["database.yml"]),
        api=_api(raw["api.yml"]),
        source=env.get("TBP_SOURCE", ""),
        target=target,
    )


class _StringDatesLoader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text, so a bad date gets our message rather than a YAML error."""


_StringDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(path: Path, env: dict[str, str]) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file is missing")
    try:
        data = yaml.load(path.read_text(), Loader=_StringDatesLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return substitute(data, env, f"{path.name}:")


def _section(data: dict[str, Any], file: str, name: str) -> dict[str, Any]:
    section = data.get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: missing section '{name}'")
    return section


def _required(section: dict[str, Any], file: str, key: str) -> Any:
    if section.get(key) in (None, ""):
        raise ConfigError(f"{file}: key '{key}' is required")
    return section[key]


def _positive_int(section: dict[str, Any], file: str, key: str, default: int | None = None) -> int:
    value = section.get(key, default)
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"{file}: key '{key}' must be a positive integer, not '{value}'") from None
    if number <= 0:
        raise ConfigError(f"{file}: key '{key}' must be a positive integer, not '{value}'")
    return number


def parse_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where} must be a date like 2020-01-31, not '{value}'") from None


def validate_ticker(ticker: str, where: str = "ticker") -> str:
    if not isinstance(ticker, str) or not TICKER_PATTERN.match(ticker):
        raise ConfigError(
            f"{where}: '{ticker}' is not a valid ticker (letters, digits, '.', '-', starting with a capital)"
        )
    return ticker


def _instruments(data: dict[str, Any]) -> tuple[tuple[Instrument, ...], dict[str, tuple[str, ...]]]:
    file = "instruments.yml"
    entries = data.get("instruments")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{file}: 'instruments' must be a non-empty list")
    instruments = []
    for index, entry in enumerate(entries):
        where = f"{file}: instruments[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping with ticker, name, type, exchange, sector")
        missing = [k for k in ("ticker", "name", "type", "exchange", "sector") if entry.get(k) in (None, "")]
        if missing:
            raise ConfigError(f"{where} is missing {', '.join(missing)}")
        active = entry.get("active", True)
        if not isinstance(active, bool):
            raise ConfigError(f"{where}.active must be true or false, not '{active}'")
        previous = entry.get("previous_tickers") or []
        if not isinstance(previous, list):
            raise ConfigError(f"{where}.previous_tickers must be a list of tickers, newest first")
        instruments.append(
            Instrument(
                ticker=validate_ticker(str(entry["ticker"]), where),
                name=str(entry["name"]),
                type=str(entry["type"]),
                exchange=str(entry["exchange"]),
                sector=str(entry["sector"]),
                active=active,
                previous_tickers=tuple(validate_ticker(str(t), f"{where}.previous_tickers") for t in previous),
            )
        )
    tickers = [i.ticker for i in instruments]
    duplicated = sorted({t for t in tickers if tickers.count(t) > 1})
    if duplicated:
        raise ConfigError(f"{file}: tickers listed twice: {', '.join(duplicated)}")
    groups = {}
    for name, members in (data.get("groups") or {}).items():
        if not isinstance(members, list):
            raise ConfigError(f"{file}: group '{name}' must be a list of tickers")
        unknown = [m for m in members if m not in tickers]
        if unknown:
            raise ConfigError(f"{file}: group '{name}' names tickers not in instruments: {', '.join(unknown)}")
        groups[str(name)] = tuple(members)
    return tuple(instruments), groups


def _pipeline(data: dict[str, Any]) -> PipelineConfig:
    file = "pipeline.yml"
    section = _section(data, file, "pipeline")
    land_scope = str(section.get("land_scope", "all"))
    if land_scope not in LAND_SCOPES:
        raise ConfigError(f"{file}: key 'land_scope' must be one of {', '.join(LAND_SCOPES)}, not '{land_scope}'")
    return PipelineConfig(
        dataset=str(_required(section, file, "dataset")).strip("/"),
        start_date=parse_date(_required(section, file, "start_date"), f"{file}: key 'start_date'"),
        lookback_days=_positive_int(section, file, "lookback_days", 10),
        download_workers=_positive_int(section, file, "download_workers", 8),
        cache_dir=Path(str(section.get("cache_dir") or ".cache/flatfiles")),
        land_scope=land_scope,
        load_connections=_positive_int(section, file, "load_connections", 2),
        lake_location=str(section.get("lake_location") or "lake"),
    )


def _s3(data: dict[str, Any]) -> S3Config:
    file = "s3.yml"
    section = _section(data, file, "s3")
    return S3Config(
        endpoint=str(_required(section, file, "endpoint")),
        bucket=str(_required(section, file, "bucket")),
        prefix=str(_required(section, file, "prefix")).strip("/"),
        access_key=Secret(str(section.get("access_key") or "")),
        secret_key=Secret(str(section.get("secret_key") or "")),
        max_attempts=_positive_int(section, file, "max_attempts", 8),
        connect_timeout_seconds=_positive_int(section, file, "connect_timeout_seconds", 10),
        read_timeout_seconds=_positive_int(section, file, "read_timeout_seconds", 60),
    )


def _api(data: dict[str, Any]) -> ApiConfig:
    file = "api.yml"
    section = _section(data, file, "api")
    return ApiConfig(
        base_url=str(_required(section, file, "base_url")).rstrip("/"),
        key=Secret(str(section.get("key") or "")),
        source=str(section.get("source") or ""),
        lookback_days=_positive_int(section, file, "lookback_days", 90),
    )


def _database(data: dict[str, Any]) -> DatabaseConfig:
    file = "database.yml"
    section = _section(data, file, "database")
    duck = _section(section, file, "duckdb")
    pg = _section(section, file, "postgres")
    schema = str(section.get("landing_schema") or "landing")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
        raise ConfigError(f"{file}: key 'landing_schema' must be a lower-case SQL identifier, not '{schema}'")
    return DatabaseConfig(
        duckdb_path=Path(str(_required(duck, file, "path"))),
        postgres=PostgresConfig(
            host=str(pg.get("host") or ""),
            port=_positive_int(pg, file, "port", 5432),
            dbname=str(_required(pg, file, "dbname")),
            user=str(_required(pg, file, "user")),
            password=Secret(str(pg.get("password") or "")),
            lock_timeout_seconds=_positive_int(pg, file, "lock_timeout_seconds", 60),
        ),
        landing_schema=schema,
    )
