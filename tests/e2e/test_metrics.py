"""Run and build history as models, and `tbp-extract metrics` in the Prometheus text format, on both targets:
the figures are parsed back with the Prometheus client's own parser and compared with the models and the run."""

from datetime import date

import pytest
from prometheus_client.parser import text_string_to_metric_families

from extract.demo import window_start_ns
from extract.run import RunOptions, run_extract
from tests.conftest import CONFIGURED, bar_line, warehouse_rows, write_day_file

SESSIONS = [date(2024, 1, d) for d in (2, 3, 4, 5, 8)]


def parsed(text: str) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(families: dict, name: str, **labels: str) -> float:
    [sample] = [s for s in families[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    return sample.value


def test_metrics_are_the_figures_of_the_last_run_and_build(make_config, invoke, run_dbt, target_env, tmp_path):
    mirror = tmp_path / "mirror"
    for n, day in enumerate(SESSIONS):
        lines = [bar_line(t, day, close=10.0 + n) for t in CONFIGURED]
        if day == SESSIONS[-1]:  # AAPL's high under its open (quarantined), MSFT's high unparsable (rejected)
            lines[0] = f"AAPL,1000,14,14,1.0,13,{window_start_ns(day)},42"
            lines[1] = f'"MSFT",1000,14,14,not-a-price,13,{window_start_ns(day)},42'  # quoted, as CSV may
            # a ticker nobody configured: its line stays in landing's rejects, out of the quarantine
            lines.append(f"ZZZZ,1000,14,14,not-a-price,13,{window_start_ns(day)},42")
        write_day_file(mirror, day, lines)
    env = {**target_env, "TBP_SOURCE": str(mirror)}
    summary = run_extract(make_config(**env), RunOptions(start=SESSIONS[0], end=SESSIONS[-1]))
    assert summary.exit_code == 0
    # Two tickers miss a session of five: the coverage test fails, and the build says so.
    assert run_dbt(["build"], env, check=False).returncode == 1

    result = invoke("metrics", **env)
    assert result.exit_code == 0, result.output
    families = parsed(result.output)
    labels = {"environment": "development", "target": env["TBP_TARGET"]}

    [run] = warehouse_rows(
        env,
        "select run_id, files_loaded, rows_landed, rows_rejected, duration_seconds, quarantined_rows, "
        "quarantined_ohlc_inconsistent, quarantined_unparsable from analytics.fct_extract_runs",
    )
    assert run[0] == summary.run_id
    assert (run[1], run[2], run[3]) == (len(SESSIONS), summary.rows_landed, 2)
    assert (run[5], run[6], run[7]) == (2, 1, 1)
    assert value(families, "tickerbars_extract_last_run_files", state="loaded", **labels) == len(SESSIONS)
    assert value(families, "tickerbars_extract_last_run_rows", kind="landed") == summary.rows_landed
    assert value(families, "tickerbars_extract_last_run_duration_seconds") == pytest.approx(float(run[4]))
    assert value(families, "tickerbars_extract_last_run_success") == 1
    assert value(families, "tickerbars_quarantined_rows", reason="ohlc_inconsistent") == 1
    assert value(families, "tickerbars_quarantined_rows", reason="unparsable") == 1
    assert value(families, "tickerbars_quarantined_rows", reason="date_mismatch") == 0

    [build] = warehouse_rows(
        env,
        "select command, models_failed, tests_failed, fact_rows, quarantined_rows, quarantined_ohlc_inconsistent, "
        "sessions_behind from analytics.fct_build_runs",
    )
    fact_rows = warehouse_rows(env, "select count(*) from analytics.fct_daily_bars")[0][0]
    assert build[:4] == ("build", 0, 1, fact_rows) and (build[4], build[5]) == (2, 1)
    assert value(families, "tickerbars_dbt_last_failures", command="build", kind="test") == 1
    assert value(families, "tickerbars_tickers_below_threshold") == 2
    assert value(families, "tickerbars_fact_rows") == fact_rows
    assert value(families, "tickerbars_freshness_lag_sessions") == build[6] > 0
    assert value(families, "tickerbars_ticker_coverage_percent", ticker="AAPL") < 100
    assert value(families, "tickerbars_timescaledb_failed_jobs") == 0
    assert value(families, "tickerbars_models_available") == 1

    out = tmp_path / "textfile" / "tickerbars.prom"
    out.parent.mkdir()
    assert invoke("metrics", "--out", str(out), **env).exit_code == 0
    assert parsed(out.read_text()).keys() == families.keys()


def test_metrics_before_any_build_say_the_models_are_missing(invoke, make_config, mirror, base_env):
    run_extract(
        make_config(**base_env, TBP_SOURCE=str(mirror)), RunOptions(start=date(2024, 1, 2), end=date(2024, 1, 3))
    )
    result = invoke("metrics")
    assert result.exit_code == 0
    assert value(parsed(result.output), "tickerbars_models_available") == 0


def test_metrics_without_a_warehouse_exit_3_with_one_line(invoke):
    result = invoke("metrics")
    assert result.exit_code == 3
    assert result.output.startswith("error: no warehouse at ") and result.output.count("\n") == 1
