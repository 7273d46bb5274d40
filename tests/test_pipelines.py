"""The pipelines matrix in miniature: every upstream pipeline x variant of
benchmarks/pipelines/ builds, trains two small batches with few time steps and tests without
error, with finite losses (or says why the variant does not apply). Real MNIST when the raw
files are there, else random images (shapes are all that matter here)."""

from __future__ import annotations

import math
import sys
import warnings

import pytest
import torch
from conftest import REPO_ROOT, data_dir

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import pipelines  # noqa: E402
from pipelines import NAMES, VARIANTS, Budget, Data, NotApplicable  # noqa: E402

# Small, fast settings per pipeline (the heavy conv nets get fewer steps and smaller batches).
TINY = {
    "snntorch_tutorial5": dict(num_steps=5, batch_size=32),
    "snntorch_tutorial5_membrane": dict(num_steps=5, batch_size=32),
    "snntorch_tutorial6": dict(num_steps=4, batch_size=16),
    "snntorch_temporal": dict(num_steps=6, batch_size=32),
    "norse_mnist_task": dict(num_steps=8, batch_size=8),  # its encoder first fires at step 5
    "norse_readme": dict(num_steps=6, batch_size=32),
    "norse_latency": dict(num_steps=6, batch_size=32),
}


@pytest.fixture(scope="module")
def data() -> Data:
    root = data_dir()
    if (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        from torchvision.datasets import MNIST

        train = MNIST(root=str(root), train=True, download=False)
        test = MNIST(root=str(root), train=False, download=False)
        x, y = train.data[:200].float().div(255).unsqueeze(1), train.targets[:200].clone()
        xt, yt = test.data[:64].float().div(255).unsqueeze(1), test.targets[:64].clone()
    else:
        g = torch.Generator().manual_seed(0)
        x, xt = torch.rand(200, 1, 28, 28, generator=g), torch.rand(64, 1, 28, 28, generator=g)
        y, yt = torch.randint(0, 10, (200,), generator=g), torch.randint(0, 10, (64,), generator=g)
    return Data(x, y, xt, yt)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", NAMES)
def test_pipeline_variant_trains(name: str, variant: str, data: Data) -> None:
    budget = Budget(epochs=1, max_batches=2, progress=False, warmup=False, **TINY[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            result = pipelines.run(name, variant, data, budget)
        except NotApplicable as err:
            assert variant == "event", f"only the event variant may be inapplicable: {err}"
            assert len(str(err)) > 20, "a NotApplicable must say why"
            return
    assert result["losses_finite"], result["epoch_loss"]
    assert all(math.isfinite(v) for v in result["epoch_loss"])
    assert 0.0 <= result["accuracy"] <= 100.0
    assert result["s_per_epoch"] > 0
    assert result["spikes_per_sample"] >= 0
    assert result["num_steps"] == TINY[name]["num_steps"]


@pytest.mark.parametrize("name", NAMES)
def test_every_variant_documents_its_changed_lines(name: str) -> None:
    module = pipelines.pipeline(name)
    assert module.CHANGES["upstream"] == []
    for variant in ("swap", "clock"):
        lines = module.CHANGES[variant]
        assert lines and all(line[:2] in ("+ ", "- ") for line in lines), (variant, lines)
    if not module.CHANGES["event"]:
        assert len(getattr(module, "EVENT_NOT_APPLICABLE", "")) > 20
    # the swap changes the neuron class names and at most one readout line besides
    removed = [line for line in module.CHANGES["swap"] if line.startswith("- ")]
    readout = [line for line in module.CHANGES["swap"] if "readout line" in line]
    assert len(readout) <= 1
    for line in removed:
        assert any(
            k in line for k in ("Leaky", "LIF", "import snntorch.functional", "predicted")
        ), line


@pytest.mark.parametrize("name", NAMES)
def test_reinit_variants_add_one_line_to_their_base(name: str) -> None:
    module = pipelines.pipeline(name)
    for variant, base in pipelines.REINIT_BASE.items():
        lines = pipelines.changes(module, variant)
        added = [line for line in lines if line not in module.CHANGES[base]]
        reinit = [line for line in added if "stdbp.reinit(" in line]
        assert len(reinit) == 1 and reinit[0].startswith(f"+ stdbp.reinit({module.MODEL_NAME}, ")
        assert set(added) - set(reinit) <= {"+ import stdbp_plugin as stdbp"}, added


def test_bench_renders_docs_from_results(tmp_path) -> None:
    """The table writer copes with ok, error and n/a cells (no training here)."""
    import bench_pipelines

    ok = {
        "status": "ok",
        "accuracy": 80.0,
        "s_per_epoch": 10.0,
        "spikes_per_sample": 100.0,
        "silent_output_fraction": 0.1,
        "epoch_loss": [1.0],
        "warnings": ["UserWarning: ReLPSP ignored beta"],
    }
    slow = dict(ok, accuracy=70.0, s_per_epoch=20.0, silent_output_fraction=0.5)
    info = {"cpu_count": 2, "threads": 2, "device": "cpu", "load_avg_1_5_15min": [1, 1, 1]}
    info["omp_wait_policy"] = "PASSIVE"
    result = {
        "commands": ["python benchmarks/bench_pipelines.py --train-size 10"],
        "machine_before": info,
        "machine_after": info,
        "machines": {"python benchmarks/bench_pipelines.py --train-size 10": "load 1 before"},
        "budgets": {"snntorch_tutorial5": {"train_size": 10, "test_size": 5, "epochs": 1}},
        "results": {
            "snntorch_tutorial5": {
                "upstream": ok,
                "swap": slow,
                "clock": {"status": "error", "error": "TypeError: boom"},
                "event": {"status": "n/a", "reason": "direct input"},
            }
        },
    }
    text = bench_pipelines.render_docs(result)
    assert "| snntorch_tutorial5 | swap | 70.00 | -10.00 | 20.0 | 2.00 |" in text
    assert "no: accuracy, speed" in text
    assert "TypeError: boom" in text
    assert "**snntorch_tutorial5 / swap**: measured: 70.0% against 80.0% upstream" in text
    assert "- self.lif1 = snn.Leaky(beta=beta)" in text
    assert "- `--train-size 10`: load 1 before" in text  # the machine of each command


def test_seed_table_reads_the_bar_on_means_over_the_same_seeds() -> None:
    """benchmarks/pipelines/seeds.py: mean, spread and the bar on the means (no training)."""
    import bench_pipelines
    from pipelines import seeds

    runs: dict = {}
    figures = {
        "upstream": {0: (50.0, 10.0), 1: (60.0, 10.0), 2: (55.0, 10.0)},
        "swap_reinit": {0: (56.0, 9.0), 1: (52.0, 9.0), 2: (54.5, 9.0)},  # mean 54.17: meets
        "clock_reinit": {0: (54.0, 12.0), 1: (51.0, 12.0), 2: (53.0, 12.0)},  # 52.67: misses
        "swap": {0: (70.0, 1.0), 1: (70.0, 1.0)},  # read against upstream's seeds 0, 1
        "clock": {0: (70.0, 1.0), 3: (70.0, 1.0)},  # upstream has no seed 3: no verdict
    }
    for variant, by_seed in figures.items():
        for seed, (acc, sec) in by_seed.items():
            cell = {"status": "ok", "accuracy": acc, "s_per_epoch": sec}
            seeds.record(runs, "snntorch_tutorial6", variant, seed, cell)
    seeds.record(runs, "norse_readme", "swap", 0, {"status": "ok", "accuracy": 1.0})
    lines = "\n".join(seeds.render(runs, pipelines.NAMES, VARIANTS, margin=1.0))
    assert (
        "| snntorch_tutorial6 | upstream | 0,1,2 | 50.00, 60.00, 55.00 | 55.00 | 10.00 |" in lines
    )
    assert "| swap_reinit | 0,1,2 | 56.00, 52.00, 54.50 | 54.17 | 4.00 | -0.83 | yes (0.90x) |" in (
        lines
    )
    assert "54.00, 51.00, 53.00 | 52.67 | 3.00 | -2.33 | no: accuracy, speed (1.20x) |" in lines
    assert (
        "| snntorch_tutorial6 | swap | 0,1 | 70.00, 70.00 | 70.00 | 0.00 | +15.00 | yes (0.10x) |"
        in (lines)
    )
    assert "| snntorch_tutorial6 | clock | 0,3 | 70.00, 70.00 | 70.00 | 0.00 |  |  |" in lines
    assert "norse_readme" not in lines  # one seed: not a row
    assert bench_pipelines._seed_list("0,1,2", 0) == [0, 1, 2]
    assert bench_pipelines._seed_list(None, 3) == [3]
    assert bench_pipelines._seed_list("3,4", 0) == [3, 4]  # the main table is not touched
    for bad in ("0,0", "0,x", ","):
        with pytest.raises(SystemExit, match="--seeds"):
            bench_pipelines._seed_list(bad, 0)
