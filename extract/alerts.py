"""Alerts: what failed, the key or model, the run, and the runbook section to read, to a Slack-compatible webhook
and/or by email. Built from those fields alone and scrubbed of every configured secret."""

from __future__ import annotations

import logging
import re
import smtplib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import httpx

from extract.config import Config
from extract.sources import mask_credentials

log = logging.getLogger("extract")
NEW_YORK = ZoneInfo("America/New_York")

# Sections of docs/operations.md an alert points to.
RUNBOOK_FILE_FAILED = "A file failed"
RUNBOOK_FILE_LATE = "The day file is late"
RUNBOOK_QUALITY = "A quality check failed"
RUNBOOK_TIMESCALEDB = "TimescaleDB jobs failed"
RUNBOOK_TASK = "A task failed"

_DAY_FILE_KEY = re.compile(r"[\w./-]*\d{4}-\d{2}-\d{2}\.csv\.gz")
_DBT_NODE = re.compile(r"(?:(?:Failure|Error) in (?:test|model|snapshot|seed)|freshness of) ([\w.]+)")
_TIMESCALEDB_JOB = re.compile(r"TimescaleDB job \d+ \([^)]*\)")


@dataclass(frozen=True)
class Alert:
    what: str  # one line: what failed or is late
    subjects: tuple[str, ...]  # the keys, models or jobs concerned
    run: str  # the Airflow run (or extract run) it happened in
    runbook_section: str
    detail: str = ""  # the error message, scrubbed


def runbook_link(cfg: Config, section: str) -> str:
    anchor = re.sub(r"[^a-z0-9 -]", "", section.lower()).replace(" ", "-")
    return f"{cfg.alerts.runbook_url}#{anchor}"


def scrubbed(text: str, cfg: Config) -> str:
    """The text with user:password@ in URLs and every configured secret's value replaced by ***."""
    secrets = (cfg.s3.access_key, cfg.s3.secret_key, cfg.database.postgres.password, cfg.api.key)
    text = mask_credentials(text)
    for secret in (*secrets, cfg.alerts.webhook_url):
        if len(secret.get()) >= 4:
            text = text.replace(secret.get(), "***")
    return text


def task_failure_alert(cfg: Config, dag_id: str, task_id: str, run_id: str, error: str, late: bool = False) -> Alert:
    """A failed task: the day-file keys, dbt nodes or TimescaleDB jobs its error names, and where to read on
    (`late`: it failed because the session's file never appeared)."""
    error = scrubbed(error, cfg)
    keys = tuple(dict.fromkeys(_DAY_FILE_KEY.findall(error)))
    nodes = tuple(dict.fromkeys(_DBT_NODE.findall(error)))
    jobs = tuple(dict.fromkeys(_TIMESCALEDB_JOB.findall(error)))
    if late:
        section = RUNBOOK_FILE_LATE
    elif jobs:
        section = RUNBOOK_TIMESCALEDB
    elif keys and task_id in ("extract", "load"):
        section = RUNBOOK_FILE_FAILED
    elif dag_id.endswith("_quality") or nodes:
        section = RUNBOOK_QUALITY
    else:
        section = RUNBOOK_TASK
    return Alert(f"{dag_id}.{task_id} failed", keys + nodes + jobs, run_id, section, _truncated(error))


def late_file_alert(session: date, deadline: str, run_id: str, key: str) -> Alert:
    return Alert(
        f"the day file for {session} has not landed by {deadline} New York time",
        (key,),
        run_id,
        RUNBOOK_FILE_LATE,
    )


def file_deadline_passed(session: date, deadline: str, now: datetime) -> bool:
    """Whether `now` is past the deadline for the session's file: that time in New York, the next day."""
    hour, minute = (int(part) for part in deadline.split(":"))
    due = datetime.combine(session + timedelta(days=1), time(hour, minute), NEW_YORK)
    return now >= due


def _truncated(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else text[:limit] + " ..."


def message_text(cfg: Config, alert: Alert) -> str:
    lines = [f"[tickerbars {cfg.environment}] {alert.what}"]
    if alert.subjects:
        lines.append("concerns: " + ", ".join(alert.subjects))
    lines.append(f"run: {alert.run}")
    lines.append(f"runbook: {runbook_link(cfg, alert.runbook_section)} ({alert.runbook_section})")
    if alert.detail:
        lines.append(f"detail: {alert.detail}")
    return "\n".join(lines)


def slack_payload(cfg: Config, alert: Alert) -> dict:
    """Slack's incoming-webhook JSON (also read by Mattermost, Rocket.Chat, Teams' Slack-compatible hooks)."""
    text = message_text(cfg, alert)
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def send_alert(cfg: Config, alert: Alert) -> list[str]:
    """Deliver to every configured target; the channels that took it. A target that fails is logged, never
    raised: an alert must not hide the failure it reports."""
    delivered = []
    if cfg.alerts.webhook_url:
        delivered += _post_webhook(cfg, alert)
    if cfg.alerts.email_to:
        delivered += _send_email(cfg, alert)
    if not cfg.alerts.enabled():
        log.info("no alert target configured for environment %s: %s", cfg.environment, alert.what)
    return delivered


def _post_webhook(cfg: Config, alert: Alert) -> list[str]:
    try:
        response = httpx.post(cfg.alerts.webhook_url.get(), json=slack_payload(cfg, alert), timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("alert not delivered to the webhook: %s", scrubbed(str(exc), cfg))
        return []
    return ["webhook"]


def _send_email(cfg: Config, alert: Alert) -> list[str]:
    message = EmailMessage()
    message["Subject"] = f"[tickerbars {cfg.environment}] {alert.what}"
    message["From"] = cfg.alerts.email_from
    message["To"] = ", ".join(cfg.alerts.email_to)
    message.set_content(message_text(cfg, alert))
    try:
        with smtplib.SMTP(cfg.alerts.smtp_host, cfg.alerts.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("alert not delivered by email through %s: %s", cfg.alerts.smtp_host, exc)
        return []
    return ["email"]
