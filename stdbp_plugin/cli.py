"""The ``stdbp`` command.

stdbp compare [--dataset digits|mnist|fashion-mnist] [--data-dir DIR] [--epochs N] ...
    STDBP vs snnTorch and Norse surrogate-gradient baselines: table + report folder.
stdbp compare --model my_module:net [--loss ce_rate_loss] [--encoding rate] ...
    Your own snnTorch / Norse model as it is vs convert(mode="clock") and convert(mode="event").
stdbp train [--epochs N] ...
    A plain PyTorch loop: event-driven STDBP MLP on digits, per-epoch loss / accuracy.
stdbp fit | validate | test --config FILE
    LightningCLI (configs in integrations/lightning/).
"""

from __future__ import annotations

import argparse
import sys
import time


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def _compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="STDBP vs snnTorch / Norse baselines (the main job)")
    p.add_argument("--dataset", default="digits", choices=("digits", "mnist", "fashion-mnist"))
    p.add_argument("--data-dir", default=None, help="root with MNIST/raw (default $STDBP_DATA_DIR)")
    p.add_argument(
        "--spec", default=None, help="architecture (default 400-10 digits, 800-10 MNIST)"
    )
    p.add_argument("--epochs", type=_positive_int, default=10)
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--max-samples", type=_positive_int, default=None, help="cap train/test size")
    p.add_argument("--num-steps", type=_positive_int, default=25, help="T of the baselines")
    p.add_argument(
        "--shift",
        type=_non_negative_int,
        default=0,
        help="augment: random shifts up to N pixels (all models)",
    )
    p.add_argument("--models", default="stdbp,snntorch,norse", help="comma-separated subset")
    p.add_argument("--threads", type=_positive_int, default=1, help="CPU threads per model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="stdbp_report", help="report folder")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--no-isolate",
        action="store_true",
        help="train in this process (memory figures then overlap)",
    )
    own = p.add_argument_group(
        "your own model",
        "--model trains it as it is, then switched by stdbp.convert (clock and event); "
        "--spec and --models are then ignored",
    )
    own.add_argument(
        "--model",
        default=None,
        metavar="MODULE:ATTR",
        help="an nn.Module (or a zero-argument factory) mapping [T, B, ...] to [T, B, N]; "
        "the current directory is on sys.path",
    )
    own.add_argument(
        "--loss",
        default=None,
        help="an snnTorch readout name (ce_rate_loss, ce_temporal_loss, ce_max_membrane_loss, "
        "...) or MODULE:ATTR of a callable loss(output, targets); default: ce_rate_loss for "
        "spike outputs, ce_max_membrane_loss for membrane outputs",
    )
    own.add_argument("--encoding", default="rate", choices=("rate", "latency", "direct"))
    own.add_argument(
        "--readout",
        default=None,
        choices=("count", "first_spike", "max_membrane"),
        help="how your model's class is read (default: from the loss)",
    )
    own.add_argument(
        "--flatten", action="store_true", help="give the model [T, B, C*H*W] (not [T, B, C, H, W])"
    )
    own.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (every variant)")
    own.add_argument("--variants", default="user,clock,event", help="comma-separated subset")
    own.add_argument(
        "--no-calibrate", action="store_true", help="keep convert's thresholds uncalibrated"
    )
    own.add_argument(
        "--silent-grad",
        type=float,
        default=None,
        help="convert(silent_grad=...) for the switched variants (default: convert's, exact)",
    )


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train an event-driven STDBP MLP (plain PyTorch loop)")
    p.add_argument("--dataset", default="digits", choices=("digits", "mnist", "fashion-mnist"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--hidden", type=_positive_int, default=400)
    p.add_argument("--epochs", type=_positive_int, default=20)
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--tau", type=float, default=0.0625)
    p.add_argument("--horizon", type=float, default=3.0)
    p.add_argument("--threads", type=_positive_int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


def run_compare_model(args: argparse.Namespace) -> int:
    """``stdbp compare --model MODULE:ATTR``: exit code 2 with one line for bad input."""
    from stdbp_plugin.compare.user_model import ModelSpecError, compare_model

    if args.dataset != "digits":  # fail early, before spawning anything
        from stdbp_plugin.data import load_dataset

        try:
            load_dataset(args.dataset, args.data_dir)
        except (FileNotFoundError, RuntimeError) as err:
            print(f"stdbp compare: error: {str(err).splitlines()[0]}", file=sys.stderr)
            return 2
    try:
        compare_model(
            args.model, loss=args.loss, data=args.dataset, encoding=args.encoding,
            num_steps=args.num_steps, epochs=args.epochs, batch_size=args.batch_size,
            max_samples=args.max_samples, lr=args.lr, readout=args.readout,
            flatten=args.flatten,
            variants=tuple(v.strip() for v in args.variants.split(",") if v.strip()),
            seed=args.seed, threads=args.threads, data_dir=args.data_dir, max_shift=args.shift,
            calibrate=not args.no_calibrate, out=args.out, isolate=not args.no_isolate,
            convert_options={} if args.silent_grad is None else {"silent_grad": args.silent_grad},
            progress=not args.no_progress,
        )  # fmt: skip
    except ModelSpecError as err:
        print(f"stdbp compare: error: {err}", file=sys.stderr)
        return 2
    return 0


def run_compare(args: argparse.Namespace) -> int:
    if args.model is not None:
        return run_compare_model(args)
    from rich.console import Console

    from stdbp_plugin.compare import CompareConfig, print_table, run_models, write_report

    console = Console()
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    cfg = CompareConfig(
        dataset=args.dataset, data_dir=args.data_dir, spec=args.spec, epochs=args.epochs,
        batch_size=args.batch_size, max_samples=args.max_samples, num_steps=args.num_steps,
        max_shift=args.shift, seed=args.seed, threads=args.threads, progress=not args.no_progress,
    )  # fmt: skip
    if cfg.dataset != "digits":  # fail early, before spawning anything
        from stdbp_plugin.data import load_dataset

        load_dataset(cfg.dataset, cfg.data_dir)
    results = run_models(models, cfg, isolate=not args.no_isolate, log=console.print)
    print_table(results, console)
    config = {**cfg.to_dict(), "spec": cfg.resolved_spec()}
    out = write_report(results, config, args.out)
    console.print(f"report written to {out.resolve()}/report.md")
    return 0


def run_train(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from stdbp_plugin.compare.threads import set_threads
    from stdbp_plugin.data import load_dataset
    from stdbp_plugin.functional import temporal_cross_entropy
    from stdbp_plugin.lightning.stdbp_network import STDBPNetwork

    set_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = load_dataset(args.dataset, args.data_dir)
    x_train, y_train = train.tensors
    x_test, y_test = test.tensors
    shape = tuple(x_train.shape[1:])
    net = STDBPNetwork(f"{args.hidden}-10", shape, horizon=args.horizon)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    print(f"STDBP {args.hidden}-10 MLP on {args.dataset}: "
          f"{len(x_train)} train / {len(x_test)} test samples")  # fmt: skip
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
    return 0


def run_lightning_cli(argv: list[str]) -> int:
    from lightning.pytorch.cli import LightningCLI

    from stdbp_plugin.data import SpikingDataModule
    from stdbp_plugin.lightning.base import SpikingClassifier
    from stdbp_plugin.lightning.checkpoint import check_checkpoint

    class STDBPCLI(LightningCLI):
        """LightningCLI that checks --ckpt_path (clear error, weights-only) before running."""

        def _check_ckpt(self) -> None:
            path = self.config[self.subcommand].get("ckpt_path")
            if path and path not in ("last", "best", "hpc", "registry"):
                check_checkpoint(path)

        def before_fit(self) -> None:
            self._check_ckpt()

        def before_validate(self) -> None:
            self._check_ckpt()

        def before_test(self) -> None:
            self._check_ckpt()

    for i, arg in enumerate(argv):  # LightningCLI reads the checkpoint before any hook runs
        path = arg.split("=", 1)[1] if arg.startswith("--ckpt_path=") else None
        if arg == "--ckpt_path" and i + 1 < len(argv):
            path = argv[i + 1]
        if path and path not in ("last", "best", "hpc", "registry"):
            check_checkpoint(path)
    STDBPCLI(
        SpikingClassifier,
        SpikingDataModule,
        subclass_mode_model=True,
        args=argv,
        save_config_kwargs={"overwrite": True},
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("fit", "validate", "test", "predict"):
        return run_lightning_cli(argv)
    parser = argparse.ArgumentParser(prog="stdbp", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _compare_parser(sub)
    _train_parser(sub)
    for name in ("fit", "validate", "test"):
        sub.add_parser(name, help=f"LightningCLI {name} --config FILE", add_help=False)
    args = parser.parse_args(argv)
    return {"compare": run_compare, "train": run_train}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
