"""Where flat files come from: an S3-compatible endpoint (boto3) or a local mirror folder."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from extract.config import S3Config
from extract.datasets import DEFAULT_DATASET, Dataset, registry
from extract.errors import CacheError, ConfigError, FileDefectError, FileGoneError, NotInPlanError, SourceError

log = logging.getLogger("extract")
DAY_FILE = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{4})-(\d{2})-(\d{2})\.csv\.gz$")
# A single-part upload's ETag is the MD5 of its bytes; a multipart one has a "-N" suffix and is not.
SINGLE_PART_ETAG = re.compile(r"[0-9a-fA-F]{32}")
DATE_IN_KEY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
LOCAL_DIGESTS = "local-mirror-md5.json"
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")


@dataclass(frozen=True)
class RemoteFile:
    """One day file as the source lists it."""

    key: str
    file_date: date
    etag: str
    size: int
    dataset: str = DEFAULT_DATASET


@dataclass
class Listing:
    """The day files a source lists for a date range, and the keys under the dataset's prefix it will not load."""

    files: list[RemoteFile] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "key: why", one a key


class Source(Protocol):
    description: str
    downloaded: int  # files fetched over the network (not from the cache) since the source was made

    def list_files(self, start: date, end: date, dataset: Dataset | None = None) -> Listing: ...

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


def day_file_key(prefix: str, day: date) -> str:
    """The one key a day file of this dataset may have."""
    return f"{prefix}/{day:%Y}/{day:%m}/{day:%Y-%m-%d}.csv.gz"


def sort_listing(
    listed: Iterator[tuple[str, str, int]], prefix: str, start: date, end: date, dataset: str = DEFAULT_DATASET
) -> Listing:
    """(key, etag, size) items -> the day files in [start, end], and every other key dated in the range, refused
    with the reason: keys are not paths, so only the dataset's exact key pattern is loaded, and a second key for a
    date is a conflict to flag, never one to resolve by load timing."""
    items = list(listed)
    listing, canonical = Listing(), set()
    for key, etag, size in items:
        day = date_from_key(key)
        if day and start <= day <= end and key == day_file_key(prefix, day):
            listing.files.append(RemoteFile(key, day, etag, size, dataset))
            canonical.add(day)
    for key, _etag, _size in items:
        day = _loose_date(key)
        if day is None:
            listing.refused.append(f"{key}: not a day file of {prefix} (no date in its name); not loaded")
        elif start <= day <= end and key != day_file_key(prefix, day):
            why = "a second key for that date" if day in canonical else f"not the key pattern {prefix}/YYYY/MM/"
            listing.refused.append(f"{key}: {why} (expected {day_file_key(prefix, day)}); not loaded")
    listing.files.sort(key=lambda f: f.key)
    return listing


def _loose_date(key: str) -> date | None:
    for match in DATE_IN_KEY.finditer(key):
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            continue
    return None


YEAR_FOLDER = re.compile(r"\d{4}")


def stray_folders(folders: Iterator[str], prefix: str) -> list[str]:
    """Folders right under the dataset's prefix other than year folders: their keys are never listed, so say so."""
    return [
        f"{prefix}/{name}/: not a year folder (YYYY) of {prefix}; its keys are not listed"
        for name in sorted(folders)
        if not YEAR_FOLDER.fullmatch(name)
    ]


def mask_credentials(url: str) -> str:
    """user:password@ in a URL never reaches a log, an error or extract_runs."""
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", url)


def checked_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if prefix and (not PREFIX_PATTERN.fullmatch(prefix) or ".." in prefix.split("/")):
        raise ConfigError(f"prefix '{prefix}' is not a plain key prefix like us_stocks_sip/day_aggs_v1")
    return prefix


def source_root(prefix: str) -> str:
    """The folder above the dataset folders. A prefix naming a dataset folder itself (s3://flatfiles/us_stocks_sip/
    day_aggs_v1, as earlier versions took it) stands for the folder above it."""
    root = checked_prefix(prefix)
    for name in registry():
        if root == name or root.endswith("/" + name):
            return root.removesuffix(name).rstrip("/")
    return root


def _dataset_or_default(dataset: Dataset | None) -> Dataset:
    return dataset or registry()[DEFAULT_DATASET]


def cache_path(cache_dir: Path, remote: RemoteFile) -> Path:
    """Built from the dataset, the parsed date and the ETag, never from the raw key."""
    etag = re.sub(r"[^A-Za-z0-9-]", "_", remote.etag)
    return cache_dir / remote.dataset / f"{remote.file_date:%Y/%m/%Y-%m-%d}.{etag}.csv.gz"


def s3_client(cfg: S3Config, endpoint_url: str | None = None):
    """The one place a boto3 client is made, with the configured keys only: boto's own credential chain (~/.aws,
    AWS_* variables) would sign with somebody else's keys, so it is used only when the user opts in. Retries
    throttling, 5xx and dropped connections."""
    keys = {"aws_access_key_id": cfg.access_key.get(), "aws_secret_access_key": cfg.secret_key.get()}
    if not all(keys.values()):
        if not cfg.ambient_credentials:
            raise ConfigError(
                "POLYGON_S3_ACCESS_KEY and POLYGON_S3_SECRET_KEY must be set to read from S3 "
                "(or set TBP_SOURCE to a local mirror folder, or POLYGON_S3_AMBIENT_CREDENTIALS=true for boto's own)"
            )
        keys = {}
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or cfg.endpoint,
        **keys,
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
    """A folder holding the bucket's key layout (what `aws s3 sync` or rclone leaves): the dataset folders, or one
    dataset's folder itself."""

    downloaded = 0  # files are read in place

    def __init__(self, root: Path, digests: Path | None = None) -> None:
        self.root = Path(root)
        self.description = f"local mirror {self.root}"
        self.digests = DigestCache(digests)

    def _base(self, dataset: str) -> Path | None:
        nested = self.root / dataset
        if nested.is_dir():
            return nested
        return self.root if self.root.as_posix().rstrip("/").endswith(dataset) else None

    def list_files(self, start: date, end: date, dataset: Dataset | None = None) -> Listing:
        dataset = _dataset_or_default(dataset)
        base = self._base(dataset.name)
        if base is None:
            return Listing()
        top = sorted(base.iterdir())
        # keys right under the prefix are named (refused with the reason), never read
        loose = ((f"{dataset.name}/{path.name}", "", path.stat().st_size) for path in top if path.is_file())
        listed = itertools.chain(loose, self._listed(base, dataset.name, start, end))
        listing = sort_listing(listed, dataset.name, start, end, dataset.name)
        self.digests.save()
        listing.refused += stray_folders((path.name for path in top if path.is_dir()), dataset.name)
        return listing

    def _listed(self, base: Path, prefix: str, start: date, end: date) -> Iterator[tuple[str, str, int]]:
        for year in range(start.year, end.year + 1):
            for path in sorted((base / str(year)).rglob("*")):
                if not path.is_file():
                    continue
                key = f"{prefix}/{path.relative_to(base).as_posix()}"
                day = date_from_key(key)
                # Only day files within the range are read for their ETag; the rest are named, not read.
                listed = day is not None and start <= day <= end and key == day_file_key(prefix, day)
                yield key, self.digests.md5(path) if listed else "", path.stat().st_size

    def fetch(self, remote: RemoteFile, cache_dir: Path) -> Path:
        base = self._base(remote.dataset)
        path = base / f"{remote.file_date:%Y/%m/%Y-%m-%d}.csv.gz" if base else None
        if path is None or not path.is_file():
            raise FileGoneError(f"{remote.key}: listed but no longer in {self.root}")
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


class DigestCache:
    """A local mirror file's MD5 (its ETag), read again only when the file changed: every run lists the whole range,
    and hashing five years of minute files each time would take minutes (five years of day files: 0.7 s). Changed
    means another size, modification or change time, or inode; the change time (ctime) moves on every write and
    rename and no copy tool can set it back, so a file replaced with the same size and a restored mtime is hashed
    again. A digest taken within 2 s of the file's last change is not trusted (a second write in the same clock
    tick would look unchanged). Kept as JSON in the download cache; without one, or when it cannot be read or
    written, every file is hashed."""

    SETTLED_NS = 2_000_000_000

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._known: dict[str, list] = {}
        self._changed = False
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                found = json.loads(path.read_text())
                self._known = found if isinstance(found, dict) else {}

    def md5(self, file: Path) -> str:
        found = file.stat()
        name = str(file.resolve())
        stamp = [found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino]
        known = self._known.get(name)
        if isinstance(known, list) and len(known) == 6 and known[:4] == stamp and isinstance(known[5], str):
            hashed_at = known[4]
            if isinstance(hashed_at, int) and hashed_at - max(found.st_mtime_ns, found.st_ctime_ns) >= self.SETTLED_NS:
                return known[5]
        hashed_at = time.time_ns()
        digest = _md5(file)
        self._known[name] = [*stamp, hashed_at, digest]
        self._changed = True
        return digest

    def save(self) -> None:
        if self.path is None or not self._changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(handle, "w") as out:
                json.dump(self._known, out)
            os.replace(partial, self.path)
            self._changed = False
        except OSError as exc:
            log.debug("cannot keep the local mirror's digests in %s: %s", self.path, exc)


class S3Bucket:
    """Day files in an S3-compatible bucket, listed page by page and fetched into a local cache."""

    def __init__(self, client, bucket: str, prefix: str = "", download_attempts: int = 4) -> None:
        self.client = client
        self.bucket = bucket
        self.root = source_root(prefix)
        self.download_attempts = download_attempts
        where = f"{bucket}/{self.root}".rstrip("/")
        self.description = f"s3://{where} at {mask_credentials(client.meta.endpoint_url)}"
        self.downloaded = 0
        self._count_lock = threading.Lock()

    def _pages(self, prefix: str, **options) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            yield from paginator.paginate(Bucket=self.bucket, Prefix=prefix, **options)
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"cannot list s3://{self.bucket}/{prefix}: {_describe(exc)}") from None

    def list_files(self, start: date, end: date, dataset: Dataset | None = None) -> Listing:
        dataset = _dataset_or_default(dataset)
        prefix = f"{self.root}/{dataset.name}" if self.root else dataset.name
        top = list(self._pages(f"{prefix}/", Delimiter="/"))  # keys right under the prefix, and its folders
        items = itertools.chain(
            (item for page in top for item in page.get("Contents", [])),
            (
                item
                for year in range(start.year, end.year + 1)
                for page in self._pages(f"{prefix}/{year}/")
                for item in page.get("Contents", [])
            ),
        )
        listed = ((item["Key"], item["ETag"].strip('"'), int(item["Size"])) for item in items)
        listing = sort_listing(listed, prefix, start, end, dataset.name)
        folders = (
            entry["Prefix"][len(prefix) + 1 :].rstrip("/") for page in top for entry in page.get("CommonPrefixes", [])
        )
        listing.refused += stray_folders(folders, prefix)
        return listing

    def fetch(self, remote: RemoteFile, cache_dir: Path) -> Path:
        target = cache_path(cache_dir, remote)
        if target.is_file() and target.stat().st_size == remote.size:
            return target
        try:
            return self._fetch_into(remote, target)
        except OSError as exc:
            raise CacheError(
                f"cannot write {target.parent}: {exc.strerror or exc}; free space or fix the download cache's "
                "permissions, or point TBP_CACHE_DIR elsewhere"
            ) from None

    def _fetch_into(self, remote: RemoteFile, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        mismatched_digest = None
        for attempt in range(1, self.download_attempts + 1):
            try:
                self._download(remote, target, mismatched_digest)
                with self._count_lock:
                    self.downloaded += 1
                return target
            except ETagMismatch as exc:
                mismatched_digest = exc.digest
                if attempt == self.download_attempts:
                    raise
            except FileDefectError:
                if attempt == self.download_attempts:
                    raise
            # Bodies cut short and failed transfers are worth another try after a pause.
            time.sleep(min(8.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def discard(self, path: Path) -> None:
        """Drop a cached copy that failed to land, so the next run downloads it again."""
        path.unlink(missing_ok=True)

    def _download(self, remote: RemoteFile, target: Path, mismatched_digest: str | None) -> None:
        """One GET into a temporary file, renamed into place when whole. A single-part ETag is the MD5 of the bytes,
        unless the object is encrypted with a customer key; so bytes whose MD5 differs from it are fetched again,
        and taken when a second download gives the very same bytes (the gzip check still decides before landing)."""
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with os.fdopen(handle, "wb") as out:
                # ChecksumMode: boto verifies the object's own checksum where the provider stored one.
                response = self.client.get_object(Bucket=self.bucket, Key=remote.key, ChecksumMode="ENABLED")
                for chunk in response["Body"].iter_chunks(1 << 16):
                    digest.update(chunk)
                    out.write(chunk)
            received = Path(temporary).stat().st_size
            if received != remote.size:
                raise FileDefectError(f"{remote.key}: received {received} of {remote.size} bytes")
            md5 = digest.hexdigest()
            if SINGLE_PART_ETAG.fullmatch(remote.etag) and md5 not in (remote.etag.lower(), mismatched_digest):
                raise ETagMismatch(f"{remote.key}: received bytes whose MD5 differs from the listed ETag", md5)
            # The gzip stream itself is checked whole (CRC-32, length) before the file lands.
            os.replace(temporary, target)
        except ClientError as exc:
            raise _classify(remote.key, exc) from None
        except BotoCoreError as exc:
            raise FileDefectError(f"{remote.key}: download failed: {_describe(exc)}") from None
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)


class ETagMismatch(FileDefectError):
    def __init__(self, message: str, digest: str) -> None:
        super().__init__(message)
        self.digest = digest


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
    return mask_credentials(str(exc))


def _classify(key: str, exc: ClientError) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status == 403 or code in ("AccessDenied", "403"):
        return NotInPlanError(f"{key}: access denied (403): not covered by your plan, skipped")
    if status == 404 or code in ("NoSuchKey", "404"):
        return FileGoneError(f"{key}: listed but gone (404); the next run retries it")
    return SourceError(f"{key}: {_describe(exc)}")


def make_source(spec: str, cfg: S3Config, cache_dir: Path | None = None) -> Source:
    """TBP_SOURCE: s3://bucket[/folder above the dataset folders], a local folder, or empty for s3.yml's bucket.
    A local mirror keeps its files' digests in cache_dir."""
    if not spec or spec.startswith("s3://"):
        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        return S3Bucket(s3_client(cfg), bucket or cfg.bucket, prefix or cfg.prefix)
    root = Path(spec)
    if not root.is_dir():
        raise SourceError(f"source folder '{spec}' does not exist")
    return LocalMirror(root, cache_dir / LOCAL_DIGESTS if cache_dir else None)
