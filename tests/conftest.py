"""Shared fixtures: configs pointed at temporary warehouses, small demo mirrors, day files with defects, dbt."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from extract.config import Config, load_config
from extract.demo import DemoSpec, window_start_ns, write_demo_mirror
from extract.parse import HEADER
from extract.sources import day_file_key
from support.pgcluster import PG_BIN, start_cluster
from support.s3server import loopback_client, start_moto_server, upload_mirror

REPO = Path(__file__).resolve().parents[1]
PREFIX = "us_stocks_sip/day_aggs_v1"
# Every manifest row's rows_landed equals the landed rows carrying its load_id (both warehouses accept it).
LOADS_NOT_MATCHING_THEIR_ROWS = (
    "select m.load_id from landing.load_manifest m left join landing.day_aggs d on d.load_id = m.load_id "
    "group by m.load_id, m.rows_landed having count(d.load_id) <> m.rows_landed"
)
CONFIGURED = ("AAPL", "MSFT", "NVDA", "GOOGL", "AMZN", "META", "JPM", "BRK.B", "XOM", "JNJ", "SPY", "QQQ")
SMALL_START, SMALL_END = date(2024, 1, 2), date(2024, 2, 29)
# Settings of the project that a developer's shell or .env may hold (make exports .env to every target): the suite
# runs without them, so a test sees only what it sets. TBP_TEST_PG_DSN is the suite's own.
PROJECT_VARIABLES = ("TBP_", "POLYGON_", "DB_", "DBT_ENV_SECRET_", "DUCKDB_PATH", "LOG_LEVEL", "LOG_FORMAT")


def pytest_configure(config) -> None:
    for name in [n for n in os.environ if n.startswith(PROJECT_VARIABLES) and n != "TBP_TEST_PG_DSN"]:
        del os.environ[name]
    os.environ["TBP_DOTENV"] = ""  # the CLI reads no ./.env


def write_day_file(root: Path, day: date, lines: list[str], header: str = ",".join(HEADER)) -> Path:
    """A day file with exactly these data lines, in the real layout under root."""
    path = root / day_file_key(PREFIX, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join([header, *lines]) + "\n").encode(), mtime=0))
    return path


def bar_line(ticker: str, day: date, close: float = 10.0, volume: str = "1000", stamp_day: date | None = None) -> str:
    """A consistent bar line: open 1% under close, high and low around both."""
    open_ = round(close * 0.99, 4)
    return (
        f"{ticker},{volume},{open_},{close},{round(close * 1.01, 4)},{round(open_ * 0.99, 4)},"
        f"{window_start_ns(stamp_day or day)},42"
    )


def read_mirror_rows(root: Path) -> dict[tuple[str, date], dict]:
    """Every row of every day file under root, keyed by (ticker, file date), read with Python's csv."""
    import csv

    from extract.sources import date_from_key

    rows = {}
    for path in sorted(root.rglob("*.csv.gz")):
        day = date_from_key(path.as_posix())
        with gzip.open(path, "rt", newline="") as stream:
            for row in csv.DictReader(stream):
                rows[(row["ticker"], day)] = row
    return rows


@pytest.fixture(scope="session")
def small_mirror(tmp_path_factory) -> Path:
    """Two months of sessions, 80 tickers including the configured ones (read-only: copy before changing)."""
    root = tmp_path_factory.mktemp("mirror")
    write_demo_mirror(root, DemoSpec(SMALL_START, SMALL_END, ticker_count=80, seed=11, include_tickers=CONFIGURED))
    return root


@pytest.fixture
def mirror(small_mirror, tmp_path) -> Path:
    """A private, writable copy of the small mirror."""
    root = tmp_path / "mirror"
    shutil.copytree(small_mirror, root)
    return root


@pytest.fixture
def config_dir(tmp_path) -> Path:
    """A private, writable copy of the repository's config folder."""
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    return target


@pytest.fixture
def base_env(tmp_path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DUCKDB_PATH": str(tmp_path / "warehouse" / "tbp.duckdb"),
        "TBP_CACHE_DIR": str(tmp_path / "cache"),
        "TBP_LOCK_TIMEOUT_SECONDS": "5",
        "TBP_TARGET": "duckdb",
    }


@pytest.fixture
def make_config(config_dir, base_env) -> Callable[..., Config]:
    def make(**overrides: str) -> Config:
        return load_config(config_dir, {**base_env, **overrides})

    return make


@pytest.fixture
def invoke(config_dir, base_env, monkeypatch):
    """Run a tbp-extract command in-process (click's runner) with this test's environment and config folder."""
    import logging

    from click.testing import CliRunner

    from extract.cli import main

    for key, value in base_env.items():
        monkeypatch.setenv(key, value)

    def run(*args: str, **env: str):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(main, [*args, "--config-dir", str(config_dir)])
        logging.getLogger().handlers.clear()
        return result

    return run


@pytest.fixture(scope="session")
def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    found = str(candidate) if candidate.exists() else shutil.which("dbt")
    if not found:
        pytest.fail("dbt is not installed in this environment: run `make setup`")
    return found


@pytest.fixture
def run_dbt(dbt_executable, tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """Run dbt for real against this repository's project, with its own profiles, target and log folders."""
    profiles = tmp_path / "dbt_profiles"
    profiles.mkdir()
    shutil.copy(REPO / "profiles.example.yml", profiles / "profiles.yml")

    def run(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
        command = [
            dbt_executable,
            *args,
            "--project-dir",
            str(REPO),
            "--profiles-dir",
            str(profiles),
            "--target-path",
            str(tmp_path / "dbt_target"),
            "--log-path",
            str(tmp_path / "dbt_logs"),
        ]
        result = subprocess.run(
            command,
            env={**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=900,
        )
        if check and result.returncode != 0:
            pytest.fail(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
        return result

    return run


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """A real S3 protocol server (moto in server mode) on loopback."""
    endpoint, stop = start_moto_server()
    yield endpoint
    stop()


S3_CREDENTIALS = {"POLYGON_S3_ACCESS_KEY": "test-access-key", "POLYGON_S3_SECRET_KEY": "test-secret-key-value"}


@pytest.fixture
def s3_bucket(moto_endpoint, request):
    """An empty bucket of its own for each test, and a function that uploads a mirror's files into it."""
    client = loopback_client(moto_endpoint, "test-access-key", "test-secret-key-value")
    name = "flatfiles-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    client.create_bucket(Bucket=name)

    def upload(root: Path) -> int:
        return upload_mirror(client, name, root)

    return name, client, upload


@pytest.fixture(scope="session")
def pg_server() -> dict[str, str]:
    """A PostgreSQL server for the session: TBP_TEST_PG_DSN if set, else a throwaway cluster started here."""
    import tempfile

    from psycopg.conninfo import conninfo_to_dict

    dsn = os.environ.get("TBP_TEST_PG_DSN")
    stop = None
    if not dsn:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(f"PostgreSQL 15 server binaries not found in {PG_BIN}; set TBP_TEST_PG_DSN")
        dsn, stop = start_cluster(Path(tempfile.mkdtemp(prefix="tbp-pg-")))
    params = conninfo_to_dict(dsn)
    yield {
        "DB_HOST": str(params.get("host", "127.0.0.1")),
        "DB_PORT": str(params.get("port", "5432")),
        "DB_USER": str(params.get("user", "postgres")),
        "DB_PASSWORD": str(params.get("password", "")),
        "DB_NAME": str(params.get("dbname", "postgres")),
    }
    if stop:
        stop()


def pg_connect(env: dict[str, str], autocommit: bool = False):
    """A psycopg connection to the database the DB_* values of env name."""
    import psycopg

    return psycopg.connect(
        host=env["DB_HOST"],
        port=env["DB_PORT"],
        user=env["DB_USER"],
        password=env["DB_PASSWORD"] or None,
        dbname=env["DB_NAME"],
        autocommit=autocommit,
    )


@pytest.fixture
def pg_env(pg_server, base_env) -> dict[str, str]:
    """A fresh database of its own for each test; environment for the extractor and for dbt's postgres target."""
    import uuid

    name = f"tbp_test_{uuid.uuid4().hex[:10]}"
    with pg_connect(pg_server, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    yield {
        **base_env,
        **pg_server,
        "DB_NAME": name,
        "TBP_TARGET": "postgres",
        "DBT_ENV_SECRET_DB_PASSWORD": pg_server["DB_PASSWORD"],
    }
    with pg_connect(pg_server, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def timescaledb_available(env: dict[str, str]) -> str | None:
    """None when CREATE EXTENSION timescaledb works in the test database, else the reason it does not."""
    import psycopg

    try:
        with pg_connect(env, autocommit=True) as conn:
            conn.execute("create extension if not exists timescaledb")
    except psycopg.Error as exc:
        return f"CREATE EXTENSION timescaledb failed on the test server: {str(exc).strip().splitlines()[0]}"
    return None


@pytest.fixture
def timescale_env(pg_env):
    """A fresh PostgreSQL database with the timescaledb extension, or a skip saying why there is none."""
    reason = timescaledb_available(pg_env)
    if reason:
        pytest.skip(reason)
    return pg_env


def warehouse_rows(env: dict[str, str], sql: str) -> list[tuple]:
    """Rows of a query on the warehouse env points at (TBP_TARGET decides which)."""
    if env.get("TBP_TARGET") == "postgres":
        with pg_connect(env) as conn:
            return conn.execute(sql).fetchall()
    import duckdb

    with duckdb.connect(env["DUCKDB_PATH"], read_only=True) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(params=["duckdb", "postgres"])
def target_env(request, base_env) -> dict[str, str]:
    """The environment of one warehouse: each test using it runs on DuckDB and on PostgreSQL."""
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        return request.getfixturevalue("pg_env")
    return base_env
