"""SIGKILL the extractor at ten points of a backfill, re-run it, and compare with a clean run, row for row."""

import os
import signal
import subprocess
import sys

import pytest

from extract.run import RunOptions, run_extract
from tests.conftest import REPO, S3_CREDENTIALS, SMALL_END, SMALL_START, warehouse_rows

WINDOW = ["run", "--start", str(SMALL_START), "--end", str(SMALL_END), "--workers", "1"]
LANDING = (
    "select d.ticker, d.volume, d.open, d.close, d.high, d.low, d.window_start, d.transactions, m.source_key, "
    "m.etag, d.file_date from landing.day_aggs d join landing.load_manifest m using (load_id) "
    "order by m.source_key, d.ticker"
)
MANIFEST = (
    "select source_key, etag, size, file_date, rows_landed, rows_rejected, tickers "
    "from landing.load_manifest order by source_key"
)
FACT = (
    "select ticker, trade_date, open, high, low, close, volume, transactions, source_key, source_etag "
    "from analytics.fct_daily_bars order by ticker, trade_date"
)
CRASHES = {
    "duckdb": [
        ("instruments", 1),
        ("download", 2),
        ("download", 3),
        ("parse", 3),
        ("rows-written", 2),
        ("committed", 4),
        ("parse", 5),
        ("rows-written", 7),
        ("committed", 3),
        ("parse", 1),
    ],
    "postgres": [
        ("instruments", 1),
        ("download", 2),
        ("download", 3),
        ("parse", 3),
        ("copy", 2),
        ("rows-written", 4),
        ("committed", 3),
        ("copy", 6),
        ("rows-written", 1),
        ("committed", 7),
    ],
}


@pytest.fixture
def clean_reference(make_config, base_env, small_mirror, run_dbt):
    """Landing, manifest and fact table of an uninterrupted run (DuckDB; PostgreSQL equals it, as tested)."""
    env = {**base_env, "DUCKDB_PATH": base_env["DUCKDB_PATH"] + ".clean"}
    run_extract(make_config(**env, TBP_SOURCE=str(small_mirror)), RunOptions(start=SMALL_START, end=SMALL_END))
    run_dbt(["build"], env)
    return {sql: warehouse_rows(env, sql) for sql in (LANDING, MANIFEST, FACT)}


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_sigkill_at_ten_points_then_a_rerun_equals_a_clean_run(
    target, request, base_env, s3_bucket, small_mirror, moto_endpoint, clean_reference, run_dbt
):
    env = request.getfixturevalue("pg_env") if target == "postgres" else base_env
    name, _client, upload = s3_bucket
    upload(small_mirror)
    env = {
        **env,
        **S3_CREDENTIALS,
        "TBP_SOURCE": f"s3://{name}",
        "POLYGON_S3_ENDPOINT": moto_endpoint,
        "TBP_CONFIG_DIR": str(REPO / "config"),
        "PYTHONPATH": str(REPO),
    }
    for point, n in CRASHES[target]:
        crashed = subprocess.run(
            [sys.executable, "-m", "tests.crash_harness", point, str(n), *WINDOW],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert crashed.returncode == -signal.SIGKILL, f"{point} {n} was never reached:\n{crashed.stdout}"
    assert any(name.endswith(".part") for _root, _dirs, files in os.walk(env["TBP_CACHE_DIR"]) for name in files)

    finished = subprocess.run(
        [sys.executable, "-m", "extract", *WINDOW], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    run_dbt(["build"], env)
    for sql in (LANDING, MANIFEST, FACT):
        assert warehouse_rows(env, sql) == clean_reference[sql], sql
