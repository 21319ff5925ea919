"""`make bench`: the pipeline against this machine's own limits and a naive loader, in one run.

python -m bench.run [--quick] [--out docs/benchmarks.md]; --quick uses one month of data (a smoke test).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import psycopg

from extract.demo import DemoSpec, write_demo_mirror
from extract.parse import COLUMN_TYPES, verify_file
from extract.sources import date_from_key, day_file_key
from support.pgcluster import start_cluster
from support.s3server import loopback_client, start_moto_server, upload_mirror
from support.watch import Update, WatchProcess

REPO = Path(__file__).resolve().parents[1]
PREFIX = "us_stocks_sip/day_aggs_v1"
SUMMARY_LINES = ("build:", "lake ")  # of an update, in the report
CONFIGURED = ("AAPL", "MSFT", "NVDA", "GOOGL", "AMZN", "META", "JPM", "BRK.B", "XOM", "JNJ", "SPY", "QQQ")
BUCKET = "flatfiles"
CREDENTIALS = {"POLYGON_S3_ACCESS_KEY": "bench-access", "POLYGON_S3_SECRET_KEY": "bench-secret"}


@dataclass(frozen=True)
class Scale:
    name: str
    start: date
    end: date
    next_sessions: tuple[date, date]  # one for `tbp-extract update`, one for `tbp-extract watch`
    tickers: int = 10_600
    rss_windows: tuple[tuple[str, date, date], ...] = ()
    naive_days: int = 10
    minute_sessions: tuple[date, date] = (date(2024, 12, 2), date(2024, 12, 31))  # full-market minute files


FULL = Scale(
    "5 years",
    date(2020, 1, 2),
    date(2024, 12, 31),
    (date(2025, 1, 2), date(2025, 1, 3)),
    rss_windows=(("1 month", date(2024, 12, 1), date(2024, 12, 31)), ("1 year", date(2024, 1, 1), date(2024, 12, 31))),
)
QUICK = Scale(
    "1 month",
    date(2024, 12, 2),
    date(2024, 12, 31),
    (date(2025, 1, 2), date(2025, 1, 3)),
    rss_windows=(("1 week", date(2024, 12, 2), date(2024, 12, 6)),),
    naive_days=2,
    minute_sessions=(date(2024, 12, 2), date(2024, 12, 3)),
)


@dataclass
class Row:
    step: str
    target: str
    seconds: float | None  # None: not measured (the note says why)
    rows: int | None = None
    note: str = ""

    @property
    def rate(self) -> str:
        return f"{self.rows / self.seconds:,.0f}" if self.rows and self.seconds else ""


@dataclass
class Report:
    scale: Scale
    files: int
    rows: int
    postgres_server: str
    measured: list[Row] = field(default_factory=list)
    targets: list[tuple[str, str, bool]] = field(default_factory=list)

    minute: str = ""  # the minute section's files, when it ran

    def add(self, step: str, target: str, seconds: float | None, rows: int | None = None, note: str = "") -> Row:
        row = Row(step, target, seconds, rows, note)
        self.measured.append(row)
        shown = "-" if seconds is None else f"{seconds:.2f}s"
        print(f"  {step:<58} {target:<9} {shown:>9} {row.rate:>12} {note}", flush=True)
        return row

    def check(self, goal: str, measured: str, holds: bool) -> None:
        self.targets.append((goal, measured, holds))

    def markdown(self) -> str:
        lines = [
            "# Benchmarks",
            "",
            f"`make bench{'-quick' if self.scale is QUICK else ''}` on this machine ({os.cpu_count()} cores): "
            f"{self.files} day files, {self.scale.start} .. {self.scale.end}, {self.rows:,} rows, served by a moto S3 "
            f"server on loopback. PostgreSQL (limit and pipeline alike): {self.postgres_server}. "
            f"Written by `python -m bench.run`.{' ' + self.minute if self.minute else ''}",
            "",
            "| step | target | seconds | rows/s | note |",
            "| --- | --- | ---: | ---: | --- |",
        ]
        cell = lambda text: str(text).replace("|", "\\|")  # noqa: E731
        lines += [
            f"| {cell(r.step)} | {r.target} | {'not measured' if r.seconds is None else f'{r.seconds:.2f}'} | {r.rate} "
            f"| {cell(r.note)} |"
            for r in self.measured
        ]
        lines += ["", "| goal | measured | holds |", "| --- | --- | --- |"]
        lines += [
            f"| {cell(goal)} | {measured} | {'yes' if holds else '**no**'} |" for goal, measured, holds in self.targets
        ]
        return "\n".join(lines) + "\n"


def timed(action: Callable[[], object]) -> tuple[float, object]:
    """Seconds of action, started once the earlier steps' writes are on disk (else their writeback runs during it)."""
    os.sync()
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def machine_cpu_seconds() -> float:
    """CPU time every process on the machine has spent since boot (/proc/stat), idle and I/O wait aside: what a step
    costs the whole machine, the moto server and PostgreSQL included."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def timed_cpu(action: Callable[[], object]) -> tuple[float, float, object]:
    """timed(action), with the machine's CPU seconds during it."""
    os.sync()
    cpu = machine_cpu_seconds()
    seconds, result = timed(action)
    return seconds, machine_cpu_seconds() - cpu, result


def ensure_mirror(data_dir: Path, scale: Scale) -> Path:
    """The synthetic full-market mirror for this scale, generated once and cached between runs."""
    mirror = data_dir / f"mirror-{scale.start}-{scale.end}-{scale.tickers}"
    marker = mirror / ".complete"
    if not marker.exists():
        shutil.rmtree(mirror, ignore_errors=True)
        print(f"generating {scale.name} of {scale.tickers} tickers into {mirror} (cached for later runs)", flush=True)
        spec = DemoSpec(scale.start, scale.end, ticker_count=scale.tickers, seed=2020, include_tickers=CONFIGURED)
        written = write_demo_mirror(mirror, spec)
        marker.write_text(json.dumps({"files": written.files, "rows": written.rows}))
    return mirror


def next_session_file(data_dir: Path, scale: Scale, session: date) -> Path:
    """The full-market day file of a session after the mirror's, generated once: what an everyday run finds new."""
    folder = data_dir / f"next-{session}-{scale.tickers}"
    path = folder / day_file_key(PREFIX, session)
    if not path.exists():
        spec = DemoSpec(session, session, ticker_count=scale.tickers, seed=2025, include_tickers=CONFIGURED)
        write_demo_mirror(folder, spec)
    return path


@contextmanager
def postgres(dsn: str | None):
    if dsn:
        yield dsn
        return
    dsn, stop = start_cluster(Path(tempfile.mkdtemp(prefix="tbp-bench-pg-")))
    try:
        yield dsn
    finally:
        stop()


def drop_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def fresh_database(admin_dsn: str, name: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    drop_database(admin_dsn, name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    params = conninfo_to_dict(admin_dsn)
    return {
        "DB_HOST": str(params.get("host", "127.0.0.1")),
        "DB_PORT": str(params.get("port", 5432)),
        "DB_USER": str(params.get("user", "postgres")),
        "DB_PASSWORD": str(params.get("password", "")),
        "DBT_ENV_SECRET_DB_PASSWORD": str(params.get("password", "")),
        "DB_NAME": name,
        "TBP_TARGET": "postgres",
        "DSN": make_conninfo(admin_dsn, dbname=name),
    }


@contextmanager
def s3_server(mirror: Path):
    """A moto server on loopback holding the mirror's files in the bucket."""
    endpoint, stop = start_moto_server()
    client = loopback_client(endpoint, CREDENTIALS["POLYGON_S3_ACCESS_KEY"], CREDENTIALS["POLYGON_S3_SECRET_KEY"])
    client.create_bucket(Bucket=BUCKET)
    upload_mirror(client, BUCKET, mirror)
    try:
        yield endpoint, client
    finally:
        stop()


class Bench:
    def __init__(
        self, scale: Scale, work: Path, admin_dsn: str, endpoint: str, client, report: Report, mirror: Path
    ) -> None:
        self.scale, self.work, self.admin_dsn, self.mirror = scale, work, admin_dsn, mirror
        self.endpoint, self.client, self.report = endpoint, client, report
        self.profiles = work / "profiles"
        self.profiles.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "profiles.example.yml", self.profiles / "profiles.yml")

    def env(self, target: dict[str, str], **extra: str) -> dict[str, str]:
        base = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(self.work)),
            "TBP_CONFIG_DIR": str(REPO / "config"),
            "TBP_SOURCE": f"s3://{BUCKET}",
            "POLYGON_S3_ENDPOINT": self.endpoint,
            "TBP_CACHE_DIR": str(self.work / f"cache-{uuid.uuid4().hex}"),
            "LOG_LEVEL": "WARNING",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PYTHONPATH": str(REPO),
        }
        return {**base, **CREDENTIALS, **target, **extra}

    def duckdb_target(self, name: str) -> dict[str, str]:
        return {"TBP_TARGET": "duckdb", "DUCKDB_PATH": str(self.work / f"{name}.duckdb")}

    def extract(self, env: dict[str, str], start: date, end: date) -> dict:
        result_file = self.work / f"result-{uuid.uuid4().hex}.json"
        os.sync()  # as timed() does: the earlier steps' writes are not flushed during this one
        cpu = machine_cpu_seconds()
        run = subprocess.run(
            [sys.executable, "-m", "bench.rss", "run", "--start", str(start), "--end", str(end)],
            env={**env, "BENCH_RESULT": str(result_file)},
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise SystemExit(f"extract failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        return {**json.loads(result_file.read_text()), "cpu": machine_cpu_seconds() - cpu}

    def dbt_target(self, env: dict[str, str]) -> Path:
        """dbt's target folder for one warehouse, as a project that runs against it has: a folder shared by the
        warehouses would leave each run a partial parse made for another, and every everyday run would parse the
        whole project again (1.7 s more)."""
        warehouse = env.get("DUCKDB_PATH") if env["TBP_TARGET"] == "duckdb" else env.get("DB_NAME")
        return self.work / f"dbt_target-{env['TBP_TARGET']}-{Path(warehouse or 'default').name}"

    def dbt_build(self, env: dict[str, str]) -> float:
        seconds, run = self.dbt_run(env)
        if run.returncode != 0:
            raise SystemExit(f"dbt build failed:\n{run.stdout[-5000:]}")
        return seconds

    def dbt_run(self, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
        """dbt build: its seconds and the finished process, failed or not."""
        command = [
            str(Path(sys.executable).with_name("dbt")),
            "build",
            "--project-dir",
            str(REPO),
            "--profiles-dir",
            str(self.profiles),
            "--target-path",
            str(self.dbt_target(env)),
            "--log-path",
            str(self.work / "dbt_logs"),
        ]
        return timed(lambda: subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True))

    def update_env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` with what tbp-extract update and watch need of dbt's and the lake's."""
        return {
            **env,
            "DBT_PROFILES_DIR": str(self.profiles),
            "DBT_TARGET_PATH": str(self.dbt_target(env)),
            "DBT_LOG_PATH": str(self.work / "dbt_logs"),
            "TBP_LAKE": env.get("TBP_LAKE", str(self.work / f"lake-{env['TBP_TARGET']}")),
        }

    def update(self, env: dict[str, str], start: date, end: date) -> tuple[float, list[str]]:
        """tbp-extract update (extract, dbt in-process, the lake): seconds, and its build and lake lines."""
        command = [sys.executable, "-m", "extract", "update", "--start", str(start), "--end", str(end)]
        seconds, run = timed(
            lambda: subprocess.run(command, env=self.update_env(env), cwd=REPO, capture_output=True, text=True)
        )
        if run.returncode != 0:
            raise SystemExit(f"update failed:\n{run.stdout[-5000:]}\n{run.stderr[-3000:]}")
        return seconds, [line for line in run.stdout.splitlines() if line.startswith(SUMMARY_LINES)]

    @contextmanager
    def watching(self, env: dict[str, str], start: date, end: date) -> Iterator[WatchProcess]:
        """tbp-extract watch, an update every second, until the block ends (SIGTERM: it must exit 143)."""
        watch = WatchProcess(["--every", "1s", "--start", str(start), "--end", str(end)], self.update_env(env), REPO)
        try:
            yield watch
        finally:
            code = watch.stop()
        if code != 143:
            raise SystemExit(f"watch exited {code}, not 143, on SIGTERM:\n{watch.tail()}")

    def publish(self, env: dict[str, str], lake: Path) -> tuple[float, str]:
        """tbp-extract publish into a folder lake: seconds, and its summary line."""
        command = [sys.executable, "-m", "extract", "publish", "--lake", str(lake)]
        seconds, run = timed(lambda: subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True))
        if run.returncode != 0:
            raise SystemExit(f"publish failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        return seconds, run.stdout.splitlines()[0]


def folder_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def table_bytes(target: dict[str, str], table: str = "analytics.fct_daily_bars") -> int:
    """A table's size in the warehouse: the relation with its indexes (PostgreSQL), or the blocks its row groups
    occupy (DuckDB)."""
    if target["TBP_TARGET"] == "postgres":
        with psycopg.connect(target["DSN"]) as conn:
            return conn.execute("select pg_total_relation_size(%s)", [table]).fetchone()[0]
    with duckdb.connect(target["DUCKDB_PATH"], read_only=True) as conn:
        [(blocks,)] = conn.execute(
            "select count(distinct block_id) from pragma_storage_info(?) where persistent", [table]
        ).fetchall()
        [(block_size,)] = conn.execute("select block_size from pragma_database_size()").fetchall()
    return blocks * block_size


def settle(target: dict[str, str]) -> None:
    """VACUUM (ANALYZE) of a PostgreSQL step's database, untimed, before the next step is measured: else autovacuum
    does it during that step (vacuuming 13 M freshly copied rows slowed DuckDB's CTAS limit from 6 s to 10.7 s)."""
    if target.get("TBP_TARGET") == "postgres":
        with psycopg.connect(target["DSN"], autocommit=True) as conn:
            conn.execute("vacuum (analyze)")
            conn.execute("checkpoint")  # the pages the vacuum dirtied, written now rather than during the next step


def copy_limit(admin_dsn: str, database: str, files: list[Path]) -> float:
    """Seconds of `zcat | psql \\copy` of the files into a plain table of a fresh database, dropped once timed (so
    that autovacuum does not vacuum its rows during the steps measured after it)."""
    target = fresh_database(admin_dsn, database)
    columns = ", ".join(
        f"{name} {'text' if kind == 'VARCHAR' else kind.lower()}" for name, kind in COLUMN_TYPES.items()
    ).replace("double", "double precision")
    with psycopg.connect(target["DSN"], autocommit=True) as conn:
        conn.execute(f"create table limit_aggs ({columns})")
    script = 'zcat -- "$@" | grep -v "^ticker," | psql "$TBP_DSN" -q -c "\\copy limit_aggs from stdin (format csv)"'
    seconds, run = timed(
        lambda: subprocess.run(
            ["bash", "-c", script, "copy", *map(str, files)],
            env={**os.environ, "TBP_DSN": target["DSN"]},
            capture_output=True,
        )
    )
    if run.returncode != 0:
        raise SystemExit(f"zcat | psql failed: {run.stderr.decode()[-2000:]}")
    drop_database(admin_dsn, database)
    return seconds


def ctas_limit(path: Path, files: list[Path]) -> tuple[float, float]:
    """Seconds and machine CPU seconds of DuckDB's CREATE TABLE AS read_csv of the files into a database file."""
    with duckdb.connect(str(path)) as conn:
        cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMN_TYPES.items()) + "}"
        seconds, cpu, _ = timed_cpu(
            lambda: conn.execute(
                f"create table t as select * from read_csv(?, columns = {cols}, header = true, auto_detect = false)",
                [[str(p) for p in files]],
            ).fetchall()
        )
        return seconds, cpu


def measure_limits(bench: Bench, files: list[Path], rows: int) -> dict[str, float]:
    report = bench.report

    def gunzip_all() -> None:
        for path in files:
            gzip.decompress(path.read_bytes())

    gunzip = report.add("limit: gunzip every file", "-", timed(gunzip_all)[0], rows).seconds

    def verify_all() -> None:
        for path in files:
            verify_file(path, path.name)

    verify = timed(verify_all)[0]
    report.add(
        "the extractor's gzip check of every file (CRC-32 and length of each member, streamed)",
        "-",
        verify,
        rows,
        f"{verify / len(files) * 1000:.1f} ms a file, {verify / gunzip:.2f}x gunzip",
    )

    copy_seconds = copy_limit(bench.admin_dsn, "bench_limit", files)
    report.add("limit: zcat | psql \\copy into a plain table", "postgres", copy_seconds, rows)
    ctas, ctas_cpu = ctas_limit(bench.work / "limit.duckdb", files)
    report.add("limit: DuckDB CREATE TABLE AS read_csv(all files)", "duckdb", ctas, rows, f"{ctas_cpu:.1f} CPU s")

    keys = [day_file_key(PREFIX, date_from_key(p.as_posix())) for p in files]

    def get_all() -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: bench.client.get_object(Bucket=BUCKET, Key=k)["Body"].read(), keys))

    get, get_cpu, _ = timed_cpu(get_all)
    report.add("limit: S3 GET of every file (8 threads)", "-", get, rows, f"{get_cpu:.1f} CPU s, moto's included")
    return {"gunzip": gunzip, "copy": copy_seconds, "ctas": ctas, "get": get, "ctas_cpu": ctas_cpu, "get_cpu": get_cpu}


def run_bench(scale: Scale, data_dir: Path, out: Path | None, pg_dsn: str | None) -> Report:
    from bench.minute import ensure_minute_mirror, run_minute

    mirror = ensure_mirror(data_dir, scale)
    minute_mirror = ensure_minute_mirror(data_dir, *scale.minute_sessions)
    stats = json.loads((mirror / ".complete").read_text())
    files = sorted(mirror.rglob("*.csv.gz"))
    server = "the server of --pg-dsn" if pg_dsn else "a throwaway PostgreSQL 15 cluster with fsync off, as tests use"
    report = Report(scale, stats["files"], stats["rows"], server)
    next_files = [next_session_file(data_dir, scale, session) for session in scale.next_sessions]
    work = Path(tempfile.mkdtemp(prefix="tbp-bench-"))
    try:
        with postgres(pg_dsn) as admin_dsn, s3_server(mirror) as (endpoint, client):
            bench = Bench(scale, work, admin_dsn, endpoint, client, report, mirror)
            print(f"{scale.name}: {report.files} files, {report.rows:,} rows", flush=True)
            limits = measure_limits(bench, files, report.rows)
            run_scenarios(bench, limits, next_files, files)
            run_minute(bench, minute_mirror)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report.markdown()
    print("\n" + text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return report


def run_scenarios(bench: Bench, limits: dict[str, float], next_files: list[Path], files: list[Path]) -> None:
    scale, report = bench.scale, bench.report
    targets = {"postgres": fresh_database(bench.admin_dsn, "bench_full"), "duckdb": bench.duckdb_target("full")}
    limit_for = {"postgres": ("copy", "zcat | psql \\copy"), "duckdb": ("ctas", "DuckDB CTAS")}
    # The daily backfill's goals against each target's own single-stream limit.
    goal_for = {"postgres": 1.0, "duckdb": 1.5}
    e2e_seconds: dict[str, float] = {}
    for name, target in targets.items():
        result = bench.extract(bench.env(target), scale.start, scale.end)
        if name == "postgres":
            backfill_postgres = result["seconds"]
        key, label = limit_for[name]
        ratio = result["seconds"] / limits[key]
        cores = os.cpu_count() or 1
        busy = result["cpu"] / (result["seconds"] * cores)
        note = (
            f"{ratio:.2f}x the {label} limit; peak RSS {result['max_rss_mb']:.0f} MB; {busy:.0%} of {cores} cores busy"
        )
        if name == "duckdb":  # an estimate: the work of the GET limit (moto's serving too) and of CTAS, on these cores
            floor = (limits["get_cpu"] + limits["ctas_cpu"]) / cores
            note += (
                f"; floor here {floor:.1f}s ({floor / limits[key]:.2f}x): the GET and CTAS limits' CPU on {cores} cores"
            )
        report.add("full-market backfill, S3 -> landing", name, result["seconds"], report.rows, note)
        goal = goal_for[name]
        report.check(
            f"full-market backfill into {name} landing <= {goal:g}x the {label} limit", f"{ratio:.2f}x", ratio <= goal
        )
        if name == "duckdb":
            report.check(
                f"extractor peak RSS < 300 MB for {scale.name}",
                f"{result['max_rss_mb']:.0f} MB",
                result["max_rss_mb"] < 300,
            )
        build = bench.dbt_build(bench.env(target))
        report.add("dbt build over full-market landing (12 tickers)", name, build)
        lake = bench.work / f"lake-{name}"
        seconds, line = bench.publish(bench.env(target), lake)
        lake_bytes, fact_bytes = folder_bytes(lake), table_bytes(target)
        report.add(
            f"publish the Parquet lake, 12 tickers x {scale.name}",
            name,
            seconds,
            None,
            f"{line.split(': ', 1)[1]}; lake {lake_bytes / 1e6:.2f} MB, fct_daily_bars {fact_bytes / 1e6:.2f} MB "
            "in the warehouse",
        )
        settle(target)

    # The same backfill from the local mirror: what landing costs without moto serving every file over HTTP.
    local_targets = {"postgres": fresh_database(bench.admin_dsn, "bench_local"), "duckdb": bench.duckdb_target("local")}
    for name, target in local_targets.items():
        result = bench.extract(bench.env(target, TBP_SOURCE=str(bench.mirror)), scale.start, scale.end)
        key, label = limit_for[name]
        report.add(
            "full-market backfill, local mirror -> landing",
            name,
            result["seconds"],
            report.rows,
            f"{result['seconds'] / limits[key]:.2f}x the {label} limit; peak RSS {result['max_rss_mb']:.0f} MB",
        )
        if name == "postgres":  # needed no more: dropped before autovacuum would vacuum it during the next step
            drop_database(bench.admin_dsn, target["DB_NAME"])

    for name, target in (
        ("postgres", fresh_database(bench.admin_dsn, "bench_configured")),
        ("duckdb", bench.duckdb_target("configured")),
    ):
        env = bench.env(target, TBP_LAND_SCOPE="configured")
        extract = bench.extract(env, scale.start, scale.end)
        build = bench.dbt_build(env)
        total = extract["seconds"] + build
        e2e_seconds[name] = total
        report.add(
            f"12 tickers x {scale.name} end to end (land_scope=configured)",
            name,
            total,
            None,
            f"extract {extract['seconds']:.1f}s + dbt build {build:.1f}s",
        )
        report.check(f"12 tickers x {scale.name} end to end < 60 s on {name}", f"{total:.1f}s", total < 60)
        settle(target)

    for target in targets.values():  # the warehouse as the last step left it: built, the lake published
        bench.update(bench.env(target), scale.start, scale.end)  # records what that build holds
    measure_everyday(bench, targets, next_files)

    for label, start, end in scale.rss_windows:
        result = bench.extract(bench.env(bench.duckdb_target(f"rss-{label.replace(' ', '')}")), start, end)
        report.add(
            f"extractor peak RSS, {label} backfill", "duckdb", result["seconds"], None, f"{result['max_rss_mb']:.0f} MB"
        )

    measure_naive(bench, files, {"configured": e2e_seconds["postgres"], "backfill": backfill_postgres})


def measure_everyday(bench: Bench, targets: dict[str, dict[str, str]], next_files: list[Path]) -> None:
    """A new session and then nothing new, on the full-market warehouse: by `tbp-extract update` (a fresh process
    each time: Python, dbt's import and parse included) and by `tbp-extract watch` (one process, dbt kept warm).
    Both find the session's calendar day recorded by an earlier update, as when the date changed before its file
    came out, so that both build the same models."""
    report, scale = bench.report, bench.scale
    (update_session, watch_session), (update_file, watch_file) = scale.next_sessions, next_files
    scopes: dict[str, str] = {}
    for target in targets.values():
        bench.update(bench.env(target), scale.start, update_session)
    bench.client.upload_file(str(update_file), BUCKET, day_file_key(PREFIX, update_session))
    for name, target in targets.items():
        env = bench.env(target)
        seconds, lines = bench.update(env, scale.start, update_session)
        scopes[name] = next(line for line in lines if line.startswith("build:"))
        report.add(
            "one new session end to end: tbp-extract update, a fresh process",
            name,
            seconds,
            None,
            "; ".join(lines) + " (Python start-up, dbt import and parse included)",
        )
        report.check(f"one new session end to end <= 3 s on {name}, a fresh process", f"{seconds:.1f}s", seconds <= 3)
        seconds, lines = bench.update(env, scale.start, update_session)
        report.add("a run with nothing new: tbp-extract update, a fresh process", name, seconds, None, "; ".join(lines))
        report.check(f"a run with nothing new <= 2 s on {name}, a fresh process", f"{seconds:.1f}s", seconds <= 2)
    watch_key = day_file_key(PREFIX, watch_session)
    for name, target in targets.items():
        with bench.watching(bench.env(target), scale.start, watch_session) as watch:
            watch.next_update()  # records the session's calendar day and builds it, from the parse made beside it
            bench.client.upload_file(str(watch_file), BUCKET, watch_key)
            landed = watch.update_where(Update.landed_files)
            nothing = watch.next_update()
        if landed.code or nothing.code:
            raise SystemExit(f"a watch's update failed:\n{watch.tail()}")
        summary = [line for line in landed.lines if line.startswith(("build:", "lake "))]
        if summary[0] != scopes[name]:
            raise SystemExit(f"watch built {summary[0]!r}, update {scopes[name]!r}: not the same build to compare")
        report.add(
            "one new session end to end: tbp-extract watch, dbt kept warm",
            name,
            landed.seconds,
            None,
            "; ".join(summary) + " (the update's own time, from listing to the lake)",
        )
        report.check(
            f"one new session end to end <= 3 s on {name}, tbp-extract watch",
            f"{landed.seconds:.1f}s",
            landed.seconds <= 3,
        )
        summary = [line for line in nothing.lines if line.startswith(("build:", "lake "))]
        report.add("a run with nothing new: tbp-extract watch", name, nothing.seconds, None, "; ".join(summary))
        seconds = nothing.seconds
        report.check(f"a run with nothing new <= 2 s on {name}, tbp-extract watch", f"{seconds:.1f}s", seconds <= 2)
        bench.client.delete_object(Bucket=BUCKET, Key=watch_key)  # new to the next target's warehouse too


def measure_naive(bench: Bench, files: list[Path], ours: dict[str, float]) -> None:
    """The naive loader on a slice, extrapolated where a full run would take over 10 minutes."""
    from bench.naive import naive_load

    keys = {date_from_key(p.as_posix()): day_file_key(PREFIX, date_from_key(p.as_posix())) for p in files}
    days = sorted(keys)
    dsn = fresh_database(bench.admin_dsn, "bench_naive")["DSN"]
    slice_days = days[: bench.scale.naive_days]
    seconds, _ = timed(
        lambda: naive_load(bench.client, BUCKET, {d: keys[d] for d in slice_days}, list(CONFIGURED), dsn)
    )
    estimate, note = seconds / len(slice_days) * len(days), f"{len(slice_days)} sessions in {seconds:.1f}s"
    if estimate <= 600 and len(slice_days) < len(days):
        rest, _ = timed(
            lambda: naive_load(
                bench.client, BUCKET, {d: keys[d] for d in days[len(slice_days) :]}, list(CONFIGURED), dsn
            )
        )
        estimate, note = seconds + rest, f"all {len(days)} sessions run"
    elif len(slice_days) < len(days):
        note += f", extrapolated to {len(days)}"
    bench.report.add(
        "naive loader, 12 tickers (GET per ticker and day, pandas, row INSERTs)", "postgres", estimate, None, note
    )
    ratio = estimate / ours["configured"]
    bench.report.check("at least 30x faster than the naive loader, 12 tickers end to end", f"{ratio:.0f}x", ratio >= 30)

    sample = sorted(read_tickers(files[0]))[:40]
    seconds, _ = timed(lambda: naive_load(bench.client, BUCKET, {days[0]: keys[days[0]]}, sample, dsn))
    full = seconds / len(sample) * bench.report.rows
    bench.report.add(
        "naive loader, full market (same data as the backfill)",
        "postgres",
        full,
        None,
        f"{len(sample)} tickers x 1 session in {seconds:.1f}s, extrapolated to every row",
    )
    ratio = full / ours["backfill"]
    bench.report.check("at least 30x faster than the naive loader, full-market backfill", f"{ratio:,.0f}x", ratio >= 30)


def read_tickers(path: Path) -> set[str]:
    with gzip.open(path, "rt") as stream:
        return {line.split(",", 1)[0] for line in stream.readlines()[1:]}


def main(argv: list[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one month of data: a smoke test")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    parser.add_argument("--data-dir", type=Path, default=REPO / "bench" / ".data")
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("TBP_BENCH_PG_DSN"),
        help="an existing server (default: start a throwaway cluster)",
    )
    args = parser.parse_args(argv)
    return run_bench(QUICK if args.quick else FULL, args.data_dir, args.out, args.pg_dsn)


if __name__ == "__main__":
    main()
