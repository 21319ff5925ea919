"""TimescaleDB background jobs that fail in silence are reported by `status` and the metrics (and so fail the
quality DAG, whose coverage_report task fails on any problem status reports); PostgreSQL without the extension
reports nothing."""

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from extract.alerts import RUNBOOK_TIMESCALEDB, task_failure_alert
from extract.run import open_warehouse
from extract.status import warehouse_status
from extract.timescale import job_stats
from tests.conftest import pg_connect, timescaledb_available

pytestmark = pytest.mark.postgres


def failed_jobs_metric(output: str) -> float:
    [family] = [f for f in text_string_to_metric_families(output) if f.name == "tickerbars_timescaledb_failed_jobs"]
    return family.samples[0].value


def test_postgres_without_timescaledb_reports_no_job(make_config, pg_env, invoke):
    cfg = make_config(**pg_env)
    with open_warehouse(cfg, read_only=True) as warehouse:
        assert job_stats(warehouse, "postgres") == []
    status = warehouse_status(cfg)
    assert status.failed_jobs == [] and not any("TimescaleDB" in p for p in status.problems)
    result = invoke("metrics", **pg_env)
    assert result.exit_code == 0 and failed_jobs_metric(result.output) == 0
    assert "tickerbars_timescaledb_job_failures{" not in result.output


@pytest.mark.timescaledb
def test_a_failing_background_job_fails_status_and_shows_in_the_metrics(make_config, pg_env, invoke):
    reason = timescaledb_available(pg_env)
    if reason:
        pytest.skip(reason)
    with pg_connect(pg_env, autocommit=True) as conn:
        conn.execute(
            "create procedure public.fail_on_purpose(job_id int, config jsonb) language plpgsql as "
            "$$ begin raise exception 'failing on purpose for the test'; end $$"
        )
        [(job_id,)] = conn.execute(
            "select add_job('public.fail_on_purpose', '1 hour', initial_start => now())"
        ).fetchall()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            rows = conn.execute(
                "select last_run_status from timescaledb_information.job_stats where job_id = %s", [job_id]
            ).fetchall()
            if rows and rows[0][0] == "Failed":
                break
            time.sleep(1)
        else:
            pytest.fail(f"the background scheduler never ran job {job_id} (timescaledb.max_background_workers?)")

    status = warehouse_status(make_config(**pg_env))
    # On PostgreSQL 15.20, TimescaleDB 2.28.3's own jobs fail too ("cannot drop portal"): they are reported as well.
    failing = [p for p in status.problems if p.startswith("TimescaleDB job")]
    [problem] = [p for p in failing if p.startswith(f"TimescaleDB job {job_id} (fail_on_purpose) failed its last run")]
    assert "failing on purpose for the test" in problem and status.exit_code >= 1
    result = invoke("metrics", **pg_env)
    assert failed_jobs_metric(result.output) == len(failing)
    alert = task_failure_alert(make_config(**pg_env), "tickerbars_quality", "coverage_report", "r", problem)
    assert alert.runbook_section == RUNBOOK_TIMESCALEDB and alert.subjects == (
        f"TimescaleDB job {job_id} (fail_on_purpose)",
    )
