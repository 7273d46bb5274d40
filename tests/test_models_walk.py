"""The spec walk, the surrogate adapters and the shared argument checks."""

from __future__ import annotations

import itertools

import pytest
import torch

from stdbp_plugin.functional.validation import as_bias_parameter, check_dt, check_silent_grad
from stdbp_plugin.models import (
    SURROGATE_MODELS,
    STDBPNetwork,
    SurrogateNetwork,
    parse_spec,
    surrogate_options,
)
from stdbp_plugin.models.surrogate_adapters import get_adapter
from stdbp_plugin.nn import ReLPSPConv2d, ReLPSPLinear


def brute_force_synops(spikes: torch.Tensor, out_channels: int, k: int, pad: int) -> float:
    """Every input spike x the output positions whose k x k window (stride 1) covers it."""
    _, h, w = spikes.shape
    h_out, w_out = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    total = 0.0
    for c, i, j in itertools.product(*map(range, spikes.shape)):
        if spikes[c, i, j]:
            rows = sum(1 for p in range(h_out) if p <= i + pad < p + k)
            cols = sum(1 for q in range(w_out) if q <= j + pad < q + k)
            total += rows * cols * out_channels
    return total


def test_stdbp_synops_and_counts_match_a_brute_force_walk():
    torch.manual_seed(0)
    net = STDBPNetwork("3C3p1-P2-5C2-7-10", (2, 6, 6), backend="torch")
    x = torch.rand(2, 2, 6, 6) * (torch.rand(2, 2, 6, 6) < 0.5)
    run = net.run(x)
    for b in range(2):
        t = net.encoder(x[b : b + 1])
        expected = 0.0
        for spec, layer in zip(net.layer_specs, net.layers, strict=True):
            if spec.kind == "dense":
                t = t.flatten(1)
                expected += torch.isfinite(t).sum().item() * spec.size
            elif spec.kind == "conv":
                expected += brute_force_synops(
                    torch.isfinite(t[0]), spec.size, spec.kernel, spec.padding
                )
            t = layer(t)
        assert run.synops[b].item() == expected
    assert run.spike_counts.shape == (2, 4)
    assert torch.equal(
        run.spike_counts[:, -1], torch.isfinite(run.t_out).sum(dim=1).to(run.spike_counts.dtype)
    )


@pytest.mark.parametrize("framework", ["snntorch", "norse"])
def test_surrogate_synops_count_input_spikes_of_every_step(framework):
    torch.manual_seed(1)
    net = SurrogateNetwork(framework, "3C3-P2-6-10", (1, 6, 6), num_steps=4, weight_gain=4.0)
    spikes = (torch.rand(4, 3, 1, 6, 6) < 0.4).float()
    run = net.run(spikes)
    hidden = run.layer_spikes  # [T, B, ...] of the conv and the 6-neuron layer
    for b in range(3):
        expected = sum(brute_force_synops(spikes[s, b], 3, 3, 0) for s in range(4))
        pooled = torch.nn.functional.max_pool2d(hidden[0][:, b], 2)  # [T, 3, 2, 2]
        expected += pooled.sum().item() * 6 + hidden[1][:, b].sum().item() * 10
        assert run.synops[b].item() == pytest.approx(expected)


def test_surrogate_model_names_and_adapters():
    assert set(SURROGATE_MODELS) >= {"snntorch", "norse", "norse-compile", "snntorch-compile"}
    assert surrogate_options("norse-compile") == {"framework": "norse", "compile": True}
    with pytest.raises(ValueError, match="model must be one of"):
        surrogate_options("lava")
    with pytest.raises(ValueError, match="framework must be one of"):
        get_adapter("lava")
    with pytest.raises(ValueError, match="framework must be one of"):
        SurrogateNetwork("lava", "10", (1, 2, 2))
    norse, snn = get_adapter("norse"), get_adapter("snntorch")
    assert not norse.readout_spikes and snn.readout_spikes
    scores = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]]])  # [T=2, B=1, C=2]
    assert snn.decided(scores).tolist() == [[False], [True]]
    assert norse.decided(scores).tolist() == [[True], [True]]


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["snntorch", "norse"])
def test_compiled_steps_match_eager(framework):
    torch.manual_seed(0)
    eager = SurrogateNetwork(framework, "12-10", (1, 4, 4), num_steps=3, weight_gain=3.0)
    compiled = SurrogateNetwork(
        framework, "12-10", (1, 4, 4), num_steps=3, weight_gain=3.0, compile=True
    )
    compiled.load_state_dict(eager.state_dict())
    spikes = (torch.rand(3, 5, 1, 4, 4) < 0.5).float()
    a, b = eager.run(spikes), compiled.run(spikes)
    torch.testing.assert_close(b.readout, a.readout)
    a.readout.sum().backward()
    b.readout.sum().backward()
    for p, q in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad", [0, -1e-3, float("inf"), float("nan"), True, "1", None])
def test_check_dt(bad):
    with pytest.raises(ValueError, match="dt must be a number > 0"):
        check_dt(bad)


def test_check_dt_optional_and_silent_grad_and_bias():
    check_dt(1e-3)
    check_dt(None, optional=True)
    check_silent_grad(0)
    for bad in (-1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="silent_grad must be a number >= 0"):
            check_silent_grad(bad)
    assert as_bias_parameter(None) is None
    p = torch.nn.Parameter(torch.ones(2))
    assert as_bias_parameter(p) is p
    q = as_bias_parameter([0.5, 1.0])
    assert isinstance(q, torch.nn.Parameter) and q.tolist() == [0.5, 1.0]


def test_layers_take_options_by_keyword_and_device_dtype():
    with pytest.raises(TypeError):
        ReLPSPLinear(3, 4, False)  # noqa: FBT003 - the point: bias is keyword-only
    lin = ReLPSPLinear(3, 4, bias=False, dtype=torch.float64, device="cpu")
    assert lin.weight.dtype == torch.float64 and lin.bias is None
    assert lin.threshold.dtype == torch.float64
    conv = ReLPSPConv2d(2, 3, 2, 1, 1, dtype=torch.float64, learn_threshold=True)
    assert conv.weight.dtype == conv.bias.dtype == conv.threshold.dtype == torch.float64
    t = conv(torch.rand(1, 2, 3, 3, dtype=torch.float64))
    assert t.shape == (1, 3, 4, 4) and t.dtype == torch.float64
    assert parse_spec("2C2p1-10")[0].padding == 1


def test_compare_offers_every_surrogate_model_compiled_or_not():
    """`stdbp compare --models` names are STDBP plus exactly the surrogate models, and each
    builds the classifier with its framework and compile flag."""
    from stdbp_plugin.compare.options import MODELS
    from stdbp_plugin.compare.train_one import CompareConfig, build_model

    assert ("stdbp", *SURROGATE_MODELS) == MODELS
    for name, options in SURROGATE_MODELS.items():
        model = build_model(name, CompareConfig(num_steps=3), (1, 8, 8))
        assert model.hparams.framework == options["framework"]
        assert model.hparams.compile == options["compile"]
