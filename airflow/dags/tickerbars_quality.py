"""Data quality, each morning: source freshness, every dbt test (coverage >= min_coverage_pct among them), and a
per-ticker coverage report that fails on any problem `tbp-extract status` reports (failed TimescaleDB jobs too).
A failed task sends an alert naming the tests, models or jobs."""

import pendulum
from airflow.sdk import dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from cosmos.operators.local import DbtSourceLocalOperator, DbtTestLocalOperator
from tickerbars_common import DEFAULT_ARGS, dbt_operator, load_config


@dag(
    dag_id="tickerbars_quality",
    schedule=CronTriggerTimetable(load_config().schedule.quality, timezone="America/New_York"),
    start_date=pendulum.datetime(2024, 1, 1, tz="America/New_York"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["tickerbars"],
    doc_md=__doc__,
)
def tickerbars_quality():
    @task
    def coverage_report() -> dict:
        from extract.errors import PipelineError
        from extract.status import warehouse_status

        status = warehouse_status(load_config())
        if status.problems:
            raise PipelineError("; ".join(status.problems))
        return {t.ticker: {"coverage_pct": t.coverage_pct, "missing": t.sessions_missing} for t in status.tickers}

    freshness = dbt_operator(DbtSourceLocalOperator, "source_freshness")
    tests = dbt_operator(DbtTestLocalOperator, "dbt_test")
    freshness >> tests >> coverage_report()


tickerbars_quality()
