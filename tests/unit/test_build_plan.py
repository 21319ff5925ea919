"""What `tbp-extract update` builds for each kind of change since the last good build."""

import os
from types import SimpleNamespace

from extract.build import BuildPlan, ProjectParse, plan_build, project_marker, views_kept
from tests.conftest import REPO

BUILT = {
    "project": "p1",
    "build": "b1",
    "relations": "r1",
    "loads:us_stocks_sip/day_aggs_v1": "41:41",
    "loads:us_stocks_sip/minute_aggs_v1": "5:46",
    "reference_fetches": "0:None",
    "instruments": "i1",
    "datasets": "d1",
    "calendar_days": "s1",
}


def test_nothing_changed_builds_nothing():
    assert plan_build(BUILT, dict(BUILT)) == BuildPlan((), None)
    assert plan_build(BUILT, dict(BUILT)).line() == "build: nothing new since the last build, skipped"


def test_a_new_day_file_builds_the_day_models_and_leaves_the_minute_models():
    now = {**BUILT, "loads:us_stocks_sip/day_aggs_v1": "42:47", "calendar_days": "s2"}
    plan = plan_build(BUILT, now).keeping(("stg_polygon__day_aggs", "fct_build_runs"))
    assert plan.arguments == [
        "build",
        "--select",
        "source:polygon+",
        "source:reference.calendar_days+",
        "--exclude",
        "stg_polygon__minute_aggs",
        "stg_polygon__minute_aggs+1,resource_type:test",
        "int_minute_aggs__checked",
        "int_minute_aggs__checked+1,resource_type:test",
        "int_minute_aggs__first_dates",
        "int_minute_aggs__first_dates+1,resource_type:test",
        "int_minute_bars__by_instrument+",
        "stg_polygon__day_aggs",
        "fct_build_runs",
        "--exclude-resource-type",
        "unit_test",
        "--indirect-selection",
        "empty",
    ]
    assert plan.line() == (
        "build: source:polygon+ source:reference.calendar_days+ except stg_polygon__minute_aggs "
        "int_minute_aggs__checked int_minute_aggs__first_dates int_minute_bars__by_instrument+ "
        "and 2 views kept as they are (calendar_days, loads:us_stocks_sip/day_aggs_v1 changed)"
    )


def test_a_new_minute_file_builds_the_minute_models_too():
    now = {**BUILT, "loads:us_stocks_sip/minute_aggs_v1": "6:47"}
    assert plan_build(BUILT, now).arguments == [
        "build",
        "--select",
        "source:polygon+",
        "--exclude-resource-type",
        "unit_test",
        "--indirect-selection",
        "empty",
    ]


def test_instruments_or_reference_data_reach_every_model_that_reads_them():
    now = {**BUILT, "loads:us_stocks_sip/day_aggs_v1": "42:47", "instruments": "i2"}
    plan = plan_build(BUILT, now)
    assert plan.select == ("source:polygon+", "source:reference.instruments+") and plan.exclude == ()
    assert plan_build(BUILT, {**BUILT, "reference_fetches": "1:1"}).select == ("source:massive+",)


def test_code_settings_other_builds_and_dropped_relations_build_everything_with_unit_tests_and_views():
    for key in ("project", "build", "relations"):
        plan = plan_build(BUILT, {**BUILT, key: "other"}).keeping(("stg_polygon__day_aggs",))
        assert plan.arguments == ["build"] and plan.line() == f"build: the whole project ({key} changed)"
    assert plan_build(None, BUILT).line() == "build: the whole project (first build)"
    assert plan_build(BUILT, {**BUILT, "loads:global_crypto/day_aggs_v1": "1:48"}).select == ("source:polygon+",)


def test_loads_of_a_dataset_this_version_does_not_know_leave_no_model_out():
    plan = plan_build(BUILT, {**BUILT, "loads:someone/else_v1": "1:48"})
    assert plan.select == ("source:polygon+",) and plan.exclude == ()


def test_a_parse_beside_the_extract_serves_only_the_project_it_read(make_config, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("TBP_LOOKBACK_DAYS", raising=False)
    cfg = make_config()
    with ProjectParse(cfg) as parse:
        assert parse.manifest(project_marker(cfg, REPO)) is None  # not started: nothing to land
        parse.start()
        assert os.environ["TBP_LOOKBACK_DAYS"] == str(cfg.pipeline.lookback_days)  # dbt's settings, set here
        manifest = parse.manifest(project_marker(cfg, REPO))
        assert "model.tickerbars.fct_daily_bars" in manifest.nodes
        assert parse.manifest("a project changed while the extract ran") is None
    assert "TBP_LOOKBACK_DAYS" not in os.environ


def model(name: str, materialized: str, *parents: str) -> SimpleNamespace:
    return SimpleNamespace(
        name=name,
        resource_type="model",
        config=SimpleNamespace(materialized=materialized),
        depends_on=SimpleNamespace(nodes=[f"model.p.{parent}" for parent in parents]),
    )


def test_a_build_of_changed_data_keeps_the_views_with_no_table_upstream():
    """A table is replaced by its build, and PostgreSQL drops the views that read it (through other views too)."""
    nodes = [
        model("stg_a", "view"),
        model("int_a", "incremental", "stg_a"),
        model("int_a_view", "view", "int_a"),
        model("fct_a", "table", "int_a_view"),
        model("fct_a_view", "view", "fct_a"),
        model("fct_a_view_of_view", "view", "fct_a_view"),
        model("fct_b_view", "view", "stg_a", "fct_a"),
    ]
    test = SimpleNamespace(name="not_null_stg_a_x", resource_type="test", depends_on=SimpleNamespace(nodes=[]))
    manifest = SimpleNamespace(nodes={f"model.p.{node.name}": node for node in nodes} | {"test.p.t": test})
    assert views_kept(manifest) == ("int_a_view", "stg_a")
