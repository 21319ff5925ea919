"""Configuration: YAML files in one folder, ${VAR} / ${VAR:-default} substitution, typed dataclasses."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

from extract.datasets import DEFAULT_DATASET, Dataset, chosen_dataset
from extract.errors import ConfigError

# A stock ticker (BRK.B), or the provider's asset-class prefix and symbol (I:SPX, X:BTCUSD, O:SPY251219C00650000).
TICKER_PATTERN = re.compile(r"^(?:[A-Z]:)?[A-Z][A-Za-z0-9.\-]{0,23}$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CONFIG_FILES = ("instruments.yml", "pipeline.yml", "s3.yml", "database.yml", "api.yml")
TARGETS = ("duckdb", "postgres")
LAND_SCOPES = ("all", "configured")
# dim_instruments' accepted_values test holds the same list.
INSTRUMENT_TYPES = ("stock", "etf", "index", "crypto", "forex", "option")
INSTRUMENT_KEYS = {"ticker", "name", "type", "exchange", "sector", "active", "previous_tickers"}
PIPELINE_KEYS = {
    "dataset",
    "datasets",
    "start_date",
    "lookback_days",
    "download_workers",
    "load_connections",
    "cache_dir",
    "land_scope",
    "lake_location",
    "min_coverage_pct",
}
S3_KEYS = {
    "endpoint",
    "bucket",
    "prefix",
    "access_key",
    "secret_key",
    "max_attempts",
    "connect_timeout_seconds",
    "read_timeout_seconds",
    "ambient_credentials",
}


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
    """A configured instrument; name, type, exchange and sector left empty come from the ticker overview."""

    ticker: str
    name: str
    type: str
    exchange: str
    sector: str
    active: bool = True
    previous_tickers: tuple[str, ...] = ()  # earlier tickers of the same instrument, newest first


@dataclass(frozen=True)
class PipelineConfig:
    datasets: tuple[Dataset, ...]
    start_date: date
    lookback_days: int
    download_workers: int
    cache_dir: Path
    land_scope: str
    load_connections: int = 2
    lake_location: str = "lake"
    min_coverage_pct: float = 95.0

    def land_scope_of(self, dataset: Dataset) -> str:
        """`configured` here narrows every dataset; `all` leaves each to its own default (minute data: configured)."""
        return "configured" if "configured" in (self.land_scope, dataset.land_scope) else "all"


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
    ambient_credentials: bool = False  # opt-in: boto's own chain (~/.aws, AWS_*) when the keys above are empty


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
    duckdb_memory_limit: str = "128MB"
    landing_schema: str = "landing"
    analytics_schema: str = "analytics"


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

    def tickers_of(self, dataset: Dataset) -> frozenset[str]:
        """The configured tickers a dataset's files hold, earlier tickers of the instruments included."""
        tickers = {t for i in self.instruments for t in (i.ticker, *i.previous_tickers)}
        return frozenset(t for t in tickers if dataset.owns_ticker(t))

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
            if (not self.s3.access_key or not self.s3.secret_key) and not self.s3.ambient_credentials:
                problems.append(
                    "POLYGON_S3_ACCESS_KEY and POLYGON_S3_SECRET_KEY must be set to read from S3 "
                    "(or set TBP_SOURCE to a local mirror folder)"
                )
        elif not Path(self.source).is_dir():
            problems.append(f"TBP_SOURCE={self.source} is neither s3://bucket[/prefix] nor an existing folder")
        if self.target == "postgres" and not self.database.postgres.host:
            problems.append("DB_HOST must be set for TBP_TARGET=postgres")
        return problems


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


def load_config(
    config_dir: str | Path | None = None, environ: dict[str, str] | None = None, dotenv: Path | None = None
) -> Config:
    """Read, substitute and validate the config files; raise ConfigError naming what to fix. A dotenv file (the
    CLI passes ./.env; tests pass none) fills in what the environment does not set: the environment wins."""
    env = dict(os.environ if environ is None else environ)
    if dotenv is not None and dotenv.is_file():
        env = {**{k: v for k, v in dotenv_values(dotenv).items() if v is not None}, **env}
    config_dir = Path(config_dir or env.get("TBP_CONFIG_DIR") or "config")
    if not config_dir.is_dir():
        raise ConfigError(f"config folder '{config_dir}' does not exist (set TBP_CONFIG_DIR or --config-dir)")
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


def _check_keys(mapping: dict[str, Any], where: str, allowed: set[str]) -> None:
    """A key the pipeline does not read is a typo until proven otherwise: name it and the nearest valid one."""
    for key in mapping:
        if key not in allowed:
            nearest = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean '{nearest[0]}'?)" if nearest else f" (valid keys: {', '.join(sorted(allowed))})"
            raise ConfigError(f"{where}: unknown key '{key}'{hint}")


def _section(data: dict[str, Any], file: str, name: str, keys: set[str]) -> dict[str, Any]:
    section = data.get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: missing section '{name}'")
    _check_keys(section, f"{file}: {name}", keys)
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


def _flag(section: dict[str, Any], file: str, key: str) -> bool:
    value = str(section.get(key, "false")).strip().lower()
    if value not in ("true", "false"):
        raise ConfigError(f"{file}: key '{key}' must be true or false, not '{value}'")
    return value == "true"


def _percent(section: dict[str, Any], file: str, key: str, default: float) -> float:
    value = section.get(key, default)
    try:
        number = float(str(value))
    except ValueError:
        number = -1.0
    if not 0 <= number <= 100:
        raise ConfigError(f"{file}: key '{key}' must be a percentage from 0 to 100, not '{value}'")
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
    _check_keys(data, file, {"instruments", "groups"})
    entries = data.get("instruments")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{file}: 'instruments' must be a non-empty list")
    instruments = []
    for index, entry in enumerate(entries):
        where = f"{file}: instruments[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping with at least a ticker")
        _check_keys(entry, where, INSTRUMENT_KEYS)
        if entry.get("ticker") in (None, ""):
            raise ConfigError(f"{where} is missing ticker")
        if entry.get("type") not in (None, "", *INSTRUMENT_TYPES):
            raise ConfigError(f"{where}.type is '{entry['type']}'; the models accept {', '.join(INSTRUMENT_TYPES)}")
        active = entry.get("active", True)
        if not isinstance(active, bool):
            raise ConfigError(f"{where}.active must be true or false, not '{active}'")
        previous = entry.get("previous_tickers") or []
        if not isinstance(previous, list):
            raise ConfigError(f"{where}.previous_tickers must be a list of tickers, newest first")
        instruments.append(
            Instrument(
                ticker=validate_ticker(str(entry["ticker"]), where),
                name=str(entry.get("name") or ""),
                type=str(entry.get("type") or ""),
                exchange=str(entry.get("exchange") or ""),
                sector=str(entry.get("sector") or ""),
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
    _check_keys(data, file, {"pipeline"})
    section = _section(data, file, "pipeline", PIPELINE_KEYS)
    land_scope = str(section.get("land_scope", "all"))
    if land_scope not in LAND_SCOPES:
        raise ConfigError(f"{file}: key 'land_scope' must be one of {', '.join(LAND_SCOPES)}, not '{land_scope}'")
    return PipelineConfig(
        datasets=_datasets(section, file),
        start_date=parse_date(_required(section, file, "start_date"), f"{file}: key 'start_date'"),
        lookback_days=_positive_int(section, file, "lookback_days", 10),
        download_workers=_positive_int(section, file, "download_workers", 8),
        cache_dir=Path(str(section.get("cache_dir") or ".cache/flatfiles")),
        land_scope=land_scope,
        load_connections=_positive_int(section, file, "load_connections", 2),
        lake_location=str(section.get("lake_location") or "lake"),
        min_coverage_pct=_percent(section, file, "min_coverage_pct", 95),
    )


def _datasets(section: dict[str, Any], file: str) -> tuple[Dataset, ...]:
    """`datasets`: a list (names, or {name, land_scope, cache}) or names separated by commas (TBP_DATASETS);
    `dataset: NAME` is the one-dataset shorthand."""
    if "dataset" in section and "datasets" in section:
        raise ConfigError(f"{file}: give 'datasets' (a list) or 'dataset', not both")
    entries = section.get("datasets", [section.get("dataset") or DEFAULT_DATASET])
    if isinstance(entries, str):
        entries = [name.strip() for name in entries.split(",") if name.strip()]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{file}: key 'datasets' must be a non-empty list of dataset names")
    chosen = tuple(chosen_dataset(entry, f"{file}: datasets[{i}]") for i, entry in enumerate(entries))
    names = [d.name for d in chosen]
    if len(set(names)) < len(names):
        raise ConfigError(f"{file}: a dataset is listed twice in 'datasets'")
    return chosen


def _s3(data: dict[str, Any]) -> S3Config:
    file = "s3.yml"
    _check_keys(data, file, {"s3"})
    section = _section(data, file, "s3", S3_KEYS)
    return S3Config(
        endpoint=str(_required(section, file, "endpoint")),
        bucket=str(_required(section, file, "bucket")),
        prefix=str(section.get("prefix") or "").strip("/"),
        access_key=Secret(str(section.get("access_key") or "")),
        secret_key=Secret(str(section.get("secret_key") or "")),
        max_attempts=_positive_int(section, file, "max_attempts", 8),
        connect_timeout_seconds=_positive_int(section, file, "connect_timeout_seconds", 10),
        read_timeout_seconds=_positive_int(section, file, "read_timeout_seconds", 60),
        ambient_credentials=_flag(section, file, "ambient_credentials"),
    )


def _api(data: dict[str, Any]) -> ApiConfig:
    file = "api.yml"
    _check_keys(data, file, {"api"})
    section = _section(data, file, "api", {"base_url", "key", "source", "lookback_days"})
    return ApiConfig(
        base_url=str(_required(section, file, "base_url")).rstrip("/"),
        key=Secret(str(section.get("key") or "")),
        source=str(section.get("source") or ""),
        lookback_days=_positive_int(section, file, "lookback_days", 90),
    )


def _database(data: dict[str, Any]) -> DatabaseConfig:
    file = "database.yml"
    _check_keys(data, file, {"database"})
    section = _section(data, file, "database", {"duckdb", "postgres", "landing_schema", "analytics_schema"})
    duck = _section(section, file, "duckdb", {"path", "memory_limit"})
    memory_limit = str(duck.get("memory_limit") or "128MB").replace(" ", "")
    if not re.fullmatch(r"\d+(\.\d+)?(KB|MB|GB|KiB|MiB|GiB)", memory_limit):
        raise ConfigError(f"{file}: key 'duckdb.memory_limit' must be a size like 128MB or 1GB, not '{memory_limit}'")
    pg = _section(section, file, "postgres", {"host", "port", "dbname", "user", "password", "lock_timeout_seconds"})
    schemas = {
        key: str(section.get(key) or key.removesuffix("_schema")) for key in ("landing_schema", "analytics_schema")
    }
    for key, schema in schemas.items():
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
            raise ConfigError(f"{file}: key '{key}' must be a lower-case SQL identifier, not '{schema}'")
    return DatabaseConfig(
        duckdb_path=Path(str(_required(duck, file, "path"))),
        duckdb_memory_limit=memory_limit,
        postgres=PostgresConfig(
            host=str(pg.get("host") or ""),
            port=_positive_int(pg, file, "port", 5432),
            dbname=str(_required(pg, file, "dbname")),
            user=str(_required(pg, file, "user")),
            password=Secret(str(pg.get("password") or "")),
            lock_timeout_seconds=_positive_int(pg, file, "lock_timeout_seconds", 60),
        ),
        landing_schema=schemas["landing_schema"],
        analytics_schema=schemas["analytics_schema"],
    )
