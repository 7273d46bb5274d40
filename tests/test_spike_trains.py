"""spikes_to_times / times_to_spikes: values, the hat-rule gradients, argument checks."""

import pytest
import torch

from stdbp_plugin.functional import spikes_to_times, times_to_spikes

INF = float("inf")


def test_times_to_spikes_puts_the_spike_at_floor_t_over_dt():
    t = torch.tensor([[0.0, 0.25, 0.99, 1.0, 2.6, INF, 7.0]])
    s = times_to_spikes(t, num_steps=5, dt=0.5)
    assert s.shape == (5, 1, 7)
    expected_step = [0, 0, 1, 2, 5, None, None]  # 2.6 / 0.5 = 5.2 -> step 5 (outside T = 5)
    for i, k in enumerate(expected_step):
        column = s[:, 0, i]
        if k is None or k >= 5:
            assert column.sum() == 0
        else:
            assert column.sum() == 1 and column[k] == 1


def test_spikes_to_times_takes_the_first_spike():
    s = torch.zeros(6, 2, 3)
    s[2, 0, 0] = s[4, 0, 0] = 1  # two spikes: the first counts
    s[0, 1, 1] = 1
    s[5, 1, 2] = 0.5  # any non-zero value is a spike
    t = spikes_to_times(s, dt=0.1)
    expected = torch.tensor([[0.2, INF, INF], [INF, 0.0, 0.5]])
    torch.testing.assert_close(t, expected)


def test_round_trip_of_grid_times():
    t = torch.tensor([[0.0, 3.0, INF], [1.0, 2.0, 4.0]]) * 0.25
    torch.testing.assert_close(spikes_to_times(times_to_spikes(t, 20, 0.25), 0.25), t)


def test_times_to_spikes_backward_is_the_hat_rule():
    t = torch.tensor([[0.3, 1.2, 1.9, INF]], requires_grad=True)
    dt, steps = 0.5, 4
    g = torch.randn(steps, 1, 4)
    times_to_spikes(t, steps, dt).backward(g)
    k = [0, 2, 3]
    expected = [
        (g[k_ + 1, 0, i] if k_ + 1 < steps else 0.0) - g[k_, 0, i] for i, k_ in enumerate(k)
    ]
    torch.testing.assert_close(
        t.grad[0, :3], torch.stack([torch.as_tensor(e) for e in expected]) / dt
    )
    assert t.grad[0, 3] == 0


def test_spikes_to_times_backward_then_hat_gives_back_dl_dt():
    """times -> train -> times: the composed gradient is the identity (inside the window)."""
    t = torch.tensor([[0.3, 1.2, 1.7]], requires_grad=True)
    out = spikes_to_times(times_to_spikes(t, 4, 0.5), 0.5)
    g = torch.tensor([[1.5, -2.0, 0.7]])
    out.backward(g)
    torch.testing.assert_close(t.grad, g)


def test_spikes_to_times_backward_puts_silent_gradient_on_the_last_step():
    s = torch.zeros(5, 1, 2, requires_grad=True)
    with torch.no_grad():
        s[1, 0, 0] = 1
    spikes_to_times(s, 0.5).backward(torch.tensor([[2.0, 3.0]]))
    assert s.grad[1, 0, 0] == -1.0 and s.grad[4, 0, 1] == -1.5
    assert s.grad.abs().sum() == 2.5


def test_finite_difference_of_the_hat():
    """The hat is the derivative of the linearly interpolated spike s_k = k+1 - t/dt,
    s_{k+1} = t/dt - k: a finite difference of that interpolation agrees with the backward."""
    dt, steps = 0.25, 8
    t0 = torch.tensor([[0.6, 1.1]], dtype=torch.float64)
    g = torch.randn(steps, 1, 2, dtype=torch.float64)

    def interpolated(t):
        k = torch.floor(t / dt)
        frac = t / dt - k
        steps_ = torch.arange(steps, dtype=t.dtype).view(-1, 1, 1)
        return (steps_ == k) * (1 - frac) + (steps_ == k + 1) * frac

    eps = 1e-6
    fd = ((interpolated(t0 + eps) - interpolated(t0 - eps)) / (2 * eps) * g).sum((0, 1))
    t = t0.clone().requires_grad_()
    times_to_spikes(t, steps, dt).backward(g)
    torch.testing.assert_close(t.grad[0], fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: spikes_to_times(torch.zeros(3), 1.0), "spikes"),
        (lambda: spikes_to_times(torch.zeros(0, 2, 3), 1.0), "T >= 1"),
        (lambda: spikes_to_times(torch.zeros(3, 2), 0.0), "dt"),
        (lambda: times_to_spikes(torch.zeros(2, 3), 0, 1.0), "num_steps"),
        (lambda: times_to_spikes(torch.zeros(2, 3), 4, -1.0), "dt"),
        (lambda: times_to_spikes(-torch.ones(2, 3), 4, 1.0), "negative"),
        (lambda: times_to_spikes(torch.full((2, 3), float("nan")), 4, 1.0), "NaN"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
