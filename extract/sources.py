"""Where flat files come from: an S3-compatible endpoint (boto3) or a local mirror folder."""

from __future__ import annotations

import hashlib
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from extract.config import S3Config
from extract.errors import FileDefectError, FileGoneError, NotInPlanError, SourceError

DAY_FILE = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{4})-(\d{2})-(\d{2})\.csv\.gz$")


@dataclass(frozen=True)
class RemoteFile:
    """One day file as the source lists it."""

    key: str
    file_date: date
    etag: str
    size: int


class Source(Protocol):
    description: str
    downloaded: int  # files fetched over the network (not from the cache) since the source was made

    def list_files(self, start: date, end: date) -> list[RemoteFile]: ...

    def fetch(self, remote: RemoteFile, cache_dir: Path) -> Path: ...

    def discard(self, path: Path) -> None: ...


def date_from_key(key: str) -> date | None:
    """The session date a day-file key stands for, or None for keys that are not day files."""
    match = DAY_FILE.search(key)
    if not match:
        return None
    year, month, y2, m2, day = match.groups()
    if (year, month) != (y2, m2):
        return None
    try:
        return date(int(y2), int(m2), int(day))
    except ValueError:
        return None


def s3_client(cfg: S3Config, endpoint_url: str | None = None):
    """The one place a boto3 client is made. Retries throttling, 5xx and dropped connections."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or cfg.endpoint,
        aws_access_key_id=cfg.access_key.get() or None,
        aws_secret_access_key=cfg.secret_key.get() or None,
        region_name="us-east-1",
        config=BotoConfig(
            signature_version="s3v4",
            retries={"mode": "adaptive", "max_attempts": cfg.max_attempts},
            connect_timeout=cfg.connect_timeout_seconds,
            read_timeout=cfg.read_timeout_seconds,
            max_pool_connections=32,
        ),
    )


class LocalMirror:
    """A folder holding the same key layout as the bucket (what `aws s3 sync` or rclone leaves)."""

    downloaded = 0  # files are read in place

    def __init__(self, root: Path, prefix: str) -> None:
        self.prefix = prefix.strip("/")
        nested = root / self.prefix
        self.base = nested if nested.is_dir() else root
        self.description = f"local mirror {self.base}"

    def list_files(self, start: date, end: date) -> list[RemoteFile]:
        files = []
        for path in sorted(self.base.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/*.csv.gz")):
            relative = path.relative_to(self.base).as_posix()
            file_date = date_from_key(relative)
            if file_date is None or not start <= file_date <= end:
                continue
            files.append(RemoteFile(f"{self.prefix}/{relative}", file_date, _md5(path), path.stat().st_size))
        return files

    def fetch(self, remote: RemoteFile, cache_dir: Path) -> Path:
        path = self.base / remote.key.removeprefix(self.prefix + "/")
        if not path.is_file():
            raise FileGoneError(f"{remote.key}: listed but no longer in {self.base}")
        # Read in place: a truncated or corrupt file fails when it is parsed, inside its transaction.
        return path

    def discard(self, path: Path) -> None:
        """The mirror is the user's: a file that failed to land stays where it is."""


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class S3Bucket:
    """Day files in an S3-compatible bucket, listed page by page and fetched into a local cache."""

    def __init__(self, client, bucket: str, prefix: str, download_attempts: int = 4) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.download_attempts = download_attempts
        self.description = f"s3://{bucket}/{self.prefix} at {client.meta.endpoint_url}"
        self.downloaded = 0
        self._count_lock = threading.Lock()

    def _list_keys(self, prefix: str) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", [])
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"cannot list s3://{self.bucket}/{prefix}: {_describe(exc)}") from None

    def list_files(self, start: date, end: date) -> list[RemoteFile]:
        files = []
        for year in range(start.year, end.year + 1):
            for item in self._list_keys(f"{self.prefix}/{year}/"):
                file_date = date_from_key(item["Key"])
                if file_date is None or not start <= file_date <= end:
                    continue
                files.append(RemoteFile(item["Key"], file_date, item["ETag"].strip('"'), int(item["Size"])))
        return sorted(files, key=lambda f: f.key)

    def fetch(self, remote: RemoteFile, cache_dir: Path) -> Path:
        target = cache_dir / f"{remote.key.removesuffix('.csv.gz')}.{remote.etag}.csv.gz"
        if target.is_file() and target.stat().st_size == remote.size:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, self.download_attempts + 1):
            try:
                self._download(remote, target)
                with self._count_lock:
                    self.downloaded += 1
                return target
            except FileDefectError:
                if attempt == self.download_attempts:
                    raise
            # Bodies cut short and failed transfers are worth another try after a pause.
            time.sleep(min(8.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def discard(self, path: Path) -> None:
        """Drop a cached copy that failed to land, so the next run downloads it again."""
        path.unlink(missing_ok=True)

    def _download(self, remote: RemoteFile, target: Path) -> None:
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                response = self.client.get_object(Bucket=self.bucket, Key=remote.key)
                for chunk in response["Body"].iter_chunks(1 << 16):
                    out.write(chunk)
            received = Path(temporary).stat().st_size
            if received != remote.size:
                raise FileDefectError(f"{remote.key}: received {received} of {remote.size} bytes")
            # The gzip stream itself is checked whole as the file lands, inside its transaction.
            os.replace(temporary, target)
        except ClientError as exc:
            raise _classify(remote.key, exc) from None
        except BotoCoreError as exc:
            raise FileDefectError(f"{remote.key}: download failed: {_describe(exc)}") from None
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
    return str(exc)


def _classify(key: str, exc: ClientError) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status == 403 or code in ("AccessDenied", "403"):
        return NotInPlanError(f"{key}: access denied (403): not covered by your plan, skipped")
    if status == 404 or code in ("NoSuchKey", "404"):
        return FileGoneError(f"{key}: listed but gone (404); the next run retries it")
    return SourceError(f"{key}: {_describe(exc)}")


def make_source(spec: str, cfg: S3Config) -> Source:
    """TBP_SOURCE: s3://bucket[/prefix], a local folder, or empty for the bucket in s3.yml."""
    if not spec or spec.startswith("s3://"):
        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        return S3Bucket(s3_client(cfg), bucket or cfg.bucket, prefix or cfg.prefix)
    root = Path(spec)
    if not root.is_dir():
        raise SourceError(f"source folder '{spec}' does not exist")
    return LocalMirror(root, cfg.prefix)
