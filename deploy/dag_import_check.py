"""Run by the Airflow environment's python: parse a DAG folder as the scheduler would, and fail (exit 1, one line
a problem) on any import error or a missing DAG.

    python deploy/dag_import_check.py DAG_FOLDER DAG_ID...
"""

import sys

from airflow.dag_processing.dagbag import DagBag


def main(folder: str, expected: list[str]) -> int:
    bag = DagBag(folder)
    problems = [f"{path}: {error.strip().splitlines()[-1]}" for path, error in bag.import_errors.items()]
    problems += [f"DAG {dag_id} missing from {folder}" for dag_id in expected if dag_id not in bag.dags]
    for problem in problems:
        print(f"import check: {problem}", file=sys.stderr)
    print(f"import check: {len(bag.dags)} DAGs, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
