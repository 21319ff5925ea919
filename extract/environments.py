"""The merged configuration of an environment: each setting with where it came from, and what dbt must see."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from extract.config import Config, Secret
from extract.errors import ConfigError
from extract.sources import mask_credentials

BUILT_IN = "built-in default"


@dataclass(frozen=True)
class Setting:
    key: str  # as an overlay would spell it: pipeline.lookback_days, database.postgres.host
    value: str  # secrets masked
    origin: str


def _shown(value: Any) -> str:
    if isinstance(value, Secret):
        return "*** (set)" if value else "(empty)"
    if isinstance(value, tuple):
        return ", ".join(getattr(v, "name", str(v)) for v in value) or "(none)"
    return mask_credentials(str(value)) if str(value) else "(empty)"


def settings(cfg: Config) -> list[Setting]:
    """Every setting of the merged configuration (instruments aside), secrets masked, with its origin."""
    sections: list[tuple[str, Any]] = [
        ("pipeline", cfg.pipeline),
        ("s3", cfg.s3),
        ("database.postgres", cfg.database.postgres),
        ("api", cfg.api),
        ("schedule", cfg.schedule),
        ("alerts", cfg.alerts),
    ]
    listed = [("target", cfg.target)]
    listed += [("database.duckdb.path", cfg.database.duckdb_path)]
    listed += [("database.duckdb.memory_limit", cfg.database.duckdb_memory_limit)]
    listed += [(f"database.{key}", getattr(cfg.database, key)) for key in ("landing_schema", "analytics_schema")]
    for prefix, section in sections:
        listed += [(f"{prefix}.{f.name}", getattr(section, f.name)) for f in fields(section)]
    return [Setting(key, _shown(value), _origin(cfg, key)) for key, value in sorted(listed)]


def _origin(cfg: Config, key: str) -> str:
    origin = cfg.origins.get(key)
    return origin.describe() if origin else BUILT_IN


def dbt_environment(cfg: Config, with_secrets: bool = False) -> dict[str, str]:
    """The variables dbt's profile and project read, from the merged configuration: dbt builds the same warehouse
    as the extractor in every environment. The password only on request (dbt reads it as DBT_ENV_SECRET_, which it
    never logs); a scheduler's serialized task must not hold it."""
    pg = cfg.database.postgres
    env = {
        "TBP_ENVIRONMENT": cfg.environment,
        "TBP_TARGET": cfg.target,
        "DUCKDB_PATH": str(cfg.database.duckdb_path),
        "DB_HOST": pg.host,
        "DB_PORT": str(pg.port),
        "DB_NAME": pg.dbname,
        "DB_USER": pg.user,
        "TBP_LANDING_SCHEMA": cfg.database.landing_schema,
        "TBP_ANALYTICS_SCHEMA": cfg.database.analytics_schema,
        "TBP_LOOKBACK_DAYS": str(cfg.pipeline.lookback_days),
        "TBP_MIN_COVERAGE_PCT": f"{cfg.pipeline.min_coverage_pct:g}",
    }
    if with_secrets and pg.password:
        env["DBT_ENV_SECRET_DB_PASSWORD"] = pg.password.get()
    return env


def dbt_executable() -> str:
    """dbt beside this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    found = str(beside) if beside.exists() else shutil.which("dbt")
    if not found:
        raise ConfigError("dbt is not installed: run `make setup`")
    return found


def run_dbt(cfg: Config, args: list[str]) -> int:
    """dbt with the environment's warehouse, schemas and lookback; its exit code."""
    env = {**os.environ, **dbt_environment(cfg, with_secrets=True)}
    return subprocess.run([dbt_executable(), *args], env=env).returncode
