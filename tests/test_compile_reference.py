"""The pure-torch reference backend under ``torch.compile`` on the CPU.

- its forward and backward kernels trace whole (``fullgraph=True``) and give the eager results,
  also when the batch is cut into several chunks;
- ``relpsp_linear(backend="torch")`` compiles inside a user's function (with graph breaks at
  the argument checks) and gives the eager spike times and STDBP gradients;
- compiled, the chunking still bounds memory: no [B, N_out, N_in] tensor is allocated.

The fast tests use the ``aot_eager`` compiler backend (dynamo + AOT autograd, no code
generation); the inductor variant (C++ code generation, minutes on a busy CPU) is marked slow.
"""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from stdbp_plugin.functional import relpsp_linear
from stdbp_plugin.kernels import reference


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def case(batch: int = 6, n_in: int = 20, n_out: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(batch, n_in, generator=g, dtype=torch.float64)
    t = torch.round(t * 8) / 8  # ties
    t[torch.rand(batch, n_in, generator=g) < 0.3] = float("inf")
    t[-1] = float("inf")  # a silent sample
    w = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) + 0.4
    theta = 0.3 + torch.rand(n_out, generator=g, dtype=torch.float64)
    return t, w, theta


@pytest.mark.parametrize("chunk", [reference.CHUNK_ELEMENTS, 2 * 20 * 8])
def test_kernels_trace_whole_and_match_eager(monkeypatch, chunk):
    monkeypatch.setattr(reference, "CHUNK_ELEMENTS", chunk)  # 2 samples per chunk: 3 chunks
    t, w, theta = case()
    eager = reference.forward(t, w, theta)
    assert (eager.n_causal > 0).any() and (eager.n_causal == 0).any()
    compiled = torch.compile(reference.forward, fullgraph=True, backend="aot_eager")(t, w, theta)
    for name, x, y in zip(eager._fields, compiled, eager, strict=True):
        assert torch.equal(x, y), name
    a = torch.randn(*eager.t_out.shape, dtype=torch.float64) * (eager.n_causal > 0)
    args = (a, t, eager.t_out, w, eager.order, eager.n_causal, True, True)
    backward = torch.compile(reference.backward, fullgraph=True, backend="aot_eager")
    for x, y in zip(backward(*args), reference.backward(*args), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


def train_step(t, w, b, theta, coeff):
    out = relpsp_linear(t, w, b, theta, backend="torch")
    return (torch.where(torch.isfinite(out), out, 0.0) * coeff).sum(), out


def check_compiled_layer(compiler: str) -> None:
    t, w, theta = case(seed=1)
    coeff = torch.linspace(-1.0, 2.0, 6 * 8, dtype=torch.float64).reshape(6, 8)
    results = []
    for fn in (train_step, torch.compile(train_step, backend=compiler)):
        ti, wi = t.clone().requires_grad_(), w.clone().requires_grad_()
        bi = torch.zeros(8, dtype=torch.float64, requires_grad=True)
        thi = theta.clone().requires_grad_()
        loss, out = fn(ti, wi, bi, thi, coeff)
        loss.backward()
        results.append((out.detach(), ti.grad, wi.grad, bi.grad, thi.grad))
    assert torch.isfinite(results[0][0]).any()
    for x, y in zip(*results, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


def test_relpsp_linear_under_compile_aot_eager():
    check_compiled_layer("aot_eager")


@pytest.mark.slow
def test_relpsp_linear_under_compile_inductor():
    check_compiled_layer("inductor")


def largest_allocation(fn, *args) -> int:
    """Bytes of the largest single CPU allocation made by one call (torch's profiler)."""
    fn(*args)  # compile first
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn(*args)
    return max((e.cpu_memory_usage for e in prof.events() if e.cpu_memory_usage > 0), default=0)


def test_chunking_bounds_memory_when_compiled(monkeypatch):
    batch, n_in, n_out = 32, 32, 16
    t, w, theta = case(batch, n_in, n_out, seed=2)
    whole = batch * n_out * n_in * t.element_size()  # one [B, N_out, N_in] float64 tensor
    forward = torch.compile(reference.forward, fullgraph=True, backend="aot_eager")
    assert largest_allocation(forward, t, w, theta) >= whole  # the profiler sees it
    monkeypatch.setattr(reference, "CHUNK_ELEMENTS", 2 * n_out * n_in)  # 2 samples per chunk
    torch._dynamo.reset()
    forward = torch.compile(reference.forward, fullgraph=True, backend="aot_eager")
    assert largest_allocation(forward, t, w, theta) <= whole // 4
