"""An S3 protocol server (moto in server mode) on loopback, for the tests and the benchmark."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from support.pgcluster import free_port


def start_moto_server() -> tuple[str, Callable[[], None]]:
    """The endpoint of a fresh moto server on a free loopback port, and how to stop it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return f"http://127.0.0.1:{port}", server.stop


def loopback_client(endpoint: str, access_key: str, secret_key: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
    )


def upload_mirror(client, bucket: str, root: Path) -> int:
    """Every day file under root into the bucket, keyed by its path below root; how many."""
    files = sorted(root.rglob("*.csv.gz"))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda path: client.upload_file(str(path), bucket, path.relative_to(root).as_posix()), files))
    return len(files)
