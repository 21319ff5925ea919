"""Run `tbp-extract` and write its wall time and peak RSS as JSON to $BENCH_RESULT.

Peak RSS is VmHWM from /proc/self/status: ru_maxrss would carry over the forking parent's size across exec.
"""

import json
import os
import sys
import time
from pathlib import Path

from extract.cli import main


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


started = time.perf_counter()
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code or 0
finally:
    with open(os.environ["BENCH_RESULT"], "w") as out:
        json.dump({"seconds": time.perf_counter() - started, "exit_code": code, "max_rss_mb": peak_rss_mb()}, out)
sys.exit(code)
