"""The click commands: exit codes and one-line messages at the edge."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SMALL_END, SMALL_START


def test_check_config_passes_for_a_local_mirror(invoke, tmp_path):
    result = invoke("check-config", TBP_SOURCE=str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "12 instruments (12 active)" in result.output and result.output.strip().endswith("ok")


def test_an_instrument_no_listed_dataset_holds_is_named_with_the_dataset_to_add(invoke, config_dir, small_mirror):
    """It got no bars, and every check passed (coverage null, status 0)."""
    text = (config_dir / "instruments.yml").read_text()
    (config_dir / "instruments.yml").write_text(
        text.replace("instruments:\n", "instruments:\n  - {ticker: 'X:BTCUSD', type: crypto}\n", 1)
    )
    warning = (
        "X:BTCUSD: no dataset in pipeline.yml holds it, so it gets no bars; add global_crypto/day_aggs_v1 to datasets "
        "(TBP_DATASETS)"
    )
    result = invoke("check-config", TBP_SOURCE=str(small_mirror))
    assert result.exit_code == 0 and f"warning: {warning}\n" in result.output
    result = invoke("run", "--start", str(SMALL_START), "--end", str(SMALL_START), TBP_SOURCE=str(small_mirror))
    assert result.exit_code == 0 and f"warning: {warning}\n" in result.output


def test_check_config_reports_missing_credentials_with_exit_code_2(invoke):
    result = invoke("check-config", TBP_SOURCE="s3://flatfiles")
    assert result.exit_code == 2
    assert "POLYGON_S3_ACCESS_KEY and POLYGON_S3_SECRET_KEY must be set" in result.output


def test_a_bad_config_file_is_one_line_and_exit_code_2(invoke, config_dir):
    (config_dir / "pipeline.yml").write_text("pipeline:\n  dataset: us_stocks_sip/day_aggs_v1\n  start_date: someday\n")
    result = invoke("check-config")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: pipeline.yml: key 'start_date' must be a date like 2020-01-31, not 'someday'"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2024-03-01", "--end", "2024-02-01"], "start date 2024-03-01 is after end date 2024-02-01"),
        (["--tickers", "AAPL,bad ticker"], "'bad ticker' is not a valid ticker"),
        (["--group", "nope"], "unknown group 'nope'"),
    ],
)
def test_bad_run_arguments_exit_2_and_write_nothing(invoke, small_mirror, base_env, args, message):
    result = invoke("run", *args, TBP_SOURCE=str(small_mirror))
    assert result.exit_code == 2 and message in result.output
    assert not Path(base_env["DUCKDB_PATH"]).exists()


@pytest.mark.parametrize("every", ["0s", "10x", "ten minutes", "-5m"])
def test_watch_refuses_a_bad_interval_in_one_line_with_exit_2_before_any_update(invoke, small_mirror, base_env, every):
    result = invoke("watch", "--every", every, TBP_SOURCE=str(small_mirror))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: --every must be a positive number of seconds, minutes or hours like 10m, not '{every}'"
    ]
    assert not Path(base_env["DUCKDB_PATH"]).exists()


def test_watch_with_a_bad_configuration_stops_before_the_first_update(invoke, config_dir, small_mirror, base_env):
    (config_dir / "pipeline.yml").write_text("pipeline:\n  start_date: someday\n")
    result = invoke("watch", "--every", "1s", TBP_SOURCE=str(small_mirror))
    assert result.exit_code == 2 and "key 'start_date' must be a date" in result.output
    assert not Path(base_env["DUCKDB_PATH"]).exists()


def test_an_invalid_date_option_is_refused_by_click(invoke):
    result = invoke("run", "--start", "yesterday")
    assert result.exit_code == 2 and "must be a date like 2020-01-31" in result.output


def test_run_dry_run_then_run_then_status(invoke, small_mirror):
    window = ["--start", str(SMALL_START), "--end", str(SMALL_END)]
    dry = invoke("run", *window, "--dry-run", TBP_SOURCE=str(small_mirror))
    assert dry.exit_code == 0 and dry.output.count("would load") == 41
    done = invoke("run", *window, "--workers", "2", TBP_SOURCE=str(small_mirror))
    assert done.exit_code == 0 and "loaded 41 files" in done.output
    status = invoke("status", "--json")
    report = json.loads(status.output)
    assert report["last_run"]["outcome"] == "success" and report["last_run"]["files_loaded"] == 41
    assert "dbt models not built yet" in report["problems"][0]


def test_a_run_with_a_failed_file_exits_1_with_a_summary(invoke, mirror):
    (mirror / "us_stocks_sip/day_aggs_v1/2024/01/2024-01-05.csv.gz").write_bytes(b"\x1f\x8b garbage")
    result = invoke("run", "--start", str(SMALL_START), "--end", str(SMALL_END), TBP_SOURCE=str(mirror))
    assert result.exit_code == 1
    assert "FAILED us_stocks_sip/day_aggs_v1/2024/01/2024-01-05.csv.gz: not a whole gzip file" in result.output


def test_json_logs_are_one_object_a_line_and_hold_no_secret(invoke, small_mirror):
    result = invoke(
        "--log-format",
        "json",
        "run",
        "--start",
        "2024-01-02",
        "--end",
        "2024-01-03",
        TBP_SOURCE=str(small_mirror),
        POLYGON_S3_SECRET_KEY="very-secret-key",
        DB_PASSWORD="pg-secret",
    )
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stderr.splitlines()]
    loaded = [r for r in records if r["message"].startswith("loaded us_stocks_sip/day_aggs_v1/2024/01/")]
    assert len(loaded) == 2 and all(r["level"] == "INFO" and "time" in r for r in loaded)
    assert "very-secret-key" not in result.output and "pg-secret" not in result.output


def test_demo_data_writes_a_mirror(invoke, tmp_path):
    out = tmp_path / "demo"
    result = invoke("demo-data", str(out), "--start", "2024-03-04", "--end", "2024-03-08", "--tickers", "20")
    assert result.exit_code == 0 and "wrote 5 stock day files" in result.output
    # minute files for the configured stocks, and day files of indices, crypto, forex and options: 4 x 5 weekdays
    assert "5 minute files and 20 day files of other datasets" in result.output
    assert len(list((out / "us_stocks_sip" / "minute_aggs_v1").rglob("*.csv.gz"))) == 5


def test_a_dotenv_in_the_working_directory_does_not_reach_the_test_suite(invoke, tmp_path, monkeypatch):
    """make exports .env to `make test` and the CLI reads ./.env: the suite runs without either."""
    (tmp_path / ".env").write_text("TBP_LOOKBACK_DAYS=77\n")
    monkeypatch.chdir(tmp_path)
    result = invoke("check-config", TBP_SOURCE=str(tmp_path))
    assert result.exit_code == 0, result.output
    [lookback] = [line for line in result.output.splitlines() if "pipeline.lookback_days" in line]
    assert " 10 " in f"{lookback} " and "77" not in lookback

    monkeypatch.setenv("TBP_DOTENV", str(tmp_path / ".env"))  # named on purpose, it is read
    [lookback] = [line for line in invoke("check-config").output.splitlines() if "pipeline.lookback_days" in line]
    assert "77" in lookback


TEARDOWN_PROBE = (
    "import atexit, sys\n"
    "if sys.argv.pop(1) == 'dbt': import dbt.version\n"
    "atexit.register(print, 'exit handler')\n"
    "class Probe:\n"
    "    def __del__(self): print('interpreter teardown')\n"
    "probe = Probe()\n"
    "from extract.cli import entry_point\n"
    "entry_point()\n"
)


def run_entry_point(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TBP_DOTENV": ""}
    return subprocess.run(
        [sys.executable, "-c", TEARDOWN_PROBE, *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "code", "stream"), [(["--help"], 0, "stdout"), (["run", "--start", "x"], 2, "stderr")]
)
def test_once_dbt_is_imported_the_command_leaves_without_teardown_keeping_its_exit_code_and_output(args, code, stream):
    with_dbt = run_entry_point("dbt", *args)
    without = run_entry_point("no-dbt", *args)
    for result in (with_dbt, without):
        assert result.returncode == code, result.stderr
    assert getattr(with_dbt, stream) == getattr(without, stream).replace("interpreter teardown\n", "")
    assert "Usage: " in getattr(with_dbt, stream)
    assert "exit handler" in with_dbt.stdout and "exit handler" in without.stdout
    assert "interpreter teardown" in without.stdout and "interpreter teardown" not in with_dbt.stdout
