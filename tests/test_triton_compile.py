"""The Triton programs compile for a real GPU target without a GPU (ahead of time, to cubin).

The interpreter tests (test_triton_backend.py) check what the programs compute; this checks that
Triton's compiler accepts them (types, loops, atomics) for sm_90 (H100 / H200) and sm_80 (A100),
in every variant the backend launches: float32 and float64, each backward flag combination.
"""

from __future__ import annotations

import pytest

triton = pytest.importorskip("triton")
compiler = pytest.importorskip("triton.compiler")
backends = pytest.importorskip("triton.backends.compiler")

from stdbp_plugin.kernels import triton_backend  # noqa: E402


def nvidia_backend_present() -> bool:
    try:
        from triton.backends import backends as found
    except ImportError:
        return False
    return "nvidia" in found


pytestmark = pytest.mark.skipif(
    not nvidia_backend_present(), reason="triton without its nvidia backend (ptxas)"
)


def forward_signature(dt: str) -> dict[str, str]:
    names = ("sorted_t", "order", "n_finite", "weight_t", "theta", "t_out", "n_causal", "slope")
    kinds = (dt, "i64", "i32", dt, "fp64", dt, "i64", dt)
    sig = {f"{n}_ptr": f"*{k}" for n, k in zip(names, kinds, strict=True)}
    return {**sig, "n_in": "i32", "n_out": "i32", "BLOCK_O": "constexpr"}


def backward_signature(dt: str) -> dict[str, str]:
    names = ("a", "t_in", "t_out", "weight_t", "order", "n_causal", "grad_in", "grad_w_t")
    kinds = (dt, dt, dt, dt, "i64", "i64", "fp64", "fp64")
    sig = {f"{n}_ptr": f"*{k}" for n, k in zip(names, kinds, strict=True)}
    flags = {"NEED_IN": "constexpr", "NEED_W": "constexpr", "BLOCK_O": "constexpr"}
    return {**sig, "n_in": "i32", "n_out": "i32", **flags}


@pytest.mark.parametrize("arch", [90, 80])
def test_kernels_compile_to_cubin(arch):
    kernels = triton_backend._kernels(interpret=False)
    target = backends.GPUTarget("cuda", arch, 32)
    for dt in ("fp32", "fp64"):
        src = compiler.ASTSource(
            fn=kernels.relpsp_forward_kernel,
            signature=forward_signature(dt),
            constexprs={"BLOCK_O": 128},
        )
        options = {"num_warps": triton_backend._warps(128)}
        assert len(triton.compile(src, target=target, options=options).asm["cubin"]) > 0
        for need_in, need_w in ((True, True), (True, False), (False, True)):
            src = compiler.ASTSource(
                fn=kernels.relpsp_backward_kernel,
                signature=backward_signature(dt),
                constexprs={"NEED_IN": need_in, "NEED_W": need_w, "BLOCK_O": 16},
            )
            options = {"num_warps": triton_backend._warps(16)}
            assert len(triton.compile(src, target=target, options=options).asm["cubin"]) > 0
