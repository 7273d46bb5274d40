"""Host reads of tensor values (device syncs on a GPU) in the layers' hot path.

- a layer's output, the latency code and the pooled map are tagged as valid spike times, so
  the next layer does not read them again; an in-place edit or a copy brings the check back;
- the value checks that remain are one reduction each and still raise the precise errors;
- the path taken off the CPU (no host read before the silent-output gradient term) gives the
  same gradients as the CPU path.
"""

from __future__ import annotations

import copy

import pytest
import torch

from stdbp_plugin import functional as SF
from stdbp_plugin.functional import linear
from stdbp_plugin.functional.known_valid import is_known_valid

READS = ("__bool__", "item", "__float__", "__int__", "tolist")


class Reads:
    """Counts host reads of tensor values (wraps the Tensor methods for the duration)."""

    def __enter__(self) -> Reads:
        self.count, self.saved = 0, {n: getattr(torch.Tensor, n) for n in READS}
        for name, method in self.saved.items():
            setattr(torch.Tensor, name, self._counted(method))
        return self

    def _counted(self, method):
        def wrapper(*args, **kwargs):
            self.count += 1
            return method(*args, **kwargs)

        return wrapper

    def __exit__(self, *exc) -> None:
        for name, method in self.saved.items():
            setattr(torch.Tensor, name, method)


def spike_times(*shape: int, silent: float = 0.5) -> torch.Tensor:
    t = torch.rand(*shape, dtype=torch.float64)
    return t.masked_fill(torch.rand(*shape) < silent, float("inf"))


def weights(n_out: int, n_in: int) -> torch.Tensor:
    return (torch.randn(n_out, n_in, dtype=torch.float64) * 0.5 + 0.3).requires_grad_()


def test_counter_sees_a_read():
    with Reads() as reads:
        bool(torch.ones(3).any())
    assert reads.count == 1


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_second_layer_reads_nothing(backend):
    t = spike_times(6, 12)
    w1, w2 = weights(9, 12), weights(4, 9)
    with Reads() as first:
        h = SF.relpsp_linear(t, w1, backend=backend)
    with Reads() as second:
        out = SF.relpsp_linear(h, w2, backend=backend)
    assert first.count == 1  # the input's one fused value check
    assert second.count == 0
    assert is_known_valid(out)


def test_tensor_threshold_is_fused_with_the_input_check():
    t, w = spike_times(5, 7), weights(3, 7)
    theta = torch.full((3,), 0.8, dtype=torch.float64, requires_grad=True)
    with Reads() as reads:
        h = SF.relpsp_linear(t, w, threshold=theta)
    assert reads.count == 1
    with Reads() as reads:
        SF.relpsp_linear(h, weights(2, 3), threshold=theta[:2])
    assert reads.count == 1  # the threshold's values only


def test_in_place_edit_of_a_layer_output_is_checked_again():
    t, w = spike_times(4, 6), weights(5, 6).detach()
    h = SF.relpsp_linear(t, w)
    assert is_known_valid(h)
    h.detach().sub_(10.0)  # shares h's version counter
    assert not is_known_valid(h)
    with pytest.raises(ValueError, match="t_in contains negative"):
        SF.relpsp_linear(h, weights(3, 5))


def test_copies_and_inference_tensors_are_not_trusted():
    t, w = spike_times(4, 6), weights(5, 6)
    h = SF.relpsp_linear(t, w)
    edited = h.detach().clone()
    assert not is_known_valid(edited)  # a new tensor: untagged
    assert not is_known_valid(copy.deepcopy(h.detach()))  # other storage
    with torch.inference_mode():
        assert not is_known_valid(SF.relpsp_linear(t, w.detach()))


@pytest.mark.parametrize(
    ("value", "message"),
    [(float("nan"), "t_in contains NaN"), (-0.5, "t_in contains negative")],
)
def test_fused_check_keeps_the_precise_errors(value, message):
    t = spike_times(3, 4)
    t[1, 2] = value
    with pytest.raises(ValueError, match=message):
        SF.relpsp_linear(t, weights(2, 4))
    with pytest.raises(ValueError, match=message):
        SF.relpsp_conv2d(t.reshape(3, 1, 2, 2), weights(2, 4).reshape(2, 1, 2, 2))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_threshold_errors(bad):
    t, w = spike_times(3, 4), weights(2, 4)
    with pytest.raises(ValueError, match="threshold must be finite and > 0"):
        SF.relpsp_linear(t, w, threshold=bad)
    theta = torch.tensor([1.0, bad], dtype=torch.float64)
    with pytest.raises(ValueError, match="threshold must be finite and > 0"):
        SF.relpsp_linear(t, w, threshold=theta)


def test_cnn_chain_reads_only_its_input():
    t = spike_times(2, 1, 10, 10)
    w1 = weights(3, 9).reshape(3, 1, 3, 3)
    w2 = weights(4, 27).reshape(4, 3, 3, 3)
    with Reads() as reads:
        h = SF.earliest_spike_pool2d(SF.relpsp_conv2d(t, w1, padding=1), 2)
        h = SF.earliest_spike_pool2d(SF.relpsp_conv2d(h, w2, padding=1), 2)
        out = SF.relpsp_linear(h.flatten(1), weights(5, 16))  # 4 x 2 x 2
    assert reads.count == 1
    assert is_known_valid(out)


def test_latency_code_is_trusted_and_t_max_must_be_finite():
    x = torch.rand(3, 5)
    assert is_known_valid(SF.latency_encode(x))
    with pytest.raises(ValueError, match="t_max"):  # inf * (1 - 1) would be NaN
        SF.latency_encode(x, t_max=float("inf"))


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_off_cpu_path_gives_the_same_gradients(monkeypatch, backend):
    """keep_target_alive sends a gradient to silent targets: the term the CPU path adds only
    after a host read must equal the unconditional one taken off the CPU."""
    torch.manual_seed(3)
    t = spike_times(8, 10, silent=0.3)
    w = weights(4, 10).detach()
    w[0] = -w[0].abs()  # neuron 0 never fires: the samples with target 0 get the revival
    w.requires_grad_()
    b = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    y = torch.arange(8) % 4

    def grads():
        out = SF.relpsp_linear(t, w, b, backend=backend)
        assert torch.isinf(out.gather(1, y[:, None])).any()  # some targets are silent
        SF.temporal_cross_entropy(out, y, keep_target_alive=1.0).backward()
        g = (w.grad.clone(), b.grad.clone())
        w.grad = b.grad = None
        return g

    on_cpu = grads()
    monkeypatch.setattr(linear, "sync_is_free", lambda device: False)
    off_cpu = grads()
    for g_cpu, g_off in zip(on_cpu, off_cpu, strict=True):
        torch.testing.assert_close(g_off, g_cpu, rtol=0, atol=1e-15)
    assert on_cpu[0].abs().sum() > 0
