"""Compare the source's listing with the load manifest and decide what to load.

The plan is made from the listing, never from a calendar or a high-water mark, so late files for old dates,
re-published files (new ETag or size) and a wider ticker scope than an earlier run are all picked up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from extract.sources import RemoteFile


@dataclass(frozen=True)
class ManifestEntry:
    """One completed load of one file version. tickers None: that version is now fully landed."""

    key: str
    etag: str
    size: int
    tickers: frozenset[str] | None


@dataclass(frozen=True)
class FileLoad:
    """One file to load. tickers None means every ticker; skip_tickers were landed by an earlier load."""

    remote: RemoteFile
    reason: str
    tickers: frozenset[str] | None
    skip_tickers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Plan:
    loads: list[FileLoad]
    already_loaded: int

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


def make_plan(
    listing: Iterable[RemoteFile],
    manifest: Iterable[ManifestEntry],
    tickers: frozenset[str] | None = None,
) -> Plan:
    """What to load so that every listed file version is landed for the requested tickers exactly once."""
    by_key: dict[str, list[ManifestEntry]] = {}
    for entry in manifest:
        by_key.setdefault(entry.key, []).append(entry)

    loads, already_loaded = [], 0
    for remote in sorted(listing, key=lambda f: (f.file_date, f.key)):
        earlier = by_key.get(remote.key, [])
        same_version = [e for e in earlier if e.etag == remote.etag and e.size == remote.size]
        if not same_version:
            loads.append(FileLoad(remote, "changed" if earlier else "new", tickers))
            continue
        covered = _coverage(same_version)
        if covered is None:
            already_loaded += 1
        elif tickers is None:
            loads.append(FileLoad(remote, "widened", None, skip_tickers=covered))
        elif missing := tickers - covered:
            loads.append(FileLoad(remote, "widened", frozenset(missing)))
        else:
            already_loaded += 1
    return Plan(loads, already_loaded)
