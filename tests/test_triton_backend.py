"""The Triton backend equals the pure-torch reference kernel (forward and STDBP gradients).

Without a GPU the Triton programs run under Triton's CPU interpreter (TRITON_INTERPRET=1, set
here for the duration of each test; the backend loads its kernels interpreted for CPU tensors).
With ``STDBP_TEST_DEVICE=cuda`` the same tests run the compiled kernels on CUDA tensors
(benchmarks/gpu_check.py does that). float64 results agree with the reference to rounding;
float32 results (float64 accumulation) agree with the float64 reference on the same values.
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")

from stdbp_plugin.functional import relpsp_conv2d, relpsp_linear  # noqa: E402
from stdbp_plugin.kernels import reference, resolve_backend, triton_backend  # noqa: E402

DEVICE = torch.device(os.environ.get("STDBP_TEST_DEVICE", "cpu"))
if DEVICE.type == "cuda" and not torch.cuda.is_available():
    pytest.skip("STDBP_TEST_DEVICE=cuda but CUDA is not available", allow_module_level=True)

SETTINGS = settings(
    max_examples=20,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the interpreter is slow
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def interpreter(monkeypatch):
    """Triton's interpreter for CPU tensors (the backend refuses CPU tensors without it)."""
    if DEVICE.type == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "1")


def make_case(seed: int, batch: int, n_in: int, n_out: int, silent: float, grid: float | None):
    """Random times in [0, 2] (+inf with prob. `silent`; rounded to `grid` to create ties; the
    last sample all silent), weights of both signs with a positive mean, thresholds in
    [0.2, 1.2], all float64 on the CPU."""
    g = torch.Generator().manual_seed(seed)
    t = 2.0 * torch.rand(batch, n_in, generator=g, dtype=torch.float64)
    if grid is not None:
        t = torch.round(t / grid) * grid
    t[torch.rand(batch, n_in, generator=g) < silent] = float("inf")
    if batch > 1:
        t[-1] = float("inf")
    w = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) + 0.8 / n_in**0.5
    bias = 0.3 * torch.randn(n_out, generator=g, dtype=torch.float64)
    theta = 0.2 + torch.rand(n_out, generator=g, dtype=torch.float64)
    return t, w, bias, theta


cases = st.builds(
    make_case,
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 5),
    n_in=st.integers(1, 12),
    n_out=st.integers(1, 40),  # > 16: several neuron blocks per sample
    silent=st.sampled_from([0.0, 0.3, 0.7]),
    grid=st.sampled_from([None, 0.25, 0.5]),
)


def on(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return x.to(device=DEVICE, dtype=dtype)


def assert_forward_matches(t, w, theta, dtype):
    t, w, theta = (x.to(dtype).double() for x in (t, w, theta))  # the same values in both
    ref = reference.forward(t, w, theta)  # float64, CPU
    out = triton_backend.forward(on(t, dtype), on(w, dtype), on(theta, dtype))
    assert out.t_out.device.type == DEVICE.type and out.t_out.dtype == dtype == out.slope.dtype
    assert out.order.dtype == torch.int64 and out.n_causal.dtype == torch.int64
    out = [x.cpu() for x in out]
    assert torch.equal(out[1], ref.order)
    assert torch.equal(out[2], ref.n_causal)
    assert torch.equal(torch.isinf(out[0]), torch.isinf(ref.t_out))
    finite = torch.isfinite(ref.t_out)
    tol = 1e-10 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(out[0][finite].double(), ref.t_out[finite], rtol=tol, atol=tol)
    torch.testing.assert_close(out[3].double(), ref.slope, rtol=tol, atol=tol)
    return ref


@SETTINGS
@example(case=make_case(1, 1, 5, 1, 0.3, 0.25), dtype=torch.float64)  # batch 1, N_out 1
@example(case=make_case(2, 4, 8, 3, 0.0, 0.5), dtype=torch.float32)  # all tied pairs
@example(case=make_case(3, 1, 1, 3, 0.0, None), dtype=torch.float64)  # a single input
@example(case=make_case(4, 3, 6, 5, 1.0, None), dtype=torch.float64)  # every input silent
@given(case=cases, dtype=st.sampled_from([torch.float64, torch.float32]))
def test_forward_equals_reference(case, dtype):
    t, w, _, theta = case
    assert_forward_matches(t, w, theta, dtype)


def grads(t, w, bias, theta, backend, coeff):
    t, w, bias, theta = (x.clone().requires_grad_() for x in (t, w, bias, theta))
    t_out = relpsp_linear(t, w, bias, theta, backend=backend)
    loss = (torch.where(torch.isfinite(t_out), t_out, 0.0) * coeff).sum()
    loss.backward()
    return [x.detach().cpu() for x in (t_out, t.grad, w.grad, bias.grad, theta.grad)]


def assert_grads_match(case, dtype):
    t, w, bias, theta = case
    coeff = torch.linspace(-1.0, 2.0, t.shape[0] * w.shape[0], dtype=torch.float64)
    coeff = coeff.reshape(t.shape[0], w.shape[0])
    ref = grads(t, w, bias, theta, "torch", coeff)  # float64 reference on the CPU
    got = grads(*(on(x, dtype) for x in (t, w, bias, theta)), "triton", on(coeff, dtype))
    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 2e-4, "atol": 2e-4}
    names = ("t_out", "t_in", "weight", "bias", "theta")
    for name, g_ref, g_got in zip(names, ref, got, strict=True):
        assert g_got.dtype == dtype, name
        finite = g_ref[torch.isfinite(g_ref)].abs()
        scale = max(1.0, float(finite.max())) if finite.numel() else 1.0
        torch.testing.assert_close(
            g_got.double() / scale, g_ref / scale, **tol, msg=lambda m, n=name: f"{n}: {m}"
        )


@SETTINGS
@example(case=make_case(1, 1, 5, 1, 0.3, 0.25), dtype=torch.float64)
@example(case=make_case(2, 4, 8, 3, 0.0, 0.5), dtype=torch.float32)
@example(case=make_case(5, 3, 7, 20, 0.3, None), dtype=torch.float64)  # two neuron blocks
@given(case=cases, dtype=st.sampled_from([torch.float64, torch.float32]))
def test_gradients_equal_reference(case, dtype):
    assert_grads_match(case, dtype)


def test_digits_layer_matches_reference():
    """A realistic layer: latency-coded digits (many tied times), 64 -> 40 (3 neuron blocks)."""
    datasets = pytest.importorskip("sklearn.datasets")  # not the fixture: sklearn is optional
    x = torch.from_numpy(datasets.load_digits().data[:8] / 16.0)
    t = torch.where(x > 0, 1.0 - x, float("inf"))
    g = torch.Generator().manual_seed(1)
    w = 0.2 * torch.randn(40, 64, generator=g, dtype=torch.float64) + 0.05
    bias = 0.1 * torch.randn(40, generator=g, dtype=torch.float64)
    theta = torch.full((40,), 1.0, dtype=torch.float64)
    ref = assert_forward_matches(t, w, theta, torch.float64)
    assert 0.2 < (ref.n_causal > 0).double().mean() < 1.0  # some fire, some do not
    assert_grads_match((t, w, bias, theta), torch.float64)


def test_partial_gradients_and_non_contiguous_inputs():
    t, w, _, theta = make_case(3, 5, 9, 4, silent=0.3, grid=0.25)
    ref = reference.forward(t, w, theta)
    t_nc = on(t, torch.float64).T.contiguous().T  # same values, column-major
    w_nc = on(w, torch.float64).T.contiguous().T
    assert not t_nc.is_contiguous() and not w_nc.is_contiguous()
    out = triton_backend.forward(t_nc, w_nc, on(theta, torch.float64))
    assert torch.equal(out.t_out.cpu(), ref.t_out) and torch.equal(out.n_causal.cpu(), ref.n_causal)
    a = torch.randn(5, 4, dtype=torch.float64) * (ref.n_causal > 0)
    r_in, r_w = reference.backward(a, t, ref.t_out, w, ref.order, ref.n_causal, True, True)
    args = [on(x, x.dtype) for x in (a, t, ref.t_out, w, ref.order, ref.n_causal)]
    args[1], args[3] = t_nc, w_nc
    g_in, g_w = triton_backend.backward(*args, need_input_grad=True, need_weight_grad=False)
    assert g_w is None
    torch.testing.assert_close(g_in.cpu(), r_in, rtol=1e-12, atol=1e-12)
    g_in, g_w = triton_backend.backward(*args, need_input_grad=False, need_weight_grad=True)
    assert g_in is None
    torch.testing.assert_close(g_w.cpu(), r_w, rtol=1e-12, atol=1e-12)


def test_edge_shapes():
    """An empty batch, all inputs silent, a single input, zero outputs, zero inputs."""
    w = on(torch.randn(3, 4, dtype=torch.float64), torch.float64)
    theta = on(torch.ones(3), torch.float64)
    out = triton_backend.forward(w.new_empty(0, 4), w, theta)
    assert out.t_out.shape == (0, 3) and out.order.shape == (0, 4)
    a = w.new_zeros(0, 3)
    g_in, g_w = triton_backend.backward(a, w.new_empty(0, 4), a, w, out.order, out.n_causal)
    assert g_in.shape == (0, 4) and torch.equal(g_w.cpu(), torch.zeros(3, 4, dtype=torch.float64))
    out = triton_backend.forward(torch.full_like(w[:2], float("inf")), w, theta)
    assert torch.isinf(out.t_out).all() and (out.n_causal == 0).all() and (out.slope == 0).all()
    t1 = on(torch.tensor([[0.5]]), torch.float64)
    out = triton_backend.forward(t1, on(torch.tensor([[2.0], [-1.0]]), torch.float64), theta[:2])
    # V = 2 (t - 0.5) = 1 at t = 1; the negative weight never fires
    assert out.t_out.cpu().tolist()[0][0] == 1.0 and torch.isinf(out.t_out[0, 1])
    assert out.n_causal.cpu().tolist() == [[1, 0]] and out.slope.cpu().tolist() == [[2.0, 0.0]]
    assert triton_backend.forward(t1, w[:0, :1], theta[:0]).t_out.shape == (1, 0)
    out = triton_backend.forward(w.new_empty(2, 0), w[:, :0], theta)
    assert torch.isinf(out.t_out).all() and out.t_out.shape == (2, 3)


def test_conv_path_equals_reference():
    """relpsp_conv2d unfolds into relpsp_linear: the triton backend serves it too."""
    g = torch.Generator().manual_seed(5)
    t = torch.rand(2, 2, 6, 6, generator=g, dtype=torch.float64)
    t[torch.rand(2, 2, 6, 6, generator=g) < 0.3] = float("inf")
    w = 0.5 * torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64) + 0.2
    coeff = torch.randn(2, 3, 3, 3, generator=g, dtype=torch.float64)

    def run(backend, device):
        tt, ww = (x.detach().to(device).clone().requires_grad_() for x in (t, w))
        out = relpsp_conv2d(tt, ww, threshold=0.5, stride=2, padding=1, backend=backend)
        (torch.where(torch.isfinite(out), out, 0.0) * coeff.to(device)).sum().backward()
        return [x.detach().cpu() for x in (out, tt.grad, ww.grad)]

    ref = run("torch", "cpu")
    assert torch.isfinite(ref[0]).any() and torch.isinf(ref[0]).any()
    for g_ref, g_got in zip(ref, run("triton", DEVICE), strict=True):
        torch.testing.assert_close(g_got, g_ref, rtol=1e-9, atol=1e-9)


def test_backend_resolution(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert resolve_backend("triton", torch.device("cpu")) is triton_backend  # interpreter on
    assert resolve_backend("auto", torch.device("cuda")) is triton_backend
    assert resolve_backend("auto", torch.device("meta")) is reference
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(ValueError, match="backend='triton' runs on CUDA tensors"):
        resolve_backend("triton", torch.device("cpu"))
    with pytest.raises(ValueError, match="backend='triton'"):
        relpsp_linear(torch.zeros(1, 2), torch.ones(1, 2), backend="triton")


def test_runs_inside_torch_compile():
    """Under torch.compile the launches run eagerly (a graph break), with the eager results."""
    t, w, bias, theta = make_case(6, 4, 10, 5, silent=0.3, grid=None)
    coeff = torch.linspace(-1.0, 2.0, 20, dtype=torch.float64).reshape(4, 5)

    def step(t, w, b):
        out = relpsp_linear(t, w, b, on(theta, torch.float64), backend="triton")
        return (torch.where(torch.isfinite(out), out, 0.0) * on(coeff, torch.float64)).sum()

    torch._dynamo.reset()
    results = []
    for fn in (step, torch.compile(step, backend="aot_eager")):
        ti, wi, bi = (on(x, torch.float64).requires_grad_() for x in (t, w, bias))
        loss = fn(ti, wi, bi)
        loss.backward()
        results.append([x.detach().cpu() for x in (loss, ti.grad, wi.grad, bi.grad)])
    torch._dynamo.reset()
    for x, y in zip(*results, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)
