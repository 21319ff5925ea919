"""Daily: after the evening publication (New York time), extract the recent window, fetch reference data (splits,
dividends, ticker changes), build the models and publish the Parquet lake.

The day file usually appears between 20:00 and 22:00 ET and is promised by 11:00 ET the next day, so the extract
task fails while the session's file is missing and is retried hourly into the next morning.
"""

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from cosmos.operators.local import DbtBuildLocalOperator
from tickerbars_common import DEFAULT_ARGS, dbt_operator, load_config, publish


@dag(
    dag_id="tickerbars_daily",
    schedule=CronTriggerTimetable(load_config().schedule.daily, timezone="America/New_York"),
    start_date=pendulum.datetime(2024, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tickerbars"],
    doc_md=__doc__,
)
def tickerbars_daily():
    @task(retries=16, retry_delay=timedelta(hours=1))
    def extract(logical_date=None, run_id=None) -> dict:
        from extract.orchestration import FileNotPublishedYet, alert_if_late, daily_extract

        cfg = load_config()
        session = pendulum.instance(logical_date).in_timezone("America/New_York").date()
        try:
            summary = daily_extract(cfg, session)
        except FileNotPublishedYet:
            alert_if_late(cfg, session, run_id)
            raise
        return {"files_loaded": summary.files_loaded, "rows_landed": summary.rows_landed}

    @task
    def reference() -> int:
        from extract.orchestration import daily_reference

        return daily_reference(load_config())

    extract() >> reference() >> dbt_operator(DbtBuildLocalOperator, "dbt_build") >> publish()


tickerbars_daily()
