"""snnTorch face of stdbp-plugin (``import stdbp_plugin.snntorch``).

``neurons``: drop-in clock-driven ReL-PSP neurons (``ReLPSP`` where ``snn.Leaky`` stands,
``ReLPSPSynaptic`` where ``snn.Synaptic`` stands).
"""

from stdbp_plugin.snntorch.neurons import ReLPSP, ReLPSPSynaptic

__all__ = ["ReLPSP", "ReLPSPSynaptic"]
