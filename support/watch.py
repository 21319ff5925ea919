"""`tbp-extract watch` in its own process (signals are the way to stop it), read one update at a time, for the tests
and the benchmark. Its output is gathered by a thread, so that a watch that hangs fails the caller instead of
stopping it."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

UPDATE_DONE = re.compile(r"watch: update exit (\d+) in ([\d.]+)s; next at ")


@dataclass(frozen=True)
class Update:
    code: int
    seconds: float
    lines: list[str]

    def landed_files(self) -> bool:
        return any(line.startswith("loaded ") and not line.startswith("loaded 0 files") for line in self.lines)


class WatchProcess:
    def __init__(self, arguments: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "extract", "watch", *arguments],
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def tail(self) -> str:
        return "\n".join(self.output[-80:])

    def next_update(self, timeout: float = 600) -> Update:
        """The next update's exit code, its own seconds and its lines; AssertionError when the watch ends or prints
        nothing for `timeout` seconds."""
        lines = []
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"watch printed nothing for {timeout:.0f}s:\n{self.tail()}") from None
            if line is None:
                raise AssertionError(f"watch ended:\n{self.tail()}")
            self.output.append(line)
            lines.append(line)
            if done := UPDATE_DONE.match(line):
                return Update(int(done[1]), float(done[2]), lines)

    def update_where(self, wanted, tries: int = 20) -> Update:
        """The first of the next updates for which wanted(update) holds (a file written, or a configuration
        edited, while an update runs counts from the next)."""
        for _ in range(tries):
            if wanted(update := self.next_update()):
                return update
        raise AssertionError(f"no update as wanted in {tries}:\n{self.tail()}")

    def stop(self, timeout: float = 600) -> int:
        """SIGTERM, then its exit code (killed, and AssertionError, when it does not end within `timeout`)."""
        self.process.terminate()
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"watch still running {timeout:.0f}s after SIGTERM:\n{self.tail()}") from None
        while (line := self._lines.get(timeout=10)) is not None:
            self.output.append(line)
        return code
