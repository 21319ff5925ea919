"""The everyday update (extract, reference data, dbt build of what changed, the lake), once for `tbp-extract update`,
or again and again in one process for `tbp-extract watch`: there dbt stays imported and the project parsed, which
is most of what a new session costs a fresh process."""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from extract.build import ProjectParse, build_and_publish
from extract.config import Config
from extract.errors import ConfigError, PipelineError
from extract.orchestration import daily_reference
from extract.run import RunOptions, run_extract

log = logging.getLogger("extract")
Echo = Callable[..., None]  # click.echo: a line, err=True for stderr
INTERVAL = re.compile(r"(\d+)([smh])")
SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600}


def update(cfg: Config, options: RunOptions, parse: ProjectParse, echo: Echo) -> int:
    """One everyday update; its exit code (the extract's, else the reference data's). Raises BuildError when dbt
    fails (landing and reference data are kept, the next update builds again)."""
    summary = run_extract(cfg, options, before_loading=lambda: parse.start(cfg))
    for line in summary.lines():
        echo(line)
    if options.dry_run:
        return summary.exit_code
    code = summary.exit_code
    try:
        daily_reference(cfg)
    except PipelineError as exc:
        echo(f"reference: {exc}", err=True)
        code = code or exc.exit_code
    build_and_publish(cfg, echo, parse)
    return code


def parse_interval(text: str) -> timedelta:
    """`90s`, `10m`, `1h`: the time from one update's start to the next's."""
    match = INTERVAL.fullmatch(text.strip())
    if not match or int(match[1]) == 0:
        raise ConfigError(f"--every must be a positive number of seconds, minutes or hours like 10m, not '{text}'")
    return timedelta(seconds=int(match[1]) * SECONDS_PER_UNIT[match[2]])


class _Stop(threading.Event):
    signum: int = 0


@contextmanager
def _stop_on_signals() -> Iterator[_Stop]:
    """SIGINT and SIGTERM end the watch: at once between updates, after the update in flight otherwise (its extract
    finishes the files in flight, as a run does)."""
    stop = _Stop()

    def request_stop(signum, _frame) -> None:
        log.warning("%s received: stopping after the update in flight", signal.Signals(signum).name)
        stop.signum = signum
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def watch(load_config: Callable[[], Config], options: RunOptions, every: timedelta, echo: Echo) -> int:
    """An update every `every` until SIGINT or SIGTERM (exit 130 or 143). The configuration is read again for each
    update; one that fails (a file, the source, dbt, a configuration being edited) is reported and the next update
    tries again. dbt is imported and the project parsed at the start, beside the first update, and parsed again
    only when the project or dbt's settings change."""
    parse = ProjectParse()
    with _stop_on_signals() as stop:
        while True:
            started = time.monotonic()
            code = _update_reporting_errors(load_config, options, parse, echo)
            seconds = time.monotonic() - started
            wait = max(0.0, every.total_seconds() - seconds)
            next_at = datetime.now(UTC) + timedelta(seconds=wait)
            echo(f"watch: update exit {code} in {seconds:.2f}s; next at {next_at:%Y-%m-%d %H:%M:%S} UTC")
            if code > 128:
                return code
            if stop.wait(wait):
                return 128 + stop.signum


def _update_reporting_errors(load_config: Callable[[], Config], options: RunOptions, parse: ProjectParse, echo) -> int:
    try:
        cfg = load_config()
        parse.start(cfg)
        return update(cfg, options, parse, echo)
    except PipelineError as exc:
        echo(f"error: {exc}", err=True)
        return exc.exit_code
