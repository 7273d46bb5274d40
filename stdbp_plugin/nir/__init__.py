"""NIR (Neuromorphic Intermediate Representation) export and import of ReL-PSP networks.

    graph = stdbp_plugin.nir.export(model, sample_input, path="net.nir")
    model = stdbp_plugin.nir.load("net.nir")

Needs the ``nir`` package (``pip install stdbp-plugin[nir]``); ``import stdbp_plugin`` does not
import it. docs/nir.md gives the mapping (ReL-PSP = NIR I + IF) and the readers' agreement.
"""

try:
    import nir as _nir  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "stdbp_plugin.nir needs the nir package: pip install 'stdbp-plugin[nir]'"
    ) from err

from stdbp_plugin.nir.export import COMPATS, FORMAT, export  # noqa: E402
from stdbp_plugin.nir.load import load  # noqa: E402
from stdbp_plugin.nir.simulate import first_spike_steps, simulate  # noqa: E402

__all__ = ["COMPATS", "FORMAT", "export", "first_spike_steps", "load", "simulate"]
