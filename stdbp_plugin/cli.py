"""The stdbp command: STDBP (exact spike-time back-propagation) vs surrogate gradients.

stdbp compare [--dataset digits|mnist|fashion-mnist] [--data-dir DIR] [--epochs N] ...
    STDBP vs snnTorch and Norse surrogate-gradient baselines: table + report folder.
stdbp compare --model my_module:net [--loss ce_rate_loss] [--encoding rate] ...
    Your own snnTorch / Norse model as it is vs convert(mode="clock") and convert(mode="event").
stdbp train [--epochs N] ...
    A plain PyTorch loop: event-driven STDBP MLP on digits, per-epoch loss / accuracy, saved.
stdbp fit | validate | test | predict --config FILE
    LightningCLI (configs in integrations/lightning/).

Every bad value stops with one line on stderr and exit code 2, before anything is trained or
written; an interrupted run (Ctrl-C, SIGTERM) leaves no half-written report or checkpoint.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


class UsageError(ValueError):
    """A bad command-line value: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block)."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _number(kind: type, minimum: float, strict: bool, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        ok = value > minimum if strict else value >= minimum
        if not ok or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, 0, True, "a positive integer")
_positive_float = _number(float, 0.0, True, "a finite number > 0")


def _train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train an event-driven STDBP MLP in a plain PyTorch loop and save it",
        description="Train an event-driven STDBP MLP (<hidden>-10) with the temporal "
        "cross-entropy in a plain PyTorch loop; print loss / accuracy per epoch and the test "
        "accuracy; save the model (state_dict + hyper-parameters) to --save.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--dataset",
        default="digits",
        choices=("digits", "mnist", "fashion-mnist"),
        help="data set (digits: bundled with scikit-learn)",
    )
    p.add_argument(
        "--data-dir", default=None, help="folder with MNIST/raw (default: $STDBP_DATA_DIR)"
    )
    p.add_argument("--download", action="store_true", help="download MNIST into --data-dir")
    p.add_argument("--hidden", type=_positive_int, default=400, help="hidden neurons")
    p.add_argument("--epochs", type=_positive_int, default=20, help="training epochs")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="batch size")
    p.add_argument("--lr", type=_positive_float, default=3e-3, help="Adam learning rate")
    p.add_argument("--tau", type=_positive_float, default=0.0625, help="loss temperature")
    p.add_argument("--horizon", type=_positive_float, default=3.0, help="latest output spike")
    p.add_argument(
        "--threads", type=_positive_int, default=1, help="CPU threads (at most the CPUs)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--save", default="stdbp_mlp.pt", help="file the trained model is saved to")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --save file")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _top_parser() -> _Parser:
    parser = _Parser(
        prog="stdbp",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "compare",
        add_help=False,
        help="STDBP vs snnTorch / Norse baselines, or your model vs its ReL-PSP versions "
        "(stdbp compare --help)",
    )
    _train_parser(sub)
    for name in LIGHTNING_COMMANDS:
        sub.add_parser(name, help=f"LightningCLI {name} --config FILE", add_help=False)
    return parser


# ---- stdbp compare ----------------------------------------------------------------------------
def run_compare(argv: list[str]) -> int:
    from stdbp_plugin.compare.options import parse_options

    options = parse_options(argv)  # OptionError: one line, before anything starts
    options.check_data()
    if options.model is not None:
        return _compare_model(options)
    return _compare_three(options)


def _compare_three(options) -> int:
    from rich.console import Console

    from stdbp_plugin.compare import print_table, run_models, write_report

    console = Console()
    cfg = options.compare_config()
    results = run_models(
        options.model_names(), cfg, isolate=options.isolate, log=lambda m: console.print(m)
    )
    print_table(results, console)
    out = write_report(results, cfg.to_dict(), options.out)
    console.print(f"report written to {Path(out).resolve()}/report.md")
    return 0


def _compare_model(options) -> int:
    from stdbp_plugin.compare.user_model import ModelSpecError, compare_model

    try:
        compare_model(
            options.model, loss=options.loss, data=options.dataset, encoding=options.encoding,
            num_steps=options.num_steps, epochs=options.epochs, batch_size=options.batch_size,
            max_samples=options.max_samples, lr=options.lr, readout=options.readout,
            flatten=options.flatten, variants=options.variant_names(), seed=options.seed,
            threads=options.threads, data_dir=options.data_dir, max_shift=options.shift,
            calibrate=options.calibrate, out=options.out, overwrite=options.overwrite,
            isolate=options.isolate,
            convert_options={} if options.silent_grad is None
            else {"silent_grad": options.silent_grad},
            progress=options.progress,
        )  # fmt: skip
    except ModelSpecError as err:
        raise UsageError(str(err)) from None
    return 0


# ---- stdbp train ------------------------------------------------------------------------------
def save_atomic(obj, path: str | os.PathLike) -> Path:
    """torch.save to a temporary file beside ``path``, then rename it into place."""
    import tempfile

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def run_train(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from stdbp_plugin.compare.options import check_data, check_threads
    from stdbp_plugin.compare.threads import set_threads
    from stdbp_plugin.data import load_dataset
    from stdbp_plugin.functional import temporal_cross_entropy
    from stdbp_plugin.models.stdbp_network import STDBPNetwork

    save = Path(args.save)
    if save.is_dir() or (save.exists() and not args.overwrite):
        raise UsageError(
            f"--save {save}: the file exists; add --overwrite or choose another --save"
        )
    check_threads(args.threads)
    check_data(args.dataset, args.data_dir, args.download)
    set_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = load_dataset(args.dataset, args.data_dir, download=args.download)
    x_train, y_train = train.tensors
    x_test, y_test = test.tensors
    shape = tuple(x_train.shape[1:])
    spec = f"{args.hidden}-10"
    net = STDBPNetwork(spec, shape, horizon=args.horizon)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    print(f"STDBP {spec} MLP on {args.dataset}: {len(x_train)} train / {len(x_test)} test samples")
    start = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x_train))
        total_loss, correct = 0.0, 0
        batches = range(0, len(x_train), args.batch_size)
        for i in tqdm(batches, desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.no_progress,
                      leave=False):  # fmt: skip
            idx = perm[i : i + args.batch_size]
            t_out = net(x_train[idx])
            loss = temporal_cross_entropy(t_out, y_train[idx], args.tau, keep_target_alive=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(idx)
            correct += (
                ((t_out.argmin(1) == y_train[idx]) & torch.isfinite(t_out).any(1)).sum().item()
            )
        sched.step()
        print(f"epoch {epoch + 1:3d}  loss {total_loss / len(x_train):.4f}  "
              f"train accuracy {correct / len(x_train):.2%}")  # fmt: skip
    with torch.no_grad():
        t_out = net(x_test)
    acc = ((t_out.argmin(1) == y_test) & torch.isfinite(t_out).any(1)).float().mean().item()
    print(f"test accuracy {acc:.2%}  ({time.perf_counter() - start:.1f} s)")
    hparams = {"spec": spec, "input_shape": shape, "horizon": args.horizon, "tau": args.tau}
    save_atomic({"state_dict": net.state_dict(), "hyper_parameters": hparams,
                 "test_acc": acc}, save)  # fmt: skip
    print(f"model saved to {save} (STDBPNetwork(**ckpt['hyper_parameters'] without tau)"
          ".load_state_dict(ckpt['state_dict']))")  # fmt: skip
    return 0


# ---- entry point ------------------------------------------------------------------------------
class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where it arrives so that cleanup (finally blocks) runs."""


def _sigterm_as_interrupt(signum, frame):
    raise Terminated(f"signal {signum}")


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from stdbp_plugin.lightning.lightning_cli import run_lightning_cli

        return run_lightning_cli(argv)
    if argv and argv[0] == "compare":
        return run_compare(argv[1:])
    args = _top_parser().parse_args(argv)
    return {"train": run_train}[args.command](args)


def main(argv: list[str] | None = None) -> int:
    """Run ``stdbp``; bad values give one line on stderr and exit code 2; an interrupt exits
    with 130 (SIGINT) or 143 (SIGTERM) after its cleanup."""
    from stdbp_plugin.compare.options import OptionError
    from stdbp_plugin.compare.quiet import quiet

    argv = list(sys.argv[1:] if argv is None else argv)
    command = f"stdbp {argv[0]}" if argv and not argv[0].startswith("-") else "stdbp"
    quiet()
    lightning = bool(argv) and argv[0] in LIGHTNING_COMMANDS
    if not lightning and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)  # Lightning handles its own
    try:
        return _dispatch(argv)
    except (OptionError, UsageError) as err:
        print(f"{command}: error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        from stdbp_plugin.lightning.checkpoint import CheckpointError
        from stdbp_plugin.lightning.lightning_cli import ConfigError

        if not isinstance(err, (CheckpointError, ConfigError)):
            raise
        print(f"{command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"{command}: interrupted; nothing half-written was left", file=sys.stderr)
        return 143 if isinstance(interrupt, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
