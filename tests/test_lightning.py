"""Spec parsing, STDBPClassifier / SurrogateClassifier under L.Trainer, checkpoints, callbacks."""

from __future__ import annotations

import warnings

import pytest
import torch

L = pytest.importorskip("lightning")
pytestmark = pytest.mark.usefixtures("one_thread_everywhere")
import stdbp_plugin as stdbp  # noqa: E402
from stdbp_plugin.lightning import (  # noqa: E402
    SpikeStatisticsCallback,
    SpikingDataModule,
    STDBPClassifier,
    SurrogateClassifier,
)
from stdbp_plugin.lightning.spec import LayerSpec, output_shapes, parse_spec  # noqa: E402


def trainer(**kw) -> L.Trainer:
    args = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                deterministic=True)  # fmt: skip
    args.update(kw)
    return L.Trainer(**args)


def test_parse_spec_and_shapes():
    layers = parse_spec("16C5-P2-32C5p1-P2-800-128-10")
    assert layers[0] == LayerSpec("conv", 16, 5, 0)
    assert layers[1] == LayerSpec("pool", 2, 2)
    assert layers[2] == LayerSpec("conv", 32, 5, 1)
    assert [s.size for s in layers[4:]] == [800, 128, 10]
    shapes = output_shapes(parse_spec("16C5-P2-32C5-P2-800-128-10"), (1, 28, 28))
    assert shapes == [(16, 24, 24), (16, 12, 12), (32, 8, 8), (32, 4, 4), (800,), (128,), (10,)]


@pytest.mark.parametrize(
    "spec", ["", "800-", "10-P2", "16C5", "800-16C5-10", "abc", "0-10", "P2-10"]
)
def test_bad_spec_is_a_value_error(spec):
    with pytest.raises(ValueError, match="spec"):
        parse_spec(spec)


def test_kernel_larger_than_map_is_a_value_error():
    with pytest.raises(ValueError, match="input_shape"):
        STDBPClassifier("16C5-P2-32C5-10", input_shape=(1, 8, 8))


@pytest.mark.parametrize(
    "kwargs",
    [{"tau": 0}, {"lr": -1.0}, {"optimizer": "lbfgs"}, {"scheduler": "warm"}, {"horizon": 0.0}],
)
def test_bad_hyperparameters_are_value_errors(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        STDBPClassifier(**kwargs)


def test_bad_framework_is_a_value_error():
    with pytest.raises(ValueError, match="framework"):
        SurrogateClassifier("brian2")


def test_stdbp_network_equals_functional_composition():
    """The module's output and counts agree with a hand-built chain of the functional layer."""
    torch.manual_seed(0)
    model = STDBPClassifier("4C3p1-P2-12-10", input_shape=(1, 8, 8), horizon=None)
    x = torch.rand(5, 1, 8, 8)
    conv, _, fc1, fc2 = model.net.layers
    t = stdbp.functional.latency_encode(x)
    h = stdbp.functional.relpsp_conv2d(t, conv.weight, conv.bias, 1.0, padding=1)
    p = stdbp.functional.earliest_spike_pool2d(h, 2).flatten(1)
    z = stdbp.functional.relpsp_linear(p, fc1.weight, fc1.bias)
    out = stdbp.functional.relpsp_linear(z, fc2.weight, fc2.bias)
    run = model.net.run(x)
    torch.testing.assert_close(run.t_out, out)
    expect_counts = torch.stack([h.isfinite().flatten(1).sum(1), z.isfinite().sum(1),
                                 out.isfinite().sum(1)], 1)  # fmt: skip
    assert torch.equal(run.spike_counts, expect_counts)
    synops = (
        torch.nn.functional.conv2d(t.isfinite().float(), torch.ones(1, 1, 3, 3), padding=1)
        .flatten(1).sum(1) * 4
        + p.isfinite().sum(1) * 12
        + z.isfinite().sum(1) * 10
    )  # fmt: skip
    torch.testing.assert_close(run.synops, synops.float())


def test_stdbp_classifier_learns_digits():
    L.seed_everything(0, verbose=False)
    dm = SpikingDataModule(max_samples=400, batch_size=32, val_split=0.0)
    model = STDBPClassifier()
    tr = trainer(max_epochs=4)
    tr.fit(model, dm)
    test = tr.test(model, dm, verbose=False)[0]
    assert test["test/acc"] > 0.6  # chance is 0.1; 4 short epochs on 400 samples
    assert 0 < test["test/latency"] < 3.0 and test["test/undecided"] < 0.1
    assert test["test/spikes"] == pytest.approx(test["test/spikes_l0"] + test["test/spikes_l1"])
    assert test["test/synops"] > 0


@pytest.mark.parametrize("framework", ["snntorch", "norse"])
def test_surrogate_baseline_learns_digits(framework):
    pytest.importorskip(framework)
    L.seed_everything(0, verbose=False)
    dm = SpikingDataModule(max_samples=400, batch_size=32, val_split=0.0)
    model = SurrogateClassifier(framework, num_steps=15)
    tr = trainer(max_epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # norse: torch.jit.script deprecation
        tr.fit(model, dm)
        test = tr.test(model, dm, verbose=False)[0]
    assert test["test/acc"] > 0.5
    assert 0 < test["test/latency"] <= 1.0
    assert test["test/spikes_l0"] > 0 and test["test/synops"] > 0
    if framework == "norse":
        assert test["test/spikes_l1"] == 0  # non-spiking LI read-out


def test_checkpoint_restores_exactly_with_weights_only(tmp_path):
    L.seed_everything(1, verbose=False)
    dm = SpikingDataModule(max_samples=100, batch_size=25, val_split=0.0)
    model = STDBPClassifier("30-10", threshold=0.8, tau=0.3)
    tr = trainer(max_epochs=1)
    tr.fit(model, dm)
    path = tmp_path / "m.ckpt"
    tr.save_checkpoint(path)
    loaded = STDBPClassifier.load_from_checkpoint(path, weights_only=True)
    assert loaded.hparams.spec == "30-10" and loaded.hparams.tau == 0.3
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    x = dm.test_set.tensors[0][:20]
    assert torch.equal(model(x), loaded(x))
    with pytest.raises(ValueError, match="spec"):
        STDBPClassifier.load_from_checkpoint(path, weights_only=True, spec="40-10")


@pytest.mark.parametrize("framework", ["snntorch", "norse"])
def test_surrogate_checkpoint_round_trip(tmp_path, framework):
    pytest.importorskip(framework)
    model = SurrogateClassifier(framework, spec="20-10", num_steps=5)
    path = tmp_path / "s.ckpt"
    ckpt = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": L.__version__}  # fmt: skip
    torch.save(ckpt, path)
    loaded = SurrogateClassifier.load_from_checkpoint(path, weights_only=True)
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    other = "norse" if framework == "snntorch" else "snntorch"
    with pytest.raises(ValueError, match="framework"):
        SurrogateClassifier(other, spec="20-10").on_load_checkpoint(torch.load(path))


def test_silent_layer_warning():
    L.seed_everything(0, verbose=False)
    dm = SpikingDataModule(max_samples=60, batch_size=30, val_split=0.5)
    model = STDBPClassifier("20-10", lr=1e-6)
    with torch.no_grad():
        model.net.layers[0].weight.fill_(-1.0)  # all slopes < 0: no hidden neuron can fire
    stats = SpikeStatisticsCallback(probe_size=30)
    with pytest.warns(UserWarning, match="layer 0 .* is silent"):
        trainer(max_epochs=1, callbacks=[stats]).fit(model, dm)
    assert stats.history[0]["silent_l0"] == 1.0 and stats.history[0]["firing_fraction_l0"] == 0.0


def test_spike_statistics_values():
    L.seed_everything(0, verbose=False)
    dm = SpikingDataModule(max_samples=60, batch_size=30, val_split=0.5)
    model = STDBPClassifier("20-10")
    stats = SpikeStatisticsCallback(probe_size=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a live network must not warn
        trainer(max_epochs=1, callbacks=[stats], max_steps=1).fit(model, dm)
    x = dm.val_set.tensors[0]
    fired = torch.isfinite(model.net.run(x).layer_times[0])
    assert stats.history[0]["firing_fraction_l0"] == pytest.approx(fired.float().mean().item())
    assert stats.history[0]["silent_l0"] == pytest.approx((~fired.any(0)).float().mean().item())


@pytest.mark.parametrize("framework", ["snntorch", "norse"])
def test_surrogate_conv_spec_counts(framework):
    """Conv + pool + dense baseline: counts agree with the recorded spike trains."""
    pytest.importorskip(framework)
    torch.manual_seed(0)
    model = SurrogateClassifier(framework, spec="4C3p1-P2-12-10", num_steps=6)
    x = torch.rand(3, 1, 8, 8)
    spikes_in = model.encode(x)
    run = model.net.run(spikes_in)
    assert [t.shape for t in run.layer_spikes] == [(6, 3, 4, 8, 8), (6, 3, 12), (6, 3, 10)]
    for i, train in enumerate(run.layer_spikes):
        torch.testing.assert_close(run.spike_counts[:, i], train.flatten(2).sum((0, 2)))
    pooled = torch.nn.functional.max_pool2d(run.layer_spikes[0].flatten(0, 1), 2)
    expect = (
        torch.nn.functional.conv2d(spikes_in.flatten(0, 1), torch.ones(1, 1, 3, 3), padding=1)
        .reshape(6, 3, -1).sum((0, 2)) * 4
        + pooled.reshape(6, 3, -1).sum((0, 2)) * 12
        + run.layer_spikes[1].sum((0, 2)) * 10
    )  # fmt: skip
    torch.testing.assert_close(run.synops, expect)
