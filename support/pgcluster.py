"""A throwaway PostgreSQL 15 cluster on a free loopback port, for the tests and the benchmark."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _timescaledb_library_present() -> bool:
    result = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True)
    return result.returncode == 0 and (Path(result.stdout.strip()) / "timescaledb.so").exists()


def start_cluster(root: Path) -> tuple[str, Callable[[], None]]:
    """initdb + pg_ctl start; as root, the server runs as the postgres user (initdb refuses root)."""
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data, log = root / "data", root / "server.log"
    subprocess.run(
        [
            *prefix,
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    if _timescaledb_library_present():
        # every test database with the extension keeps a scheduler: room for many, so that jobs still run
        options += " -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off"
        options += " -c max_worker_processes=64 -c timescaledb.max_background_workers=48"
    subprocess.run(
        [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        check=True,
        capture_output=True,
    )

    def stop() -> None:
        subprocess.run(
            [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)

    return f"host=127.0.0.1 port={port} user=postgres dbname=postgres", stop
