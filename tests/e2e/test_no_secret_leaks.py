"""No secret value appears in any log line, error, dbt log or dbt artifact."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SMALL_START

pytestmark = pytest.mark.postgres
S3_SECRET = "S3-secret-7f3a9c"
DB_SECRET = "DB-secret-51be02"
API_SECRET = "API-secret-9d41c7"


def test_secrets_stay_out_of_logs_errors_and_dbt_artifacts(
    pg_env, s3_bucket, small_mirror, moto_endpoint, run_dbt, tmp_path, httpserver
):
    httpserver.expect_request(re.compile("^/denied/.*")).respond_with_json({"status": "NOT_AUTHORIZED"}, status=401)
    httpserver.expect_request(re.compile(".*")).respond_with_json({"status": "OK", "results": []})
    name, _client, upload = s3_bucket
    upload(small_mirror)
    # The test server trusts loopback, so these passwords are sent but never needed.
    env = {
        **pg_env,
        "TBP_SOURCE": f"s3://{name}",
        "POLYGON_S3_ENDPOINT": moto_endpoint,
        "POLYGON_S3_ACCESS_KEY": "test-access-key",
        "POLYGON_S3_SECRET_KEY": S3_SECRET,
        "DB_PASSWORD": DB_SECRET,
        "DBT_ENV_SECRET_DB_PASSWORD": DB_SECRET,
        "LOG_LEVEL": "DEBUG",
        "TBP_CONFIG_DIR": str(REPO / "config"),
        "POLYGON_API_KEY": API_SECRET,
        "POLYGON_API_BASE_URL": httpserver.url_for("/api"),
    }
    outputs = []
    commands = (
        ["run", "--start", str(SMALL_START), "--end", "2024-01-10"],
        ["check-config"],
        ["status"],
        ["reference"],
    )
    for args in commands:
        result = subprocess.run(
            [sys.executable, "-m", "extract", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
        )
        outputs.append(result.stdout + result.stderr)
    assert "loaded 7 files" in outputs[0] and "reference run" in outputs[3] and "failed 0" in outputs[3]
    denied = subprocess.run(
        [sys.executable, "-m", "extract", "reference"],
        env={**env, "POLYGON_API_BASE_URL": httpserver.url_for("/denied")},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert denied.returncode == 3 and "401 not authorized" in denied.stderr
    outputs.append(denied.stdout + denied.stderr)
    failing = subprocess.run(
        [sys.executable, "-m", "extract", "run", "--target", "postgres"],
        env={**env, "DB_PORT": "1"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert failing.returncode == 3 and "cannot connect to PostgreSQL at" in failing.stderr
    outputs.append(failing.stdout + failing.stderr)
    dbt = run_dbt(["--debug", "build"], env)
    outputs.append(dbt.stdout + dbt.stderr)
    artifacts = [
        p.read_text(errors="replace")
        for folder in (tmp_path / "dbt_target", tmp_path / "dbt_logs")
        for p in Path(folder).rglob("*")
        if p.is_file() and p.suffix in (".json", ".log", ".sql", ".txt")
    ]
    assert artifacts and len(outputs) == 7
    for text in outputs + artifacts:
        assert S3_SECRET not in text and DB_SECRET not in text and API_SECRET not in text
