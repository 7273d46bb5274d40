"""Fix the number of CPU threads of PyTorch (and numba, if loaded) for fair timings."""

from __future__ import annotations

import torch


def set_threads(n: int) -> None:
    """torch.set_num_threads(n) and numba.set_num_threads(min(n, numba's pool size))."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int, got {n!r}")
    torch.set_num_threads(n)
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:  # numba is optional at run time
        pass
