"""Shared fixtures: repo root, data dir, the digits data set and the kernel backends."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

from stdbp_plugin.data import has_raw_files, resolve_data_dir

# CI runs the property tests on a fixed sequence of examples (a red CI run is then a real,
# reproducible failure); locally hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["torch", "numba"]


def numba_backend_available() -> bool:
    """The numba backend counts once its module exists and numba imports."""
    try:
        return importlib.util.find_spec("stdbp_plugin.kernels.numba_cpu") is not None and (
            importlib.util.find_spec("numba") is not None
        )
    except ModuleNotFoundError:
        return False


def skip_missing_backend(name: str) -> None:
    if name == "numba" and not numba_backend_available():
        pytest.skip("stdbp_plugin.kernels.numba_cpu is not there yet")


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Whatever a test does to torch's thread count (an in-process ``stdbp train --threads N``,
    a benchmark helper), the next test starts with the count it had before: the kernel splits
    its work by that count, and bit-for-bit tests compare runs at a fixed one."""
    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: tiny matmuls run ~10x faster than on two threads of a
    busy 2-core machine, and the kernel then runs one chunk with one dW buffer (summing the
    samples in the order a per-input reference does). The autouse fixture above restores it."""
    torch.set_num_threads(1)


@pytest.fixture
def one_thread_everywhere():
    """torch and numba at one thread for the test, restored after: the same float summation
    order in every run (``pytestmark = pytest.mark.usefixtures("one_thread_everywhere")``)."""
    from stdbp_plugin.compare.threads import restore_threads, set_threads

    previous = set_threads(1)
    yield
    restore_threads(previous)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each kernel backend in turn ("numba" skipped only while its module is missing)."""
    skip_missing_backend(request.param)
    return request.param


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def data_dir() -> Path:
    """$STDBP_DATA_DIR, else ../shared/data beside the repository."""
    return resolve_data_dir(None) or REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """Root for ``torchvision.datasets.MNIST(root, download=False)``; skip if the raw files lack."""
    root = data_dir()
    if not has_raw_files("mnist", root):
        pytest.skip(f"MNIST raw IDX files not found under {root / 'MNIST' / 'raw'}")
    return root


@pytest.fixture(scope="session")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn's bundled digits: x in [0, 1] float32 [1797, 64] (pixels / 16), y int64."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.from_numpy((data.data / 16.0).astype(np.float32))
    y = torch.from_numpy(data.target.astype(np.int64))
    return x, y
