"""Configuration: YAML files in one folder, ${VAR} / ${VAR:-default} substitution, typed dataclasses."""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

from extract.datasets import DEFAULT_DATASET, Dataset, chosen_dataset, registry
from extract.errors import ConfigError

# A stock ticker (BRK.B), or the provider's asset-class prefix and symbol (I:SPX, X:BTCUSD, O:SPY251219C00650000).
TICKER_PATTERN = re.compile(r"^(?:[A-Z]:)?[A-Z][A-Za-z0-9.\-]{0,23}$")
OPTION_PATTERN = re.compile(r"^O:[A-Z][A-Z0-9]{0,5}(?P<expiry>\d{6})[CP]\d{8}$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CONFIG_FILES = ("instruments.yml", "pipeline.yml", "s3.yml", "database.yml", "api.yml")
TARGETS = ("duckdb", "postgres")
DEFAULT_ENVIRONMENT = "development"
_ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
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
DATABASE_KEYS = {"duckdb", "postgres", "landing_schema", "analytics_schema"}
DUCKDB_KEYS = {"path", "memory_limit"}
POSTGRES_KEYS = {"host", "port", "dbname", "user", "password", "lock_timeout_seconds"}
API_KEYS = {"base_url", "key", "source", "lookback_days"}
SCHEDULE_KEYS = {"daily", "quality", "file_deadline"}
ALERT_KEYS = {"webhook_url", "email_to", "email_from", "smtp_host", "smtp_port", "runbook_url"}
# What an environment overlay (config/environments/<name>.yml) may set: the sections of the base files (merged key
# by key over them), the target, and what only differs between environments: the schedule and the alert targets.
OVERLAY_SECTIONS: dict[str, set[str]] = {
    "pipeline": PIPELINE_KEYS,
    "s3": S3_KEYS,
    "database": DATABASE_KEYS,
    "api": API_KEYS,
    "schedule": SCHEDULE_KEYS,
    "alerts": ALERT_KEYS,
}
BASE_SECTIONS = {"pipeline": "pipeline.yml", "s3": "s3.yml", "database": "database.yml", "api": "api.yml"}


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

    def earlier_tickers(self, event_records: list[str]) -> list[str]:
        """Its earlier tickers: those instruments.yml names, then those its ticker events (the API's records) name."""
        named = list(self.previous_tickers)
        for record in event_records:
            body = json.loads(record)
            for event in (body.get("events") if isinstance(body, dict) else None) or []:
                change = event.get("ticker_change") if isinstance(event, dict) else None
                named.append(change.get("ticker") if isinstance(change, dict) else None)
        return [t for t in dict.fromkeys(named) if isinstance(t, str) and t and t != self.ticker]


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
class ScheduleConfig:
    """When the DAGs run (cron, New York time) and when the session's day file counts as late."""

    daily: str = "30 20 * * 1-5"
    quality: str = "0 7 * * 2-6"
    file_deadline: str = "11:00"  # New York time on the next day; the provider promises the file by then


@dataclass(frozen=True)
class AlertsConfig:
    """Where alerts go: a Slack-compatible webhook and/or email through an SMTP relay. None configured: no alert."""

    webhook_url: Secret = Secret("")
    email_to: tuple[str, ...] = ()
    email_from: str = "tickerbars@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    runbook_url: str = "docs/operations.md"

    def enabled(self) -> bool:
        return bool(self.webhook_url) or bool(self.email_to)


@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from: a file, and the ${VAR} that filled it in, if any."""

    file: str
    variable: str = ""
    from_environment: bool = False

    def describe(self) -> str:
        if self.from_environment:
            return f"environment {self.variable}, via {self.file}" if self.file else f"environment {self.variable}"
        if self.variable:
            return f"{self.file}, default of ${{{self.variable}}}"
        return self.file


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
    environment: str = DEFAULT_ENVIRONMENT
    schedule: ScheduleConfig = ScheduleConfig()
    alerts: AlertsConfig = AlertsConfig()
    origins: dict[str, Origin] = field(default_factory=dict, compare=False, repr=False)

    def all_tickers(self) -> list[str]:
        return [i.ticker for i in self.instruments]

    def tickers_of(self, dataset: Dataset, earlier: frozenset[str] = frozenset()) -> frozenset[str]:
        """The configured tickers a dataset's files hold, earlier tickers of the instruments included (those of
        instruments.yml, and `earlier`: those the ticker events name)."""
        tickers = {t for i in self.instruments for t in (i.ticker, *i.previous_tickers)} | earlier
        return frozenset(t for t in tickers if dataset.owns_ticker(t))

    def unheld_instruments(self) -> list[str]:
        """A warning for each configured instrument no listed dataset holds: it would get no bars, without a word."""
        listed = self.pipeline.datasets
        warnings = []
        for ticker in self.all_tickers():
            if not any(d.owns_ticker(ticker) for d in listed):
                owners = [d.name for d in registry().values() if d.owns_ticker(ticker)]
                warnings.append(
                    f"{ticker}: no dataset in pipeline.yml holds it, so it gets no bars; add "
                    f"{' or '.join(owners) or 'its dataset'} to datasets (TBP_DATASETS)"
                )
        return warnings

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


def substitute(value: Any, env: dict[str, str], where: str, origins: dict[str, Origin] | None = None) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a parsed YAML tree. `where` is 'file:' plus the key
    path; with `origins`, each leaf's key path records the file and the variable that filled it in."""
    if isinstance(value, dict):
        return {k: substitute(v, env, f"{where}.{k}", origins) for k, v in value.items()}
    if isinstance(value, list):
        if origins is not None:
            _record_origin(origins, where, "".join(v for v in value if isinstance(v, str)), env)
        return [substitute(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if origins is not None:
        _record_origin(origins, where, value if isinstance(value, str) else "", env)
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


def _record_origin(origins: dict[str, Origin], where: str, text: str, env: dict[str, str]) -> None:
    file, _, key = where.partition(":")
    variable = next(iter(_VARIABLE.findall(text)), ("", ""))[0]
    origins[key.lstrip(".")] = Origin(file, variable, bool(variable) and env.get(variable, "") != "")


def load_config(
    config_dir: str | Path | None = None, environ: dict[str, str] | None = None, dotenv: Path | None = None
) -> Config:
    """Read, substitute and validate the config files, then the overlay of TBP_ENVIRONMENT over them; raise
    ConfigError naming what to fix. A dotenv file (the CLI passes ./.env; tests pass none) fills in what the
    environment does not set: the environment wins."""
    env = dict(os.environ if environ is None else environ)
    if dotenv is not None and dotenv.is_file():
        env = {**{k: v for k, v in dotenv_values(dotenv).items() if v is not None}, **env}
    config_dir = Path(config_dir or env.get("TBP_CONFIG_DIR") or "config")
    if not config_dir.is_dir():
        raise ConfigError(f"config folder '{config_dir}' does not exist (set TBP_CONFIG_DIR or --config-dir)")
    origins: dict[str, Origin] = {}
    raw = {name: _read_yaml(config_dir / name, env, origins) for name in CONFIG_FILES}
    environment = env.get("TBP_ENVIRONMENT") or DEFAULT_ENVIRONMENT
    overlay = _read_overlay(config_dir, environment, env, origins)
    for section, file in BASE_SECTIONS.items():
        if section in overlay:
            raw[file][section] = _merged(raw[file].get(section), overlay[section])
    instruments, groups = _instruments(raw["instruments.yml"])
    target = _target(env, overlay, origins)
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
        environment=environment,
        schedule=_schedule(overlay.get("schedule") or {}, environment),
        alerts=_alerts(overlay.get("alerts") or {}, environment),
        origins=origins,
    )


def environments(config_dir: Path) -> list[str]:
    """The environments a config folder defines (development always exists: it needs no overlay)."""
    found = {path.stem for path in (config_dir / "environments").glob("*.yml")}
    return sorted(found | {DEFAULT_ENVIRONMENT})


def _read_overlay(config_dir: Path, environment: str, env: dict[str, str], origins: dict[str, Origin]) -> dict:
    """config/environments/<environment>.yml, checked key by key; development may have none."""
    if not _ENVIRONMENT_NAME.match(environment):
        raise ConfigError(f"TBP_ENVIRONMENT must be a lower-case name like staging, not '{environment}'")
    path = config_dir / "environments" / f"{environment}.yml"
    if not path.is_file():
        if environment == DEFAULT_ENVIRONMENT:
            return {}
        known = ", ".join(environments(config_dir))
        raise ConfigError(f"{path}: no such environment file for TBP_ENVIRONMENT={environment} (known: {known})")
    overlay = _read_yaml(path, env, origins, label=f"environments/{environment}.yml")
    where = f"environments/{environment}.yml"
    _check_keys(overlay, where, {"target", *OVERLAY_SECTIONS})
    for section, keys in OVERLAY_SECTIONS.items():
        if section in overlay:
            if not isinstance(overlay[section], dict):
                raise ConfigError(f"{where}: '{section}' must be a mapping")
            _check_keys(overlay[section], f"{where}: {section}", keys)
    database = overlay.get("database") or {}
    for name, keys in (("duckdb", DUCKDB_KEYS), ("postgres", POSTGRES_KEYS)):
        if isinstance(database.get(name), dict):
            _check_keys(database[name], f"{where}: database.{name}", keys)
    return overlay


def _merged(base: Any, overlay: Any) -> Any:
    """overlay over base, mapping by mapping; any other value of the overlay replaces the base's."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        return {**base, **{key: _merged(base.get(key), value) for key, value in overlay.items()}}
    return overlay


def _target(env: dict[str, str], overlay: dict, origins: dict[str, Origin]) -> str:
    """TBP_TARGET (or --target) wins over the overlay's target; duckdb when neither says."""
    if env.get("TBP_TARGET"):
        target = env["TBP_TARGET"]
        origins["target"] = Origin("", "TBP_TARGET", True)
    else:
        target = str(overlay.get("target") or "duckdb")
    if target not in TARGETS:
        raise ConfigError(f"TBP_TARGET must be one of {', '.join(TARGETS)}, not '{target}'")
    return target


def _schedule(section: dict[str, Any], environment: str) -> ScheduleConfig:
    file = f"environments/{environment}.yml: schedule"
    defaults = ScheduleConfig()
    values = {key: str(section.get(key) or getattr(defaults, key)) for key in ("daily", "quality")}
    for key, value in values.items():
        if len(value.split()) != 5:
            raise ConfigError(f"{file}: key '{key}' must be a cron expression of five fields, not '{value}'")
    deadline = str(section.get("file_deadline") or defaults.file_deadline)
    if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", deadline):
        raise ConfigError(f"{file}: key 'file_deadline' must be a New York time like 11:00, not '{deadline}'")
    return ScheduleConfig(daily=values["daily"], quality=values["quality"], file_deadline=deadline)


def _alerts(section: dict[str, Any], environment: str) -> AlertsConfig:
    file = f"environments/{environment}.yml: alerts"
    defaults = AlertsConfig()
    webhook = str(section.get("webhook_url") or "")
    if webhook and not webhook.startswith(("https://", "http://")):
        raise ConfigError(f"{file}: key 'webhook_url' must be an http(s) URL")
    email_to = section.get("email_to") or []
    if isinstance(email_to, str):
        email_to = [address.strip() for address in email_to.split(",") if address.strip()]
    for address in email_to:
        if "@" not in str(address):
            raise ConfigError(f"{file}: key 'email_to' holds '{address}', which is not an email address")
    return AlertsConfig(
        webhook_url=Secret(webhook),
        email_to=tuple(str(address) for address in email_to),
        email_from=str(section.get("email_from") or defaults.email_from),
        smtp_host=str(section.get("smtp_host") or defaults.smtp_host),
        smtp_port=_positive_int(section, file, "smtp_port", defaults.smtp_port),
        runbook_url=str(section.get("runbook_url") or defaults.runbook_url),
    )


class _StringDatesLoader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text, so a bad date gets our message rather than a YAML error."""


_StringDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(
    path: Path, env: dict[str, str], origins: dict[str, Origin] | None = None, label: str = ""
) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file is missing")
    try:
        data = yaml.load(path.read_text(), Loader=_StringDatesLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return substitute(data, env, f"{label or path.name}:", origins)


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
    if ticker.startswith("O:") and not _is_option_symbol(ticker):
        raise ConfigError(
            f"{where}: '{ticker}' is not an option ticker (O:, the root, the expiry as YYMMDD, C or P, the strike "
            "in thousandths as 8 digits, as in O:SPY250110C00480000)"
        )
    return ticker


def _is_option_symbol(ticker: str) -> bool:
    """An OCC symbol, which dim_option_contracts parses into root, expiry, call/put and strike."""
    found = OPTION_PATTERN.match(ticker)
    if not found:
        return False
    try:
        datetime.strptime(found["expiry"], "%y%m%d")
    except ValueError:
        return False
    return True


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
    section = _section(data, file, "api", API_KEYS)
    base_url = str(_required(section, file, "base_url"))
    if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", base_url):
        raise ConfigError(
            f"{file}: key 'base_url' must be an http(s) URL such as https://api.massive.com, not '{base_url}'"
        )
    return ApiConfig(
        base_url=base_url.rstrip("/"),
        key=Secret(str(section.get("key") or "")),
        source=str(section.get("source") or ""),
        lookback_days=_positive_int(section, file, "lookback_days", 90),
    )


def _database(data: dict[str, Any]) -> DatabaseConfig:
    file = "database.yml"
    _check_keys(data, file, {"database"})
    section = _section(data, file, "database", DATABASE_KEYS)
    duck = _section(section, file, "duckdb", DUCKDB_KEYS)
    memory_limit = str(duck.get("memory_limit") or "128MB").replace(" ", "")
    if not re.fullmatch(r"\d+(\.\d+)?(KB|MB|GB|KiB|MiB|GiB)", memory_limit):
        raise ConfigError(f"{file}: key 'duckdb.memory_limit' must be a size like 128MB or 1GB, not '{memory_limit}'")
    pg = _section(section, file, "postgres", POSTGRES_KEYS)
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
