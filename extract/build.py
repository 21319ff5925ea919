"""The everyday run's build: dbt over only what changed since the last good build, in this process.

What a build reads is summed up as markers: per dataset the count and newest id of its loads, the reference
fetches, the instruments, datasets and calendar days as the extractor wrote them, the dbt project's files and settings,
the newest dbt invocation and the relations in the project's schemas. Equal markers: nothing to build. Changed data
alone: the models and data tests downstream of the sources that changed, all but the views that need no new build.
Anything else (code, settings, a build by other hands, a relation dropped by hand): the whole project, unit tests
included. The markers are stored only after dbt succeeds, so a failed build is redone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from extract.config import Config
from extract.datasets import DEFAULT_DATASET, registry
from extract.environments import dbt_environment
from extract.errors import BuildError, ConfigError
from extract.land.common import CALENDAR_DAY_COLUMNS, DATASET_COLUMNS

log = logging.getLogger("extract")
# Their versions decide what the project's SQL becomes (the adapters' macros).
DBT_PACKAGES = ("dbt-core", "dbt-adapters", "dbt-duckdb", "dbt-postgres")
# A marker's kind -> the dbt nodes that read what it sums up.
DATA_SELECTORS = {
    "loads": "source:polygon+",
    "reference_fetches": "source:massive+",
    "instruments": "source:reference.instruments+",
    "datasets": "source:reference.datasets+",
    "calendar_days": "source:reference.calendar_days+",
}
# Landing tables whose models take new file versions only and read no more of the calendar days than the calendar
# (not which files are due): when none of their datasets' loads changed and only loads and calendar days did, they
# have nothing to build. The day models count the days whose file is due (coverage), so they are not among them.
SESSION_BLIND_MODELS = {
    # not stg_polygon__minute_aggs+: the day chain reads the minute bars too (a ticker's first bar)
    "minute_aggs": (
        "stg_polygon__minute_aggs",
        "int_minute_aggs__checked",
        "int_minute_aggs__first_dates",
        "int_minute_aggs__tickers_read",
        "int_minute_bars__by_instrument+",
    ),
}
# The reference tables as the models read them (instruments.updated_at says when the list last changed).
REFERENCE_COLUMNS = {
    "instruments": "ticker, name, type, exchange, sector, active, previous_tickers",
    "datasets": DATASET_COLUMNS,
    "calendar_days": CALENDAR_DAY_COLUMNS,
}


@dataclass(frozen=True)
class BuildPlan:
    """What a build must cover: nothing (select is None), some sources' descendants, or everything (select ()).
    A build of changed data leaves out `exclude` (models, with their data tests) and, given the parsed project,
    `kept_views` (the views alone: their data tests still run, on the data that changed)."""

    changed: tuple[str, ...]
    select: tuple[str, ...] | None
    exclude: tuple[str, ...] = ()
    kept_views: tuple[str, ...] = ()
    excluded_tests: tuple[str, ...] = ()

    @property
    def arguments(self) -> list[str]:
        if not self.select:
            return ["build"]
        excluded = [*self.exclude, *self.excluded_tests, *self.kept_views]
        # without views left out, a test goes with its models (eager); with them, it is chosen by being downstream
        # of what changed (empty), so the tests of a kept view stay and those of a left-out model go by name
        selection = ["--indirect-selection", "empty"] if self.kept_views else []
        return [
            "build",
            "--select",
            *self.select,
            *(["--exclude", *excluded] if excluded else []),
            "--exclude-resource-type",
            "unit_test",
            *selection,
        ]

    def keeping(self, views: KeptViews) -> BuildPlan:
        if not self.select or not views.relations:
            return self
        tests = tuple(f"{model}+1,resource_type:test" for model in self.exclude if model in views.tested_models)
        return replace(self, kept_views=tuple(sorted(views.relations)), excluded_tests=tests)

    def line(self) -> str:
        if self.select is None:
            return "build: nothing new since the last build, skipped"
        scope = "the whole project" if not self.select else " ".join(self.select)
        if self.exclude:
            scope += f" except {' '.join(self.exclude)}"
        if self.kept_views:
            scope += ", views kept as they are"
        return f"build: {scope} ({', '.join(self.changed) + ' changed' if self.changed else 'first build'})"


@dataclass(frozen=True)
class KeptViews:
    """The views a build of changed data need not create again (name -> schema and name in the warehouse), and the
    models that have data tests."""

    relations: dict[str, tuple[str, str]]
    tested_models: frozenset[str]

    def missing(self, relations: set[tuple[str, str]]) -> list[str]:
        return sorted(f"{schema}.{name}" for schema, name in self.relations.values() if (schema, name) not in relations)


def views_kept(manifest) -> KeptViews:
    """Views whose SQL is the project's, unchanged, and that no build drops: no model upstream of them is replaced by
    its build, as a table is (PostgreSQL drops the views that read a table with it) and an incremental model set to
    full_refresh. Incremental models are otherwise updated in place."""
    models = {uid: node for uid, node in manifest.nodes.items() if node.resource_type == "model"}
    replaced: dict[str, bool] = {}

    def is_replaced(node) -> bool:
        materialized = node.config.materialized
        return materialized not in ("view", "incremental") or bool(node.config.get("full_refresh"))

    def reads_a_replaced_model(uid: str) -> bool:
        if uid not in replaced:
            parents = [models[parent] for parent in models[uid].depends_on.nodes if parent in models]
            replaced[uid] = any(is_replaced(parent) or reads_a_replaced_model(parent.unique_id) for parent in parents)
        return replaced[uid]

    tested = {
        models[parent].name
        for node in manifest.nodes.values()
        if node.resource_type == "test"
        for parent in node.depends_on.nodes
        if parent in models
    }
    return KeptViews(
        {
            node.name: (node.schema.lower(), (node.alias or node.name).lower())
            for uid, node in models.items()
            if node.config.materialized == "view" and not reads_a_replaced_model(uid)
        },
        frozenset(tested),
    )


def project_dir() -> Path:
    """dbt's project: the folder the command runs in, as for `tbp-extract dbt`."""
    here = Path.cwd()
    if not (here / "dbt_project.yml").is_file():
        raise ConfigError(f"no dbt_project.yml in {here}: run tbp-extract update from the project's folder")
    return here


def project_marker(cfg: Config, project: Path) -> str:
    """The dbt project's files, the profile, the settings dbt sees (secrets aside) and the versions of dbt and its
    adapters. Hidden files and editors' backups are no part of it; a file that goes while it is read is skipped."""
    digest = hashlib.sha256()
    models = (path for path in (project / "dbt_project").rglob("*") if _is_project_file(path.relative_to(project)))
    for path in [project / "dbt_project.yml", profiles_file(project), *sorted(models)]:
        with suppress(FileNotFoundError, IsADirectoryError):
            content = path.read_bytes()
            digest.update((path.relative_to(project) if path.is_relative_to(project) else path).as_posix().encode())
            digest.update(content)
    digest.update(json.dumps(dbt_environment(cfg), sort_keys=True).encode())
    for package in DBT_PACKAGES:
        with suppress(PackageNotFoundError):
            digest.update(f"{package} {version(package)}".encode())
    return digest.hexdigest()


def _is_project_file(path: Path) -> bool:
    return not any(part.startswith(".") or part.endswith("~") for part in path.parts)


def profiles_file(project: Path) -> Path:
    """The profiles.yml dbt reads: $DBT_PROFILES_DIR's, else the project folder's, else ~/.dbt's."""
    if folder := os.environ.get("DBT_PROFILES_DIR"):
        return Path(folder) / "profiles.yml"
    beside = project / "profiles.yml"
    return beside if beside.is_file() else Path.home() / ".dbt" / "profiles.yml"


def _rows_marker(rows: list[tuple]) -> str:
    return hashlib.sha256(repr(sorted(tuple(map(str, row)) for row in rows)).encode()).hexdigest()


def newest_build(warehouse) -> str | None:
    """The newest dbt invocation's id (build_runs, which dbt's on-run-end hook writes), None before any."""
    if not warehouse.has_table("build_runs"):
        return None
    newest = f"select invocation_id from {warehouse.schema}.build_runs order by finished_at desc limit 1"
    rows = warehouse.execute(newest)
    return rows[0][0] if rows else None


def project_relations(warehouse, cfg: Config) -> list[tuple]:
    """The tables and views in the project's schemas (the analytics schema and those named after it)."""
    schema = cfg.database.analytics_schema
    return warehouse.execute(
        "select lower(table_schema), lower(table_name), table_type from information_schema.tables "
        f"where table_schema = {warehouse.placeholder} or starts_with(table_schema, {warehouse.placeholder})",
        [schema, f"{schema}_"],
    )


def build_markers(warehouse, relations: list[tuple]) -> dict[str, str]:
    """What the last build left: the newest dbt invocation and the relations in the project's schemas."""
    return {"build": str(newest_build(warehouse)), "relations": _rows_marker(relations)}


def read_markers(warehouse, cfg: Config, project: Path) -> dict[str, str]:
    schema = warehouse.schema
    markers = {"project": project_marker(cfg, project), **build_markers(warehouse, project_relations(warehouse, cfg))}
    for dataset, count, newest in warehouse.execute(
        f"select coalesce(dataset, '{DEFAULT_DATASET}'), count(*), max(load_id) from {schema}.load_manifest group by 1"
    ):
        markers[f"loads:{dataset}"] = f"{count}:{newest}"
    count, newest = warehouse.execute(f"select count(*), max(fetch_id) from {schema}.reference_fetches")[0]
    markers["reference_fetches"] = f"{count}:{newest}"
    for table, columns in REFERENCE_COLUMNS.items():
        markers[table] = _rows_marker(warehouse.execute(f"select {columns} from {schema}.{table}"))
    return markers


def plan_build(built: dict[str, str] | None, now: dict[str, str]) -> BuildPlan:
    if built is None:
        return BuildPlan((), ())
    changed = tuple(sorted(key for key in built.keys() | now.keys() if built.get(key) != now.get(key)))
    if not changed:
        return BuildPlan((), None)
    kinds = {key.split(":")[0] for key in changed}
    if not kinds <= DATA_SELECTORS.keys():
        return BuildPlan(changed, ())
    select = tuple(sorted(DATA_SELECTORS[kind] for kind in kinds))
    return BuildPlan(changed, select, _untouched_models(changed, kinds))


def _untouched_models(changed: tuple[str, ...], kinds: set[str]) -> tuple[str, ...]:
    if not kinds <= {"loads", "calendar_days"}:
        return ()
    datasets = registry()
    loaded = [datasets.get(key.split(":", 1)[1]) for key in changed if key.startswith("loads:")]
    if None in loaded:  # a dataset this version does not know: leave nothing out
        return ()
    touched = {dataset.landing_table for dataset in loaded}
    return tuple(model for table, models in SESSION_BLIND_MODELS.items() if table not in touched for model in models)


def stored_markers(warehouse, stage: str) -> dict[str, str] | None:
    rows = warehouse.execute(
        f"select markers from {warehouse.schema}.build_state where stage = {warehouse.placeholder}", [stage]
    )
    return json.loads(rows[0][0]) if rows else None


def store_markers(warehouse, stage: str, markers: dict[str, str]) -> None:
    values = ", ".join([warehouse.placeholder] * 3)
    warehouse.write_together(
        [
            (f"delete from {warehouse.schema}.build_state where stage = {warehouse.placeholder}", [[stage]]),
            (
                f"insert into {warehouse.schema}.build_state (stage, markers, recorded_at) values ({values})",
                [[stage, json.dumps(markers, sort_keys=True), datetime.now(UTC)]],
            ),
        ]
    )


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _release_adapters() -> None:
    """dbt keeps its adapters open in the process after a command, and dbt-duckdb its database (keep_open, a
    class attribute it has no public way to close): the lake and the extract must open the warehouse with their
    own settings."""
    from dbt.adapters.factory import reset_adapters

    reset_adapters()
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        environment, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if environment is not None:
        environment.close()


class ProjectParse:
    """dbt imported and the project parsed in a thread while the extract lands its files, so that the build after it
    starts at once (import and parse are about 1.5 s of the everyday run). `update` starts it only when there are
    files to land (a run with nothing new imports nothing); `watch` keeps it from one update to the next and parses
    again only when the project, the profile or dbt's settings changed, or when the last parse failed. dbt's
    settings are set here, in the calling thread, for as long as the parse may serve (the extract's threads read
    none of them) and put back when the `with` block ends; a parse is used only if the project is still the one it
    read."""

    def __init__(self) -> None:
        self._parsed: Future | None = None
        self._project: str | None = None
        self._settings = ExitStack()

    def __enter__(self) -> ProjectParse:
        return self

    def __exit__(self, *_exc) -> None:
        self._settings.close()

    def start(self, cfg: Config) -> None:
        here = Path.cwd()
        if not (here / "dbt_project.yml").is_file():  # the build says what is wrong
            return
        project = project_marker(cfg, here)
        if self._parsed is not None and project == self._project:
            return
        if self._parsed is not None:
            wait([self._parsed])  # it reads the settings about to change
        self._settings.close()
        self._settings.enter_context(_environment(dbt_environment(cfg, with_secrets=True)))
        self._project = project
        pool = ThreadPoolExecutor(1, thread_name_prefix="dbt-parse")
        self._parsed = pool.submit(_parse_project)
        pool.shutdown(wait=False)

    def manifest(self, project: str):
        """A copy of the parsed project if `project` (the marker of the project now) is the one it parsed, else None
        (also when not started or the parse failed: the build parses again and says why, the next start parses
        again). Waits for a parse still running: it reads dbt's settings, which the build sets again."""
        if self._parsed is None:
            return None
        try:
            parsed = self._parsed.result()
        except Exception as exc:  # only time is lost: the build's own parse reports what is wrong
            log.info("dbt's parse beside the extract failed (%s): the build parses the project itself", exc)
            parsed = None
        if parsed is None:
            self._parsed = None
        # a copy for each build: dbt's compile changes nodes in place (ephemeral CTEs injected, constraints resolved)
        return parsed.deepcopy() if parsed is not None and project == self._project else None


def _parse_project():
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(["parse", "--no-write-json", "--quiet", *_file_log_level()])
    return result.result if result.success else None


def _file_log_level() -> list[str]:
    """logs/dbt.log of the everyday run keeps INFO (each node, its outcome, errors), not a DEBUG line for each
    statement: 0.3 s less over ~90 nodes. DBT_LOG_LEVEL_FILE set by hand decides instead."""
    return [] if "DBT_LOG_LEVEL_FILE" in os.environ else ["--log-level-file", "info"]


def run_dbt_here(cfg: Config, arguments: list[str], manifest=None) -> None:
    """dbt in this process (no second interpreter, no second import of everything), from a parsed manifest when
    given: raises BuildError when a model or test fails."""
    from dbt.cli.main import dbtRunner

    with _environment(dbt_environment(cfg, with_secrets=True)):
        try:
            # the everyday run reads dbt's answer (and build_runs), not target/*.json: 0.3-0.5 s less
            result = dbtRunner(manifest=manifest).invoke([*arguments, "--no-write-json", *_file_log_level()])
        finally:
            _release_adapters()
    if result.exception is not None:
        raise BuildError(f"dbt {' '.join(arguments)} could not run: {result.exception}")
    if not result.success:
        raise BuildError(f"dbt {' '.join(arguments)} failed: see its output above (and logs/dbt.log)")


def build_and_publish(cfg: Config, echo: Callable[[str], None], parse: ProjectParse | None = None) -> None:
    """dbt build of what changed since the last good build (none when nothing did), then the lake, unless it
    already holds that build."""
    from extract.orchestration import publish_lake
    from extract.run import open_warehouse

    project = project_dir()
    with open_warehouse(cfg) as warehouse:
        markers = read_markers(warehouse, cfg, project)
        plan = plan_build(stored_markers(warehouse, "built"), markers)
        published = stored_markers(warehouse, "published")
    manifest = parse.manifest(markers["project"]) if parse and plan.select is not None else None
    if plan.select is not None:
        log.info("dbt %s", "builds from the project parsed beside it" if manifest else "parses the project itself")
    kept = views_kept(manifest) if manifest is not None else KeptViews({}, frozenset())
    plan = plan.keeping(kept)
    echo(plan.line())
    if plan.select is not None:
        run_dbt_here(cfg, plan.arguments, manifest)
        with open_warehouse(cfg) as warehouse:
            relations = project_relations(warehouse, cfg)
            if missing := kept.missing({(schema, name) for schema, name, _type in relations}):
                raise BuildError(
                    f"the build left views out, and {', '.join(missing)} went missing during it: the next update "
                    "builds the whole project"
                )
            markers.update(build_markers(warehouse, relations))
            store_markers(warehouse, "built", markers)
    lake = {**markers, "lake": cfg.pipeline.lake_location}
    if published == lake:
        echo(f"lake {cfg.pipeline.lake_location}: holds this build already, not published")
        return
    echo(publish_lake(cfg).line())
    with open_warehouse(cfg) as warehouse:
        store_markers(warehouse, "published", lake)
