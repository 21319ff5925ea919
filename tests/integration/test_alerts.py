"""Alerts delivered for real: a Slack-compatible webhook on a loopback HTTP server and an SMTP relay on loopback."""

import dataclasses
import email
import email.policy
import json
import logging
from datetime import date, datetime

import pytest

from extract.alerts import (
    RUNBOOK_FILE_FAILED,
    RUNBOOK_QUALITY,
    RUNBOOK_TASK,
    file_deadline_passed,
    late_file_alert,
    send_alert,
    task_failure_alert,
)
from extract.config import load_config
from support.smtpserver import start_smtp_server

SECRETS = {
    "POLYGON_S3_ACCESS_KEY": "AKIA-test-access-key",
    "POLYGON_S3_SECRET_KEY": "s3-secret-value-0042",
    "DB_PASSWORD": "pg-password-value-0042",
    "POLYGON_API_KEY": "api-key-value-0042",
}
FAILED_EXTRACT = (
    "2 file(s) failed: us_stocks_sip/day_aggs_v1/2024/01/2024-01-05.csv.gz: not a whole gzip file; "
    "us_stocks_sip/day_aggs_v1/2024/01/2024-01-08.csv.gz: wrong header (connecting with pg-password-value-0042 "
    "to postgresql://tbp:pg-password-value-0042@db:5432/x)"
)


@pytest.fixture
def alert_config(config_dir, base_env):
    """The qa environment: alerts to the URL and relay a test gives it."""
    (config_dir / "environments" / "qa.yml").write_text(
        "alerts:\n"
        "  webhook_url: ${TBP_ALERT_WEBHOOK_URL:-}\n"
        "  email_to: ${TBP_ALERT_EMAIL_TO:-}\n"
        "  smtp_port: ${TBP_SMTP_PORT:-25}\n"
        "  runbook_url: https://example.org/tickerbars/docs/operations.md\n"
    )

    def make(**env: str):
        return load_config(config_dir, {**base_env, **SECRETS, "TBP_ENVIRONMENT": "qa", **env})

    return make


def test_a_failed_extract_reaches_the_webhook_with_keys_run_and_runbook_and_no_secret(httpserver, alert_config):
    httpserver.expect_request("/hooks/T000/B000/hook-token-0042", method="POST").respond_with_data("ok")
    cfg = alert_config(TBP_ALERT_WEBHOOK_URL=httpserver.url_for("/hooks/T000/B000/hook-token-0042"))
    alert = task_failure_alert(cfg, "tickerbars_daily", "extract", "scheduled__2024-01-08T20:30:00", FAILED_EXTRACT)

    assert send_alert(cfg, alert) == ["webhook"]

    [(request, _response)] = httpserver.log
    body = request.get_data(as_text=True)
    text = json.loads(body)["text"]
    assert text.startswith("[tickerbars qa] tickerbars_daily.extract failed")
    assert "us_stocks_sip/day_aggs_v1/2024/01/2024-01-05.csv.gz" in text
    assert "us_stocks_sip/day_aggs_v1/2024/01/2024-01-08.csv.gz" in text
    assert "run: scheduled__2024-01-08T20:30:00" in text
    assert "https://example.org/tickerbars/docs/operations.md#a-file-failed (A file failed)" in text
    for secret in [*SECRETS.values(), "hook-token-0042"]:
        assert secret not in body


def test_an_email_alert_goes_through_the_relay(alert_config):
    server, _thread = start_smtp_server()
    try:
        cfg = alert_config(TBP_ALERT_EMAIL_TO="oncall@example.org,data@example.org", TBP_SMTP_PORT=str(server.port))
        alert = late_file_alert(date(2024, 1, 5), "11:00", "scheduled__2024-01-05T20:30:00", "2024/01/2024-01-05")
        assert send_alert(cfg, alert) == ["email"]
    finally:
        server.shutdown()
        server.server_close()
    [mail] = server.received
    assert mail.recipients == ["<oncall@example.org>", "<data@example.org>"]
    message = email.message_from_string(mail.data, policy=email.policy.default)
    assert message["Subject"] == "[tickerbars qa] the day file for 2024-01-05 has not landed by 11:00 New York time"
    assert "operations.md#the-day-file-is-late (The day file is late)" in message.get_content()
    assert not any(secret in mail.data for secret in SECRETS.values())


def test_an_unreachable_target_is_logged_and_never_hides_the_failure(httpserver, alert_config, caplog):
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    cfg = alert_config(TBP_ALERT_WEBHOOK_URL=httpserver.url_for("/hook"), TBP_ALERT_EMAIL_TO="a@example.org")
    cfg = dataclasses.replace(cfg, alerts=dataclasses.replace(cfg.alerts, smtp_port=1))  # nothing listens on port 1
    with caplog.at_level(logging.WARNING, logger="extract"):
        assert send_alert(cfg, task_failure_alert(cfg, "tickerbars_daily", "publish", "r1", "boom")) == []
    assert "alert not delivered to the webhook: Server error '500" in caplog.text
    assert "alert not delivered by email through localhost" in caplog.text


def test_without_a_target_nothing_is_sent(alert_config, caplog):
    with caplog.at_level(logging.INFO, logger="extract"):
        assert send_alert(alert_config(), task_failure_alert(alert_config(), "d", "t", "r", "x")) == []
    assert "no alert target configured for environment qa" in caplog.text


def test_dbt_failures_name_the_models_and_tests_and_point_to_the_quality_section(alert_config):
    cfg = alert_config()
    output = (
        "dbt command failed. Details: Failure in test accepted_values_fct_ticker_coverage_ok__True "
        "(dbt_project/models/marts/_marts__models.yml) Error in model fct_daily_bars (models/marts/fct_daily_bars.sql)"
    )
    alert = task_failure_alert(cfg, "tickerbars_quality", "dbt_test", "manual__1", output)
    assert alert.subjects == ("accepted_values_fct_ticker_coverage_ok__True", "fct_daily_bars")
    assert alert.runbook_section == RUNBOOK_QUALITY
    assert task_failure_alert(cfg, "tickerbars_backfill", "load", "m", FAILED_EXTRACT).runbook_section == (
        RUNBOOK_FILE_FAILED
    )
    assert task_failure_alert(cfg, "tickerbars_daily", "publish", "m", "disk full").runbook_section == RUNBOOK_TASK


@pytest.mark.parametrize(
    ("now", "late"),
    [
        (datetime.fromisoformat("2024-01-06T10:59:00-05:00"), False),
        (datetime.fromisoformat("2024-01-06T11:00:00-05:00"), True),
        (datetime.fromisoformat("2024-01-06T15:59:00+00:00"), False),  # 10:59 in New York
        (datetime.fromisoformat("2024-07-06T15:00:00+00:00"), True),  # summer: 11:00 EDT
    ],
)
def test_the_file_deadline_is_new_york_time_the_next_day(now, late):
    session = date(2024, 1, 5) if now.month == 1 else date(2024, 7, 5)
    assert file_deadline_passed(session, "11:00", now) is late
