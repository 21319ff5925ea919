"""Alerts from the DAGs themselves (dag.test under a temporary AIRFLOW_HOME): a day file that has not landed by its
deadline, a task that failed for good, and a failing quality DAG reach a webhook on a loopback HTTP server."""

import json
import shutil

import pytest

from extract.sources import day_file_key
from tests.airflow.test_dags import airflow_env, harness  # noqa: F401  (the module-scoped fixture)
from tests.conftest import PREFIX, SMALL_END

pytest.importorskip("airflow", reason="install the [airflow] extra (make test does)")


@pytest.fixture
def qa_env(airflow_env, base_env, config_dir, httpserver, tmp_path):  # noqa: F811
    """The qa environment (alerts to the loopback webhook), no retries, on a private config folder."""
    (config_dir / "environments" / "qa.yml").write_text(
        "target: duckdb\nalerts:\n  webhook_url: ${TBP_ALERT_WEBHOOK_URL}\n  runbook_url: https://example.org/ops.md\n"
    )
    httpserver.expect_request("/hooks/qa-token-0042", method="POST").respond_with_data("ok")
    return {
        **airflow_env,
        **base_env,
        "PATH": airflow_env["PATH"],
        "TBP_CONFIG_DIR": str(config_dir),
        "TBP_ENVIRONMENT": "qa",
        "TBP_ALERT_WEBHOOK_URL": httpserver.url_for("/hooks/qa-token-0042"),
        "TBP_LAKE": str(tmp_path / "lake"),
        "TBP_HARNESS_RETRIES": "0",
    }


def posted_texts(httpserver) -> list[str]:
    return [json.loads(request.get_data(as_text=True))["text"] for request, _response in httpserver.log]


def test_a_day_file_missing_past_its_deadline_alerts_late_then_failed(qa_env, httpserver, small_mirror, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(small_mirror, mirror)
    (mirror / day_file_key(PREFIX, SMALL_END)).unlink()

    result = harness({**qa_env, "TBP_SOURCE": str(mirror)}, "test", "tickerbars_daily", str(SMALL_END))

    assert result["tasks"]["extract"] == "failed" and result["state"] == "failed"
    late, failed = posted_texts(httpserver)
    key = day_file_key(PREFIX, SMALL_END)
    assert late.startswith(f"[tickerbars qa] the day file for {SMALL_END} has not landed by 11:00 New York time")
    assert f"concerns: {key}" in late and "https://example.org/ops.md#the-day-file-is-late" in late
    assert failed.startswith("[tickerbars qa] tickerbars_daily.extract failed")
    assert f"concerns: {key}" in failed and "run: manual__" in failed
    assert "#the-day-file-is-late (The day file is late)" in failed
    assert "qa-token-0042" not in late + failed


def test_a_failing_quality_dag_alerts_with_the_quality_runbook_section(qa_env, httpserver):
    """No warehouse built: source freshness fails, and so does the quality DAG."""
    result = harness(qa_env, "test", "tickerbars_quality", str(SMALL_END))

    assert result["state"] == "failed" and result["tasks"]["source_freshness"] == "failed"
    [text] = posted_texts(httpserver)
    assert text.startswith("[tickerbars qa] tickerbars_quality.source_freshness failed")
    assert "https://example.org/ops.md#a-quality-check-failed (A quality check failed)" in text
