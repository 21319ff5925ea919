"""Run `tbp-extract` and write its wall time and peak RSS as JSON to $BENCH_RESULT."""

import json
import os
import resource
import sys
import time

from extract.cli import main

started = time.perf_counter()
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code or 0
finally:
    with open(os.environ["BENCH_RESULT"], "w") as out:
        json.dump(
            {
                "seconds": time.perf_counter() - started,
                "exit_code": code,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            },
            out,
        )
sys.exit(code)
