"""No secret value appears in any log line, error, dbt log or dbt artifact."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SMALL_START

pytestmark = pytest.mark.postgres
S3_SECRET = "S3-secret-7f3a9c"
DB_SECRET = "DB-secret-51be02"


def test_secrets_stay_out_of_logs_errors_and_dbt_artifacts(
    pg_env, s3_bucket, small_mirror, moto_endpoint, run_dbt, tmp_path
):
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
    }
    outputs = []
    for args in (["run", "--start", str(SMALL_START), "--end", "2024-01-10"], ["check-config"], ["status"]):
        result = subprocess.run(
            [sys.executable, "-m", "extract", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
        )
        outputs.append(result.stdout + result.stderr)
    assert "loaded 7 files" in outputs[0]
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
    assert artifacts and len(outputs) == 5
    for text in outputs + artifacts:
        assert S3_SECRET not in text and DB_SECRET not in text
