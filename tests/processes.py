"""Child processes of a running command, read from /proc (Linux), for the interrupt tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def children(pid: int) -> list[int]:
    """The pids of pid's direct children (every thread's /proc/<pid>/task/*/children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        child_file = task / "children"
        found += [int(c) for c in child_file.read_text().split()] if child_file.exists() else []
    return found


def alive(pid: int) -> bool:
    """Whether pid runs (exists and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_until(condition: Callable[[], object], timeout: float, poll: float = 0.1) -> bool:
    """Polls condition() until it is true (True) or timeout seconds pass (False)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(poll)
    return True
