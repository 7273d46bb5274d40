"""``stdbp compare``'s child processes never outlive the parent that spawned them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import alive, children, wait_until

SCRIPT = """
import time
from stdbp_plugin.compare.runner import run_isolated
run_isolated(time.sleep, 120.0)
"""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_child_stops_when_the_parent_is_killed():
    """SIGKILL leaves the parent no cleanup; the child notices and exits within a second."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env)
    kids: list[int] = []
    try:
        assert wait_until(lambda: children(parent.pid), 60), "the child never started"
        time.sleep(1.0)  # the child's watcher is running
        kids = children(parent.pid)
        assert any(alive(k) for k in kids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_until(lambda: not any(alive(k) for k in kids), 10), "an orphan kept running"
    finally:
        parent.kill()
        for kid in filter(alive, kids):
            os.kill(kid, signal.SIGKILL)
