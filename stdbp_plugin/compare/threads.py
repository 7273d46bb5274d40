"""Fix the number of CPU threads of PyTorch (and numba) for fair timings.

The STDBP kernel splits its work by torch's count and runs it on torch's own OpenMP threads;
numba's count matters only where torch does not run on OpenMP (the kernel then falls back to
numba's thread pool), and is set alike so that both paths use ``n`` threads.
"""

from __future__ import annotations

import torch


def set_threads(n: int) -> tuple[int, int | None]:
    """torch.set_num_threads(n) and numba.set_num_threads(min(n, numba's pool size)).

    Returns the previous (torch, numba) thread counts, for ``restore_threads``.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int, got {n!r}")
    import numba  # a core dependency

    previous = (torch.get_num_threads(), numba.get_num_threads())
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    return previous


def restore_threads(previous: tuple[int, int | None]) -> None:
    """Undo ``set_threads`` with the counts it returned."""
    torch.set_num_threads(previous[0])
    if previous[1] is not None:
        import numba

        numba.set_num_threads(previous[1])
