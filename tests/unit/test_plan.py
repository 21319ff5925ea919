import itertools
from datetime import date

from extract.plan import ManifestEntry, make_plan
from extract.sources import RemoteFile


def remote(day: int, etag: str = "e1", size: int = 100) -> RemoteFile:
    return RemoteFile(f"p/2024/03/2024-03-{day:02d}.csv.gz", date(2024, 3, day), etag, size)


LOAD_IDS = itertools.count(1)


def loaded(day: int, etag: str = "e1", size: int = 100, tickers=None) -> ManifestEntry:
    """A manifest entry; entries made later have higher load ids, as loads do."""
    return ManifestEntry(next(LOAD_IDS), remote(day).key, etag, size, None if tickers is None else frozenset(tickers))


def test_new_files_are_planned_in_date_order():
    plan = make_plan([remote(8), remote(7)], [])
    assert [(load.remote.file_date.day, load.reason) for load in plan.loads] == [(7, "new"), (8, "new")]
    assert all(load.records_rejects for load in plan.loads)


def test_a_file_in_the_manifest_with_the_same_etag_and_size_is_skipped():
    plan = make_plan([remote(7), remote(8)], [loaded(7)])
    assert [load.remote.file_date.day for load in plan.loads] == [8]
    assert plan.already_loaded == 1


def test_a_republished_file_is_loaded_again_when_etag_or_size_changes():
    plan = make_plan([remote(7, etag="e2"), remote(8, size=101)], [loaded(7), loaded(8)])
    assert [load.reason for load in plan.loads] == ["changed", "changed"]


def test_a_late_file_older_than_the_newest_loaded_date_is_planned():
    plan = make_plan([remote(4), remote(5), remote(6)], [loaded(4), loaded(6)])
    assert [(load.remote.file_date.day, load.reason) for load in plan.loads] == [(5, "new")]


def test_a_wider_run_lands_only_the_tickers_an_earlier_narrow_load_missed():
    manifest = [loaded(7, tickers={"AAPL"}), loaded(7, tickers={"MSFT"})]
    everything = make_plan([remote(7)], manifest)
    assert everything.loads[0].reason == "widened" and not everything.loads[0].records_rejects
    assert everything.loads[0].tickers is None
    assert everything.loads[0].skip_tickers == {"AAPL", "MSFT"}
    more = make_plan([remote(7)], manifest, frozenset({"AAPL", "SPY"}))
    assert more.loads[0].tickers == {"SPY"}


def test_a_narrow_run_covered_by_earlier_loads_loads_nothing():
    assert make_plan([remote(7)], [loaded(7)], frozenset({"AAPL"})).loads == []
    assert make_plan([remote(7)], [loaded(7, tickers={"AAPL", "SPY"})], frozenset({"SPY"})).loads == []


def test_coverage_of_an_older_version_does_not_count_for_a_new_one():
    plan = make_plan([remote(7, etag="e2")], [loaded(7, etag="e1")], frozenset({"AAPL"}))
    assert plan.loads[0].reason == "changed" and plan.loads[0].tickers == {"AAPL"}
    assert plan.by_reason() == {"changed": 1}


def test_a_reverted_file_is_loaded_again_since_the_version_that_counts_is_the_newest():
    manifest = [loaded(7, etag="A"), loaded(7, etag="B")]
    plan = make_plan([remote(7, etag="A")], manifest)
    assert [(load.reason, load.tickers) for load in plan.loads] == [("changed", None)]
    assert make_plan([remote(7, etag="B")], manifest).already_loaded == 1


def test_coverage_counts_only_the_loads_since_the_version_last_became_current():
    manifest = [loaded(7, etag="A"), loaded(7, etag="B"), loaded(7, etag="A", tickers={"SPY"})]
    plan = make_plan([remote(7, etag="A")], manifest)
    assert plan.loads[0].reason == "widened" and plan.loads[0].skip_tickers == {"SPY"}


def test_keys_loaded_before_that_the_listing_lacks_are_reported_within_the_listed_range():
    manifest = [loaded(6), loaded(7), loaded(20)]
    plan = make_plan([remote(6)], manifest, listed_range=(date(2024, 3, 1), date(2024, 3, 10)))
    assert plan.vanished == [remote(7).key]
    assert make_plan([remote(6)], manifest).vanished == []
