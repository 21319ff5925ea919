"""Compare the source's listing with the load manifest and decide what to load.

The plan is made from the listing, never from a calendar or a high-water mark, so late files for old dates,
re-published files (new ETag or size), reverted files (an older version restored) and a wider ticker scope than an
earlier run are all picked up. A listed file is compared with the version that currently counts for its key: the
newest load's version, with the loads of that version since it last became current.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from extract.datasets import DEFAULT_DATASET
from extract.sources import RemoteFile, date_from_key


@dataclass(frozen=True)
class ManifestEntry:
    """One completed load of one file version. tickers None: that load landed every ticker."""

    load_id: int
    key: str
    etag: str
    size: int
    tickers: frozenset[str] | None
    dataset: str = DEFAULT_DATASET


@dataclass(frozen=True)
class FileLoad:
    """One file to load. tickers None means every ticker; skip_tickers were landed by an earlier load of the same
    version, which also recorded the version's unparsable lines (so a widening load does not record them again)."""

    remote: RemoteFile
    reason: str  # new | changed | widened: for people (logs, the run summary)
    tickers: frozenset[str] | None
    skip_tickers: frozenset[str] = frozenset()
    records_rejects: bool = True

    @property
    def every_row(self) -> bool:
        """Whether the load takes every row of the file (no ticker kept in or out)."""
        return self.tickers is None and not self.skip_tickers


@dataclass(frozen=True)
class Plan:
    loads: list[FileLoad]
    already_loaded: int
    vanished: list[str]  # keys loaded before, in the listed range, that the source no longer lists

    def by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for load in self.loads:
            counts[load.reason] = counts.get(load.reason, 0) + 1
        return counts


def _coverage(entries: Iterable[ManifestEntry]) -> frozenset[str] | None:
    covered: set[str] = set()
    for entry in entries:
        if entry.tickers is None:
            return None
        covered |= entry.tickers
    return frozenset(covered)


def current_version(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    """The loads of the version that counts for one key: the newest load's version, since it last became current
    (a version replaced and later restored starts again)."""
    newest = entries[-1]
    loads = []
    for entry in reversed(entries):
        if (entry.etag, entry.size) != (newest.etag, newest.size):
            break
        loads.append(entry)
    return loads


def make_plan(
    listing: Iterable[RemoteFile],
    manifest: Iterable[ManifestEntry],
    tickers: frozenset[str] | None = None,
    listed_range: tuple[date, date] | None = None,
) -> Plan:
    """What to load so that every listed file's version is the one that counts, landed for the requested tickers
    exactly once. Keys loaded before within listed_range that the listing lacks are reported as vanished."""
    by_key: dict[str, list[ManifestEntry]] = {}
    for entry in sorted(manifest, key=lambda e: e.load_id):
        by_key.setdefault(entry.key, []).append(entry)

    listing = sorted(listing, key=lambda f: (f.file_date, f.key))
    loads, already_loaded = [], 0
    for remote in listing:
        current = current_version(by_key[remote.key]) if remote.key in by_key else []
        if not current or (current[0].etag, current[0].size) != (remote.etag, remote.size):
            loads.append(FileLoad(remote, "changed" if current else "new", tickers))
            continue
        covered = _coverage(current)
        if covered is None:
            already_loaded += 1
        elif tickers is None:
            loads.append(FileLoad(remote, "widened", None, skip_tickers=covered, records_rejects=False))
        elif missing := tickers - covered:
            loads.append(FileLoad(remote, "widened", frozenset(missing), records_rejects=False))
        else:
            already_loaded += 1
    return Plan(loads, already_loaded, _vanished(by_key, {f.key for f in listing}, listed_range))


def _vanished(by_key: dict[str, list[ManifestEntry]], listed: set[str], listed_range) -> list[str]:
    if listed_range is None:
        return []
    start, end = listed_range
    return sorted(key for key in by_key if key not in listed and (day := date_from_key(key)) and start <= day <= end)
