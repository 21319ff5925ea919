"""`make bench-quick` as a smoke test: every step runs and is reported. No timing assertions."""

import pytest
from psycopg.conninfo import make_conninfo

from bench.run import main

pytestmark = pytest.mark.postgres


def test_bench_quick_measures_every_step_and_checks_every_goal(pg_server, tmp_path):
    dsn = make_conninfo(
        host=pg_server["DB_HOST"],
        port=pg_server["DB_PORT"],
        user=pg_server["DB_USER"],
        password=pg_server["DB_PASSWORD"] or None,
        dbname=pg_server["DB_NAME"],
    )
    out = tmp_path / "benchmarks.md"
    report = main(["--quick", "--data-dir", str(tmp_path / "data"), "--pg-dsn", dsn, "--out", str(out)])
    steps = [row.step for row in report.measured]
    assert sum(step.startswith("limit:") for step in steps) == 4
    assert sum(step.startswith("the extractor's gzip check") for step in steps) == 1
    assert steps.count("full-market backfill, S3 -> landing") == 2
    assert steps.count("full-market backfill, local mirror -> landing") == 2
    assert sum("end to end" in step for step in steps) == 6  # 12 tickers, a new session by update and by watch
    assert sum(step.startswith("publish the") for step in steps) == 2
    assert steps.count("a run with nothing new: tbp-extract update, a fresh process") == 2
    assert steps.count("a run with nothing new: tbp-extract watch") == 2
    assert any(step.startswith("naive loader, 12 tickers") for step in steps)
    assert sum(step.startswith("minute limit:") for step in steps) == 2
    assert steps.count("full-market minute files, local mirror -> landing (land_scope all)") == 2
    assert sum(step.startswith("5-year extrapolation: full-market minute landing") for step in steps) == 2
    assert sum(step.startswith("12-ticker minute dbt build") for step in steps) == 2
    [compression] = [row for row in report.measured if row.step.startswith("TimescaleDB: fct_minute_bars")]
    assert compression.seconds is not None or compression.note.startswith("not measured: ")
    assert all(row.seconds > 0 for row in report.measured if row is not compression)
    # 15 daily goals (the everyday run's on each target by update and by watch); minute: landing and peak RSS on
    # each target, the dbt build on each, compression if measured
    assert len(report.targets) == 15 + 6 + (compression.seconds is not None)
    text = out.read_text()
    assert text.startswith("# Benchmarks")
    assert "Minute section: 2 full-market files of us_stocks_sip/minute_aggs_v1" in text
