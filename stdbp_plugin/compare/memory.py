"""Peak resident memory (RSS) of this process during a block, from Linux /proc.

``PeakRSS`` resets the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``), then
reports VmHWM - VmRSS(at start): the most memory the block added at any moment, counting
everything the process touched (PyTorch tensors, autograd buffers, Python objects). Run each
measured job in a fresh process (stdbp compare does) so freed-but-cached memory of an earlier
job cannot hide a later job's peak. Where clear_refs is unavailable it falls back to
``resource.getrusage`` ru_maxrss (peak since process start) minus the RSS at start.
"""

from __future__ import annotations

import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """with PeakRSS() as m: ...;  m.peak_mib = the block's peak RSS increase in MiB."""

    def __enter__(self) -> PeakRSS:
        self.exact = _reset_peak()
        self.start_kib = _status_kib("VmRSS") or 0
        self.peak_mib = float("nan")
        return self

    def __exit__(self, *exc) -> None:
        peak = _status_kib("VmHWM") if self.exact else None
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        self.peak_mib = max(0, peak - self.start_kib) / 1024.0
