"""``stdbp compare``'s child processes never outlive the parent that spawned them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import time
from stdbp_plugin.compare.runner import run_isolated
run_isolated(time.sleep, 120.0)
"""


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        child_file = task / "children"
        found += [int(c) for c in child_file.read_text().split()] if child_file.exists() else []
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_child_stops_when_the_parent_is_killed():
    """SIGKILL leaves the parent no cleanup; the child notices and exits within a second."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env)
    kids: list[int] = []
    try:
        assert _wait(lambda: _children(parent.pid), 60), "the child never started"
        time.sleep(1.0)  # the child's watcher is running
        kids = _children(parent.pid)
        assert any(_alive(k) for k in kids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait(lambda: not any(_alive(k) for k in kids), 10), "an orphan kept running"
    finally:
        parent.kill()
        for kid in filter(_alive, kids):
            os.kill(kid, signal.SIGKILL)
