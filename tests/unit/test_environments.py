"""Environment overlays: config/environments/<name>.yml over the base files, with provenance and dbt's variables."""

from pathlib import Path

import pytest

from extract.config import load_config
from extract.environments import BUILT_IN, dbt_environment, settings
from extract.errors import ConfigError

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def by_key(cfg) -> dict[str, tuple[str, str]]:
    return {s.key: (s.value, s.origin) for s in settings(cfg)}


def test_development_is_the_default_and_the_base_files_as_they_are():
    cfg = load_config(REPO_CONFIG, {})
    assert (cfg.environment, cfg.target) == ("development", "duckdb")
    assert not cfg.alerts.enabled()
    assert by_key(cfg)["schedule.daily"] == ("30 20 * * 1-5", BUILT_IN)


def test_staging_overlays_target_database_and_alerts_and_says_where_each_value_came_from():
    env = {"TBP_ENVIRONMENT": "staging", "TBP_ALERT_WEBHOOK_URL": "https://hooks.example/T1/B2/very-secret"}
    cfg = load_config(REPO_CONFIG, env)
    assert cfg.target == "postgres"
    assert cfg.database.postgres.host == "staging-db.internal"
    assert cfg.database.postgres.user == "tbp"  # not in the overlay: the base file's value stays
    shown = by_key(cfg)
    assert shown["database.postgres.host"] == (
        "staging-db.internal",
        "environments/staging.yml, default of ${DB_HOST}",
    )
    assert shown["database.postgres.user"] == ("tbp", "database.yml, default of ${DB_USER}")
    webhook_origin = "environment TBP_ALERT_WEBHOOK_URL, via environments/staging.yml"
    assert shown["alerts.webhook_url"] == ("*** (set)", webhook_origin)
    assert shown["pipeline.datasets"] == ("us_stocks_sip/day_aggs_v1", "pipeline.yml, default of ${TBP_DATASETS}")
    assert "very-secret" not in repr(settings(cfg)) + repr(cfg)


def test_the_shell_wins_over_the_overlay(config_dir):
    cfg = load_config(config_dir, {"TBP_ENVIRONMENT": "production", "TBP_TARGET": "duckdb", "TBP_LOOKBACK_DAYS": "3"})
    assert (cfg.target, cfg.pipeline.lookback_days) == ("duckdb", 3)
    assert by_key(cfg)["target"] == ("duckdb", "environment TBP_TARGET")
    assert load_config(config_dir, {"TBP_ENVIRONMENT": "production"}).pipeline.lookback_days == 15


def test_a_literal_in_the_overlay_replaces_the_base_value_and_lists_replace_lists(config_dir):
    (config_dir / "environments" / "qa.yml").write_text(
        "pipeline:\n  lookback_days: 4\nalerts:\n  email_to: [a@example.com, b@example.com]\n"
    )
    cfg = load_config(config_dir, {"TBP_ENVIRONMENT": "qa"})
    assert cfg.pipeline.lookback_days == 4
    assert cfg.alerts.email_to == ("a@example.com", "b@example.com")
    assert by_key(cfg)["pipeline.lookback_days"] == ("4", "environments/qa.yml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pipeline:\n  lookback_day: 3\n", "environments/qa.yml: pipeline: unknown key 'lookback_day' (did you mean"),
        ("alert:\n  webhook_url: x\n", "environments/qa.yml: unknown key 'alert' (did you mean 'alerts'?)"),
        ("database:\n  postgres: {hots: x}\n", "environments/qa.yml: database.postgres: unknown key 'hots'"),
        ("schedule:\n  daily: every day\n", "key 'daily' must be a cron expression of five fields, not 'every day'"),
        ("schedule:\n  file_deadline: '25:00'\n", "key 'file_deadline' must be a New York time like 11:00"),
        ("alerts:\n  webhook_url: hooks.example\n", "environments/qa.yml: alerts: key 'webhook_url' must be an http"),
        ("alerts:\n  email_to: [oncall]\n", "key 'email_to' holds 'oncall', which is not an email address"),
        ("target: oracle\n", "TBP_TARGET must be one of duckdb, postgres, not 'oracle'"),
        (
            "alerts:\n  webhook_url: ${HOOK}\n",
            "environments/qa.yml: key 'alerts.webhook_url' needs environment variable HOOK",
        ),
    ],
)
def test_a_bad_overlay_names_the_file_the_key_and_the_way_out(config_dir, text, message):
    (config_dir / "environments" / "qa.yml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(config_dir, {"TBP_ENVIRONMENT": "qa"})
    assert message in str(error.value)


def test_an_unknown_environment_lists_the_known_ones(config_dir):
    with pytest.raises(ConfigError, match=r"no such environment file .* \(known: development, production, staging\)"):
        load_config(config_dir, {"TBP_ENVIRONMENT": "prod"})
    with pytest.raises(ConfigError, match="must be a lower-case name"):
        load_config(config_dir, {"TBP_ENVIRONMENT": "../etc"})


def test_dbt_gets_the_merged_warehouse_and_the_password_only_on_request():
    env = {"TBP_ENVIRONMENT": "staging", "DB_PASSWORD": "pg-secret-value"}
    cfg = load_config(REPO_CONFIG, env)
    variables = dbt_environment(cfg)
    assert variables["TBP_TARGET"] == "postgres" and variables["DB_HOST"] == "staging-db.internal"
    assert variables["TBP_LOOKBACK_DAYS"] == "10" and variables["TBP_MIN_COVERAGE_PCT"] == "95"
    assert "pg-secret-value" not in repr(variables)
    assert dbt_environment(cfg, with_secrets=True)["DBT_ENV_SECRET_DB_PASSWORD"] == "pg-secret-value"


def test_check_config_prints_the_merged_settings_with_secrets_masked(invoke, tmp_path):
    result = invoke(
        "check-config",
        "--environment",
        "staging",
        TBP_SOURCE=str(tmp_path),
        TBP_TARGET="duckdb",
        POLYGON_S3_SECRET_KEY="s3-secret-value",
        TBP_ALERT_WEBHOOK_URL="https://hooks.example/x/y/hook-secret",
    )
    assert "environment: staging" in result.output
    assert "  schedule.file_deadline = 11:00  (environments/staging.yml)" in result.output
    assert "  s3.secret_key = *** (set)  (environment POLYGON_S3_SECRET_KEY, via s3.yml)" in result.output
    assert "s3-secret-value" not in result.output and "hook-secret" not in result.output


def test_tbp_extract_dbt_runs_dbt_on_the_environments_warehouse(invoke, config_dir, tmp_path, base_env, monkeypatch):
    """The overlay names a DuckDB file other than the shell's DUCKDB_PATH: dbt, through the wrapper, opens that one."""
    repo = Path(__file__).resolve().parents[2]
    wanted = tmp_path / "qa.duckdb"
    (config_dir / "environments" / "qa.yml").write_text(f"target: duckdb\ndatabase:\n  duckdb:\n    path: {wanted}\n")
    (tmp_path / "profiles.yml").write_text((repo / "profiles.example.yml").read_text())
    monkeypatch.chdir(repo)
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    result = invoke("dbt", "debug", "--environment", "qa", "--log-path", str(tmp_path / "logs"))
    assert result.exit_code == 0, result.output
    assert wanted.exists() and not Path(base_env["DUCKDB_PATH"]).exists()
