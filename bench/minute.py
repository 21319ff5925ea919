"""The bench's minute section: one month of full-market US stock minute files into landing on both targets, against
that run's own limits (`zcat | psql \\copy`, DuckDB CTAS), the 12-ticker minute dbt build, TimescaleDB compression,
and a 5-year extrapolation."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import psycopg

from bench.run import (
    CONFIGURED,
    REPO,
    Bench,
    copy_limit,
    ctas_limit,
    drop_database,
    fresh_database,
    table_bytes,
    timed,
)
from extract.calendar import session_bounds, sessions
from extract.sources import day_file_key

DATASET = "us_stocks_sip/minute_aggs_v1"
TICKERS = 10_000
SEED = 2024
FIVE_YEARS = 1_258  # XNYS sessions 2020-2024
EXTENDED_BEFORE, EXTENDED_AFTER = timedelta(hours=5, minutes=30), timedelta(hours=4)  # 04:00 and 20:00 New York

# One session's file: every configured ticker trades every minute of 04:00-20:00 New York; the other tickers'
# liquidity is heavy-tailed (a Pareto draw a ticker, varied by day): a liquid ticker trades every regular-session
# minute and most extended-hours ones, most trade a few minutes. Prices walk from a per-ticker level. Every draw is
# a hash of the seed, the ticker and the minute, so a file is the same on every run.
# unit(h): a hash as a draw in [0, 1); letter(h): A to Z; walk: a ticker's price at minute m, two slow waves.
MACROS = """
create or replace temp macro unit(h) as (h % 1000000)::double / 1e6;
create or replace temp macro letter(h) as chr(65 + (h % 26)::int);
create or replace temp macro walk(level, id, m) as level * exp(
    0.004 * sin(m / (20 + id % 17) + id) + 0.008 * sin(m / (90 + id % 53) + 2 * id)
)
"""
MINUTE_FILE_SQL = """
copy (
    with
    draws as (select i, (1 + 4 * unit(hash($seed, i, 'letters')))::int as letters from range(2 * $tickers) t(i)),
    names as (
        select i, array_to_string(list_transform(range(letters), lambda k: letter(hash($seed, i, k))), '') as ticker
        from draws
    ),
    listed as (
        select ticker, true as full_session, 1000.0 as liquidity from unnest($configured::varchar[]) t(ticker)
        union all
        (select ticker, false, 0.07 * pow(unit(hash($seed, ticker)) + 1e-6, -1.5)
         from names where ticker not in (select unnest($configured::varchar[]))
         group by ticker order by min(i) limit $tickers - len($configured))
    ),
    tickers as (
        select
            row_number() over (order by ticker) as id,
            ticker,
            full_session,
            liquidity * (0.75 + 0.5 * unit(hash($seed, ticker, $day))) as liquidity,
            exp(0.5 + 5.5 * unit(hash($seed, ticker))) * (0.98 + 0.04 * unit(hash($seed, ticker, $day, 1))) as level,
            $regular_open + floor(unit(hash($seed, ticker, $day, 2)) * ($regular_close - $regular_open)) as anchor
        from listed
    ),
    minutes as (
        select id, ticker, full_session, liquidity, level, m
        from tickers, range($minutes) r(m)
        where full_session
           or m = anchor
           or unit(hash($seed, id, m, $day)) < case
                  when m >= $regular_open and m < $regular_close then least(1.0, liquidity)
                  else least(0.9, 0.45 * liquidity) end
    ),
    bars as (
        select
            id, ticker, m, liquidity,
            walk(level, id, m - 1) * (1 + 0.002 * (unit(hash($seed, id, m, 5)) - 0.5)) as open_,
            walk(level, id, m) * (1 + 0.002 * (unit(hash($seed, id, m, 6)) - 0.5)) as close_,
            0.001 * unit(hash($seed, id, m, 3)) as spread,
            if(unit(hash($seed, id, m, 7)) < 0.3, 4, 2) as digits,
            unit(hash($seed, id, m, 4)) + 1e-6 as draw
        from minutes
    )
    select
        ticker,
        greatest(1, floor(-ln(draw) * (100 * pow(liquidity, 0.8) + 1)))::bigint as volume,
        round(open_, if(close_ < 1, 4, digits)) as open,
        round(close_, if(close_ < 1, 4, digits)) as close,
        round(greatest(open_, close_) * (1 + spread), if(close_ < 1, 4, digits)) as high,
        round(least(open_, close_) * (1 - spread), if(close_ < 1, 4, digits)) as low,
        $opens_ns + m * 60000000000 as window_start,
        greatest(1, floor(-ln(draw) * (100 * pow(liquidity, 0.8) + 1) / (40 + 160 * unit(hash(id)))))::bigint
            as transactions
    from bars
    order by id, m
) to '{path}' (format csv, header, compression gzip)
"""


def write_minute_file(conn: duckdb.DuckDBPyConnection, path: Path, day: date, configured: tuple[str, ...]) -> int:
    opens, closes = session_bounds(day)
    first = opens - EXTENDED_BEFORE
    minute = lambda at: int((at - first).total_seconds() // 60)  # noqa: E731
    path.parent.mkdir(parents=True, exist_ok=True)
    params = {
        "seed": SEED,
        "tickers": TICKERS,
        "configured": list(configured),
        "day": day.isoformat(),
        "minutes": minute(closes + EXTENDED_AFTER),
        "regular_open": minute(opens),
        "regular_close": minute(closes),
        "opens_ns": int(first.timestamp()) * 1_000_000_000,
    }
    conn.execute(MACROS)
    [(rows,)] = conn.execute(MINUTE_FILE_SQL.replace("{path}", str(path)), params).fetchall()
    return rows


def ensure_minute_mirror(data_dir: Path, start: date, end: date) -> Path:
    """The synthetic full-market minute mirror of these sessions, generated once and cached between runs; its
    .complete marker holds each file's rows."""
    mirror = data_dir / f"minute-{start}-{end}-{TICKERS}"
    marker = mirror / ".complete"
    if not marker.exists():
        shutil.rmtree(mirror, ignore_errors=True)
        print(f"generating {DATASET} files of {TICKERS} tickers into {mirror} (cached for later runs)", flush=True)
        with duckdb.connect() as conn:
            conn.execute("set memory_limit = '1GB'")
            conn.execute("set enable_progress_bar = false")
            rows = {}
            for day in sessions(start, end):
                key = day_file_key(DATASET, day)
                rows[key] = write_minute_file(conn, mirror / key, day, CONFIGURED)
        marker.write_text(json.dumps(rows))
    for key, count in json.loads(marker.read_text()).items():
        print(f"  {key}: {count:,} rows, {(mirror / key).stat().st_size / 1e6:.1f} MB", flush=True)
    return mirror


def land_all_config(work: Path) -> Path:
    """config/ with pipeline.yml's datasets replaced by the minute dataset landing the whole market."""
    folder = work / "config-minute-all"
    shutil.copytree(REPO / "config", folder)
    pipeline = folder / "pipeline.yml"
    text, replaced = re.subn(
        r"(?m)^  datasets: .*$", f"  datasets: [{{name: {DATASET}, land_scope: all}}]", pipeline.read_text()
    )
    if replaced != 1:
        raise SystemExit(f"{pipeline}: no single 'datasets:' line to replace")
    pipeline.write_text(text)
    return folder


def timescaledb_missing(dsn: str) -> str | None:
    """None when CREATE EXTENSION timescaledb works in the database, else why not."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create extension if not exists timescaledb")
    except psycopg.Error as exc:
        return f"CREATE EXTENSION timescaledb failed: {str(exc).strip().splitlines()[0]}"
    return None


def compressed_sizes(dsn: str) -> tuple[int, int] | None:
    """fct_minute_bars' bytes before and after compressing every chunk (None: no chunk was compressed)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "select compress_chunk(chunk, if_not_compressed => true) "
            "from show_chunks('analytics.fct_minute_bars') chunk"
        )
        sizes = conn.execute(
            "select before_compression_total_bytes, after_compression_total_bytes "
            "from hypertable_compression_stats('analytics.fct_minute_bars')"
        ).fetchone()
    return sizes if sizes and sizes[1] else None


def minute_bars(target: dict[str, str]) -> int:
    """Rows of fct_minute_bars: a build that makes none measures nothing."""
    sql = "select count(*) from analytics.fct_minute_bars"
    if target["TBP_TARGET"] == "postgres":
        with psycopg.connect(target["DSN"]) as conn:
            return conn.execute(sql).fetchone()[0]
    with duckdb.connect(target["DUCKDB_PATH"], read_only=True) as conn:
        return conn.execute(sql).fetchone()[0]


def dbt_failure(output: str) -> str:
    """The error lines of dbt's summary of a failed build."""
    summary = re.sub(r"\x1b\[[0-9;]*m", "", output).split("Completed with", 1)[-1].splitlines()[1:]
    lines = (re.sub(r"^\d\d:\d\d:\d\d\s+", "", line).strip() for line in summary)
    skipped = ("compiled code", "Done.", "Failure in")
    return " / ".join(dict.fromkeys(line for line in lines if line and not line.startswith(skipped)))[:400]


def run_minute(bench: Bench, mirror: Path) -> None:
    report, (start, end) = bench.report, bench.scale.minute_sessions
    rows_by_key = json.loads((mirror / ".complete").read_text())
    files, rows = [mirror / key for key in rows_by_key], sum(rows_by_key.values())
    gzipped = sum(path.stat().st_size for path in files)
    report.minute = (
        f"Minute section: {len(files)} full-market files of {DATASET}, {start} .. {end}, {rows:,} rows, "
        f"{gzipped / 1e6:,.0f} MB gzipped ({TICKERS:,} tickers a day, generated by DuckDB SQL), landed from the "
        "local mirror."
    )
    print(f"minute: {len(files)} files, {rows:,} rows, {gzipped / 1e6:,.0f} MB", flush=True)
    limits = {
        "postgres": copy_limit(bench.admin_dsn, "bench_minute_limit", files),
        "duckdb": ctas_limit(bench.work / "minute-limit.duckdb", files)[0],
    }
    report.add("minute limit: zcat | psql \\copy into a plain table", "postgres", limits["postgres"], rows)
    report.add("minute limit: DuckDB CREATE TABLE AS read_csv(all files)", "duckdb", limits["duckdb"], rows)
    (bench.work / "minute-limit.duckdb").unlink()
    land_all(bench, mirror, files, rows, limits)
    build_configured(bench, mirror)


def land_all(bench: Bench, mirror: Path, files: list[Path], rows: int, limits: dict[str, float]) -> None:
    report, (start, end) = bench.report, bench.scale.minute_sessions
    config = land_all_config(bench.work)
    label = {"postgres": "zcat | psql \\copy", "duckdb": "DuckDB CTAS"}
    for name, target in (
        ("postgres", fresh_database(bench.admin_dsn, "bench_minute_all")),
        ("duckdb", bench.duckdb_target("minute-all")),
    ):
        env = bench.env(target, TBP_SOURCE=str(mirror), TBP_DATASETS=DATASET, TBP_CONFIG_DIR=str(config))
        result = bench.extract(env, start, end)
        ratio, rss = result["seconds"] / limits[name], result["max_rss_mb"]
        landed = table_bytes(target, "landing.minute_aggs")
        report.add(
            "full-market minute files, local mirror -> landing (land_scope all)",
            name,
            result["seconds"],
            rows,
            f"{ratio:.2f}x the {label[name]} limit; peak RSS {rss:.0f} MB; landing.minute_aggs {landed / 1e6:,.0f} MB",
        )
        report.check(
            f"full-market minute landing into {name} <= 1.3x the {label[name]} limit", f"{ratio:.2f}x", ratio <= 1.3
        )
        report.check(f"extractor peak RSS < 500 MB landing minute files into {name}", f"{rss:.0f} MB", rss < 500)
        per_file, per_file_bytes = result["seconds"] / len(files), landed / len(files)
        report.add(
            f"5-year extrapolation: full-market minute landing x {FIVE_YEARS:,} sessions",
            name,
            per_file * FIVE_YEARS,
            None,
            f"{per_file:.2f}s and {per_file_bytes / 1e6:,.0f} MB of landing a file: "
            f"{per_file * FIVE_YEARS / 3600:.1f} h, {per_file_bytes * FIVE_YEARS / 1e9:,.0f} GB on disk",
        )
        if name == "postgres":  # needed no more: dropped before autovacuum would vacuum it during the next step
            drop_database(bench.admin_dsn, target["DB_NAME"])


def build_configured(bench: Bench, mirror: Path) -> None:
    """The 12 configured tickers' minute bars for the sessions (land_scope configured, the minute default), then
    dbt build; on TimescaleDB, fct_minute_bars compressed."""
    report, (start, end) = bench.report, bench.scale.minute_sessions
    postgres = fresh_database(bench.admin_dsn, "bench_minute_configured")
    missing, failed = timescaledb_missing(postgres["DSN"]), {}
    for name, target in (("postgres", postgres), ("duckdb", bench.duckdb_target("minute-configured"))):
        env = bench.env(target, TBP_SOURCE=str(mirror), TBP_DATASETS=DATASET)
        extract = bench.extract(env, start, end)
        build, run = bench.dbt_run(env)
        failure = "" if run.returncode == 0 else f"; dbt build FAILED: {dbt_failure(run.stdout)}"
        bars = 0 if failure else minute_bars(target)
        failure = failure or ("" if bars else "; the build made no minute bar")
        failed[name] = bool(failure)
        report.add(
            f"12-ticker minute dbt build, {len(sessions(start, end))} sessions (land_scope configured)",
            name,
            build,
            None,
            f"after extract {extract['seconds']:.1f}s; {bars:,} minute bars{failure}",
        )
        report.check(
            f"12-ticker minute dbt build for the month < 60 s on {name}",
            f"{build:.1f}s{' (failed)' if failure else ''}",
            build < 60 and not failure,
        )
    step = "TimescaleDB: fct_minute_bars compressed / uncompressed"
    missing = missing or (failed.get("postgres") and "the PostgreSQL minute dbt build failed (above)")
    seconds, sizes = (0, None) if missing else timed(lambda: compressed_sizes(postgres["DSN"]))
    if not sizes:
        report.add(step, "postgres", None, None, f"not measured: {missing or 'no chunk was compressed'}")
        return
    before, after = sizes
    report.add(
        step, "postgres", seconds, None, f"{before / 1e6:.1f} MB -> {after / 1e6:.1f} MB ({before / after:.1f}x)"
    )
    report.check(
        "TimescaleDB compressed fct_minute_bars <= 1/8 of its uncompressed size",
        f"1/{before / after:.1f}",
        after * 8 <= before,
    )
