"""ReLPSPLinear keeps bias and weight^T as rows of one contiguous [bias + N_in, N_out] tensor, the
layout the numba kernel walks: the layer then neither copies them per call nor has autograd
transpose the weight gradient. Training is bit for bit what contiguous parameters (the copying
path) give, and the initial draw is the same as before the layout changed."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from stdbp_plugin import functional as SF
from stdbp_plugin.functional.linear import transposed_rows
from stdbp_plugin.nn import LatencyEncoder, ReLPSPLinear
from stdbp_plugin.nn.init import relpsp_init_


def contiguous_copy(net: nn.Sequential) -> nn.Sequential:
    """The same network with contiguous [N_out, N_in] weights and separate biases."""
    other = copy.deepcopy(net)
    for layer in other[1:]:
        layer.weight = nn.Parameter(
            layer.weight.detach().clone(memory_format=torch.contiguous_format)
        )
        if layer.bias is not None:
            layer.bias = nn.Parameter(layer.bias.detach().clone())
    return other


@pytest.mark.parametrize("bias", [True, False])
def test_parameters_are_rows_of_one_tensor(bias):
    layer = ReLPSPLinear(6, 4, bias=bias)
    rows = transposed_rows(layer.weight, layer.bias)
    assert rows is not None and rows.shape == (6 + bias, 4) and rows.is_contiguous()
    first = layer.bias if bias else layer.weight
    assert rows.data_ptr() == first.data_ptr()  # a view: no copy
    expected = layer.weight.t() if not bias else torch.cat([layer.bias[None], layer.weight.t()])
    assert torch.equal(rows, expected)


def test_initial_draw_is_the_contiguous_one():
    """The same values, and the same random numbers consumed, as a contiguous draw."""
    torch.manual_seed(5)
    layer = ReLPSPLinear(30, 7)
    after_layer = torch.rand(3)
    torch.manual_seed(5)
    weight, bias = torch.empty(7, 30), torch.empty(7)
    relpsp_init_(weight, bias, 1.0)
    assert torch.equal(layer.weight, weight) and torch.equal(layer.bias, bias)
    assert torch.equal(after_layer, torch.rand(3))


def test_rows_not_found_for_other_layouts():
    weight = torch.randn(4, 6)
    assert transposed_rows(weight, None) is None  # contiguous [N_out, N_in]
    rows = torch.randn(8, 4)
    assert transposed_rows(rows[1:7].t(), rows[0]) is not None
    assert transposed_rows(rows[2:8].t(), rows[0]) is None  # a gap between bias and weight
    assert transposed_rows(rows[1:7].t(), rows[0].clone()) is None  # another storage
    assert transposed_rows(rows[1:7].t(), rows[:, 0][:4]) is None  # bias not contiguous
    assert transposed_rows(rows[1:7].t(), rows[0].view(torch.int32)) is None  # another dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_training_equals_contiguous_parameters(dtype, bias):
    """Three Adam steps of a 20-16-5 net: outputs, gradients (taken by autograd without a
    copy: the parameter's own strides) and parameters bit for bit equal."""
    torch.manual_seed(0)
    net = nn.Sequential(
        LatencyEncoder(),
        ReLPSPLinear(20, 16, bias=bias, dtype=dtype),
        ReLPSPLinear(16, 5, bias=bias, dtype=dtype),
    )
    other = contiguous_copy(net)
    assert transposed_rows(other[1].weight, other[1].bias) is None
    x, y = torch.rand(12, 20, dtype=dtype), torch.arange(12) % 5
    opts = [torch.optim.Adam(n.parameters(), lr=1e-2) for n in (net, other)]
    for _ in range(3):
        outs = []
        for n, opt in zip((net, other), opts, strict=True):
            opt.zero_grad()
            out = n(x)
            SF.temporal_cross_entropy(out, y, keep_target_alive=1.0).backward()
            opt.step()
            outs.append(out.detach())
        assert torch.equal(outs[0], outs[1])
        for p, q in zip(net.parameters(), other.parameters(), strict=True):
            assert torch.equal(p.grad, q.grad) and torch.equal(p, q)
        assert net[1].weight.grad.stride() == net[1].weight.stride()
    assert transposed_rows(net[1].weight, net[1].bias) is not None  # the optimizer kept it


def test_layout_survives_state_dict_and_copies_still_train():
    torch.manual_seed(1)
    layer = ReLPSPLinear(9, 3)
    fresh = ReLPSPLinear(9, 3)
    fresh.load_state_dict(layer.state_dict())
    assert transposed_rows(fresh.weight, fresh.bias) is not None
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    copied = copy.deepcopy(layer)  # bias and weight in two storages: the copying path
    assert transposed_rows(copied.weight, copied.bias) is None
    t = torch.rand(4, 9)
    for other in (fresh, loaded, copied):
        assert torch.equal(other(t), layer(t))


def test_in_place_edit_between_forward_and_backward_is_caught():
    """The saved rows are the weight itself: autograd sees an edit (the copying path used the
    copy; nn.Linear raises too)."""
    layer = ReLPSPLinear(5, 3)
    out = layer(torch.rand(2, 5))
    with torch.no_grad():
        layer.weight.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified inplace|modified by an inplace"):
        out.masked_fill(out.isinf(), 0.0).sum().backward()
