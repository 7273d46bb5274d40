"""SurrogateClassifier: the same architecture as a surrogate-gradient BPTT baseline.

snnTorch: rate-coded input (``spikegen.rate``, T steps), ``snn.Leaky`` layers, loss
``snntorch.functional.ce_rate_loss``, class = most output spikes.
Norse: constant-current LIF encoder (``ConstantCurrentLIFEncoder`` on input_scale * x),
``LIFCell`` hidden layers, ``LICell`` read-out, class = argmax over neurons of the membrane
maximised over time, loss = cross-entropy of those maxima (the Norse MNIST tutorial).

Decision latency: the first step after which the read-out's decision (argmax of spike counts
so far / of the running membrane maximum) no longer changes, as (step + 1) / T, so that like
STDBP's first-spike time it is in units of the input window (t_max = 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

from stdbp_plugin.lightning.base import BatchResult, SpikingClassifier, check_optim_args
from stdbp_plugin.models.counting import settled_step
from stdbp_plugin.models.surrogate_adapters import get_adapter
from stdbp_plugin.models.surrogate_network import SurrogateNetwork


class SurrogateClassifier(SpikingClassifier):
    """Surrogate-gradient baseline: framework "snntorch" or "norse", ``num_steps`` steps.

    Args:
        framework: "snntorch" or "norse" (stdbp_plugin.models.surrogate_adapters).
        spec, input_shape: the architecture, as for STDBPClassifier.
        num_steps: T.
        beta: snnTorch Leaky decay. tau_mem_inv, tau_syn_inv, v_th, dt: Norse LIF parameters.
        weight_gain: factor on PyTorch's default weight initialisation (None: the adapter's).
        input_scale: encoder input per unit of pixel intensity (None: the adapter's; snnTorch's
            rate code clamps the product to [0, 1]).
        optimizer, lr, weight_decay, scheduler: as for STDBPClassifier.
        compile: ``torch.compile`` each time step (the "norse-compile" / "snntorch-compile"
            models of stdbp_plugin.models.SURROGATE_MODELS).
    """

    ARCHITECTURE_KEYS = ("framework", "spec", "input_shape")

    def __init__(
        self,
        framework: str = "snntorch",
        spec: str = "400-10",
        input_shape: tuple[int, int, int] = (1, 8, 8),
        num_steps: int = 25,
        beta: float = 0.9,
        tau_mem_inv: float = 100.0,
        tau_syn_inv: float = 200.0,
        v_th: float = 1.0,
        dt: float = 1e-3,
        weight_gain: float | None = None,
        input_scale: float | None = None,
        optimizer: str = "adam",
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        scheduler: str = "cosine",
        compile: bool = False,
    ) -> None:
        super().__init__()
        adapter = get_adapter(framework)
        check_optim_args(optimizer, lr, weight_decay, scheduler)
        weight_gain = adapter.weight_gain if weight_gain is None else weight_gain
        input_scale = adapter.input_scale if input_scale is None else input_scale
        if not input_scale > 0:
            raise ValueError(f"input_scale must be > 0, got {input_scale!r}")
        self.save_hyperparameters()
        self.input_scale = input_scale
        self.net = SurrogateNetwork(
            framework, spec, tuple(input_shape), num_steps, beta,
            tau_mem_inv, tau_syn_inv, v_th, dt, weight_gain, compile=compile,
        )  # fmt: skip
        self.adapter = adapter
        self._setup_metrics(self.net.num_neuron_layers)
        self._encoder = adapter.encoder(num_steps, dt)

    def encode(self, x: Tensor) -> Tensor:
        """Images [B, ...] in [0, 1] -> input spikes [T, B, ...]."""
        return self._encoder(x * self.input_scale)

    def scores_over_time(self, readout: Tensor) -> Tensor:
        """[T, B, C] running class scores: spike counts so far / running membrane maximum."""
        return self.adapter.scores_over_time(readout)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores [B, n_classes] (spike counts, or membrane maxima for Norse)."""
        return self.scores_over_time(self.net.run(self.encode(x)).readout)[-1]

    def evaluate(self, x: Tensor, y: Tensor) -> BatchResult:
        run = self.net.run(self.encode(x))
        loss = self.adapter.loss(run.readout, y)
        scores = self.scores_over_time(run.readout.detach())  # [T, B, C]
        preds = scores.argmax(dim=2)
        decided = self.adapter.decided(scores)
        latency = (settled_step(preds, decided) + 1) / self.hparams.num_steps
        return BatchResult(
            loss=loss,
            prediction=preds[-1],
            decided=decided[-1],
            latency=latency,
            spike_counts=run.spike_counts,
            synops=run.synops,
        )

    @torch.no_grad()
    def layer_activity(self, x: Tensor) -> list[Tensor]:
        """Per spiking layer, [B, N] bool: did the neuron fire at any step (no Norse read-out)."""
        trains = self.net.run(self.encode(x)).layer_spikes
        if not self.adapter.readout_spikes:
            trains = trains[:-1]
        return [(t > 0).any(dim=0).flatten(1) for t in trains]

    @torch.no_grad()
    def raster(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Spikes of one sample per neuron layer as (time (step + 1) / T, neuron index)."""
        run = self.net.run(self.encode(x.unsqueeze(0)))
        out = []
        for train in run.layer_spikes:
            steps, idx = torch.nonzero(train[:, 0].flatten(1), as_tuple=True)
            out.append(((steps.float() + 1) / self.hparams.num_steps, idx))
        return out
