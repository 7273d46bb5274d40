"""UserModelClassifier: a user's own snnTorch / Norse model (or its converted ReL-PSP version)
trained and measured like the built-in classifiers (same metrics, same logged names).

The model contract: ``net(x)`` maps an input train x [T, B, ...] to an output train
[T, B, N] (N classes), or to a tuple whose first element is that (``spk_rec, mem_rec = net(x)``
in snnTorch tutorials, ``out, state = net(x)`` in Norse). The output is spikes or a membrane
trace; the ``readout`` says how a class is read from it. An ``EventDrivenModel`` (from
``stdbp.convert(mode="event")``) returns (train, spike times [B, N]): ``readout="spike_times"``
reads the times.

Spikes per layer and synaptic operations are counted by forward hooks: on the spiking neurons
(snnTorch ``SpikingNeuron``, Norse ``SNN`` / ``SNNCell`` except the non-spiking LI family, the
ReL-PSP neurons of ``stdbp_plugin.snntorch`` / ``stdbp_plugin.norse``, and the event-driven
``ReLPSPLinear`` / ``ReLPSPConv2d``), and on the ``nn.Linear`` / ``nn.Conv2d`` layers (non-zero
inputs x fan-out).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stdbp_plugin.lightning.base import BatchResult, SpikingClassifier, check_optim_args
from stdbp_plugin.models.counting import settled_step

ENCODINGS = ("rate", "latency", "direct")
READOUTS = ("count", "first_spike", "max_membrane", "spike_times")
_NORSE_NON_SPIKING = {"LI", "LICell", "LIBoxCell", "LIBox", "LILinearCell"}


# ---- encoding -------------------------------------------------------------------------------
def encode_images(x: Tensor, encoding: str | Callable, num_steps: int) -> Tensor:
    """Images [B, ...] in [0, 1] -> input train [T, B, ...].

    rate: Bernoulli spikes with probability x at each step (``snntorch.spikegen.rate``);
    latency: one spike per pixel at step floor((1 - x) (T - 1)), none for x = 0 (linear
    latency code, brighter = earlier); direct: x itself at every step (analog current);
    a callable: ``encoding(x, num_steps)``.
    """
    if callable(encoding):
        return encoding(x, num_steps)
    if encoding == "rate":
        return torch.bernoulli(x.clamp(0, 1).unsqueeze(0).expand(num_steps, *x.shape))
    if encoding == "latency":
        from stdbp_plugin.functional import latency_encode
        from stdbp_plugin.functional.spike_trains import times_to_spikes

        t = latency_encode(x.clamp(0, 1), t_max=float(num_steps - 1), x_min=0.0)
        return times_to_spikes(t, num_steps, 1.0).detach()
    if encoding == "direct":
        return x.unsqueeze(0).expand(num_steps, *x.shape).contiguous()
    raise ValueError(f"encoding must be one of {ENCODINGS} or a callable, got {encoding!r}")


def first_output(out) -> Tensor:
    """The output train of ``net(x)``: the tensor itself, or the first element of a tuple."""
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if not isinstance(out, Tensor):
        raise ValueError(
            f"expected a tensor (or a tuple starting with one), got {type(out).__name__}"
        )
    return out


# ---- which modules spike, and how their outputs are laid out ---------------------------------
def spiking_layers(net: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(name, module, layout) of each spiking neuron module, in ``named_modules`` order.

    layout: "step" (called once per step, output [B, ...]), "sequence" (output [T, B, ...]) or
    "times" (event-driven layer, output spike times [B, ...], +inf = silent).
    """
    from stdbp_plugin.nn import ReLPSPConv2d, ReLPSPLinear

    kinds: list[tuple[type, str]] = [((ReLPSPLinear, ReLPSPConv2d), "times")]
    relpsp_norse = sys.modules.get("stdbp_plugin.norse")
    if relpsp_norse is not None:
        kinds += [(relpsp_norse.ReLPSP, "sequence"), (relpsp_norse.ReLPSPCell, "step")]
    snn = sys.modules.get("snntorch")
    if snn is not None and hasattr(snn, "SpikingNeuron"):
        kinds.append((snn.SpikingNeuron, "step"))
    norse_snn = sys.modules.get("norse.torch.module.snn")
    if norse_snn is not None:
        kinds += [((norse_snn.SNN, norse_snn.SNNRecurrent), "sequence")]
        kinds += [((norse_snn.SNNCell, norse_snn.SNNRecurrentCell), "step")]
    found: list[tuple[str, nn.Module, str]] = []
    inside: list[str] = []
    for name, module in net.named_modules():
        if any(name.startswith(p + ".") for p in inside):
            continue
        if type(module).__name__ in _NORSE_NON_SPIKING:
            continue
        for cls, layout in kinds:
            if isinstance(module, cls):
                found.append((name, module, layout))
                inside.append(name)
                break
    return found


def _per_sample(value: Tensor, batch: int, batch_dim: int) -> Tensor:
    """Sum ``value`` over every dim but the batch dim -> [batch] (spread evenly if unsure)."""
    if value.ndim > batch_dim and value.shape[batch_dim] == batch:
        return value.transpose(0, batch_dim).reshape(batch, -1).sum(1).double()
    return value.sum().double().expand(batch) / batch


@dataclass
class _Record:
    counts: Tensor  # [B, L]
    synops: Tensor  # [B]
    raster: list[tuple[list[float], list[int]]] | None = None


class ActivityProbe:
    """Forward hooks that count spikes per layer and synaptic operations of one forward pass.

    with probe.recording(batch, num_steps, dt, raster=False) as rec: net(x)  ->  rec.counts [B, L],
    rec.synops [B] and, with ``raster``, per layer (times in input windows, neuron indices) of
    sample 0.
    """

    def __init__(self, net: nn.Module) -> None:
        from stdbp_plugin.nn import ReLPSPConv2d, ReLPSPLinear

        self.layers = spiking_layers(net)
        self.weights = [
            m
            for m in net.modules()
            if isinstance(m, (nn.Linear, nn.Conv2d, ReLPSPLinear, ReLPSPConv2d))
        ]
        self._event = (ReLPSPLinear, ReLPSPConv2d)

    @property
    def num_layers(self) -> int:
        return max(1, len(self.layers))

    def recording(self, batch: int, num_steps: int, dt: float, raster: bool = False):
        return _Recording(self, batch, num_steps, dt, raster)


class _Recording:
    def __init__(self, probe: ActivityProbe, batch: int, num_steps: int, dt: float, raster: bool):
        self.probe, self.batch, self.num_steps, self.dt = probe, batch, num_steps, dt
        self.want_raster = raster
        self.handles: list = []
        self.record = _Record(
            torch.zeros(batch, probe.num_layers, dtype=torch.float64),
            torch.zeros(batch, dtype=torch.float64),
            [([], []) for _ in range(probe.num_layers)] if raster else None,
        )
        self.calls = [0] * probe.num_layers

    def __enter__(self) -> _Record:
        for i, (_, module, layout) in enumerate(self.probe.layers):
            self.handles.append(module.register_forward_hook(self._neuron_hook(i, layout)))
        for module in self.probe.weights:
            self.handles.append(module.register_forward_hook(self._synops_hook))
        return self.record

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()

    def _neuron_hook(self, index: int, layout: str):
        def hook(module, inputs, output) -> None:
            with torch.no_grad():
                out = first_output(output).detach()
                if out.layout != torch.strided:
                    out = out.to_dense()
                fired = torch.isfinite(out) if layout == "times" else out != 0
                batch_dim = 1 if layout == "sequence" else 0
                self.record.counts[:, index] += _per_sample(fired.cpu(), self.batch, batch_dim)
                if self.record.raster is not None:
                    self._add_raster(index, layout, out.cpu(), fired.cpu())
                self.calls[index] += 1

        return hook

    def _add_raster(self, index: int, layout: str, out: Tensor, fired: Tensor) -> None:
        times, idx = self.record.raster[index]
        window = self.num_steps * self.dt
        if layout == "times":
            flat, hit = out[0].flatten(), fired[0].flatten()
            where = torch.nonzero(hit).squeeze(1)
            times += (flat[where] / window).tolist()
            idx += where.tolist()
        elif layout == "sequence":
            steps, where = torch.nonzero(fired[:, 0].flatten(1), as_tuple=True)
            times += ((steps.float() + 1) / self.num_steps).tolist()
            idx += where.tolist()
        else:
            where = torch.nonzero(fired[0].flatten()).squeeze(1)
            times += [(self.calls[index] + 1) / self.num_steps] * len(where)
            idx += where.tolist()

    def _synops_hook(self, module, inputs, output) -> None:
        if not inputs or not isinstance(inputs[0], Tensor):
            return
        with torch.no_grad():
            x = inputs[0].detach()
            if x.layout != torch.strided:
                x = x.to_dense()
            active = (
                torch.isfinite(x) if isinstance(module, self.probe._event) else x != 0
            ).float()
            if isinstance(module, (nn.Linear, self.probe._event[0])):
                fan_out = (
                    module.out_features
                    if hasattr(module, "out_features")
                    else module.weight.shape[0]
                )
                batch_dim = 1 if x.ndim >= 3 and x.shape[1] == self.batch else 0
                ops = _per_sample(active, self.batch, batch_dim) * fan_out
            else:
                if active.ndim == 3:
                    active = active.unsqueeze(0)
                kh, kw = module.kernel_size
                ones = active.new_ones(1, active.shape[1], kh, kw)
                reach = F.conv2d(
                    active,
                    ones,
                    stride=module.stride,
                    padding=module.padding,
                    dilation=getattr(module, "dilation", 1),
                )
                groups = getattr(module, "groups", 1)
                ops = _per_sample(reach, self.batch, 0) * module.out_channels / groups
            self.record.synops += ops.cpu()


# ---- the LightningModule --------------------------------------------------------------------
class UserModelClassifier(SpikingClassifier):
    """A user's spiking model in the same Lightning pipeline as the built-in classifiers.

    Args:
        net: the model: input train [T, B, ...] -> output train [T, B, N] (or a tuple whose
            first element is that); with ``readout="spike_times"`` it returns
            (train, spike times [B, N]) like ``convert(mode="event")``.
        loss: ``loss(output, targets)`` on that output (on the spike times for "spike_times").
        readout: how the class is read: "count" (most spikes), "first_spike" (earliest output
            spike; silent outputs never win), "max_membrane" (largest maximum over time of a
            membrane trace) or "spike_times" (earliest spike time).
        encoding: "rate" | "latency" | "direct" or a callable (x [B, ...], T) -> [T, B, ...]
            (see ``encode_images``).
        num_steps: T. dt: the time step of spike times ("spike_times": latency = t / (T dt)).
        flatten: give the model [T, B, C*H*W] instead of [T, B, C, H, W].
        optimizer, lr, weight_decay, scheduler: as for the other classifiers.

    Decision latency (units of the input window): "count" / "max_membrane": first step after
    which the read-out's argmax no longer changes, + 1, over T (as SurrogateClassifier);
    "first_spike": (step of the first output spike + 1) / T; "spike_times": t / (T dt).
    """

    ARCHITECTURE_KEYS = ()

    def __init__(
        self,
        net: nn.Module,
        loss: Callable[[Tensor, Tensor], Tensor],
        readout: str = "count",
        encoding: str | Callable = "rate",
        num_steps: int = 25,
        dt: float = 1.0,
        flatten: bool = False,
        optimizer: str = "adam",
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        scheduler: str = "cosine",
    ) -> None:
        super().__init__()
        if not isinstance(net, nn.Module):
            raise ValueError(f"net must be an nn.Module, got {type(net).__name__}")
        if not callable(loss):
            raise ValueError(f"loss must be callable, got {type(loss).__name__}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if not callable(encoding) and encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS} or a callable, got {encoding!r}")
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
        check_optim_args(optimizer, lr, weight_decay, scheduler)
        self.save_hyperparameters(ignore=["net", "loss", "encoding"])
        self.net, self.loss_fn, self.encoding = net, loss, encoding
        self.probe = ActivityProbe(net)
        self._setup_metrics(self.probe.num_layers)

    def encode(self, x: Tensor) -> Tensor:
        """Images [B, C, H, W] -> input train [T, B, ...] (flattened with ``flatten``)."""
        if self.hparams.flatten:
            x = x.flatten(1)
        return encode_images(x, self.encoding, self.hparams.num_steps)

    def forward(self, x: Tensor):
        """The model's own output for images x [B, ...]."""
        return self.net(self.encode(x))

    def _run(self, x: Tensor, raster: bool = False):
        hp = self.hparams
        if torch.is_inference_mode_enabled():
            # Lightning validates / tests in inference mode, where convert's event model
            # fails (its output train enables grad inside): plain no_grad instead
            with torch.inference_mode(False), torch.no_grad():
                return self._run(x.clone(), raster)
        with self.probe.recording(x.shape[0], hp.num_steps, hp.dt, raster) as rec:
            out = self.net(self.encode(x))
        return out, rec

    def evaluate(self, x: Tensor, y: Tensor) -> BatchResult:
        out, rec = self._run(x)
        hp = self.hparams
        if hp.readout == "spike_times":
            if not (isinstance(out, (tuple, list)) and len(out) > 1):
                raise ValueError(
                    "readout='spike_times' needs net(x) -> (train, spike times [B, N])"
                )
            t_out = out[1]
            loss = self.loss_fn(t_out, y)
            t = t_out.detach()
            first = t.min(dim=1).values
            prediction, decided = t.argmin(dim=1), torch.isfinite(first)
            latency = first / (hp.num_steps * hp.dt)
        else:
            train = first_output(out)
            loss = self.loss_fn(train, y)
            prediction, decided, latency = self._decide(train.detach())
        return BatchResult(
            loss=loss,
            prediction=prediction,
            decided=decided,
            latency=latency.float(),
            spike_counts=rec.counts.to(self.device),
            synops=rec.synops.to(self.device),
        )

    def _decide(self, train: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(prediction [B], decided [B], latency [B]) from an output train [T, B, N]."""
        steps = train.shape[0]
        if self.hparams.readout == "first_spike":
            fired = train != 0
            any_spike = fired.any(dim=0)
            first = torch.where(any_spike, fired.float().argmax(dim=0).float(), float("inf"))
            earliest = first.min(dim=1).values
            return first.argmin(dim=1), torch.isfinite(earliest), (earliest + 1) / steps
        if self.hparams.readout == "count":
            scores = train.cumsum(dim=0)
            decided = scores.amax(dim=2) > 0
        else:
            scores = train.cummax(dim=0).values
            decided = torch.ones(scores.shape[:2], dtype=torch.bool, device=train.device)
        preds = scores.argmax(dim=2)
        return preds[-1], decided[-1], (settled_step(preds, decided) + 1) / steps

    @torch.no_grad()
    def layer_activity(self, x: Tensor) -> list[Tensor]:
        """Per spiking layer, [B, N] bool: did the neuron fire (for SpikeStatisticsCallback)."""
        fired: list[list[Tensor]] = [[] for _ in self.probe.layers]

        def hook_for(index: int, layout: str):
            def hook(module, inputs, output) -> None:
                out = first_output(output).detach()
                spikes = torch.isfinite(out) if layout == "times" else out != 0
                fired[index].append(
                    (spikes.any(dim=0) if layout == "sequence" else spikes).flatten(1)
                )

            return hook

        handles = [
            module.register_forward_hook(hook_for(i, layout))
            for i, (_, module, layout) in enumerate(self.probe.layers)
        ]
        try:
            self.net(self.encode(x))
        finally:
            for h in handles:
                h.remove()
        return [torch.stack(f).any(dim=0) for f in fired if f]

    @torch.no_grad()
    def raster(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Spikes of one sample x [C, H, W] per spiking layer as (time in input windows, index)."""
        _, rec = self._run(x.unsqueeze(0), raster=True)
        return [(torch.tensor(t), torch.tensor(i, dtype=torch.long)) for t, i in rec.raster]
