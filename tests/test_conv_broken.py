"""The checks of test_conv_direct catch a broken direct conv kernel: copies of
kernels/numba_conv.py with one deliberate mistake each (a source edit) must give spike times
that differ from the fields unfolded into rows (or run out of bounds), on maps where the real
kernel agrees bit for bit, or gradients that differ from the real kernel's (which
test_conv_direct checks against the rows). One forward and one backward mutation run by
default, the others with ``-m slow`` (each compiles a copy of the kernel)."""

from __future__ import annotations

import importlib.util
import inspect
import sys

import pytest
import torch
from test_conv_direct import make_problem, unfolded

from stdbp_plugin.kernels import numba_conv

#: (name, the kernel's source line(s), the broken replacement)
MUTATIONS = [
    ("slide does not unmark the columns left behind", "x0 - sw, sw, False)", "x0 - sw, 0, False)"),
    ("slide marks one column too few", "x0 + kw - sw, sw, True", "x0 + kw - sw + 1, sw - 1, True"),
    ("walk does not freeze fired neurons", "alive[j] = a_j - new", "alive[j] = a_j"),
    ("walk records the crossing one input early", "np.float64(m + 1)", "np.float64(m)"),
    (
        "a field with one finite input reuses an empty field's spikes",
        "if cnt == has_bias and f_empty >= 0:",
        "if cnt <= has_bias + 1 and f_empty >= 0:",
    ),
]


def broken_kernel(tmp_path, old: str, new: str):
    """A copy of the kernel with the first occurrence of ``old`` replaced by ``new``."""
    source = inspect.getsource(numba_conv)
    where = {"n_causal_f[ends[e]] == k:": 2}  # in _field_both, then _field_w: break the first
    count = source.count(old)
    assert count == where.get(old, 1), f"the kernel changed: {old!r} found {count} times"
    path = tmp_path / "broken_numba_conv.py"
    # bounds checked: a broken field walk may run past its row (an IndexError, not a crash)
    source = source.replace(old, new, 1).replace("cache=True", "cache=False, boundscheck=True")
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("broken_numba_conv", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop("broken_numba_conv", None)
    spec.loader.exec_module(module)
    return module


def spike_times(kernel, t_in, weight, bias, theta):
    out_ch = weight.shape[0]
    weight_t = torch.cat([bias[None], weight.reshape(out_ch, -1).t()]).contiguous()
    return kernel.forward(t_in, weight_t, theta, tuple(weight.shape[2:]), (1, 1), True).t_out


def cases(mutations: list, default: int) -> list:
    """Each mutation a case; all but ``default`` marked slow (each compiles a kernel copy)."""
    return [
        pytest.param(*m, id=m[0], marks=() if k == default else pytest.mark.slow)
        for k, m in enumerate(mutations)
    ]


@pytest.mark.parametrize(("name", "old", "new"), cases(MUTATIONS, 2))
def test_a_broken_kernel_is_caught(tmp_path, name, old, new):
    kernel = broken_kernel(tmp_path, old, new)
    caught = False
    for seed in range(6):
        silent = (0.2, 0.9)[seed // 3]  # mostly finite maps, then sparse ones (empty fields)
        t_in, weight, bias, theta = make_problem(
            seed, (2, 3, 7, 7), 4, (3, 3), 0.25 * (seed % 2), silent, True, torch.float64
        )
        expected = unfolded(t_in, weight, bias, theta, (1, 1), (0, 0), "numba")
        assert torch.equal(spike_times(numba_conv, t_in, weight, bias, theta), expected)
        try:
            caught |= not torch.equal(spike_times(kernel, t_in, weight, bias, theta), expected)
        except IndexError:
            caught = True
    assert caught, f"{name}: not caught"


#: the backward's per-field walk (both gradients asked for)
BACKWARD_MUTATIONS = [
    ("a neuron's gradient outlives its causal set", "n_causal_f[ends[e]] == k:", "False:"),
    ("the input gradient overwrites instead of adding", "g_flat[pos] += acc", "g_flat[pos] = acc"),
    (
        "the bias row's gradient is dropped",
        "g_row[j] -= act_t[j]\n            continue\n        pos =",
        "continue\n        pos =",
    ),
    (
        "the dW-only walk forgets t_i",
        "offset[i]])\n        for j in range(n_out):\n            g_row[j] += act[j] * t_i",
        "offset[i]])\n        for j in range(n_out):\n            g_row[j] += act[j]",
    ),
]


def gradients(kernel, t_in, weight, bias, theta, grad_seed):
    """(dt_in, dW, dtheta) with both gradients asked for, then (dW, dtheta) without dt_in."""
    out_ch = weight.shape[0]
    weight_t = torch.cat([bias[None], weight.reshape(out_ch, -1).t()]).contiguous()
    fwd = kernel.forward(t_in, weight_t, theta, tuple(weight.shape[2:]), (1, 1), True)
    gen = torch.Generator().manual_seed(grad_seed)
    grad_out = torch.randn(fwd.t_out.shape, generator=gen, dtype=t_in.dtype)
    both = kernel.backward(grad_out, t_in, fwd.t_out, weight_t, fwd)
    weight_only = kernel.backward(grad_out, t_in, fwd.t_out, weight_t, fwd, None, False, True)
    return (*both, *weight_only[1:])


@pytest.mark.parametrize(("name", "old", "new"), cases(BACKWARD_MUTATIONS, 0))
def test_a_broken_backward_is_caught(tmp_path, name, old, new):
    kernel = broken_kernel(tmp_path, old, new)
    caught = False
    for seed in range(4):
        problem = make_problem(seed, (2, 3, 6, 6), 4, (3, 3), 0.0, 0.2, True, torch.float64)
        expected = gradients(numba_conv, *problem, seed)
        got = gradients(kernel, *problem, seed)
        caught |= not all(
            torch.allclose(g, e, rtol=1e-10, atol=1e-12) for g, e in zip(got, expected, strict=True)
        )
    assert caught, f"{name}: not caught"
