"""What the tickerbars DAGs share: where the project is, the environment's config, dbt through astronomer-cosmos,
and the alert every failed task sends."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import task
from cosmos import ProfileConfig
from cosmos.constants import InvocationMode

REPO = Path(os.environ.get("TBP_PROJECT_DIR", Path(__file__).resolve().parents[2]))
DBT_EXECUTABLE = os.environ.get("TBP_DBT_EXECUTABLE", str(Path(sys.executable).with_name("dbt")))


def load_config():
    """The configuration of TBP_ENVIRONMENT (development by default), as the CLI reads it."""
    from extract.config import load_config as load

    return load(os.environ.get("TBP_CONFIG_DIR") or REPO / "config")


def alert_on_failure(context) -> None:
    """Every task's on_failure_callback (after its last retry): what failed, the keys or models its error names,
    the run, and the runbook section, to the environment's alert targets."""
    from extract.alerts import send_alert, task_failure_alert
    from extract.orchestration import FileNotPublishedYet

    cfg = load_config()
    ti, exception = context["ti"], context.get("exception")
    error = str(exception or "no error message")
    late = isinstance(exception, FileNotPublishedYet)
    send_alert(cfg, task_failure_alert(cfg, ti.dag_id, ti.task_id, context["run_id"], error, late))


DEFAULT_ARGS = {
    "owner": "tickerbars",
    "retries": 2,
    "retry_delay": timedelta(minutes=10),
    "on_failure_callback": alert_on_failure,
}


def dbt_operator(operator_class, task_id: str, **kwargs):
    """A cosmos local dbt operator on this repository's project, on the environment's warehouse (the merged
    settings; secrets stay in the worker's environment, never in the serialized task). dbt runs in its own process,
    so that it lets go of the DuckDB file (one writer, no reader beside it) before the next task opens it."""
    from extract.environments import dbt_environment

    cfg = load_config()
    return operator_class(
        task_id=task_id,
        project_dir=str(REPO),
        profile_config=ProfileConfig(
            profile_name="tbp", target_name=cfg.target, profiles_yml_filepath=REPO / "profiles.example.yml"
        ),
        dbt_executable_path=DBT_EXECUTABLE,
        install_deps=False,
        invocation_mode=InvocationMode.SUBPROCESS,
        env=dbt_environment(cfg),
        append_env=True,
        **kwargs,
    )


@task
def publish() -> int:
    """The Parquet lake after a build: only the partitions whose rows changed (tbp-extract publish)."""
    from extract.orchestration import publish_lake

    return len(publish_lake(load_config()).written)
