"""Runs in its own process, with AIRFLOW_HOME and the DAGs folder set by the caller, and prints JSON.

python -m tests.airflow_harness structure          -> import errors and each DAG's tasks and edges
python -m tests.airflow_harness test DAG_ID DATE    -> dag.test() at that logical date; the run's task states
(TBP_HARNESS_RETRIES=N gives every task N retries, so that a test of a failure does not wait out retry delays)
"""

import json
import os
import sys

import pendulum
from airflow.dag_processing.dagbag import DagBag


def structure(bag: DagBag) -> dict:
    return {
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dags": {
            dag_id: {
                "tasks": sorted(dag.task_ids),
                "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids),
                "schedule": f"{getattr(dag.timetable, '_expression', None)} {getattr(dag.timetable, '_timezone', '')}",
                "retries": {t.task_id: t.retries for t in dag.tasks},
            }
            for dag_id, dag in bag.dags.items()
        },
    }


def run(bag: DagBag, dag_id: str, day: str) -> dict:
    dag = bag.get_dag(dag_id)
    if "TBP_HARNESS_RETRIES" in os.environ:
        for task in dag.tasks:
            task.retries = int(os.environ["TBP_HARNESS_RETRIES"])
    logical = pendulum.parse(day, tz="America/New_York").replace(hour=20, minute=30)
    dag_run = dag.test(logical_date=logical)
    return {"state": str(dag_run.state), "tasks": {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}}


if __name__ == "__main__":
    bag = DagBag(sys.argv[-1] if sys.argv[1] == "structure" and len(sys.argv) > 2 else None)
    result = structure(bag) if sys.argv[1] == "structure" else run(bag, sys.argv[2], sys.argv[3])
    print("HARNESS-RESULT " + json.dumps(result, default=str))
