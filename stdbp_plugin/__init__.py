"""stdbp-plugin: ReL-PSP spiking neurons trained by exact spike-time back-propagation (STDBP).

Importing the package needs only torch, numpy and numba; the snnTorch, Norse and Lightning
parts live in their own modules and import those frameworks on first use. ``convert`` is
loaded lazily on first access (it imports a framework only when the model holds its neurons).
"""

from stdbp_plugin import functional, nn

__version__ = "0.1.0"
__all__ = ["convert", "functional", "nn", "__version__"]


def __getattr__(name: str):
    if name == "convert":
        from stdbp_plugin.convert import convert

        globals()["convert"] = convert
        return convert
    raise AttributeError(f"module 'stdbp_plugin' has no attribute {name!r}")
