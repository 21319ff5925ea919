"""The everyday update (extract, reference data, dbt build of what changed, the lake), once for `tbp-extract update`,
or again and again in one process for `tbp-extract watch`: there dbt stays imported and the project parsed, which
is most of what a new session costs a fresh process."""

from __future__ import annotations

import logging
import re
import signal
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


class _Signals:
    """The signal that asked the watch to stop (0: none yet)."""

    signum: int = 0


@contextmanager
def _signals_recorded() -> Iterator[_Signals]:
    """SIGINT and SIGTERM are recorded and nothing more: a handler that logs or takes a lock can deadlock the code it
    interrupts. The watch reads the record between updates and while it waits; during an extract, the extract's
    own handler stops it (files in flight finish) and passes the signal on."""
    signals = _Signals()

    def record(signum, _frame) -> None:
        signals.signum = signum

    previous = {signum: signal.signal(signum, record) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def watch(load_config: Callable[[], Config], options: RunOptions, every: timedelta, echo: Echo) -> int:
    """An update every `every` until SIGINT or SIGTERM (exit 130 or 143): at once between updates; during an
    update's extract, once its files in flight have landed (the update stops there; the next one builds them);
    during its build, once the build and the lake are done. The configuration is read again for each update; one
    that fails (a file, the source, dbt, a configuration being edited, the warehouse held) is reported and the next
    update tries again. dbt is imported and the project parsed at the start, beside the first update, and parsed
    again only when the project or dbt's settings change."""
    with ProjectParse() as parse, _signals_recorded() as signals:
        while True:
            started = time.monotonic()
            code = _update_reporting_errors(load_config, options, parse, echo)
            seconds = time.monotonic() - started
            wait = max(0.0, every.total_seconds() - seconds)
            next_at = datetime.now(UTC) + timedelta(seconds=wait)
            echo(f"watch: update exit {code} in {seconds:.2f}s; next at {next_at:%Y-%m-%d %H:%M:%S} UTC")
            if code <= 128 and not signals.signum:
                _sleep(wait, signals)
            if signum := signals.signum or max(code - 128, 0):
                echo(f"watch: stopped by {signal.Signals(signum).name}", err=True)
                return 128 + signum


def _sleep(seconds: float, signals: _Signals) -> None:
    deadline = time.monotonic() + seconds
    while not signals.signum and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.2))


def _update_reporting_errors(
    load_config: Callable[[], Config], options: RunOptions, parse: ProjectParse, echo: Echo
) -> int:
    try:
        cfg = load_config()
        parse.start(cfg)
        return update(cfg, options, parse, echo)
    except PipelineError as exc:
        echo(f"error: {exc}", err=True)
        return exc.exit_code
    except Exception:  # a bug, not the user's doing: its traceback in the log, and the watch goes on
        log.exception("the update failed unexpectedly; the next one tries again")
        return 1
