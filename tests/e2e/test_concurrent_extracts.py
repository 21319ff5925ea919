"""Two extracts started at once on the same warehouse: one waits for the other, and no row lands twice."""

import subprocess
import sys

from tests.conftest import REPO, SMALL_END, SMALL_START, read_mirror_rows, warehouse_rows

WINDOW = ["run", "--start", str(SMALL_START), "--end", str(SMALL_END)]


def test_two_concurrent_extracts_load_every_file_once(target_env, small_mirror):
    env = {
        **target_env,
        "TBP_SOURCE": str(small_mirror),
        "TBP_CONFIG_DIR": str(REPO / "config"),
        "TBP_LOCK_TIMEOUT_SECONDS": "120",
    }
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "extract", *WINDOW],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted("loaded 41 files" in out for out in outputs) == [False, True]
    assert any("loaded 0 files" in out for out in outputs)
    rows = warehouse_rows(env, "select count(*), count(distinct (ticker, file_date)) from landing.day_aggs")
    assert rows == [(len(read_mirror_rows(small_mirror)),) * 2]
    assert warehouse_rows(env, "select count(*) from landing.load_manifest") == [(41,)]
