"""Faults of the machine around the pipeline: one line naming the path and the way out, the documented exit code."""

import resource
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from extract.demo import DemoSpec, write_demo_mirror
from tests.conftest import (
    CONFIGURED,
    LOADS_NOT_MATCHING_THEIR_ROWS,
    REPO,
    S3_CREDENTIALS,
    SMALL_END,
    SMALL_START,
    read_mirror_rows,
    warehouse_rows,
)

WINDOW = ["--start", str(SMALL_START), "--end", str(SMALL_END)]


@contextmanager
def held_by_another_process(path: Path):
    """path open in DuckDB by a process of its own, as a notebook would hold it."""
    hold = f"import duckdb, time; c = duckdb.connect({str(path)!r}); print(1, flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE)
    try:
        holder.stdout.readline()
        yield
    finally:
        holder.kill()


def one_line_error(result) -> str:
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


def test_a_warehouse_path_that_cannot_be_created_is_exit_3(invoke, small_mirror, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    result = invoke("run", *WINDOW, TBP_SOURCE=str(small_mirror), DUCKDB_PATH=str(tmp_path / "a-file" / "tbp.duckdb"))
    assert result.exit_code == 3
    assert "cannot create the warehouse" in one_line_error(result) and "set DUCKDB_PATH" in result.output


def test_a_damaged_duckdb_file_is_exit_3_with_the_way_out(invoke, small_mirror, tmp_path):
    damaged = tmp_path / "damaged.duckdb"
    damaged.write_bytes(b"\x00garbage" * 4096)
    for args in (("run", *WINDOW), ("run", "--dry-run", *WINDOW)):
        result = invoke(*args, TBP_SOURCE=str(small_mirror), DUCKDB_PATH=str(damaged))
        assert result.exit_code == 3
        assert f"cannot open {damaged}" in one_line_error(result) and "move it away" in result.output


def test_a_duckdb_file_cut_short_is_exit_3_with_the_way_out(invoke, small_mirror, tmp_path):
    path = tmp_path / "cut.duckdb"
    assert invoke("run", *WINDOW, TBP_SOURCE=str(small_mirror), DUCKDB_PATH=str(path)).exit_code == 0
    with path.open("r+b") as cut:
        cut.truncate(path.stat().st_size // 2)
    for args in (("run", *WINDOW), ("run", "--dry-run", *WINDOW)):
        result = invoke(*args, TBP_SOURCE=str(small_mirror), DUCKDB_PATH=str(path))
        assert result.exit_code == 3
        assert f"{path} is damaged" in one_line_error(result) and "move it away" in result.output


def test_a_duckdb_file_held_by_another_process_is_exit_3_naming_it(invoke, small_mirror, tmp_path):
    path = tmp_path / "held.duckdb"
    with held_by_another_process(path):
        result = invoke("run", "--dry-run", *WINDOW, TBP_SOURCE=str(small_mirror), DUCKDB_PATH=str(path))
    assert result.exit_code == 3
    assert f"{path} is held by another process" in one_line_error(result)


def test_a_download_cache_that_cannot_be_written_stops_the_run_with_exit_3(
    invoke, s3_bucket, small_mirror, moto_endpoint, tmp_path
):
    name, _client, upload = s3_bucket
    upload(small_mirror)
    blocked = tmp_path / "cache-is-a-file"
    blocked.write_text("")
    result = invoke(
        "run",
        *WINDOW,
        TBP_SOURCE=f"s3://{name}",
        POLYGON_S3_ENDPOINT=moto_endpoint,
        TBP_CACHE_DIR=str(blocked),
        **S3_CREDENTIALS,
    )
    assert result.exit_code == 3
    assert "cannot write" in one_line_error(result) and "TBP_CACHE_DIR" in result.output


def test_missing_s3_keys_in_run_give_the_projects_message_not_botos(invoke, small_mirror):
    result = invoke("run", *WINDOW, TBP_SOURCE="s3://flatfiles", AWS_ACCESS_KEY_ID="ambient", AWS_SECRET_ACCESS_KEY="x")
    assert result.exit_code == 2
    assert "POLYGON_S3_ACCESS_KEY and POLYGON_S3_SECRET_KEY must be set" in one_line_error(result)


def test_an_unknown_log_level_is_one_line_and_exit_2(invoke):
    result = invoke("status", LOG_LEVEL="LOUD")
    assert result.exit_code == 2
    assert (
        one_line_error(result)
        == "error: LOG_LEVEL (or --log-level) is 'LOUD'; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )


def test_check_config_reaches_the_warehouse_and_warns_of_a_future_start(invoke, tmp_path):
    unreachable = invoke("check-config", "--target", "postgres", TBP_SOURCE=str(tmp_path), DB_PORT="1")
    assert unreachable.exit_code == 3 and "cannot connect to PostgreSQL at" in unreachable.output
    damaged = tmp_path / "damaged.duckdb"
    damaged.write_bytes(b"not a database" * 100)
    broken = invoke("check-config", TBP_SOURCE=str(tmp_path), DUCKDB_PATH=str(damaged), TBP_START_DATE="2999-01-01")
    assert broken.exit_code == 3 and f"cannot open {damaged}" in broken.output
    assert "warning: start_date 2999-01-01 is in the future" in broken.output


def test_status_exit_codes_tell_cron_what_is_wrong(invoke, small_mirror, tmp_path, run_dbt, base_env):
    missing = invoke("status")
    assert missing.exit_code == 3 and "no warehouse at" in missing.output
    invoke("run", "--start", "2024-01-02", "--end", "2024-01-31", TBP_SOURCE=str(small_mirror))
    not_built = invoke("status")
    assert not_built.exit_code == 3 and "dbt models not built yet" in not_built.output
    run_dbt(["build"], base_env)
    assert invoke("status").exit_code == 0
    broken = tmp_path / "broken-mirror"
    shutil.copytree(small_mirror, broken)
    day_file = next(broken.rglob("2024-02-01.csv.gz"))
    day_file.write_bytes(day_file.read_bytes()[:-20])
    invoke("run", "--start", "2024-01-02", "--end", "2024-02-29", TBP_SOURCE=str(broken))
    failed = invoke("status")
    assert failed.exit_code == 1 and "the last run ended failed" in failed.output


def test_status_on_a_duckdb_file_held_by_another_process_is_exit_3(invoke, small_mirror, tmp_path):
    path = tmp_path / "held.duckdb"
    invoke("run", "--start", "2024-01-02", "--end", "2024-01-03", TBP_SOURCE=str(small_mirror), DUCKDB_PATH=str(path))
    with held_by_another_process(path):
        result = invoke("status", DUCKDB_PATH=str(path))
    assert result.exit_code == 3 and f"{path} is held by another process" in one_line_error(result)


def test_run_tickers_naming_an_unconfigured_ticker_says_so(invoke, small_mirror):
    result = invoke(
        "run", "--start", "2024-01-02", "--end", "2024-01-03", "--tickers", "SPY,ZZZZ", TBP_SOURCE=str(small_mirror)
    )
    assert result.exit_code == 0
    assert "warning: --tickers ZZZZ: not in instruments.yml" in result.output


def test_a_full_disk_under_the_warehouse_stops_the_run_with_exit_3_and_loses_nothing(tmp_path, base_env):
    """A file size limit stands for a full disk: DuckDB cannot grow its file or its WAL mid-run."""
    mirror = tmp_path / "mirror"
    write_demo_mirror(mirror, DemoSpec(SMALL_START, SMALL_END, ticker_count=3000, seed=5, include_tickers=CONFIGURED))
    env = {**base_env, "TBP_SOURCE": str(mirror), "TBP_DOTENV": "", "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "extract", "run", *WINDOW]

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))

    full = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, preexec_fn=small_disk)
    assert full.returncode == 3, full.stderr
    [error] = [line for line in full.stderr.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in full.stderr and "not a whole gzip file" not in error
    assert f"cannot write {env['DUCKDB_PATH']}" in error and "free space on its disk" in error
    landed = warehouse_rows(env, "select count(*) from landing.load_manifest")[0][0]
    assert 0 < landed < 41 and warehouse_rows(env, LOADS_NOT_MATCHING_THEIR_ROWS) == []

    again = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert warehouse_rows(env, "select count(*) from landing.load_manifest") == [(41,)]
    assert warehouse_rows(env, "select count(*) from landing.day_aggs") == [(len(read_mirror_rows(mirror)),)]


def test_dbt_on_a_duckdb_file_held_by_another_process_is_exit_3_naming_it(invoke, small_mirror, tmp_path):
    path = tmp_path / "held.duckdb"
    invoke("run", "--start", "2024-01-02", "--end", "2024-01-03", TBP_SOURCE=str(small_mirror), DUCKDB_PATH=str(path))
    with held_by_another_process(path):
        result = invoke("dbt", "build", DUCKDB_PATH=str(path))
    assert result.exit_code == 3 and f"{path} is held by another process" in one_line_error(result)
