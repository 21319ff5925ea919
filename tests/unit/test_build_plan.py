"""What `tbp-extract update` builds for each kind of change since the last good build."""

import os
import shutil
from dataclasses import replace
from types import SimpleNamespace

from extract.build import BuildPlan, KeptViews, ProjectParse, plan_build, project_marker, views_kept
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


KEPT = KeptViews(
    {
        "stg_polygon__day_aggs": ("analytics_staging", "stg_polygon__day_aggs"),
        "fct_build_runs": ("analytics", "fct_build_runs"),
    },
    frozenset({"int_minute_aggs__checked", "fct_daily_bars"}),
)


def test_a_new_day_file_builds_the_day_models_and_leaves_the_minute_models():
    now = {**BUILT, "loads:us_stocks_sip/day_aggs_v1": "42:47", "calendar_days": "s2"}
    plan = plan_build(BUILT, now)
    selected = ["build", "--select", "source:polygon+", "source:reference.calendar_days+", "--exclude"]
    minute_models = [
        "stg_polygon__minute_aggs",
        "int_minute_aggs__checked",
        "int_minute_aggs__first_dates",
        "int_minute_aggs__tickers_read",
        "int_minute_bars__by_instrument+",
    ]
    assert plan.arguments == [*selected, *minute_models, "--exclude-resource-type", "unit_test"]
    assert plan.line() == (
        "build: source:polygon+ source:reference.calendar_days+ except stg_polygon__minute_aggs "
        "int_minute_aggs__checked int_minute_aggs__first_dates int_minute_aggs__tickers_read "
        "int_minute_bars__by_instrument+ (calendar_days, loads:us_stocks_sip/day_aggs_v1 changed)"
    )
    # given the parsed project: the views stay as they are, their tests run, a left-out model's tests go by name
    plan = plan.keeping(KEPT)
    assert plan.arguments == [
        *selected,
        *minute_models,
        "int_minute_aggs__checked+1,resource_type:test",
        "fct_build_runs",
        "stg_polygon__day_aggs",
        "--exclude-resource-type",
        "unit_test",
        "--indirect-selection",
        "empty",
    ]
    assert plan.line().endswith(
        "int_minute_bars__by_instrument+, views kept as they are (calendar_days, loads:us_stocks_sip/day_aggs_v1 "
        "changed)"
    )


def test_a_new_minute_file_builds_the_minute_models_too():
    now = {**BUILT, "loads:us_stocks_sip/minute_aggs_v1": "6:47"}
    assert plan_build(BUILT, now).arguments == [
        "build",
        "--select",
        "source:polygon+",
        "--exclude-resource-type",
        "unit_test",
    ]


def test_instruments_or_reference_data_reach_every_model_that_reads_them():
    now = {**BUILT, "loads:us_stocks_sip/day_aggs_v1": "42:47", "instruments": "i2"}
    plan = plan_build(BUILT, now)
    assert plan.select == ("source:polygon+", "source:reference.instruments+") and plan.exclude == ()
    assert plan_build(BUILT, {**BUILT, "reference_fetches": "1:1"}).select == ("source:massive+",)


def test_code_settings_other_builds_and_dropped_relations_build_everything_with_unit_tests_and_views():
    for key in ("project", "build", "relations"):
        plan = plan_build(BUILT, {**BUILT, key: "other"}).keeping(KEPT)
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
    with ProjectParse() as parse:
        assert parse.manifest(project_marker(cfg, REPO)) is None  # not started: nothing to land
        parse.start(cfg)
        assert os.environ["TBP_LOOKBACK_DAYS"] == str(cfg.pipeline.lookback_days)  # dbt's settings, set here
        manifest = parse.manifest(project_marker(cfg, REPO))
        assert "model.tickerbars.fct_daily_bars" in manifest.nodes
        assert parse.manifest("a project changed while the extract ran") is None
        parse.start(cfg)
        again = parse.manifest(project_marker(cfg, REPO))  # the same project: not parsed again, a copy for each build
        assert again is not manifest and again.nodes.keys() == manifest.nodes.keys()

        longer = replace(cfg, pipeline=replace(cfg.pipeline, lookback_days=cfg.pipeline.lookback_days + 1))
        parse.start(longer)  # a setting dbt sees changed: parsed again, under it
        assert os.environ["TBP_LOOKBACK_DAYS"] == str(longer.pipeline.lookback_days)
        assert parse.manifest(project_marker(cfg, REPO)) is None
        assert parse.manifest(project_marker(longer, REPO)) is not None
    assert "TBP_LOOKBACK_DAYS" not in os.environ


def test_the_project_marker_leaves_out_hidden_files_and_backups_and_reads_the_profile(
    make_config, tmp_path, monkeypatch
):
    project = tmp_path / "project"
    shutil.copytree(REPO / "dbt_project", project / "dbt_project")
    shutil.copy(REPO / "dbt_project.yml", project)
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    (tmp_path / "profiles.yml").write_text("tbp: {}\n")
    cfg = make_config()
    marker = project_marker(cfg, project)
    (project / "dbt_project" / "models" / ".fct_daily_bars.sql.swp").write_text("editing")
    (project / "dbt_project" / "models" / "notes.md~").write_text("a backup")
    assert project_marker(cfg, project) == marker
    (tmp_path / "profiles.yml").write_text("tbp: {target: other}\n")
    assert project_marker(cfg, project) != marker


class Config(SimpleNamespace):
    def get(self, key, default=None):
        return getattr(self, key, default)


def model(name: str, materialized: str, *parents: str, full_refresh: bool | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        name=name,
        unique_id=f"model.p.{name}",
        resource_type="model",
        schema="Analytics",
        alias=None,
        config=Config(materialized=materialized, full_refresh=full_refresh),
        depends_on=SimpleNamespace(nodes=[f"model.p.{parent}" for parent in parents]),
    )


def test_a_build_of_changed_data_keeps_the_views_with_no_table_upstream():
    """A table is replaced by its build, and PostgreSQL drops the views that read it (through other views too); so
    is an incremental model set to full_refresh."""
    nodes = [
        model("stg_a", "view"),
        model("int_a", "incremental", "stg_a"),
        model("int_a_view", "view", "int_a"),
        model("fct_a", "table", "int_a_view"),
        model("fct_a_view", "view", "fct_a"),
        model("fct_a_view_of_view", "view", "fct_a_view"),
        model("fct_b_view", "view", "stg_a", "fct_a"),
        model("int_c", "incremental", "stg_a", full_refresh=True),
        model("int_c_view", "view", "int_c"),
    ]
    test = SimpleNamespace(resource_type="test", depends_on=SimpleNamespace(nodes=["model.p.int_a", "source.p.s"]))
    manifest = SimpleNamespace(nodes={node.unique_id: node for node in nodes} | {"test.p.t": test})
    kept = views_kept(manifest)
    assert kept.relations == {"int_a_view": ("analytics", "int_a_view"), "stg_a": ("analytics", "stg_a")}
    assert kept.tested_models == {"int_a"}
    assert kept.missing({("analytics", "stg_a")}) == ["analytics.int_a_view"]
