"""What the tickerbars DAGs share: where the project is, the config, and dbt through astronomer-cosmos."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

from cosmos import ProfileConfig
from cosmos.constants import InvocationMode

REPO = Path(os.environ.get("TBP_PROJECT_DIR", Path(__file__).resolve().parents[2]))
DBT_EXECUTABLE = os.environ.get("TBP_DBT_EXECUTABLE", str(Path(sys.executable).with_name("dbt")))
DEFAULT_ARGS = {"owner": "tickerbars", "retries": 2, "retry_delay": timedelta(minutes=10)}


def profile_config() -> ProfileConfig:
    return ProfileConfig(
        profile_name="tbp",
        target_name=os.environ.get("TBP_TARGET", "duckdb"),
        profiles_yml_filepath=REPO / "profiles.example.yml",
    )


def dbt_operator(operator_class, task_id: str, **kwargs):
    """A cosmos local dbt operator on this repository's project. dbt runs in its own process, so that it lets go of
    the DuckDB file (one writer, no reader beside it) before the next task of the same worker opens it."""
    return operator_class(
        task_id=task_id,
        project_dir=str(REPO),
        profile_config=profile_config(),
        dbt_executable_path=DBT_EXECUTABLE,
        install_deps=False,
        invocation_mode=InvocationMode.SUBPROCESS,
        **kwargs,
    )


def load_config():
    from extract.config import load_config as load

    return load(os.environ.get("TBP_CONFIG_DIR") or REPO / "config")
