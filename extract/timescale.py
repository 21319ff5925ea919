"""TimescaleDB's background jobs (the compression policy): they fail in silence unless someone asks. This asks
timescaledb_information.job_stats and job_errors; on DuckDB, or PostgreSQL without the extension, there is nothing
to report."""

from __future__ import annotations

from dataclasses import dataclass

from extract.errors import WarehouseError

JOB_STATS = """
select s.job_id, j.proc_name, coalesce(j.hypertable_schema || '.' || j.hypertable_name, ''),
       coalesce(s.last_run_status, ''), coalesce(s.total_failures, 0), coalesce(s.total_runs, 0)
from timescaledb_information.job_stats s
join timescaledb_information.jobs j on j.job_id = s.job_id
order by s.job_id
"""
LAST_ERROR = """
select coalesce(err_message, '') from timescaledb_information.job_errors
where job_id = %s order by finish_time desc limit 1
"""


@dataclass(frozen=True)
class JobStat:
    job_id: int
    proc_name: str
    hypertable: str
    last_run_status: str
    total_failures: int
    total_runs: int
    last_error: str = ""

    @property
    def failing(self) -> bool:
        return self.last_run_status == "Failed"

    def problem(self) -> str:
        on = f" on {self.hypertable}" if self.hypertable else ""
        error = f"; last error: {self.last_error}" if self.last_error else ""
        return (
            f"TimescaleDB job {self.job_id} ({self.proc_name}{on}) failed its last run "
            f"({self.total_failures} of {self.total_runs} runs failed){error}"
        )


def timescaledb_installed(warehouse) -> bool:
    rows = warehouse.execute("select 1 from pg_extension where extname = 'timescaledb'")
    return bool(rows)


def job_stats(warehouse, target: str) -> list[JobStat]:
    """Every TimescaleDB job with statistics, each failing one with its last error; [] without TimescaleDB."""
    if target != "postgres" or not timescaledb_installed(warehouse):
        return []
    stats = [JobStat(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5])) for r in warehouse.execute(JOB_STATS)]
    return [_with_last_error(warehouse, stat) if stat.failing else stat for stat in stats]


def _with_last_error(warehouse, stat: JobStat) -> JobStat:
    try:
        rows = warehouse.execute(LAST_ERROR, [stat.job_id])
    except WarehouseError:  # job_errors came with TimescaleDB 2.12; older versions keep errors in the server log
        return stat
    message = rows[0][0] if rows else ""
    return JobStat(**{**stat.__dict__, "last_error": message})
