"""Device handling: everything the package builds moves with ``.to(device)``, and mixing
devices raises the clear errors of the argument checks.

Without CUDA the target is PyTorch's ``meta`` device (tensors with a device but no data), which
shows every tensor that ``.to`` moves, and every one it misses (a tensor kept as a plain
attribute stays on the CPU). With CUDA the same tests run on ``cuda`` as well, plus a forward
pass there.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stdbp_plugin import functional as SF
from stdbp_plugin import nn as snn_e

DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


def movable(t: torch.Tensor) -> bool:
    """A plain attribute must move unless it is a 0-dim CPU tensor, which PyTorch takes as a
    scalar on any device (Norse keeps its neuron parameters so, in a NamedTuple ``p``), or an
    empty placeholder (the converted snnTorch neurons' state before their first step)."""
    return not (t.ndim == 0 and t.device.type == "cpu") and t.numel() > 0


def tensors_of(module: nn.Module):
    """(name, tensor) of every parameter, buffer and plain tensor attribute of every submodule
    (metrics' states included: torchmetrics keeps them as plain attributes)."""
    for prefix, sub in module.named_modules():
        for name, value in vars(sub).items():
            if isinstance(value, torch.Tensor) and movable(value):
                yield f"{prefix}.{name}", value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, torch.Tensor) and movable(item):
                        yield f"{prefix}.{name}[{i}]", item
        for name, value in sub.named_parameters(recurse=False):
            yield f"{prefix}.{name}", value
        for name, value in sub.named_buffers(recurse=False):
            yield f"{prefix}.{name}", value


def assert_all_on(module: nn.Module, device: torch.device) -> None:
    found = list(tensors_of(module))
    assert found, "no tensors found"
    wrong = [f"{name} on {t.device}" for name, t in found if t.device.type != device.type]
    assert not wrong, f"not moved to {device}: {wrong}"


def test_layers_move(device):
    net = nn.Sequential(
        snn_e.LatencyEncoder(),
        snn_e.ReLPSPConv2d(1, 4, 3, learn_threshold=True),
        snn_e.EarliestSpikePool2d(2),
        nn.Flatten(),
        snn_e.ReLPSPLinear(4 * 3 * 3, 5, per_neuron_threshold=True),
    )
    assert_all_on(net.to(device), device)
    if device.type == "cuda":  # a forward pass there, on the backend "auto" picks
        out = net(torch.rand(2, 1, 8, 8, device=device))
        assert out.device.type == "cuda" and out.shape == (2, 5)


def test_models_move(device):
    from stdbp_plugin.models import STDBPNetwork

    net = STDBPNetwork("4C3-P2-6-10", (1, 8, 8))
    assert_all_on(net.to(device), device)


@pytest.mark.parametrize("framework", ["snntorch", "norse"])
def test_surrogate_models_move(device, framework):
    pytest.importorskip(framework)
    from stdbp_plugin.models import SurrogateNetwork

    net = SurrogateNetwork(framework, "6-10", (1, 4, 4), num_steps=3)
    assert_all_on(net.to(device), device)


def test_converted_snntorch_model_moves(device):
    snn = pytest.importorskip("snntorch")
    from stdbp_plugin import convert

    model = nn.Sequential(nn.Linear(16, 8), snn.Leaky(beta=0.9), nn.Linear(8, 4), snn.Leaky(0.9))
    for mode in ("clock", "event"):
        assert_all_on(convert(model, mode).to(device), device)


def test_converted_norse_model_moves(device):
    norse = pytest.importorskip("norse.torch")
    from stdbp_plugin import convert

    model = norse.SequentialState(nn.Linear(16, 8), norse.LIF(), nn.Linear(8, 4), norse.LIF())
    for mode in ("clock", "event"):
        assert_all_on(convert(model, mode).to(device), device)


def test_metrics_move(device):
    pytest.importorskip("torchmetrics")
    from stdbp_plugin import metrics

    for metric in (
        metrics.DecisionAccuracy(),
        metrics.FirstSpikeAccuracy(),
        metrics.DecisionLatency(),
        metrics.SpikesPerSample(num_layers=2),
        metrics.SynapticOperations(),
    ):
        assert_all_on(metric.to(device), device)


def test_lightning_modules_move(device):
    pytest.importorskip("lightning")
    from stdbp_plugin.lightning import STDBPClassifier, SurrogateClassifier

    modules = [STDBPClassifier("4C3-P2-6-10", (1, 8, 8))]
    for framework in ("snntorch", "norse"):
        try:
            __import__(framework)
        except ImportError:
            continue
        modules.append(SurrogateClassifier(framework, "6-10", (1, 4, 4), num_steps=3))
    for module in modules:
        assert_all_on(module.to(device), device)
        for stage in ("train", "val", "test"):
            assert_all_on(module.stage_metrics(stage), device)


def test_mixed_devices_raise_clear_errors(device):
    t, w_cpu = torch.rand(2, 4), torch.rand(3, 4)
    w = torch.rand(3, 4, device=device)
    with pytest.raises(ValueError, match=f"weight is on {device.type}.* but t_in is on cpu"):
        SF.relpsp_linear(t, w)
    with pytest.raises(ValueError, match=f"bias is on {device.type}.* but t_in is on cpu"):
        SF.relpsp_linear(t, w_cpu, bias=torch.zeros(3, device=device))
    with pytest.raises(ValueError, match=f"threshold is on {device.type}.* but t_in is on cpu"):
        SF.relpsp_linear(t, w_cpu, threshold=torch.ones(3, device=device))
    conv_w = torch.rand(2, 1, 3, 3, device=device)
    with pytest.raises(ValueError, match=f"weight is on {device.type}.* but t_in is on cpu"):
        SF.relpsp_conv2d(torch.rand(1, 1, 5, 5), conv_w)
    layer = snn_e.ReLPSPLinear(4, 3).to(device)  # a layer moved, its input not
    with pytest.raises(ValueError, match=f"is on {device.type}.* but t_in is on cpu"):
        layer(t)


def test_numba_backend_refuses_other_devices(device):
    from stdbp_plugin.kernels import resolve_backend

    with pytest.raises(ValueError, match="backend='numba' runs on CPU tensors only"):
        resolve_backend("numba", device)
