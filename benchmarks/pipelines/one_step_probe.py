"""Where a pipeline's first optimizer step moves its spikes: the diagnosis behind the misses of
norse_mnist_task and snntorch_tutorial6 in docs/pipelines.md.

For one pipeline variant (built exactly as the matrix builds it) on one training batch:

1. the share of neurons of every spiking layer that fire, and their mean first-spike step;
2. the same after Adam's first update of ONE parameter tensor at a time (that update is
   lr * g / (|g| + eps) = lr * sign(g) elementwise), the other tensors left as built, with the
   "row coherence" of each weight's gradient (1: all incoming weights of a neuron move the
   same way, so the update shifts its input current by lr times its active inputs);
3. with ``--train N``: N Adam steps of the pipeline's own optimizer settings (optionally with
   the tensors named by ``--freeze`` held fixed), then the test accuracy.

    python benchmarks/pipelines/one_step_probe.py norse_mnist_task swap
    python benchmarks/pipelines/one_step_probe.py norse_mnist_task swap --train 62 \\
        --freeze rsnn.conv,rsnn.fc1
    python benchmarks/pipelines/one_step_probe.py norse_readme swap --reinit
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

import pipelines  # noqa: E402
from pipelines._driver import Budget, _spiking_kinds  # noqa: E402


def _first_steps(train: Tensor) -> Tensor:
    """[T, B, ...] 0/1 train -> first-spike step per neuron (T where silent)."""
    num_steps = train.shape[0]
    steps = torch.arange(num_steps, dtype=torch.float32).view(-1, *([1] * (train.ndim - 1)))
    return torch.where(train > 0, steps, torch.tensor(float(num_steps))).amin(0)


class Recorder:
    """Forward hooks on every spiking layer (encoders excluded): the 0/1 trains of one pass."""

    def __init__(self, model: nn.Module, skip: tuple[str, ...] = ("encoder",)) -> None:
        kinds = _spiking_kinds()
        self.trains: dict[str, list[Tensor]] = {}
        self.names = [
            name
            for name, mod in model.named_modules()
            if isinstance(mod, kinds) and not any(s in name for s in skip)
        ]
        for name, mod in model.named_modules():
            if name in self.names:
                mod.register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def record(module, args, out) -> None:
            out = out[0] if isinstance(out, tuple) else out
            self.trains.setdefault(name, []).append(out.detach())

        return record

    def summary(self) -> str:
        parts = []
        for name in self.names:
            steps = self.trains.get(name)
            if not steps:
                continue
            train = torch.stack(steps) if len(steps) > 1 else steps[0]
            if not bool(((train == 0) | (train == 1)).all()):
                continue  # a membrane read-out (Norse LICell), not a spike train
            first = _first_steps(train)
            fired = first < train.shape[0]
            mean = float(first[fired].mean()) if fired.any() else float("nan")
            parts.append(f"{name}: {float(fired.float().mean()):.2f} fire, step {mean:.1f}")
        return "; ".join(parts)


def _coherence(grad: Tensor) -> str:
    """For a weight [out, in, ...]: the mean over output neurons of |sum of sign(g)| / (number
    of nonzero g) over the neuron's incoming weights (1: every incoming weight of a neuron moves
    the same way under Adam's first step; about 0: half up, half down)."""
    if grad.ndim < 2:
        return ""
    signs = torch.sign(grad).reshape(grad.shape[0], -1)
    nonzero = (signs != 0).sum(1).clamp(min=1)
    return f", row coherence {float((signs.sum(1).abs() / nonzero).mean()):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pipeline", choices=pipelines.NAMES)
    parser.add_argument("variant", choices=("upstream", "swap", "clock"))
    parser.add_argument("--batch", type=int, default=None, help="default: the pipeline's")
    parser.add_argument("--num-steps", type=int, default=None)
    parser.add_argument("--train", type=int, default=0, help="Adam steps to train afterwards")
    parser.add_argument("--freeze", default="", help="comma list of parameter-name prefixes")
    parser.add_argument("--test-size", type=int, default=300)
    parser.add_argument("--lr", type=float, default=None, help="default: the pipeline's")
    parser.add_argument("--silent-grad", type=float, default=None, help="set on every neuron")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--reinit", action="store_true", help="stdbp_plugin.reinit on the first batch first"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    setup = pipelines.pipeline(args.pipeline).build(
        args.variant, Budget(num_steps=args.num_steps, batch_size=args.batch)
    )
    model, batch = setup.model, setup.batch_size
    lr = args.lr or setup.optimizer.param_groups[0]["lr"]
    if args.silent_grad is not None:
        for module in model.modules():
            if hasattr(module, "silent_grad"):
                module.silent_grad = args.silent_grad
    x, y = common.mnist(True, max(batch, batch * args.train))
    x = x.view(-1, 1, 28, 28)
    if args.reinit:
        import stdbp_plugin

        print(stdbp_plugin.reinit(model, lambda: setup.forward(x[:batch])))
    rec = Recorder(model)

    def measure() -> str:
        rec.trains.clear()
        with torch.no_grad():
            setup.forward(x[:batch])
        return rec.summary()

    extra = "" if args.silent_grad is None else f", silent_grad {args.silent_grad:g}"
    print(f"{args.pipeline}/{args.variant}, batch {batch}, Adam lr {lr:g}{extra}")
    print(f"  as built: {measure()}")
    rec.trains.clear()
    out = setup.forward(x[:batch])
    setup.loss(out, y[:batch]).backward()
    for name, param in model.named_parameters():
        if param.grad is None:
            continue
        old = param.detach().clone()
        with torch.no_grad():
            param -= lr * torch.sign(param.grad)
        print(
            f"  Adam's first step on {name} only ({lr:g} per weight{_coherence(param.grad)}): "
            f"{measure()}"
        )
        with torch.no_grad():
            param.copy_(old)
    setup.optimizer.zero_grad(set_to_none=True)

    if args.train:
        frozen = tuple(p for p in args.freeze.split(",") if p)
        params = [p for n, p in model.named_parameters() if not n.startswith(frozen)]
        optimizer = torch.optim.Adam(params, lr=lr)
        for it in range(args.train):
            idx = slice(it * batch, (it + 1) * batch)
            rec.trains.clear()
            loss = setup.loss(setup.forward(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if (it + 1) % 10 == 0 or it + 1 == args.train:
                print(f"  step {it + 1}: loss {float(loss):.4f}; {rec.summary()}", flush=True)
        xt, yt = common.mnist(False, args.test_size)
        model.eval()
        with torch.no_grad():
            correct = setup.correct(setup.forward(xt.view(-1, 1, 28, 28)), yt)
        frozen_text = f", frozen: {', '.join(frozen)}" if frozen else ""
        print(
            f"  after {args.train} Adam steps{frozen_text}: test accuracy "
            f"{100 * correct / len(yt):.1f}% on {len(yt)} images; {measure()}"
        )


if __name__ == "__main__":
    main()
