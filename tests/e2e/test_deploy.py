"""The deploy script for real, into a temporary AIRFLOW_HOME with this environment's Airflow: a good release goes
live; a release whose DAG does not import, and one whose dbt project does not parse, are each rolled back to it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytest.importorskip("airflow", reason="install the [airflow] extra (make test does)")
SOURCE_FILES = (
    "pyproject.toml",
    "README.md",
    "extract",
    "tickerbars",
    "airflow",
    "dbt_project.yml",
    "dbt_project",
    "config",
    "profiles.example.yml",
)


def checkout(root: Path) -> Path:
    """A copy of what a release is built from, to break on purpose."""
    root.mkdir()
    for name in SOURCE_FILES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, root / name)
    return root


def deploy(source: Path, airflow_home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TBP_"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.release",
            "--environment",
            "staging",
            "--airflow-home",
            str(airflow_home),
            "--airflow-python",
            sys.executable,
            "--source",
            str(source),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def live(airflow_home: Path) -> str:
    return (airflow_home / "tickerbars" / "current").resolve().name


def synced_dags(airflow_home: Path) -> dict[str, str]:
    folder = airflow_home / "dags" / "tickerbars"
    return {p.name: p.read_text() for p in sorted(folder.glob("*.py"))}


def test_a_broken_release_is_rolled_back_to_the_previous_one(tmp_path):
    home, good = tmp_path / "airflow_home", checkout(tmp_path / "good")

    first = deploy(good, home)
    assert first.returncode == 0, first.stderr[-3000:]
    release = live(home)
    assert first.stdout.startswith(f"deployed {release} ")
    info = json.loads((home / "tickerbars" / "releases" / release / "release.json").read_text())
    assert info["wheel"] == "tickerbars_pipeline-0.1.0-py3-none-any.whl" and info["environment"] == "staging"
    assert (home / "tickerbars" / "current" / "site-packages" / "extract" / "config.py").is_file()
    dags = synced_dags(home)
    assert set(dags) == {
        "tickerbars_backfill.py",
        "tickerbars_common.py",
        "tickerbars_daily.py",
        "tickerbars_quality.py",
    }

    broken_dag = checkout(tmp_path / "broken-dag")
    daily = broken_dag / "airflow" / "dags" / "tickerbars_daily.py"
    daily.write_text(daily.read_text().replace("import pendulum\n", "import pendulum\nfrom extract import not_there\n"))
    second = deploy(broken_dag, home)
    assert second.returncode == 1
    [line] = second.stderr.strip().splitlines()
    assert line.startswith("error: deploy failed at DAG import check: ") and "not_there" in line
    assert line.endswith(f"rolled back, live release: {release}")
    assert live(home) == release and synced_dags(home) == dags

    broken_dbt = checkout(tmp_path / "broken-dbt")
    model = broken_dbt / "dbt_project" / "models" / "marts" / "fct_daily_bars.sql"
    model.write_text(model.read_text() + "\n{{ ref('no_such_model') }}\n")
    third = deploy(broken_dbt, home)
    assert third.returncode == 1 and "deploy failed at dbt parse" in third.stderr and "no_such_model" in third.stderr
    assert live(home) == release and synced_dags(home) == dags

    history = (home / "tickerbars" / "history.log").read_text().splitlines()
    assert [entry.split(" ", 2)[2] for entry in history[:1]] == ["deployed (staging)"]
    assert history[1].endswith(f"failed at DAG import check; live: {release}")
    assert history[2].endswith(f"failed at dbt parse; live: {release}")


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--environment", "qa"], 2, "error: ENVIRONMENT=qa has no config/environments/qa.yml (known: development, "),
        (["--airflow-python", "/nonexistent/python"], 3, "error: --airflow-python /nonexistent/python does not exist"),
    ],
)
def test_bad_arguments_are_one_line_and_touch_nothing(tmp_path, arguments, code, message):
    home = tmp_path / "airflow_home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TBP_"))}
    result = subprocess.run(
        [sys.executable, "-m", "deploy.release", "--airflow-home", str(home), "--source", str(REPO), *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == code
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert not (home / "tickerbars" / "current").exists()
