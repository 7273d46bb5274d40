"""The one set of defaults of the spec models and their entry points (STDBPNetwork,
STDBPClassifier, ``stdbp train``, benchmarks/reproduce_mnist.py).

Times are in units of the input window: the latency encoder spikes in [0, T_MAX].

- TAU: temperature of temporal_cross_entropy, 1/16 of the window (on MNIST it beats 0.5 by
  1.5 points after 3 epochs). The loss itself keeps tau = 1.0: it knows no window, and its
  clock-driven callers measure time in steps (see docs/design.md, "Defaults").
- HORIZON: spikes later than 3 windows count as silent (bounds the time of a neuron with a
  tiny slope, which keeps the loss and gradients tame).
- MAX_INV_SLOPE: None, the exact STDBP gradient (no clamp of 1/S). The nn / functional layers
  default to the exact, unbounded model (horizon = max_inv_slope = None).
"""

from __future__ import annotations

T_MAX: float = 1.0
TAU: float = 0.0625
HORIZON: float | None = 3.0
MAX_INV_SLOPE: float | None = None
