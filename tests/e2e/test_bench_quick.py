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
    assert steps.count("full-market backfill, S3 -> landing") == 2
    assert steps.count("full-market backfill, local mirror -> landing") == 2
    assert sum("end to end" in step for step in steps) == 4
    assert sum(step.startswith("publish the") for step in steps) == 4
    assert any(step.startswith("naive loader, 12 tickers") for step in steps)
    assert all(row.seconds > 0 for row in report.measured)
    assert len(report.targets) == 9
    assert out.read_text().startswith("# Benchmarks")
