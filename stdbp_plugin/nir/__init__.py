"""NIR (Neuromorphic Intermediate Representation) export and import of ReL-PSP networks.

    graph = stdbp_plugin.nir.export(model, sample_input, path="net.nir")
    model = stdbp_plugin.nir.load("net.nir")

Needs the ``nir`` package (``pip install stdbp-plugin[nir]``); ``import stdbp_plugin`` does not
import it. docs/nir.md gives the mapping (ReL-PSP = NIR I + IF) and the readers' agreement.
"""

from stdbp_plugin.nir.export import COMPATS, FORMAT, export
from stdbp_plugin.nir.load import load
from stdbp_plugin.nir.simulate import first_spike_steps, simulate

__all__ = ["COMPATS", "FORMAT", "export", "first_spike_steps", "load", "simulate"]
