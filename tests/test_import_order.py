"""The CPU kernel gives the same result, on torch's own threads, whatever was imported first."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest
import torch

from stdbp_plugin.kernels import numba_cpu
from stdbp_plugin.kernels.torch_team import team

# A fresh process imports FIRST, then runs one forward + backward of the numba kernel on two
# torch threads and saves every output; it also reports what the import left behind.
CHILD = textwrap.dedent(
    """
    import importlib, os, sys
    importlib.import_module(sys.argv[1])
    import torch
    import stdbp_plugin
    from stdbp_plugin.kernels import numba_cpu
    from stdbp_plugin.kernels.torch_team import team

    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(3)
    t = torch.rand(16, 40, generator=g, dtype=torch.float64)
    t = torch.where(torch.rand(16, 40, generator=g) < 0.5, t, float("inf"))
    w = torch.randn(24, 40, generator=g, dtype=torch.float64)
    theta = torch.full((24,), 0.3, dtype=torch.float64)
    out = numba_cpu.forward(t, w, theta)
    a = torch.randn(16, 24, generator=g, dtype=torch.float64) * (out.n_causal > 0)
    grads = numba_cpu.backward(a, t, out.t_out, w, out.order, out.n_causal, True, True)
    torch.save({"forward": tuple(out), "grads": grads}, sys.argv[2])
    print(team() is not None, numba_cpu.num_chunks(16), os.environ.get("OMP_WAIT_POLICY"))
    print(team().spin_limited)
    """
)


def _is_libgomp() -> bool:
    import ctypes

    lib = ctypes.CDLL(torch._C.__file__)
    return hasattr(lib, "GOMP_parallel") and not hasattr(lib, "kmp_set_blocktime")


def _run(first: str, path, **extra_env: str) -> tuple[dict, list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(extra_env)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, first, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(path), proc.stdout.split()


@pytest.mark.skipif(team() is None, reason="torch does not run on an OpenMP runtime here")
def test_kernel_identical_whichever_is_imported_first(tmp_path):
    runs = {first: _run(first, tmp_path / f"{first}.pt") for first in ("torch", "stdbp_plugin")}
    for _saved, report in runs.values():
        # on torch's OpenMP team, in 2 chunks, and no environment variable set by the import
        assert report[:3] == ["True", "2", "None"]
        # torch's idle threads made to sleep (libgomp only: another runtime keeps its own)
        assert report[3] == str(_is_libgomp())
    (a, _), (b, _) = runs.values()
    for x, y in zip(a["forward"], b["forward"], strict=True):
        assert torch.equal(x, y)
    for x, y in zip(a["grads"], b["grads"], strict=True):
        assert torch.equal(x, y)


@pytest.mark.skipif(team() is None, reason="torch does not run on an OpenMP runtime here")
def test_team_runs_every_chunk_once_and_reraises():
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            seen, lock = [], threading.Lock()

            def work(c, seen=seen, lock=lock):
                with lock:
                    seen.append(c)

            team().run(7, work)
            assert sorted(seen) == list(range(7))

        def fail(c):
            if c == 1:
                raise ValueError("chunk 1")

        with pytest.raises(ValueError, match="chunk 1"):
            team().run(2, fail)
    finally:
        torch.set_num_threads(previous)


@pytest.mark.skipif(team() is None, reason="torch does not run on an OpenMP runtime here")
def test_numba_pool_and_torch_team_agree():
    """The fallback (numba's own pool) and torch's team split the work alike: equal results."""
    g = torch.Generator().manual_seed(5)
    t = torch.where(torch.rand(9, 30, generator=g) < 0.4, torch.rand(9, 30, generator=g), 1e9)
    t = t.masked_fill(t > 1, float("inf"))
    w = torch.randn(13, 30, generator=g)
    theta = torch.full((13,), 0.2)
    a = torch.randn(9, 13, generator=g)
    results = []
    before = (numba_cpu.PARALLEL, torch.get_num_threads())
    if numba_cpu.numba.get_num_threads() < 2:
        pytest.skip("numba's pool has one thread here: it would run one chunk, not two")
    try:
        torch.set_num_threads(2)
        for mode in ("auto", "numba"):
            numba_cpu.PARALLEL = mode
            out = numba_cpu.forward(t, w, theta)
            a_m = a * (out.n_causal > 0)
            grads = numba_cpu.backward(a_m, t, out.t_out, w, out.order, out.n_causal, True, True)
            results.append((tuple(out), grads))
    finally:
        numba_cpu.PARALLEL = before[0]
        torch.set_num_threads(before[1])
    (out1, g1), (out2, g2) = results
    for x, y in zip((*out1, *g1), (*out2, *g2), strict=True):
        assert torch.equal(x, y)


@pytest.mark.skipif(team() is None, reason="torch does not run on an OpenMP runtime here")
def test_a_wait_policy_set_by_the_user_is_left_alone(tmp_path):
    _, report = _run("torch", tmp_path / "active.pt", OMP_WAIT_POLICY="ACTIVE")
    assert report == ["True", "2", "ACTIVE", "False"]
