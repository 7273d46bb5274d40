"""snnTorch face of stdbp-plugin (``import stdbp_plugin.snntorch``).

``neurons``: drop-in clock-driven ReL-PSP neurons that take the arguments of the snnTorch neuron
they replace (``ReLPSP`` for ``snn.Leaky``, ``ReLPSPSynaptic`` for ``snn.Synaptic``,
``ReLPSPAlpha`` for ``snn.Alpha``, ``ReLPSPLapicque`` for ``snn.Lapicque``; ``ReLPSPRLeaky`` /
``ReLPSPRSynaptic`` raise a ``ValueError``: recurrent neurons have no ReL-PSP counterpart).
"""

from stdbp_plugin.snntorch.neurons import (
    IgnoredArgumentWarning,
    ReLPSP,
    ReLPSPAlpha,
    ReLPSPLapicque,
    ReLPSPRLeaky,
    ReLPSPRSynaptic,
    ReLPSPSynaptic,
)

__all__ = [
    "IgnoredArgumentWarning",
    "ReLPSP",
    "ReLPSPAlpha",
    "ReLPSPLapicque",
    "ReLPSPRLeaky",
    "ReLPSPRSynaptic",
    "ReLPSPSynaptic",
]
