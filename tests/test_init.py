"""With the default initialisation most ReL-PSP neurons fire at the start of training."""

from __future__ import annotations

import torch

from stdbp_plugin.functional import latency_encode
from stdbp_plugin.nn import ReLPSPLinear

MIN_FIRING = 0.9


def firing_fraction(t: torch.Tensor) -> float:
    """Fraction of (sample, neuron) pairs that spike."""
    return torch.isfinite(t).float().mean().item()


def test_hidden_and_output_fire_on_digits(digits):
    x, _ = digits
    torch.manual_seed(0)
    t_in = latency_encode(x[:512])
    hidden = ReLPSPLinear(64, 256, backend="torch")
    output = ReLPSPLinear(256, 10, backend="torch")
    with torch.no_grad():
        t_hidden = hidden(t_in)
        t_out = output(t_hidden)
    assert firing_fraction(t_hidden) >= MIN_FIRING
    assert firing_fraction(t_out) >= MIN_FIRING
    # the spikes are spread in time, not all at one instant
    assert t_hidden[torch.isfinite(t_hidden)].std() > 0.02


def test_hidden_fire_on_mnist(mnist_root):
    from torchvision.datasets import MNIST

    data = MNIST(root=str(mnist_root), train=False, download=False)
    x = data.data[:64].reshape(64, -1).float() / 255.0
    torch.manual_seed(0)
    hidden = ReLPSPLinear(784, 800, backend="torch")
    output = ReLPSPLinear(800, 10, backend="torch")
    with torch.no_grad():
        t_hidden = hidden(latency_encode(x))
        t_out = output(t_hidden)
    assert firing_fraction(t_hidden) >= MIN_FIRING
    assert firing_fraction(t_out) >= MIN_FIRING
