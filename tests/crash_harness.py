"""Run `tbp-extract` and SIGKILL it the Nth time it reaches a named point: python -m tests.crash_harness POINT N ARGS.
With CRASH_SIGNAL=TERM (or INT) in the environment, that signal is sent instead.

Points: instruments (writing the instrument list), download (a file fetched but not yet renamed into the cache),
parse (a file about to be read in its open transaction, or its head checked), copy (PostgreSQL COPY under way),
rows-written (rows sent, manifest not yet), committed (a file's transaction just committed).
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading

SIGNAL = signal.Signals["SIG" + os.environ.get("CRASH_SIGNAL", "KILL")]


def die_on_calls(hooks: list[tuple[object, str]], n: int, after: bool = False, weight=lambda *args: 1) -> None:
    """Kill the process at the Nth file that reaches any of these calls: a call that takes several files
    together (land_together) counts each, by `weight` of its arguments."""
    reached = itertools.count(1)
    lock = threading.Lock()

    for owner, name in hooks:
        original = getattr(owner, name)

        def wrapper(*args, _original=original, **kwargs):
            with lock:  # files land on several threads: each call keeps its own numbers
                numbers = [next(reached) for _ in range(weight(*args))]
            if n in numbers and not after:
                os.kill(os.getpid(), SIGNAL)
            result = _original(*args, **kwargs)
            if n in numbers and after:
                os.kill(os.getpid(), SIGNAL)
            return result

        setattr(owner, name, wrapper)


def die_on_call(owner, name: str, n: int, after: bool = False) -> None:
    die_on_calls([(owner, name)], n, after)


def files_in_call(*args) -> int:
    """How many files a landing call takes: several for land_together(self, files) and _land_batch(self, lane,
    files), one for land(self, path, ...)."""
    return next((len(arg) for arg in args if isinstance(arg, list)), 1)


def install(point: str, n: int) -> None:
    import psycopg

    import extract.land.duckdb as duck
    import extract.land.postgres as pg
    import extract.parse as parse

    if point == "instruments":
        die_on_call(duck.DuckDBWarehouse, "write_instruments", n)
        die_on_call(pg.PostgresWarehouse, "write_instruments", n)
    elif point == "download":
        die_on_call(os, "replace", n)
    elif point == "parse" and os.environ.get("TBP_TARGET") == "postgres":  # the file's head checked, nothing sent
        die_on_call(parse, "_check_head", n, after=True)
    elif point == "parse":  # DuckDB: its transaction open, the file (or the files landing together) about to be read
        die_on_calls([(duck, "read_csv_sql"), (duck.DuckDBWarehouse, "_land_batch")], n, False, files_in_call)
    elif point == "copy":
        die_on_call(psycopg.Copy, "write", n)
    elif point == "rows-written":
        die_on_call(duck, "manifest_values", n)
        die_on_call(pg, "manifest_values", n)
    elif point == "committed":
        die_on_calls([(duck.DuckDBWarehouse, "land"), (duck.DuckDBWarehouse, "land_together")], n, True, files_in_call)
        die_on_call(pg.PostgresWarehouse, "land", n, after=True)
    else:
        raise SystemExit(f"unknown crash point {point}")


if __name__ == "__main__":
    install(sys.argv[1], int(sys.argv[2]))
    from extract.cli import main

    main(sys.argv[3:])
