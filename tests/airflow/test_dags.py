"""The Airflow DAGs: they import, have the designed structure, and the daily DAG runs end to end (dag.test)."""

import json
import os
import shutil
import subprocess
import sys
from datetime import date

import duckdb
import pytest

from tests.conftest import CONFIGURED, REPO, SMALL_END

pytest.importorskip("airflow", reason="install the [airflow] extra (make test does)")
DAGS = REPO / "airflow" / "dags"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:1/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "PYTHONPATH": f"{REPO}{os.pathsep}{DAGS}",
    }
    airflow = shutil.which("airflow", path=os.path.dirname(sys.executable)) or "airflow"
    migrated = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return env


def harness(env: dict[str, str], *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "tests.airflow_harness", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("HARNESS-RESULT ")]
    assert result.returncode == 0 and lines, result.stdout[-4000:] + result.stderr[-4000:]
    return json.loads(lines[-1].removeprefix("HARNESS-RESULT "))


def test_every_dag_imports_and_has_the_designed_structure(airflow_env):
    found = harness(airflow_env, "structure", str(DAGS))
    assert found["import_errors"] == {}
    dags = found["dags"]
    assert set(dags) == {"tickerbars_daily", "tickerbars_backfill", "tickerbars_quality"}
    assert dags["tickerbars_daily"]["edges"] == [
        ["dbt_build", "publish"],
        ["extract", "reference"],
        ["reference", "dbt_build"],
    ]
    assert dags["tickerbars_daily"]["retries"]["extract"] == 16
    assert "30 20 * * 1-5" in dags["tickerbars_daily"]["schedule"]
    assert dags["tickerbars_backfill"]["edges"] == [
        ["dbt_build", "publish"],
        ["download_month", "load"],
        ["load", "dbt_build"],
        ["months", "download_month"],
    ]
    assert dags["tickerbars_quality"]["edges"] == [["dbt_test", "coverage_report"], ["source_freshness", "dbt_test"]]


def test_the_daily_dag_runs_end_to_end_on_the_demo_mirror(airflow_env, small_mirror, base_env, tmp_path):
    env = {
        **airflow_env,
        **base_env,
        "TBP_SOURCE": str(small_mirror),
        "TBP_REFERENCE_SOURCE": str(small_mirror / "reference"),
        "TBP_LAKE": str(tmp_path / "lake"),
        "TBP_CONFIG_DIR": str(REPO / "config"),
        "PATH": airflow_env["PATH"],
    }
    result = harness(env, "test", "tickerbars_daily", str(SMALL_END))
    assert result["state"] == "success", result
    assert result["tasks"] == {
        "extract": "success",
        "reference": "success",
        "dbt_build": "success",
        "publish": "success",
    }
    assert (tmp_path / "lake" / "fct_daily_bars").is_dir()
    with duckdb.connect(base_env["DUCKDB_PATH"], read_only=True) as conn:
        rows = conn.execute(
            "select ticker, min(trade_date), max(trade_date) from analytics.fct_daily_bars group by ticker"
        ).fetchall()
    assert {r[0] for r in rows} == set(CONFIGURED)
    assert all(r[2] == SMALL_END and r[1] >= date(2024, 2, 14) for r in rows)
