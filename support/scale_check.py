"""`make scale-check`: the backfill DAG through a real Airflow (API server, scheduler, DAG processor) with two Celery
workers and Redis (Debian's redis-server) on loopback, Airflow's metadata in a throwaway PostgreSQL cluster, against
a demo mirror; then the same window in one process. Passes when the download tasks ran on both workers and both
runs left the same fct_daily_bars. Not part of `make test` (about five minutes on 2 cores).

    python -m support.scale_check [--months 4] [--keep]
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import click
import duckdb
import psycopg

from extract.config import load_config
from extract.demo import DemoSpec, write_demo_mirror
from extract.environments import run_dbt
from extract.run import RunOptions, run_extract
from support.pgcluster import free_port, start_cluster

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "airflow" / "dags"
BIN = Path(sys.executable).parent
TICKERS = ("AAPL", "MSFT", "NVDA", "GOOGL", "AMZN", "META", "JPM", "BRK.B", "XOM", "JNJ", "SPY", "QQQ")
FACT = (
    "select ticker, trade_date, open, high, low, close, volume, transactions, instrument_id, traded_ticker, "
    "source_key, source_etag from analytics.fct_daily_bars order by ticker, trade_date"
)
RUN_ID = "scale-check"


def worker_hostname() -> str:
    """Airflow's hostname_callable for the workers: the name each was started with, so that the task instances
    say which worker ran them (both run on this one host)."""
    return os.environ.get("TBP_WORKER_NAME") or socket.getfqdn()


def window(months: int) -> tuple[date, date]:
    """January 2024 to the end of its `months`-th month: one download_month task a month."""
    end = date(2024, 12, 31) if months == 12 else date(2024, months + 1, 1) - timedelta(days=1)
    return date(2024, 1, 2), end


def base_env(work: Path, mirror: Path, name: str) -> dict[str, str]:
    return {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", str(work)),
        "TBP_CONFIG_DIR": str(REPO / "config"),
        "TBP_SOURCE": str(mirror),
        "TBP_TARGET": "duckdb",
        "DUCKDB_PATH": str(work / name / "tbp.duckdb"),
        "TBP_CACHE_DIR": str(work / name / "cache"),  # one cache both workers share
        "TBP_LAKE": str(work / name / "lake"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def airflow_env(work: Path, mirror: Path, metadata_dsn: str, redis_port: int, api_port: int) -> dict[str, str]:
    home = work / "airflow_home"
    return {
        **base_env(work, mirror, "celery"),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # only the backfill is unpaused
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "support.scale_check.worker_hostname",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{metadata_dsn}",
        # psycopg 3 serves SQLAlchemy's async engine too (Airflow would otherwise want asyncpg).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+psycopg_async://{metadata_dsn}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg://{metadata_dsn}",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "PYTHONPATH": f"{REPO}{os.pathsep}{DAGS}",
    }


class Processes:
    """The services this check starts; each stopped by its own pid on exit."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((name, process))

    def check_alive(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: see {self.logs / (name + '.log')}")

    def stop(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def airflow(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout


def wait_for(what: str, condition, timeout: float, services: Processes) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services.check_alive()
        if condition():
            return
        time.sleep(3)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def metadata(dsn: str, sql: str) -> list[tuple]:
    """A query on Airflow's metadata database (the CLI's output mixes log lines into its JSON)."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, [RUN_ID] if "%s" in sql else None).fetchall()


def run_state(dsn: str) -> str:
    rows = metadata(dsn, "select state from dag_run where dag_id = 'tickerbars_backfill' and run_id = %s")
    return rows[0][0] if rows else "none"


def dag_parsed(dsn: str) -> bool:
    return bool(metadata(dsn, "select 1 from serialized_dag where dag_id = 'tickerbars_backfill'"))


def celery_run(work: Path, mirror: Path, start: date, end: date, stack: ExitStack) -> dict[str, str]:
    """The backfill DAG on the CeleryExecutor; the hostname of each download_month task."""
    dsn, stop_pg = start_cluster(Path(tempfile.mkdtemp(prefix="tbp-scale-pg-")))
    stack.callback(stop_pg)
    redis_port, api_port = free_port(), free_port()
    env = airflow_env(work, mirror, _sqlalchemy_dsn(dsn), redis_port, api_port)
    logs = work / "logs"
    logs.mkdir()
    services = Processes(logs)
    stack.callback(services.stop)
    services.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""], env)
    airflow(env, "db", "migrate")
    services.start("api-server", [str(BIN / "airflow"), "api-server", "--port", str(api_port), "--workers", "1"], env)
    services.start("scheduler", [str(BIN / "airflow"), "scheduler"], env)
    services.start("dag-processor", [str(BIN / "airflow"), "dag-processor"], env)
    for n in (1, 2):
        worker_env = {
            **env,
            "TBP_WORKER_NAME": f"worker-{n}",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        command = [
            str(BIN / "airflow"),
            "celery",
            "worker",
            "--concurrency",
            "1",
            "--celery-hostname",
            f"worker-{n}@%h",
        ]
        services.start(f"worker-{n}", command, worker_env)
    wait_for("the DAG processor to parse tickerbars_backfill", lambda: dag_parsed(dsn), 300, services)
    conf = json.dumps({"start": str(start), "end": str(end)})
    airflow(env, "dags", "unpause", "tickerbars_backfill")
    airflow(env, "dags", "trigger", "tickerbars_backfill", "--run-id", RUN_ID, "--conf", conf)
    wait_for("the backfill run to finish", lambda: run_state(dsn) in ("success", "failed"), 1500, services)
    state = run_state(dsn)
    hosts = metadata(
        dsn,
        "select map_index, hostname, state from task_instance "
        "where dag_id = 'tickerbars_backfill' and run_id = %s and task_id = 'download_month' order by map_index",
    )
    if state != "success":
        raise RuntimeError(f"the backfill run ended {state}: see {logs}")
    return {f"month {index}": f"{host} ({task_state})" for index, host, task_state in hosts}


def _sqlalchemy_dsn(libpq: str) -> str:
    """host=127.0.0.1 port=5432 user=postgres dbname=postgres -> postgres@127.0.0.1:5432/postgres"""
    parts = dict(item.split("=", 1) for item in libpq.split())
    return f"{parts['user']}@{parts['host']}:{parts['port']}/{parts['dbname']}"


def single_process_run(work: Path, mirror: Path, start: date, end: date) -> None:
    env = base_env(work, mirror, "single")
    cfg = load_config(REPO / "config", env)
    summary = run_extract(cfg, RunOptions(start=start, end=end))
    if summary.exit_code != 0:
        raise RuntimeError("the single-process extract failed: " + "; ".join(summary.lines()))
    os.environ.update(env)
    profiles = work / "single" / "profiles"
    profiles.mkdir()
    shutil.copy(REPO / "profiles.example.yml", profiles / "profiles.yml")
    paths = [
        "--project-dir",
        str(REPO),
        "--profiles-dir",
        str(profiles),
        "--target-path",
        str(work / "single" / "target"),
    ]
    if run_dbt(cfg, ["build", *paths, "--log-path", str(work / "single" / "dbt-logs")]) != 0:
        raise RuntimeError("the single-process dbt build failed")


def fact_rows(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(FACT).fetchall()


@click.command()
@click.option("--months", type=click.IntRange(2, 12), default=4, show_default=True, help="Months of 2024 to backfill.")
@click.option("--keep", is_flag=True, help="Keep the work folder (logs, warehouses) for a look afterwards.")
def main(months: int, keep: bool) -> None:
    """Run the check; exit 0 when the Celery run equals the single-process run, 1 otherwise."""
    if not shutil.which("redis-server"):
        click.echo("error: redis-server not found: apt-get install redis-server (make scale-check does)", err=True)
        sys.exit(3)
    work = Path(tempfile.mkdtemp(prefix="tbp-scale-check-"))
    start, end = window(months)
    mirror = work / "mirror"
    write_demo_mirror(mirror, DemoSpec(start, end, ticker_count=200, seed=5, include_tickers=TICKERS))
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            placements = celery_run(work, mirror, start, end, stack)
        celery_seconds = time.monotonic() - started
        single_process_run(work, mirror, start, end)
    except RuntimeError as exc:
        click.echo(f"scale-check failed: {exc}", err=True)
        sys.exit(1)
    finally:
        if not keep:
            shutil.rmtree(work / "airflow_home", ignore_errors=True)
    celery, single = fact_rows(work / "celery" / "tbp.duckdb"), fact_rows(work / "single" / "tbp.duckdb")
    workers = {placement.split(" ")[0] for placement in placements.values()}
    for month, placement in placements.items():
        click.echo(f"download_month {month}: {placement}")
    click.echo(f"celery run {celery_seconds:.0f}s: {len(celery)} rows in fct_daily_bars; single process: {len(single)}")
    ok = celery == single and len(celery) > 0 and workers == {"worker-1", "worker-2"}
    click.echo("scale-check: " + ("ok, the same fct_daily_bars, downloads on both workers" if ok else "FAILED"))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
