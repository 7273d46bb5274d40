"""Bad input raises a ValueError whose message names the argument at fault."""

from __future__ import annotations

import pytest
import torch

from stdbp_plugin import functional as SF

INF = float("inf")


def good():
    return torch.rand(3, 4), torch.rand(5, 4), torch.rand(5)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda t, w, b: (t.masked_fill(t > 0.5, float("nan")), w, b), "t_in"),
        (lambda t, w, b: (t - 2.0, w, b), "t_in"),
        (lambda t, w, b: (t[0], w, b), "t_in"),  # 1-D
        (lambda t, w, b: (t.long(), w, b), "t_in"),
        (lambda t, w, b: (t[:0], w, b), "t_in"),  # empty batch
        (lambda t, w, b: (t[:, :3], w, b), "t_in"),  # wrong number of inputs
        (lambda t, w, b: (t, w[0], b), "weight"),
        (lambda t, w, b: (t, w.double(), b), "weight"),
        (lambda t, w, b: (t, w.to("meta"), b), "weight"),
        (lambda t, w, b: (t, w, b[:3]), "bias"),
        (lambda t, w, b: (t, w, b.double()), "bias"),
        (lambda t, w, b: (t, w, b.to("meta")), "bias"),
    ],
)
def test_relpsp_linear_bad_tensors(make, name):
    t, w, b = make(*good())
    with pytest.raises(ValueError, match=name):
        SF.relpsp_linear(t, w, b)


@pytest.mark.parametrize(
    "threshold", [0.0, -1.0, torch.tensor(0.0), torch.tensor([1.0, 1.0, -1.0, 1.0, 1.0])]
)
def test_threshold_must_be_positive(threshold):
    t, w, b = good()
    with pytest.raises(ValueError, match="threshold"):
        SF.relpsp_linear(t, w, b, threshold)


@pytest.mark.parametrize(
    "threshold", [torch.ones(3), torch.ones(5, dtype=torch.float64), torch.ones(5, device="meta")]
)
def test_threshold_shape_dtype_device(threshold):
    t, w, b = good()
    with pytest.raises(ValueError, match="threshold"):
        SF.relpsp_linear(t, w, b, threshold)


def test_backend_and_clamp_arguments():
    t, w, b = good()
    with pytest.raises(ValueError, match="backend"):
        SF.relpsp_linear(t, w, b, backend="cuda")
    with pytest.raises(ValueError, match="max_inv_slope"):
        SF.relpsp_linear(t, w, b, max_inv_slope=0.0)


def test_conv_bad_input():
    t = torch.rand(2, 3, 6, 6)
    w = torch.rand(4, 3, 3, 3)
    with pytest.raises(ValueError, match="t_in"):
        SF.relpsp_conv2d(t[0], w)
    with pytest.raises(ValueError, match="t_in"):
        SF.relpsp_conv2d(-t, w)
    with pytest.raises(ValueError, match="weight"):
        SF.relpsp_conv2d(t, w[0])
    with pytest.raises(ValueError, match="t_in"):  # channel mismatch
        SF.relpsp_conv2d(t, w[:, :2])
    with pytest.raises(ValueError, match="t_in"):
        SF.earliest_spike_pool2d(t.masked_fill(t > 0.5, float("nan")), 2)


def test_coding_bad_input():
    with pytest.raises(ValueError, match="x"):
        SF.latency_encode(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="x"):
        SF.latency_encode(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="t_max"):
        SF.latency_encode(torch.rand(3), t_max=0.0)
    with pytest.raises(ValueError, match="x_min"):
        SF.latency_encode(torch.rand(3), x_min=1.0)
    with pytest.raises(ValueError, match="t_out"):
        SF.first_spike_predict(torch.tensor(1.0))


@pytest.mark.parametrize(
    ("t_out", "target", "kwargs", "name"),
    [
        (torch.rand(3, 4), torch.tensor([0, 1, 4]), {}, "target"),
        (torch.rand(3, 4), torch.tensor([0, 1, -1]), {}, "target"),
        (torch.rand(3, 4), torch.tensor([0, 1]), {}, "target"),
        (torch.rand(3, 4), torch.tensor([0.0, 1.0, 2.0]), {}, "target"),
        (torch.rand(3, 4), torch.tensor([0, 1, 2], device="meta"), {}, "target"),
        (torch.rand(0, 4), torch.zeros(0, dtype=torch.long), {}, "t_out"),
        (torch.rand(4), torch.tensor([0]), {}, "t_out"),
        (torch.tensor([[0.1, float("nan")]]), torch.tensor([0]), {}, "t_out"),
        (torch.rand(3, 4), torch.tensor([0, 1, 2]), {"tau": 0.0}, "tau"),
        (torch.rand(3, 4), torch.tensor([0, 1, 2]), {"reduction": "avg"}, "reduction"),
    ],
)
def test_temporal_cross_entropy_bad_input(t_out, target, kwargs, name):
    with pytest.raises(ValueError, match=name):
        SF.temporal_cross_entropy(t_out, target, **kwargs)


def test_layer_threshold_must_be_positive():
    from stdbp_plugin.nn import ReLPSPLinear

    with pytest.raises(ValueError, match="threshold"):
        ReLPSPLinear(4, 3, threshold=0.0)
