"""stdbp-plugin: ReL-PSP spiking neurons trained by exact spike-time back-propagation (STDBP).

Importing the package needs only torch, numpy and numba; the snnTorch, Norse and Lightning
parts live in their own modules and import those frameworks on first use. ``convert`` is
loaded lazily on first access (it imports a framework only when the model holds its neurons).

torch's OpenMP threads and numba's spin-wait between parallel regions; when both run in one
process (the numba kernel between torch ops) the spinning threads of one steal the cores of
the other (measured: a training step 7x slower). Unless the user has set it, importing this
package before torch sets OMP_WAIT_POLICY=PASSIVE (threads sleep when idle).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from stdbp_plugin import functional, nn  # noqa: E402

__version__ = "0.1.0"
__all__ = ["convert", "functional", "nn", "__version__"]


def __getattr__(name: str):
    if name == "convert":
        from stdbp_plugin.conversion import convert

        globals()["convert"] = convert
        return convert
    raise AttributeError(f"module 'stdbp_plugin' has no attribute {name!r}")
