"""stdbp-plugin: ReL-PSP spiking neurons trained by exact spike-time back-propagation (STDBP).

Importing the package needs only torch, numpy and numba; the snnTorch, Norse and Lightning
parts live in their own modules and import those frameworks on first use.
"""

from stdbp_plugin import functional, nn

__version__ = "0.1.0"
__all__ = ["functional", "nn", "__version__"]
