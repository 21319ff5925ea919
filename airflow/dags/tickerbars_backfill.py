"""Historical backfill (manual): workers download one month each into the shared cache, then one task lands it all
(one extract at a time per warehouse), dbt builds and the Parquet lake is published. Trigger with
{"start": "2020-01-01", "end": "2024-12-31"}."""

import pendulum
from airflow.sdk import Param, dag, task
from cosmos.operators.local import DbtBuildLocalOperator
from tickerbars_common import DEFAULT_ARGS, dbt_operator, load_config, publish


@dag(
    dag_id="tickerbars_backfill",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "start": Param("2020-01-01", type="string", format="date", description="first session"),
        "end": Param("2024-12-31", type="string", format="date", description="last session"),
    },
    tags=["tickerbars"],
    doc_md=__doc__,
)
def tickerbars_backfill():
    @task
    def months(params=None) -> list[dict]:
        from extract.config import parse_date
        from extract.orchestration import month_windows

        start, end = parse_date(params["start"], "start"), parse_date(params["end"], "end")
        return [{"start": str(a), "end": str(b)} for a, b in month_windows(start, end)]

    @task(max_active_tis_per_dag=4)
    def download_month(window: dict) -> int:
        from extract.config import parse_date
        from extract.orchestration import prefetch

        return prefetch(load_config(), parse_date(window["start"], "start"), parse_date(window["end"], "end"))

    @task
    def load(params=None) -> dict:
        from extract.config import parse_date
        from extract.errors import PipelineError
        from extract.run import RunOptions, run_extract

        options = RunOptions(start=parse_date(params["start"], "start"), end=parse_date(params["end"], "end"))
        summary = run_extract(load_config(), options)
        if summary.failed:
            raise PipelineError("; ".join(summary.lines()[2:]))
        return {"files_loaded": summary.files_loaded, "rows_landed": summary.rows_landed}

    build = dbt_operator(DbtBuildLocalOperator, "dbt_build")
    download_month.expand(window=months()) >> load() >> build >> publish()


tickerbars_backfill()
