"""compare_model / `stdbp compare --model`: a user's own snnTorch and Norse models, defined
here (never seen by the package), trained as they are and switched by convert (clock, event)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")
snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from stdbp_plugin.cli import main  # noqa: E402
from stdbp_plugin.compare import compare_model  # noqa: E402
from stdbp_plugin.compare.user_model import ModelSpecError, load_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
FILES = ("report.md", "results.json", "accuracy_per_epoch.png", "latency_histogram.png",
         "raster.png")  # fmt: skip
TINY = {"epochs": 1, "max_samples": 64, "num_steps": 8, "batch_size": 32, "progress": False}


class TutorialNet(nn.Module):
    """snnTorch tutorial style: a loop over time, ``spk_rec, mem_rec = net(x)``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(64, 32), snn.Leaky(beta=0.9)
        self.fc2, self.lif2 = nn.Linear(32, 10), snn.Leaky(beta=0.9)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk_rec, mem_rec = [], []
        for step in range(x.shape[0]):
            spk1, mem1 = self.lif1(self.fc1(x[step].flatten(1)), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk_rec.append(spk2)
            mem_rec.append(mem2)
        return torch.stack(spk_rec), torch.stack(mem_rec)


def norse_li_net() -> nn.Module:
    """Norse README style: LIF hidden layer, LI membrane read-out, ``out, state = net(x)``."""
    return norse.SequentialState(
        norse.Lift(nn.Flatten()),
        norse.Lift(nn.Linear(64, 32)),
        norse.LIF(),
        norse.Lift(nn.Linear(32, 10)),
        norse.LI(),
    )


def max_membrane_ce(v, y):
    return F.cross_entropy(v.max(dim=0).values, y)


def _check_results(results: list[dict], out: Path, skipped: tuple[str, ...] = ()) -> None:
    assert [r["model"] for r in results] == ["user", "clock", "event"]
    for r in results:
        if r["model"] in skipped:
            assert r["skipped"]
            continue
        assert 0.0 <= r["test_acc"] <= 1.0 and r["epoch_time_s"] > 0
        assert r["spikes_per_sample"] == pytest.approx(sum(r["spikes_per_layer"]), rel=1e-5)
        assert r["synops_per_sample"] > 0 and len(r["history"]["val/acc"]) == 1
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in data["results"]] == ["user", "clock", "event"]
    report = (out / "report.md").read_text()
    for label in ("| your model |", "| clock (convert) |", "| event (convert)"):
        assert label in report
    assert "stdbp convert (" in report  # what was switched


def test_python_call_snntorch_model(tmp_path):
    torch.manual_seed(0)
    results = compare_model(
        TutorialNet(), loss="ce_rate_loss", data="digits", encoding="rate", out=tmp_path, **TINY
    )
    _check_results(results, tmp_path)
    user, clock, event = results
    assert (user["loss"], user["readout"]) == ("ce_rate_loss", "count")
    assert (clock["loss"], clock["readout"]) == ("ce_rate_loss", "first_spike")
    assert "Leaky -> ReLPSP" in clock["conversion"] and event["readout"] == "spike_times"
    assert user["n_params"] == clock["n_params"]


def test_python_call_norse_model_event_skipped_with_reason(tmp_path):
    results = compare_model(
        norse_li_net, loss=max_membrane_ce, encoding="latency", out=tmp_path, **TINY
    )
    _check_results(results, tmp_path, skipped=("event",))
    assert results[1]["readout"] == "max_membrane" and "LI" in results[1]["conversion"]
    assert "read-out" in results[2]["skipped"]
    assert "not run" in (tmp_path / "report.md").read_text()


HELPER = """
import torch
import norse.torch as norse
import snntorch as snn
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.lif1 = snn.Leaky(beta=0.9, init_hidden=True)
        self.fc2 = nn.Linear(32, 10)
        self.lif2 = snn.Leaky(beta=0.9, init_hidden=True, output=True)

    def forward(self, x):
        self.lif1.reset_mem()
        self.lif2.reset_mem()
        spikes = []
        for step in range(x.shape[0]):
            spk, _ = self.lif2(self.fc2(self.lif1(self.fc1(x[step]))))
            spikes.append(spk)
        return torch.stack(spikes)


net = Net()


def norse_net():
    return norse.SequentialState(
        norse.Lift(nn.Linear(64, 32)), norse.LIF(), norse.Lift(nn.Linear(32, 10)), norse.LIF()
    )


class Wrong(nn.Module):
    def forward(self, x):
        return x.sum(0).flatten(1)  # [B, features]: no time axis


wrong = Wrong


number = 3
"""


def stdbp(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stdbp_plugin.cli", *args],
        cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


TINY_ARGS = ("--epochs", "1", "--max-samples", "64", "--num-steps", "8", "--no-progress")


def test_command_snntorch_model_isolated(tmp_path):
    (tmp_path / "tests_helper_module.py").write_text(HELPER)
    out = tmp_path / "report"
    proc = stdbp("compare", "--model", "tests_helper_module:net", "--loss", "ce_temporal_loss",
                 "--encoding", "latency", "--flatten", *TINY_ARGS, "--out", str(out),
                 cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())["results"]
    _check_results(results, out)
    assert results[1]["loss"] == "ce_temporal_loss" and "test acc" in proc.stdout


def test_command_norse_model_in_process(tmp_path, monkeypatch, capsys):
    (tmp_path / "tests_helper_module.py").write_text(HELPER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    out = tmp_path / "report"
    code = main(["compare", "--model", "tests_helper_module:norse_net", "--flatten",
                 "--loss", "ce_rate_loss", *TINY_ARGS, "--no-isolate", "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())["results"]
    _check_results(results, out)
    assert "LIF -> ReLPSP" in results[1]["conversion"]
    sys.modules.pop("tests_helper_module", None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module:net", "cannot import module 'no_such_module'"),
        ("tests_helper_module:missing", "has no attribute 'missing'"),
        ("tests_helper_module:number", "not an nn.Module"),
        ("tests_helper_module:wrong", "output train [T, B, N]"),
        ("tests_helper_module", "'module:attribute'"),
    ],
)
def test_command_bad_model_one_line_exit_2(tmp_path, monkeypatch, capsys, spec, message):
    (tmp_path / "tests_helper_module.py").write_text(HELPER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("tests_helper_module", None)
    assert main(["compare", "--model", spec, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "r").exists()
    sys.modules.pop("tests_helper_module", None)


def test_bad_loss_and_variants():
    with pytest.raises(ModelSpecError, match="snnTorch's readouts"):
        compare_model(TutorialNet(), loss="ce_no_such_loss", out=None, **TINY)
    with pytest.raises(ModelSpecError, match="variants"):
        compare_model(TutorialNet(), variants=("user", "magic"), out=None, **TINY)
    with pytest.raises(ModelSpecError, match="module:attribute"):
        load_model("no-colon")


def test_existing_report_folder_needs_overwrite(tmp_path):
    """Like `stdbp compare --out`: a non-empty folder stops the call before any training and is
    left as it was; overwrite=True replaces it with the new report."""
    out = tmp_path / "report"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    calls = []

    class Spy(TutorialNet):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)

    with pytest.raises(ModelSpecError, match="out .*overwrite=True"):
        compare_model(Spy(), out=out, **TINY)
    with pytest.raises(ModelSpecError, match="not a folder"):
        compare_model(Spy(), out=out / "mine.txt", **TINY)
    with pytest.raises(ModelSpecError, match="overwrite"):
        compare_model(Spy(), out=out, overwrite="yes", **TINY)
    assert not calls and [p.name for p in out.iterdir()] == ["mine.txt"]
    results = compare_model(Spy(), variants=("user",), out=out, overwrite=True, **TINY)
    assert calls and results[0]["model"] == "user"
    assert not (out / "mine.txt").exists() and (out / "report.md").is_file()


def test_direct_encoding_skips_event_with_reason():
    results = compare_model(
        TutorialNet(), encoding="direct", variants=("user", "event"), out=None, **TINY
    )
    assert results[0]["readout"] == "count" and "direct" in results[1]["skipped"]


def test_loss_instance_is_mapped_by_name():
    import snntorch.functional as SF

    from stdbp_plugin.compare.user_model import resolve_loss
    from stdbp_plugin.snntorch import functional as RF

    choice = resolve_loss(SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.1), True)
    assert isinstance(choice.switched, RF.mse_count_loss) and choice.readout == "count"
    assert choice.switched.correct_rate == 0.8 and choice.switched.incorrect_rate == 0.1
    assert resolve_loss(None, False).name == "ce_max_membrane_loss"
    assert resolve_loss(max_membrane_ce, False).switched is max_membrane_ce


def test_user_model_classifier_counts_spikes_and_synops():
    import snntorch.functional as SF

    from stdbp_plugin.lightning import UserModelClassifier

    torch.manual_seed(0)
    net = TutorialNet()
    model = UserModelClassifier(net, SF.ce_rate_loss(), "count", "rate", 10,
                                flatten=True)  # fmt: skip
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,))
    torch.manual_seed(1)
    out = model.evaluate(x, y)
    torch.manual_seed(1)
    inputs = model.encode(x)
    hidden = []
    handle = net.lif1.register_forward_hook(lambda m, i, o: hidden.append(o[0]))
    spk_out, _ = net(inputs)
    handle.remove()
    hidden = torch.stack(hidden)
    assert out.spike_counts.shape == (6, 2)
    torch.testing.assert_close(out.spike_counts[:, 0].float(), hidden.sum((0, 2)))
    torch.testing.assert_close(out.spike_counts[:, 1].float(), spk_out.sum((0, 2)))
    synops = (inputs != 0).sum((0, 2)) * 32 + hidden.sum((0, 2)) * 10
    torch.testing.assert_close(out.synops.float(), synops.float())
    assert out.prediction.shape == (6,) and out.loss.requires_grad
