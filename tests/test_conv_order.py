"""numba_cpu.conv_order (each sample's map sorted once) equals a stable argsort of every
receptive field, and the kernel given that order equals the kernel that sorts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stdbp_plugin.kernels import numba_cpu


def time_map(gen, shape, p_silent, grid):
    t = torch.rand(shape, generator=gen, dtype=torch.float64) * 2
    if grid:  # many ties, inside and across channels
        t = (t / grid).floor() * grid
    return t.masked_fill(
        torch.rand(shape, generator=gen, dtype=torch.float64) < p_silent, torch.inf
    )


def field_rows(t_map, kernel, stride, bias):
    rows = (
        F.unfold(t_map, kernel, stride=stride)
        .transpose(1, 2)
        .reshape(-1, t_map.shape[1] * kernel[0] * kernel[1])
    )
    if bias:
        rows = torch.cat([rows.new_zeros(rows.shape[0], 1), rows], 1)
    return rows


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    ("kernel", "stride"), [((3, 3), (1, 1)), ((2, 3), (2, 1)), ((5, 5), (1, 1))]
)
@pytest.mark.parametrize(("p_silent", "grid"), [(0.3, 0.0), (0.6, 0.25), (1.0, 0.0), (0.0, 0.5)])
def test_conv_order_is_stable_argsort_of_each_field(bias, kernel, stride, p_silent, grid):
    gen = torch.Generator().manual_seed(hash((bias, kernel, stride, p_silent, grid)) % 2**31)
    t_map = time_map(gen, (3, 2, 7, 8), p_silent, grid)
    rows = field_rows(t_map, kernel, stride, bias)
    got = numba_cpu.conv_order(t_map, kernel, stride, bias)
    # Python's sort is stable: ties and +inf stay in index order
    expected = [sorted(range(len(row)), key=row.__getitem__) for row in rows.tolist()]
    assert got.tolist() == expected


def test_kernel_with_given_order_equals_kernel_that_sorts():
    gen = torch.Generator().manual_seed(3)
    t_map = time_map(gen, (2, 3, 6, 6), 0.4, 0.25)
    rows = field_rows(t_map, (3, 3), (1, 1), True)
    weight = torch.randn(5, rows.shape[1], generator=gen, dtype=torch.float64) * 0.5 + 0.2
    theta = torch.rand(5, generator=gen, dtype=torch.float64) + 0.3
    order = numba_cpu.conv_order(t_map, (3, 3), (1, 1), True)
    given = numba_cpu.forward(rows, weight, theta, order)
    sorted_here = numba_cpu.forward(rows, weight, theta)
    for got, expected in zip(given, sorted_here, strict=True):
        assert torch.equal(got, expected)


def test_given_order_of_wrong_shape_is_rejected():
    rows = torch.rand(4, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="order must be int64"):
        numba_cpu.forward(
            rows,
            torch.ones(2, 6, dtype=torch.float64),
            torch.ones(2),
            torch.zeros(4, 5, dtype=torch.int64),
        )


@pytest.mark.parametrize("threads", [1, 3])
def test_conv_order_in_chunks_of_threads(threads):
    """Full fields (no silent input) in several chunks: no write may spill into another row."""
    before = torch.get_num_threads()
    gen = torch.Generator().manual_seed(threads)
    t_map = time_map(gen, (5, 2, 6, 6), 0.0, 0.5)
    try:
        torch.set_num_threads(threads)
        got = numba_cpu.conv_order(t_map, (3, 3), (1, 1), True)
    finally:
        torch.set_num_threads(before)
    rows = field_rows(t_map, (3, 3), (1, 1), True)
    assert got.tolist() == [sorted(range(len(r)), key=r.__getitem__) for r in rows.tolist()]
