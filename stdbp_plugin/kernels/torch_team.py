"""Run the kernel's chunks on torch's own OpenMP thread team (no second thread pool).

torch's CPU ops run on an OpenMP team (``ATen parallel backend: OpenMP``) whose idle threads
spin-wait for the next op unless ``OMP_WAIT_POLICY=PASSIVE`` was set before torch loaded its
OpenMP runtime, which a package imported after torch cannot do. A kernel that brings its own
pool (numba's threading layer loads a second OpenMP runtime) then competes with torch's
spinning threads for the same cores between every pair of ops.

Here the chunks run on the threads that torch itself uses: the kernel opens a parallel region
of the OpenMP runtime that torch is linked against (``GOMP_parallel``, the entry point that a
compiler emits for ``#pragma omp parallel``; libgomp, LLVM's libomp and Intel's libiomp all
export it), found through torch's own extension module, so the lookup follows torch's
dependencies whatever else is loaded. The team is the one torch's next op reuses: its threads
are already awake after a torch op, and no thread outside it ever waits for a core. The work of
each thread is a numba function compiled with ``nogil=True``; the thread enters Python only to
call it.

That alone does not stop torch's threads from spinning after each of torch's own ops, which on
a loaded machine costs more than the kernel (measured: 2 to 2.5x the CPU per training step);
the first lookup therefore also makes libgomp's idle threads sleep (:func:`_limit_spinning`).

:func:`team` returns ``None`` when torch does not run on OpenMP or the runtime cannot be found;
the caller then falls back to numba's own parallel loop.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
from collections.abc import Callable

import torch

__all__ = ["Team", "team"]

_ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class Team:
    """``run(n_chunks, work)`` calls ``work(c)`` for c in range(n_chunks) on torch's team."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._parallel = lib.GOMP_parallel
        self._parallel.argtypes = [_ENTRY, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        self._parallel.restype = None
        self._thread_num = lib.omp_get_thread_num
        self._thread_num.restype = ctypes.c_int
        self._num_threads = lib.omp_get_num_threads
        self._num_threads.restype = ctypes.c_int
        self.max_threads = lib.omp_get_max_threads
        self.max_threads.restype = ctypes.c_int
        self._entry = _ENTRY(self._run_thread)  # kept alive as long as the Team
        self.spin_limited = False
        self._jobs: dict[int, tuple[int, Callable[[int], None], list[BaseException]]] = {}
        self._keys = itertools.count(1)
        self._lock = threading.Lock()

    def _run_thread(self, key: int) -> None:
        """One team thread: chunks tid, tid + team size, ... (all chunks, whatever the team)."""
        n_chunks, work, errors = self._jobs[key]
        try:
            for c in range(self._thread_num(), n_chunks, self._num_threads()):
                work(c)
        except BaseException as err:  # noqa: BLE001 - re-raised by run() in the caller
            errors.append(err)

    def run(self, n_chunks: int, work: Callable[[int], None]) -> None:
        """Blocks until every chunk has run; re-raises the first error of any thread."""
        errors: list[BaseException] = []
        with self._lock:
            key = next(self._keys)
            self._jobs[key] = (n_chunks, work, errors)
        try:
            # num_threads 0: the team size torch uses (its torch.set_num_threads), so that the
            # pool torch's next op reuses is neither shrunk nor grown
            self._parallel(self._entry, key, 0, 0)
        finally:
            with self._lock:
                del self._jobs[key]
        if errors:
            raise errors[0]


_TEAM: Team | None = None
_SEARCHED = False
_SPIN_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def _limit_spinning(lib: ctypes.CDLL) -> bool:
    """Make libgomp's idle threads sleep almost at once, as ``OMP_WAIT_POLICY=PASSIVE`` would
    have if it had been set before torch loaded the runtime.

    libgomp reads its wait policy once, when torch loads it, and has no call to change it. What
    it does document (GOMP_SPINCOUNT in its manual) is that when it manages more threads than
    there are CPUs, an undefined policy spins 100 times instead of 300,000 before sleeping. A
    parked thread that opened one parallel region of ``CPUs - torch threads + 2`` threads keeps
    that many threads managed (idle, asleep); torch's own ops then hand their cores back after
    each op. Measured (docs/speed.md): 2 to 2.5x less CPU per training step when torch was
    imported first, the same as with PASSIVE. Not done when the user set a wait policy or spin
    count, or for an OpenMP runtime other than libgomp.
    """
    if any(name in os.environ for name in _SPIN_ENV) or hasattr(lib, "kmp_set_blocktime"):
        return False
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    size = max(2, (cpus or 1) - torch.get_num_threads() + 2)
    noop = _ENTRY(lambda _: None)
    opened = threading.Event()

    def park() -> None:
        lib.GOMP_parallel(noop, None, size, 0)
        opened.set()
        threading.Event().wait()  # the region's threads stay managed while this thread lives

    threading.Thread(target=park, name="stdbp-omp-throttle", daemon=True).start()
    opened.wait(10.0)
    _KEEP.append(noop)
    return opened.is_set()


_KEEP: list = []


def _find() -> Team | None:
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        # dlsym through torch's extension module searches it and its dependencies, so the
        # OpenMP runtime found is the one torch is linked against, not another loaded copy
        lib = ctypes.CDLL(torch._C.__file__)
        found = Team(lib)
    except (OSError, AttributeError):
        return None
    if found.max_threads() != torch.get_num_threads():
        return None  # not the runtime torch's set_num_threads talks to
    found.spin_limited = _limit_spinning(lib)
    return found


def team() -> Team | None:
    """torch's OpenMP team, or ``None`` where torch is not on OpenMP or it cannot be found."""
    global _TEAM, _SEARCHED
    if not _SEARCHED:
        _TEAM = _find()
        _SEARCHED = True
    return _TEAM
