"""Deploy a release of tickerbars into an Airflow environment, and roll back to the previous one when any step fails.

    python -m deploy.release --environment staging [--airflow-home DIR] [--airflow-python PATH] [--source DIR]

Layout, under $AIRFLOW_HOME/tickerbars (--root):

    releases/<id>/site-packages   the pinned package (the wheel built from --source), installed without its deps
    releases/<id>/project         the dbt project, config/ and profiles
    releases/<id>/dags            the DAG files of the release
    releases/<id>/release.json    version, commit, environment, time
    current -> releases/<id>      the live release (switched atomically)
    history.log                   one line a deploy: deployed, or failed and rolled back

The Airflow environment reads PYTHONPATH=<root>/current/site-packages:<dags folder>/tickerbars,
TBP_PROJECT_DIR=<root>/current/project, TBP_CONFIG_DIR=<root>/current/project/config and TBP_ENVIRONMENT; the
DAGs are synced into <dags folder>/tickerbars. After the switch, `dbt parse` and a DAG import check run there, on
the live layout; when any step fails, `current` and the DAG folder go back to the previous release, which is
checked again.

Exit codes: 0 deployed; 1 a step failed (rolled back: the previous release is live, or none was); 2 bad arguments
or configuration; 3 the Airflow home, its Python or the source could not be used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click

from extract.config import environments

PROJECT_FILES = ("dbt_project.yml", "profiles.example.yml", "dbt_project", "config")
EXPECTED_DAGS = ("tickerbars_backfill", "tickerbars_daily", "tickerbars_quality")
KEPT_RELEASES = 5
DAG_CHECK = Path(__file__).with_name("dag_import_check.py")


class DeployError(Exception):
    """A step failed; `step` names it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


class SetupError(Exception):
    """The Airflow home, its Python or the source cannot be used (exit 3)."""


@dataclass(frozen=True)
class Target:
    """Where a release goes: an Airflow environment and the tickerbars environment it runs."""

    environment: str
    airflow_home: Path
    airflow_python: Path
    root: Path
    dags_folder: Path

    @property
    def current(self) -> Path:
        return self.root / "current"

    def airflow_env(self, release: Path) -> dict[str, str]:
        """The variables the Airflow processes of this environment need, pointed at a release."""
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # The DAG files import their sibling tickerbars_common: their folder is on the path too.
            "PYTHONPATH": os.pathsep.join([str(release / "site-packages"), str(self.dags_folder / "tickerbars")]),
            "TBP_PROJECT_DIR": str(release / "project"),
            "TBP_CONFIG_DIR": str(release / "project" / "config"),
            "TBP_ENVIRONMENT": self.environment,
            "TBP_DBT_EXECUTABLE": str(self.airflow_python.with_name("dbt")),
        }


def _run(step: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-12:]
        raise DeployError(step, " | ".join(tail) or f"exit code {result.returncode}")
    return result.stdout


def release_id(source: Path) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=source, capture_output=True, text=True)
    sha = commit.stdout.strip() if commit.returncode == 0 else "nogit"
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{sha}-{uuid.uuid4().hex[:4]}"


def build_release(target: Target, source: Path, release: Path) -> dict:
    """Build the wheel, install it pinned into the release, copy the project and the DAGs."""
    wheels = release / "wheel"
    _run("build", [str(target.airflow_python), "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)])
    [wheel] = sorted(wheels.glob("*.whl"))
    _run(
        "install",
        [
            str(target.airflow_python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(release / "site-packages"),
            str(wheel),
        ],
    )
    project = release / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        copy = shutil.copytree if (source / name).is_dir() else shutil.copy2
        copy(source / name, project / name)
    shutil.copy2(source / "profiles.example.yml", project / "profiles.yml")
    shutil.copytree(source / "airflow" / "dags", release / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    info = {
        "id": release.name,
        "wheel": wheel.name,
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "environment": target.environment,
        "built_at": f"{datetime.now(UTC):%FT%TZ}",
    }
    (release / "release.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def switch(target: Target, release: Path) -> None:
    """Point `current` at the release atomically, then sync its DAGs into the DAG folder."""
    link = target.root / f".current-{uuid.uuid4().hex[:6]}"
    link.symlink_to(release.relative_to(target.root))
    os.replace(link, target.current)
    sync_dags(release / "dags", target.dags_folder / "tickerbars")


def sync_dags(source: Path, destination: Path) -> None:
    """The destination holds exactly the source's DAG files: written aside, then swapped in."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tickerbars-", dir=destination.parent))
    shutil.copytree(source, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    old = destination.with_name(f".{destination.name}-old-{uuid.uuid4().hex[:6]}")
    if destination.exists():
        os.replace(destination, old)
    os.replace(staging, destination)
    shutil.rmtree(old, ignore_errors=True)


def check_live(target: Target) -> None:
    """dbt parse on the live project, then a DAG import check of the synced DAG folder, both with the live
    release's package on PYTHONPATH."""
    live = target.current.resolve()
    env = target.airflow_env(target.current)
    project = target.current / "project"
    dbt = str(target.airflow_python.with_name("dbt"))
    _run(
        "dbt parse",
        [
            dbt,
            "parse",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(live / "dbt-target"),
            "--log-path",
            str(live / "dbt-logs"),
        ],
        env={**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        cwd=project,
    )
    _run(
        "DAG import check",
        [str(target.airflow_python), str(DAG_CHECK), str(target.dags_folder / "tickerbars"), *EXPECTED_DAGS],
        env=env,
        cwd=live,
    )


def previous_release(target: Target) -> Path | None:
    return target.current.resolve() if target.current.is_symlink() else None


def deploy(target: Target, source: Path) -> tuple[str, str]:
    """Build, switch, check; on any failure switch back and check the previous release. (outcome, release id)"""
    previous = previous_release(target)
    release = target.root / "releases" / release_id(source)
    release.mkdir(parents=True)
    try:
        build_release(target, source, release)
        switch(target, release)
        check_live(target)
    except DeployError as exc:
        roll_back(target, previous)
        _history(target, f"{release.name} failed at {exc.step}; live: {previous.name if previous else 'none'}")
        raise
    _history(target, f"{release.name} deployed ({target.environment})")
    prune(target)
    return "deployed", release.name


def roll_back(target: Target, previous: Path | None) -> None:
    if previous is None:
        if target.current.is_symlink():
            target.current.unlink()
        shutil.rmtree(target.dags_folder / "tickerbars", ignore_errors=True)
        return
    switch(target, previous)
    try:
        check_live(target)
    except DeployError as exc:
        raise DeployError(f"{exc.step} of the previous release {previous.name}, after the rollback", str(exc)) from None


def prune(target: Target) -> None:
    """Keep the newest releases (the live one always)."""
    live = target.current.resolve()
    releases = sorted((target.root / "releases").iterdir(), key=lambda p: p.name)
    for old in releases[:-KEPT_RELEASES]:
        if old != live:
            shutil.rmtree(old, ignore_errors=True)


def _history(target: Target, line: str) -> None:
    with (target.root / "history.log").open("a") as log:
        log.write(f"{datetime.now(UTC):%FT%TZ} {line}\n")


def make_target(environment: str, airflow_home: Path, airflow_python: Path, root: Path | None) -> Target:
    """Check what the deploy needs before touching anything (SetupError: exit 3)."""
    if not airflow_python.is_file():
        raise SetupError(f"--airflow-python {airflow_python} does not exist (the Airflow environment's python)")
    if not airflow_python.with_name("dbt").is_file():
        raise SetupError(f"no dbt beside {airflow_python}: install tickerbars' dependencies in the Airflow env")
    airflow_home.mkdir(parents=True, exist_ok=True)
    if not os.access(airflow_home, os.W_OK):
        raise SetupError(f"AIRFLOW_HOME {airflow_home} is not writable")
    dags_folder = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or airflow_home / "dags")
    root = root or airflow_home / "tickerbars"
    (root / "releases").mkdir(parents=True, exist_ok=True)
    return Target(environment, airflow_home, airflow_python, root, dags_folder)


@click.command()
@click.option(
    "--environment", default=lambda: os.environ.get("TBP_ENVIRONMENT", "development"), show_default="$TBP_ENVIRONMENT"
)
@click.option(
    "--airflow-home", type=click.Path(file_okay=False, path_type=Path), default=lambda: os.environ.get("AIRFLOW_HOME")
)
@click.option(
    "--airflow-python",
    type=click.Path(dir_okay=False, path_type=Path),
    default=sys.executable,
    show_default="this python",
)
@click.option(
    "--root", type=click.Path(file_okay=False, path_type=Path), default=None, help="Default: $AIRFLOW_HOME/tickerbars."
)
@click.option(
    "--source", type=click.Path(file_okay=False, path_type=Path), default=Path.cwd, help="The checkout to release."
)
def main(environment, airflow_home, airflow_python, root, source) -> None:
    """Deploy the checkout into an Airflow environment; roll back when a step fails."""
    if not airflow_home:
        click.echo("error: set AIRFLOW_HOME (or --airflow-home): the Airflow environment to deploy into", err=True)
        sys.exit(2)
    known_environments = environments(source / "config")
    if environment not in known_environments:
        known = ", ".join(known_environments)
        click.echo(
            f"error: ENVIRONMENT={environment} has no config/environments/{environment}.yml (known: {known})", err=True
        )
        sys.exit(2)
    try:
        target = make_target(environment, Path(airflow_home).absolute(), airflow_python.absolute(), root)
        outcome, release = deploy(target, source.absolute())
    except SetupError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)
    except DeployError as exc:
        live = previous_release(target)
        click.echo(
            f"error: deploy failed at {exc}; rolled back, live release: {live.name if live else 'none'}", err=True
        )
        sys.exit(1)
    click.echo(f"{outcome} {release} to {target.current} ({environment}); DAGs in {target.dags_folder / 'tickerbars'}")


if __name__ == "__main__":
    main()
