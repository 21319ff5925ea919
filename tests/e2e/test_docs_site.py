"""The dbt docs site: generated, served by `dbt docs serve`, and read in headless Chromium like a person would."""

import re
import shutil
import socket
import subprocess
import time

import pytest

from extract.run import RunOptions, run_extract
from support.pgcluster import free_port
from tests.conftest import REPO, SMALL_END, SMALL_START

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts"
# Chromium's own calls home are refused on a closed network; these flags keep it to the page under test.
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=20000",
]


def wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port}")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is missing: `make test` installs it as root")
def test_the_docs_site_shows_fct_daily_bars_with_its_description_columns_and_lineage(
    make_config, small_mirror, base_env, run_dbt, dbt_executable, tmp_path
):
    run_extract(make_config(**base_env, TBP_SOURCE=str(small_mirror)), RunOptions(start=SMALL_START, end=SMALL_END))
    run_dbt(["build"], base_env)
    run_dbt(["docs", "generate"], base_env)
    port = free_port()
    server = subprocess.Popen(
        [
            dbt_executable,
            "docs",
            "serve",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--no-browser",
            "--project-dir",
            str(REPO),
            "--profiles-dir",
            str(tmp_path / "dbt_profiles"),
            "--target-path",
            str(tmp_path / "dbt_target"),
        ],
        env=base_env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}/#!/model/model.tickerbars.fct_daily_bars"
        profile = ["--user-data-dir=" + str(tmp_path / "chromium")]
        dom = subprocess.run(
            [CHROMIUM, *HEADLESS, *profile, "--dump-dom", url], capture_output=True, text=True, timeout=180
        ).stdout
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "docs_fct_daily_bars.png"
        subprocess.run(
            [CHROMIUM, *HEADLESS, *profile, "--window-size=1400,1800", f"--screenshot={screenshot}", url],
            capture_output=True,
            timeout=180,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert "One clean daily bar per active configured ticker and session" in dom
    cells = set(re.findall(r">\s*([a-z_]+)\s*<", dom))
    assert {"ticker", "trade_date", "open", "high", "low", "close", "volume", "transactions", "source_etag"} <= cells
    assert "Session date (New York)." in dom and "Traded volume (may be fractional)." in dom
    assert "int_day_aggs__checked" in dom and "dim_instruments" in dom  # what it depends on
    assert "fct_ticker_coverage" in dom  # what depends on it
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
