"""stdbp-plugin: ReL-PSP spiking neurons trained by exact spike-time back-propagation (STDBP).

Importing the package needs only torch, numpy and numba; the snnTorch, Norse and Lightning
parts live in their own modules and import those frameworks on first use. ``convert`` and
``reinit`` are loaded lazily on first access (a framework is imported only when the model holds
its neurons).

Importing it sets no environment variable. The CPU kernel runs its chunks on torch's own OpenMP
threads and, at its first parallel call, makes those threads sleep when idle instead of
spinning (``stdbp_plugin.kernels.torch_team``), so a training step is as fast whether torch,
Lightning, snnTorch or Norse was imported before it or after it.
"""

from stdbp_plugin import functional, nn

__version__ = "0.1.0"
__all__ = ["convert", "functional", "nn", "reinit", "__version__"]


def __getattr__(name: str):
    if name == "convert":
        from stdbp_plugin.conversion import convert

        globals()["convert"] = convert
        return convert
    if name == "reinit":
        from stdbp_plugin.conversion.reinit import reinit

        globals()["reinit"] = reinit
        return reinit
    if name == "nir":  # imports the optional nir package only when asked for
        import importlib

        return importlib.import_module("stdbp_plugin.nir")
    raise AttributeError(f"module 'stdbp_plugin' has no attribute {name!r}")
