"""input_dropout of the ReL-PSP layers: inverted dropout of input spikes, training only.

A single input spike at t = 0 with weight w into threshold theta fires at theta / w, so the
dropout rate and the 1 / (1 - p) weight scaling can be read off the output times in closed form.
"""

from __future__ import annotations

import pytest
import torch

import stdbp_plugin.nn as snn

P, W, THETA, BIAS = 0.25, 2.0, 1.0, 0.5


def single_input_linear(bias: bool) -> snn.ReLPSPLinear:
    layer = snn.ReLPSPLinear(1, 1, bias=bias, threshold=THETA, input_dropout=P)
    with torch.no_grad():
        layer.weight.fill_(W)
        if bias:
            layer.bias.fill_(BIAS)
    return layer.double()


def test_training_drops_inputs_at_rate_p_and_scales_kept_weights():
    torch.manual_seed(0)
    t_out = single_input_linear(bias=False).train()(torch.zeros(20000, 1, dtype=torch.float64))
    silent = torch.isinf(t_out)
    assert abs(silent.double().mean().item() - P) < 0.015
    # kept: the weight is W / (1 - p), so the neuron fires at theta (1 - p) / W
    torch.testing.assert_close(t_out[~silent], torch.full_like(t_out[~silent], THETA * (1 - P) / W))


def test_bias_is_never_dropped_nor_scaled():
    torch.manual_seed(0)
    t_out = single_input_linear(bias=True).train()(torch.zeros(5000, 1, dtype=torch.float64))
    assert torch.isfinite(t_out).all()
    kept, dropped = THETA / (W / (1 - P) + BIAS), THETA / BIAS
    assert sorted(torch.unique(t_out).tolist()) == pytest.approx([kept, dropped])
    assert abs((t_out == t_out.max()).double().mean().item() - P) < 0.03


def test_eval_mode_and_zero_rate_are_the_plain_layer():
    torch.manual_seed(0)
    x = torch.rand(64, 30, dtype=torch.float64) * 2
    layer = snn.ReLPSPLinear(30, 8, input_dropout=0.5).double()
    plain = snn.ReLPSPLinear(30, 8).double()
    plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer.eval()(x), plain(x))
    layer.input_dropout = 0.0
    torch.testing.assert_close(layer.train()(x), plain(x))


def test_dropped_inputs_get_no_gradient_and_nothing_is_nan():
    torch.manual_seed(1)
    x = (torch.rand(256, 40, dtype=torch.float64) * 2).requires_grad_()
    layer = snn.ReLPSPLinear(40, 5, input_dropout=0.5).double().train()
    t_out = layer(x)
    torch.where(torch.isfinite(t_out), t_out, 0.0).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(layer.weight.grad).all()
    assert (x.grad == 0).float().mean() > 0.4  # at least the dropped half


def test_conv_drops_input_pixels_with_the_same_rule():
    torch.manual_seed(0)
    conv = snn.ReLPSPConv2d(1, 1, 1, bias=False, threshold=THETA, input_dropout=P).double()
    with torch.no_grad():
        conv.weight.fill_(W)
    t_out = conv.train()(torch.zeros(50, 1, 20, 20, dtype=torch.float64))
    silent = torch.isinf(t_out)
    assert abs(silent.double().mean().item() - P) < 0.015
    torch.testing.assert_close(t_out[~silent], torch.full_like(t_out[~silent], THETA * (1 - P) / W))
    torch.testing.assert_close(conv.eval()(torch.zeros(2, 1, 3, 3, dtype=torch.float64)),
                               torch.full((2, 1, 3, 3), THETA / W, dtype=torch.float64))  # fmt: skip


def test_repr_names_the_rate_only_when_set():
    assert "input_dropout=0.3" in repr(snn.ReLPSPLinear(4, 2, input_dropout=0.3))
    assert "input_dropout=0.3" in repr(snn.ReLPSPConv2d(1, 2, 3, input_dropout=0.3))
    assert "input_dropout" not in repr(snn.ReLPSPLinear(4, 2))


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_bad_rate_is_refused(p):
    with pytest.raises(ValueError, match="input_dropout"):
        snn.ReLPSPLinear(4, 2, input_dropout=p)
