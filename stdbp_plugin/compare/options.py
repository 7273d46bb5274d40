"""The options of ``stdbp compare``: one dataclass, from which jsonargparse builds the parser.

``CompareOptions`` is the single declaration (type, default and help of every option, from the
``Args:`` section of its docstring); :func:`compare_parser` turns it into a parser and
:meth:`CompareOptions.check` validates the values up front (data files, model names, the
``--spec`` grammar and its fit to the input shape, the report folder) so that a bad value stops
with one line before anything trains.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

#: The model names of ``stdbp compare --models``; the ``-compile`` baselines run each time step
#: through ``torch.compile`` (stdbp_plugin.models.SURROGATE_MODELS; tested to match there).
MODELS = ("stdbp", "snntorch", "norse", "snntorch-compile", "norse-compile")
DEFAULT_MODELS = ("stdbp", "snntorch", "norse")
VARIANTS = ("user", "clock", "event")
INPUT_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28)}
NUM_CLASSES = 10
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
SPEC_GRAMMAR = (
    "tokens joined by '-': '<n>' = dense layer of n neurons, '<n>C<k>' or '<n>C<k>p<pad>' = "
    "n-channel k x k convolution, 'P<k>' = k x k pooling after a convolution; the last token is "
    f"the output layer of {NUM_CLASSES} neurons (e.g. 400-10, 16C5-P2-32C3-P2-128-10)"
)


class OptionError(ValueError):
    """A command-line value that does not fit: the message is the one line the user sees."""


@dataclass
class CompareOptions:
    """STDBP vs the snnTorch and Norse surrogate-gradient baselines (table + report folder); or,
    with --model, your own snnTorch / Norse model as it is vs stdbp.convert (clock and event).

    Args:
        dataset: data set: digits (bundled with scikit-learn, no download), mnist or
            fashion-mnist (raw IDX files in DATA_DIR/MNIST/raw or DATA_DIR/FashionMNIST/raw).
        data_dir: folder holding MNIST/raw or FashionMNIST/raw; default: $STDBP_DATA_DIR.
        download: let torchvision download MNIST / Fashion-MNIST into --data-dir (needs internet).
        spec: architecture of the three models; default 400-10 on digits, 800-10 on MNIST.
            Grammar: tokens joined by '-': '<n>' dense layer of n neurons, '<n>C<k>[p<pad>]'
            n-channel k x k convolution, 'P<k>' k x k pooling after a convolution; the last
            token is the output layer of 10 neurons (e.g. 400-10, 16C5-P2-32C3-P2-128-10).
        models: comma-separated subset of stdbp, snntorch, norse, snntorch-compile,
            norse-compile (each at most once; the -compile baselines run every time step
            through torch.compile, which takes a while to compile first).
        epochs: training epochs (a positive integer).
        batch_size: training batch size (a positive integer).
        max_samples: cap of the train and test set sizes (a positive integer; default: all).
        num_steps: time steps T of the surrogate-gradient models (a positive integer).
        shift: random shifts of the training images by up to this many pixels (all models).
        threads: CPU threads per model (1 to the number of CPUs).
        seed: random seed.
        out: report folder (report.md, results.json, plots); a run that would replace a
            non-empty folder stops before training unless --overwrite is given.
        overwrite: replace an existing report folder --out.
        progress: show progress bars (--no-progress hides them).
        isolate: train each model in a fresh process, so that its peak memory is its own
            (--no-isolate trains in this process; the memory figures then overlap).
        model: your own model, MODULE:ATTR naming an nn.Module (or a zero-argument factory)
            mapping [T, B, ...] to [T, B, N]; the current directory is on sys.path; --spec and
            --models are then ignored.
        loss: with --model: an snnTorch readout name (ce_rate_loss, ce_count_loss,
            mse_count_loss, ce_temporal_loss, mse_temporal_loss, ce_max_membrane_loss,
            mse_membrane_loss) or MODULE:ATTR of a callable loss(output, targets); default
            ce_rate_loss for spike outputs, ce_max_membrane_loss for membrane outputs.
        encoding: with --model: how images become input trains.
        readout: with --model: how your model's class is read (default: from the loss).
        flatten: with --model: give the model [T, B, C*H*W] instead of [T, B, C, H, W].
        lr: with --model: Adam learning rate of every variant (> 0).
        variants: with --model: comma-separated subset of user, clock, event.
        calibrate: with --model: calibrate convert's thresholds on one batch (--no-calibrate
            keeps them as they are).
        silent_grad: with --model: convert(silent_grad=...) for the switched variants
            (default: convert's).
    """

    dataset: Literal["digits", "mnist", "fashion-mnist"] = "digits"
    data_dir: str | None = None
    download: bool = False
    spec: str | None = None
    models: str = ",".join(DEFAULT_MODELS)
    epochs: int = 10
    batch_size: int = 32
    max_samples: int | None = None
    num_steps: int = 25
    shift: int = 0
    threads: int = 1
    seed: int = 0
    out: str = "stdbp_report"
    overwrite: bool = False
    progress: bool = True
    isolate: bool = True
    model: str | None = None
    loss: str | None = None
    encoding: Literal["rate", "latency", "direct"] = "rate"
    readout: Literal["count", "first_spike", "max_membrane"] | None = None
    flatten: bool = False
    lr: float = 2e-3
    variants: str = ",".join(VARIANTS)
    calibrate: bool = True
    silent_grad: float | None = None

    # ---- checks, each naming the option --------------------------------------------------------
    def check(self) -> None:
        """Raise OptionError (one line naming the option) for any value that cannot run."""
        for name in ("epochs", "batch_size", "num_steps", "threads"):
            _positive(name, getattr(self, name))
        check_threads(self.threads)
        if self.max_samples is not None:
            _positive("max_samples", self.max_samples, minimum=2)
        _positive("shift", self.shift, minimum=0)
        if not self.lr > 0 or self.lr == float("inf"):
            raise OptionError(f"--lr: expected a finite number > 0, got {self.lr}")
        if self.silent_grad is not None and not 0 <= self.silent_grad < float("inf"):
            raise OptionError(
                f"--silent-grad: expected a finite number >= 0, got {self.silent_grad}"
            )
        if self.model is None:
            self.model_names()
            self.resolved_spec()
        else:
            self.variant_names()
        self.check_out()

    def model_names(self) -> tuple[str, ...]:
        """The --models list; OptionError for an unknown, repeated or missing name."""
        return _names("models", self.models, MODELS)

    def variant_names(self) -> tuple[str, ...]:
        return _names("variants", self.variants, VARIANTS)

    def resolved_spec(self) -> str:
        """The --spec (or the data set's default), checked against the grammar and the input."""
        spec = self.spec if self.spec is not None else default_spec(self.dataset)
        check_spec(spec, INPUT_SHAPES[self.dataset])
        return spec.strip()

    def check_out(self) -> None:
        out = Path(self.out)
        if not self.out.strip():
            raise OptionError("--out: expected a folder name, got ''")
        if out.exists() and not out.is_dir():
            raise OptionError(f"--out {self.out}: exists and is not a folder")
        if out.is_dir() and any(out.iterdir()) and not self.overwrite:
            raise OptionError(
                f"--out {self.out}: the folder already exists and is not empty; add --overwrite "
                "to replace it, or choose another --out"
            )

    def check_data(self) -> None:
        """Load the data set once (MNIST: the raw IDX files) or say where to put it."""
        check_data(self.dataset, self.data_dir, self.download)

    def compare_config(self):
        """The CompareConfig of the three-model comparison (spec resolved)."""
        from stdbp_plugin.compare.train_one import CompareConfig

        return CompareConfig(
            dataset=self.dataset, data_dir=self.data_dir, spec=self.resolved_spec(),
            epochs=self.epochs, batch_size=self.batch_size, max_samples=self.max_samples,
            num_steps=self.num_steps, max_shift=self.shift, seed=self.seed,
            threads=self.threads, progress=self.progress,
        )  # fmt: skip


def check_data(dataset: str, data_dir: str | None, download: bool = False) -> None:
    """OptionError (one line: where to put the raw IDX files, or --download) unless
    ``dataset`` loads from ``data_dir`` (or $STDBP_DATA_DIR)."""
    if dataset == "digits":
        return
    from stdbp_plugin.data import load_dataset, resolve_data_dir

    folder = "MNIST" if dataset == "mnist" else "FashionMNIST"
    root = resolve_data_dir(data_dir)
    if root is None:
        raise OptionError(
            f"--dataset {dataset} needs --data-dir DIR (or $STDBP_DATA_DIR) with the "
            f"raw IDX files in DIR/{folder}/raw/ ({', '.join(RAW_FILES)}, optionally .gz), "
            "or --data-dir DIR --download to fetch them"
        )
    if not download and not (root / folder / "raw").is_dir():
        raise OptionError(
            f"--data-dir {root}: no {folder}/raw/ folder there; put the raw IDX files "
            f"({', '.join(RAW_FILES)}, optionally .gz) in {root / folder / 'raw'}, "
            "or add --download to fetch them"
        )
    try:
        load_dataset(dataset, root, download=download)
    except Exception as err:  # torchvision: RuntimeError, OSError, URLError, ...
        reason = " ".join(str(err).split())[:300]
        raise OptionError(f"--data-dir {root}: cannot read {dataset}: {reason}") from err


def default_spec(dataset: str) -> str:
    return "400-10" if dataset == "digits" else "800-10"


def check_spec(spec: str, input_shape: tuple[int, int, int]) -> None:
    """OptionError unless ``spec`` follows the grammar, fits ``input_shape`` and ends in 10."""
    from stdbp_plugin.models.spec import output_shapes, parse_spec

    if not isinstance(spec, str) or not spec.strip():
        raise OptionError(
            f"--spec: expected an architecture, got {spec!r}; grammar: {SPEC_GRAMMAR}"
        )
    try:
        layers = parse_spec(spec)
        output_shapes(layers, input_shape)
    except ValueError as err:
        raise OptionError(f"--spec: {err}; grammar: {SPEC_GRAMMAR}") from err
    if layers[-1].size != NUM_CLASSES:
        raise OptionError(
            f"--spec {spec!r}: the output layer has {layers[-1].size} neurons; the data set has "
            f"{NUM_CLASSES} classes (end the spec with -{NUM_CLASSES})"
        )


def check_threads(threads: int) -> None:
    """OptionError for more threads than the machine has CPUs."""
    cpus = os.cpu_count() or 1
    if threads > cpus:
        raise OptionError(
            f"--threads: expected at most {cpus} (the CPUs of this machine), got {threads}"
        )


def _positive(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise OptionError(f"--{name.replace('_', '-')}: expected {what}, got {value!r}")


def _names(option: str, text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(","))
    choices = ", ".join(allowed)
    if not any(names):
        raise OptionError(
            f"--{option}: expected a comma-separated subset of {choices}, got {text!r}"
        )
    for n in names:
        if n not in allowed:
            raise OptionError(f"--{option}: unknown name {n!r}; choose from {choices}")
        if names.count(n) > 1:
            raise OptionError(f"--{option}: {n!r} is given {names.count(n)} times; give each once")
    return names


BOOLEANS = tuple(f.name for f in fields(CompareOptions) if f.type == "bool")


def normalize_argv(argv: list[str]) -> list[str]:
    """Command-line spellings -> jsonargparse's: ``--data-dir`` -> ``--data_dir``,
    ``--no-progress`` -> ``--progress=false``, a bare ``--overwrite`` -> ``--overwrite=true``."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if not arg.startswith("--") or arg == "--":
            out.append(arg)
            continue
        key, sep, value = arg[2:].partition("=")
        key = key.replace("-", "_")
        if not sep and key.startswith("no_") and key[3:] in BOOLEANS:
            out.append(f"--{key[3:]}=false")
        elif not sep and key in BOOLEANS:
            following = argv[i + 1].lower() if i + 1 < len(argv) else ""
            out.append(f"--{key}" if following in ("true", "false") else f"--{key}=true")
        else:
            out.append(f"--{key}{sep}{value}")
    return out


def compare_parser():
    """The jsonargparse parser of ``stdbp compare``, built from CompareOptions."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(
        prog="stdbp compare",
        description=(CompareOptions.__doc__ or "").split("\n\n")[0].replace("\n    ", " ")
        + " Options may be spelled --data-dir or --data_dir; booleans as --flag / --no-flag.",
        exit_on_error=False,
    )
    parser.add_class_arguments(CompareOptions, nested_key=None, as_group=False)
    return parser


def parse_options(argv: list[str]) -> CompareOptions:
    """argv (after ``compare``) -> checked CompareOptions; OptionError with one line otherwise."""
    import argparse

    parser = compare_parser()
    try:
        namespace = parser.parse_args(normalize_argv(argv))
    except argparse.ArgumentError as err:
        raise OptionError(_one_line(str(err))) from err
    values = {f.name: namespace[f.name] for f in fields(CompareOptions)}
    options = CompareOptions(**values)
    options.check()
    return options


def _one_line(message: str, dashes: bool = True) -> str:
    """jsonargparse's 'Parser key "epochs":\n  Expected a <class 'int'>. Got value: x' ->
    "--epochs: expected an integer, got 'x'" (``dashes``: --max-samples for max_samples)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines or not lines[0].startswith('Parser key "'):
        return " ".join(lines)
    key = lines[0].split('"')[1]
    option = "--" + (key.replace("_", "-") if dashes else key)
    lines[0] = lines[0].split('":', 1)[1].strip()
    text = " ".join(line for line in lines if line)
    got = re.search(r"(?:Got|Given) value: (.*?)(?: - |$)", text)
    value = f", got {got[1]!r}" if got else ""
    kinds = {"<class 'int'>": "an integer", "<class 'float'>": "a number"}
    for kind, words in kinds.items():
        if kind in text:
            none = " (or null)" if "NoneType" in text else ""
            return f"{option}: expected {words}{none}{value}"
    if choices := re.search(r"Literal\[(.*?)\]", text):
        none = " (or null)" if "NoneType" in text else ""
        return f"{option}: expected one of {choices[1]}{none}{value}"
    return f"{option}: {text}"
