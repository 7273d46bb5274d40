"""What a new user hits: every bad command-line value is one line on stderr, exit code 2, no
traceback, and nothing written; checkpoints that cannot be used say why; --help documents every
option; the terminal stays quiet."""

from __future__ import annotations

import inspect
import os
import string
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("lightning")
from stdbp_plugin.cli import main  # noqa: E402
from stdbp_plugin.compare.options import (  # noqa: E402
    MODELS,
    CompareOptions,
    OptionError,
    check_spec,
    normalize_argv,
)
from stdbp_plugin.lightning.checkpoint import (  # noqa: E402
    CheckpointError,
    check_checkpoint,
    reconcile_hparams,
)
from stdbp_plugin.lightning.stdbp_classifier import STDBPClassifier  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "integrations" / "lightning"
QUIET_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"} | {"COLUMNS": "200"}


def stdbp(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stdbp_plugin.cli", *args],
        cwd=cwd, env=QUIET_ENV, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0] and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def run_in(folder: Path, argv: list[str], capsys) -> tuple[int, str]:
    """main(argv) with ``folder`` as the current directory; (exit code, stderr). argparse's
    errors exit (SystemExit), the later checks return the code."""
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    finally:
        os.chdir(cwd)
    return code, capsys.readouterr().err


BAD_COMPARE = [
    (["--dataset", "mnist", "--data-dir", "/nonexistent"], "--data-dir /nonexistent", "--download"),
    (["--dataset", "mnist"], "--data-dir DIR", "MNIST/raw", "--download"),
    (["--dataset", "fashion-mnist"], "FashionMNIST/raw"),
    (["--models", "foo"], "--models", "'foo'", "stdbp, snntorch, norse"),
    (["--models", "stdbp,stdbp"], "--models", "'stdbp' is given 2 times"),
    (["--models", ""], "--models"),
    (["--spec", "400-abc"], "--spec", "'abc'", "grammar"),
    (["--spec", "400--10"], "--spec", "grammar"),
    (["--spec", "C5-10"], "--spec", "'C5'"),
    (["--spec", "16C5-P2"], "--spec", "output layer"),
    (["--spec", "16C9-10"], "--spec", "does not fit a 8x8 map"),
    (["--spec", ""], "--spec", "got ''"),
    (["--spec", "400-7"], "--spec", "10 classes"),
    (["--epochs", "0"], "--epochs", "positive integer"),
    (["--epochs", "abc"], "--epochs", "integer"),
    (["--batch-size", "-3"], "--batch-size"),
    (["--max-samples", "1"], "--max-samples"),
    (["--num-steps", "2.5"], "--num-steps"),
    (["--shift", "-1"], "--shift"),
    (["--threads", "0"], "--threads"),
    (["--dataset", "cifar"], "--dataset", "'digits'"),
    (["--out", ""], "--out"),
    (["--bogus", "1"], "unrecognized arguments"),
    (["--model", "no_such_module:net"], "no_such_module"),
    (["--model", "not-a-spec"], "module:attribute"),
    (["--model", "m:n", "--variants", "user,user"], "--variants"),
    (["--model", "m:n", "--lr", "0"], "--lr"),
    (["--model", "m:n", "--lr", "nan"], "--lr"),
    (["--model", "m:n", "--silent-grad", "-1"], "--silent-grad"),
    (["--model", "m:n", "--readout", "votes"], "--readout"),
    (["--model", "m:n", "--encoding", "morse"], "--encoding"),
]


@pytest.mark.parametrize("argv", BAD_COMPARE, ids=lambda a: " ".join(a[0]) or "''")
def test_compare_bad_value_is_one_line(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("STDBP_DATA_DIR", raising=False)
    args, *needles = argv
    code, err = run_in(tmp_path, ["compare", *args], capsys)
    assert code == 2
    assert_one_line_error(err, "stdbp compare: error:", *needles)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_existing_report_is_kept_unless_overwrite(tmp_path, capsys):
    (tmp_path / "stdbp_report").mkdir()
    (tmp_path / "stdbp_report" / "report.md").write_text("earlier run")
    code, err = run_in(tmp_path, ["compare", "--epochs", "1"], capsys)
    assert code == 2
    assert_one_line_error(err, "--out stdbp_report", "--overwrite")
    assert (tmp_path / "stdbp_report" / "report.md").read_text() == "earlier run"
    assert CompareOptions(out=str(tmp_path / "stdbp_report"), overwrite=True).check() is None


BAD_TRAIN = [
    (["--epochs", "0"], "--epochs"),
    (["--lr", "-1"], "--lr"),
    (["--tau", "nan"], "--tau"),
    (["--horizon", "inf"], "--horizon"),
    (["--hidden", "x"], "--hidden"),
    (["--threads", "100000"], "--threads", "at most"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent"], "MNIST/raw"),
    (["--dataset", "imagenet"], "--dataset"),
]


@pytest.mark.parametrize("argv", BAD_TRAIN, ids=lambda a: " ".join(a[0]))
def test_train_bad_value_is_one_line(argv, tmp_path, capsys):
    args, *needles = argv
    code, err = run_in(tmp_path, ["train", *args], capsys)
    assert code == 2
    assert_one_line_error(err, "stdbp train: error:", *needles)
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "stdbp_mlp.pt").write_bytes(b"earlier")
    code, err = run_in(tmp_path, ["train", "--epochs", "1"], capsys)
    assert code == 2
    assert_one_line_error(err, "--save stdbp_mlp.pt", "--overwrite")
    assert (tmp_path / "stdbp_mlp.pt").read_bytes() == b"earlier"


def test_unknown_command_is_one_line(tmp_path, capsys):
    code, err = run_in(tmp_path, ["frobnicate"], capsys)
    assert code == 2
    assert_one_line_error(err, "stdbp: error:", "'frobnicate'")


BAD_FIT = [
    (["--config", "/nonexistent.yaml"], "--config", "/nonexistent.yaml"),
    (["--trainer.max_epochs=abc"], "--trainer.max_epochs", "'abc'"),
    (["--data.dataset=foo"], "dataset", "'foo'"),
    (["--data.batch_size=0"], "batch_size", "0"),
    (["--model.init_args.spec=400-abc"], "spec", "'abc'"),
    (["--model.init_args.tau=-1"], "tau"),
    (["--bogus", "3"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv", BAD_FIT, ids=lambda a: " ".join(a[0]))
def test_fit_bad_value_is_one_line(argv, tmp_path, capsys):
    args, *needles = argv
    config = [] if args[0] == "--config" else ["--config", str(CONFIGS / "digits_mlp.yaml")]
    code, err = run_in(tmp_path, ["fit", *config, *args], capsys)
    assert code == 2
    assert_one_line_error(err, "stdbp fit: error:", *needles)
    assert list(tmp_path.iterdir()) == []


# ---- property tests ---------------------------------------------------------------------------
_NOT_A_NUMBER = st.text(alphabet=string.ascii_letters + " _/", max_size=8).filter(
    lambda s: (
        s.strip().lower() not in ("", "null", "none", "true", "false", "yes", "no", "on", "off")
    )
)
_BAD = {
    "--epochs": st.integers(max_value=0).map(str) | _NOT_A_NUMBER,
    "--batch-size": st.integers(max_value=0).map(str) | st.just("1.5"),
    "--num-steps": st.integers(max_value=0).map(str) | _NOT_A_NUMBER,
    "--threads": st.integers(max_value=0).map(str)
    | st.integers(min_value=(os.cpu_count() or 1) + 1, max_value=10**12).map(str),
    "--shift": st.integers(max_value=-1).map(str),
    "--max-samples": st.integers(max_value=1).map(str) | _NOT_A_NUMBER,
    "--dataset": _NOT_A_NUMBER.filter(lambda s: s not in ("digits", "mnist", "fashion-mnist")),
    "--models": st.lists(st.sampled_from([*MODELS, "brian", "", "STDBP"]), min_size=1)
    .filter(lambda names: any(n not in MODELS for n in names) or len(set(names)) < len(names))
    .map(",".join),
}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(option=st.sampled_from(sorted(_BAD)), data=st.data())
def test_property_bad_compare_value(option, data, capsys):
    value = data.draw(_BAD[option])
    with tempfile.TemporaryDirectory() as folder:
        code, err = run_in(Path(folder), ["compare", option, value], capsys)
        assert code == 2
        assert_one_line_error(err, "stdbp compare: error:")
        assert option in err or option.replace("-", "_") in err
        assert os.listdir(folder) == []


_SPEC = st.lists(
    st.one_of(
        st.integers(1, 40).map(str),
        st.builds(lambda n, k: f"{n}C{k}", st.integers(1, 8), st.integers(1, 12)),
        st.builds(lambda k: f"P{k}", st.integers(1, 5)),
        st.sampled_from(["", "C5", "x", "10", "0", "4C3p1"]),
    ),
    min_size=1,
    max_size=5,
).map("-".join)


@settings(max_examples=60, deadline=None)
@given(spec=_SPEC, dataset=st.sampled_from(["digits", "mnist"]))
def test_property_spec_checked_up_front(spec, dataset):
    """A spec passes the up-front check only if all three networks build and run on one
    sample of the data set's shape; otherwise it fails with one line naming --spec."""
    from stdbp_plugin.models.stdbp_network import STDBPNetwork
    from stdbp_plugin.models.surrogate_network import SurrogateNetwork

    shape = (1, 8, 8) if dataset == "digits" else (1, 28, 28)
    try:
        check_spec(spec, shape)
    except OptionError as err:
        assert str(err).startswith("--spec") and "\n" not in str(err)
        return
    x = torch.rand(1, *shape)
    assert STDBPNetwork(spec, shape)(x).shape == (1, 10)
    for framework in ("snntorch", "norse"):
        SurrogateNetwork(framework, spec, shape, num_steps=2)


def test_argv_spellings():
    assert normalize_argv(["--data-dir", "d", "--no-progress", "--overwrite", "--seed=3"]) == [
        "--data_dir", "d", "--progress=false", "--overwrite=true", "--seed=3",
    ]  # fmt: skip
    assert normalize_argv(["--isolate", "false"]) == ["--isolate", "false"]


# ---- checkpoints ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_ckpt(tmp_path_factory) -> Path:
    """A checkpoint laid out as Lightning writes it (state_dict + hyper_parameters, every
    argument of STDBPClassifier) of a digits model."""
    params = inspect.signature(STDBPClassifier.__init__).parameters.values()
    hparams = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    hparams |= {"spec": "400-10", "input_shape": (1, 8, 8)}
    hparams["_class_path"] = "stdbp_plugin.lightning.STDBPClassifier"
    state = {
        "net.layers.0.weight": torch.randn(400, 64),
        "net.layers.1.weight": torch.randn(10, 400),
    }
    path = tmp_path_factory.mktemp("ckpt") / "digits.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": hparams}, path)
    return path


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(0.0, 0.999), noise=st.binary(min_size=1, max_size=64))
def test_property_damaged_checkpoint(cut, noise, digits_ckpt, tmp_path):
    good = digits_ckpt.read_bytes()
    for name, blob in (("truncated", good[: int(cut * len(good))]), ("noise", noise)):
        bad = tmp_path / f"{name}.ckpt"
        bad.write_bytes(blob)
        with pytest.raises(CheckpointError) as info:
            check_checkpoint(bad)
        message = str(info.value)
        assert str(bad) in message and "\n" not in message
        assert "weights_only" not in message and "Weights only" not in message


def test_reconcile_rule():
    ckpt = {"spec": "400-10", "input_shape": (1, 8, 8), "lr": 3e-3, "_instantiator": "x"}
    defaults = {"spec": "400-10", "input_shape": [1, 8, 8], "lr": 3e-3}
    # config at the defaults or repeating the checkpoint: the checkpoint's values
    assert reconcile_hparams("c", ckpt, STDBPClassifier, defaults)["input_shape"] == (1, 8, 8)
    ckpt_big = {**ckpt, "spec": "800-10"}
    assert reconcile_hparams("c", ckpt_big, STDBPClassifier, defaults)["spec"] == "800-10"
    # a config / command-line value that contradicts the checkpoint: an error naming it
    with pytest.raises(CheckpointError, match=r"spec='400-10' \(config / command line: '100-10'\)"):
        reconcile_hparams("c", ckpt, STDBPClassifier, {**defaults, "spec": "100-10"})
    with pytest.raises(CheckpointError, match="SurrogateClassifier"):
        reconcile_hparams(
            "c", {**ckpt, "_class_path": "x.SurrogateClassifier"}, STDBPClassifier, {}
        )


def test_cli_checkpoint_errors(digits_ckpt, tmp_path, capsys):
    """Through the command: mismatched config (a real subprocess: exit code, no traceback),
    a contradicting command-line override and damaged files (in-process)."""
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    random = tmp_path / "random.ckpt"
    random.write_bytes(os.urandom(4096))
    mnist = ["--config", str(CONFIGS / "mnist_mlp.yaml"), "--data.data_dir=/nonexistent"]
    proc = stdbp("test", *mnist, f"--ckpt_path={digits_ckpt}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert_one_line_error(proc.stderr, "stdbp test: error:", str(digits_ckpt), "spec='400-10'")
    digits = ["--config", str(CONFIGS / "digits_mlp.yaml")]
    cases = [
        (digits_ckpt, ["--model.init_args.spec=100-10"], ("'100-10'", "define the model")),
        (empty, [], ("is empty",)),
        (random, [], ("cannot be read", "corrupt")),
    ]
    for ckpt, extra, needles in cases:
        code, err = run_in(tmp_path, ["test", *digits, f"--ckpt_path={ckpt}", *extra], capsys)
        assert code == 2
        assert_one_line_error(err, "stdbp test: error:", str(ckpt), *needles)
        assert "weights_only" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.ckpt", "random.ckpt"]


# ---- help and quiet output --------------------------------------------------------------------
def test_compare_help_documents_every_option(tmp_path):
    proc = stdbp("compare", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    text = " ".join(proc.stdout.split())
    for field in CompareOptions.__dataclass_fields__:
        assert f"--{field} " in text or f"--{field}\n" in proc.stdout, field
    assert text.count("(type:") == len(CompareOptions.__dataclass_fields__)
    assert text.count(", default:") == len(CompareOptions.__dataclass_fields__)
    assert "(type:" in text and "Grammar:" in text and "stdbp, snntorch, norse" in text
    assert "``" not in proc.stdout


def test_top_and_train_help(tmp_path):
    top = stdbp("--help", cwd=tmp_path)
    assert top.returncode == 0 and top.stderr == "" and "``" not in top.stdout
    for command in ("compare", "train", "fit", "test"):
        assert command in top.stdout
    train = stdbp("train", "--help", cwd=tmp_path)
    assert train.returncode == 0 and train.stderr == ""
    for option in ("--epochs", "--lr", "--tau", "--save", "--overwrite"):
        assert option in train.stdout
    assert train.stdout.count("(default:") >= 13


def test_fit_help_is_quiet(tmp_path):
    """No LightningCLI 'args and sys.argv' warning, no torch.jit.script deprecations."""
    proc = stdbp("fit", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == "", proc.stderr
    assert "--ckpt_path" in proc.stdout


def test_download_failure_is_one_line(tmp_path, capsys, monkeypatch):
    """--download with no internet (simulated: torchvision's error) is one line naming the dir."""
    import stdbp_plugin.data as data

    calls = []

    def offline(dataset, root, download=False):
        calls.append(download)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://...")

    monkeypatch.setattr(data, "load_dataset", offline)
    args = ["compare", "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--download"]
    code, err = run_in(tmp_path, args, capsys)
    assert code == 2 and calls == [True]
    assert_one_line_error(err, f"--data-dir {tmp_path / 'd'}", "cannot read mnist", "downloading")
