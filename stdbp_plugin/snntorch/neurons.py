"""Drop-in clock-driven ReL-PSP neurons for snnTorch (``import stdbp_plugin.snntorch``).

``ReLPSP`` stands where ``snn.Leaky`` stands; ``ReLPSPSynaptic`` where ``snn.Synaptic`` stands.
Per step k (DESIGN section 2): S += c_k, P += c_k k dt; the neuron fires once, in the step where
S (k+1) dt - P >= theta, at the exact time t* = (theta + P) / S; backward = exact STDBP through
S and P plus the "hat" rule dL/dt* = (dL/ds_{k+1} - dL/ds_k) / dt for the output spike.

Both subclass ``snn.Leaky`` so that ``snntorch.utils.reset(net)``, ``Leaky.reset_hidden()`` and
the ``SpikingNeuron.instances`` bookkeeping treat them like any snnTorch neuron.
"""

from __future__ import annotations

import snntorch as snn
import torch
from torch import Tensor, nn

from stdbp_plugin.functional.clock import ClockState, relpsp_clock_step


class ReLPSP(snn.Leaky):
    """Clock-driven ReL-PSP neuron with snnTorch's Leaky conventions.

    ``spk, mem = neuron(cur, mem)`` per step on [B, ...]; with ``init_hidden=True`` it returns
    ``spk`` (or ``(spk, mem)`` with ``output=True``) and keeps its state on the module.

    ``mem`` is the potential at the end of the step, V((k+1) dt) = S (k+1) dt - P. After the
    spike it keeps following S t - P (no reset): the neuron simply never fires again.
    The explicit-state form ``neuron(cur, mem)`` continues the sequence when ``mem`` is the
    tensor (or an equal copy) this neuron returned at the previous step, and starts a new one
    when ``mem`` is zeros (``reset_mem()`` / ``init_leaky()``); any other ``mem`` is an error.

    Args:
        threshold: theta > 0 (a float or a tensor broadcastable to the input).
        dt: step size; step k stands for t = k dt. Default 1.0: time counted in steps, the
            unit of snnTorch's spikegen and temporal losses.
        learn_threshold: make theta an ``nn.Parameter`` (dt*/dtheta = 1/S).
        init_hidden, output: as in ``snn.Leaky``.
        bias: optional tensor added to the input current at step 0 only, i.e. an input spike
            at t = 0 (how ``nn.Linear.bias`` maps onto ReL-PSP; ``convert`` moves it here).
        silent_grad: 0 (default) = exact STDBP. > 0: a neuron that has not fired yet passes
            silent_grad * min(dL/dspk, 0) to its potential, so that a loss asking a silent
            output to fire earlier (``ce_temporal_loss`` does, at the last step) revives it.
            ``convert`` sets it on the output layer only.
    """

    def __init__(
        self,
        threshold: float | Tensor = 1.0,
        dt: float = 1.0,
        learn_threshold: bool = False,
        init_hidden: bool = False,
        output: bool = False,
        bias: Tensor | None = None,
        silent_grad: float = 0.0,
    ) -> None:
        theta = torch.as_tensor(threshold, dtype=torch.get_default_dtype()).detach().clone()
        if not torch.isfinite(theta).all() or (theta <= 0).any():
            raise ValueError(f"threshold must be finite and > 0, got {threshold}")
        if not (isinstance(dt, (int, float)) and dt > 0):
            raise ValueError(f"dt must be a number > 0, got {dt!r}")
        super().__init__(
            beta=1.0,
            threshold=theta,
            init_hidden=init_hidden,
            learn_threshold=learn_threshold,
            reset_mechanism="none",
            output=output,
        )
        self.dt = float(dt)
        if bias is not None and not isinstance(bias, nn.Parameter):
            bias = nn.Parameter(torch.as_tensor(bias))
        self.bias = bias
        if not silent_grad >= 0:
            raise ValueError(f"silent_grad must be >= 0, got {silent_grad}")
        self.silent_grad = float(silent_grad)

    # ---- state ---------------------------------------------------------------------------
    def _init_mem(self) -> None:  # called by snn.Leaky.__init__ instead of registering `mem`
        self._clock: ClockState | None = None
        self._mem: Tensor = torch.zeros(0)

    @property
    def mem(self) -> Tensor:
        """V at the end of the last step (empty before the first step)."""
        return self._mem

    @mem.setter
    def mem(self, value: Tensor) -> None:
        # snnTorch resets a neuron by assigning zeros to `mem` (reset_hidden, reset_mem):
        # any assignment starts a new sequence.
        self._clock = None
        self._mem = value

    @property
    def spike_time(self) -> Tensor:
        """Exact (sub-step) spike time t* of each neuron so far; +inf where it has not fired."""
        if self._clock is None:
            return torch.full_like(self._mem, float("inf"))
        fired = self._clock.k_spike >= 0
        return torch.where(
            fired, self._clock.t_spike, torch.full_like(self._clock.t_spike, float("inf"))
        )

    @property
    def step(self) -> int:
        """Index of the next step (0 after a reset)."""
        return 0 if self._clock is None else int(self._clock.k)

    def init_lapicque(self) -> Tensor:
        """Alias of ``reset_mem`` for code written for ``snn.Lapicque``."""
        return self.reset_mem()

    @classmethod
    def detach_hidden(cls) -> None:
        """Detach the state of every ReL-PSP neuron from the graph (truncated BPTT)."""
        for neuron in snn.SpikingNeuron.instances:
            if isinstance(neuron, ReLPSP):
                neuron._detach()
        super().detach_hidden()

    def _detach(self) -> None:
        self._mem = self._mem.detach()
        if self._clock is not None:
            c = self._clock
            self._clock = ClockState(c.s.detach(), c.p.detach(), c.t_spike.detach(), c.k_spike, c.k)

    def _accept_mem(self, mem: Tensor | None) -> None:
        if mem is None or mem is self._mem:
            return
        if not isinstance(mem, Tensor):
            raise ValueError(f"mem must be a tensor, got {type(mem).__name__}")
        same = mem.shape == self._mem.shape and torch.equal(mem.detach(), self._mem.detach())
        if same and self._clock is not None:
            return
        if mem.numel() and (mem != 0).any():
            raise ValueError(
                "mem must be the tensor this ReLPSP neuron returned at the previous step, or "
                "zeros (reset_mem() / init_leaky()) to start a new sequence"
            )
        self._clock = None

    # ---- one step ------------------------------------------------------------------------
    def _step(self, input_: Tensor, mem: Tensor | None) -> Tensor:
        if self.init_hidden and mem is not None:
            raise TypeError("`mem` should not be passed as an argument while `init_hidden=True`")
        if not isinstance(input_, Tensor) or not input_.is_floating_point():
            raise ValueError("input_ must be a floating-point tensor of input currents")
        self._accept_mem(mem)
        if self._clock is not None and self._clock.s.shape != input_.shape:
            self._clock = None  # a new batch shape starts a new sequence, as in snn.Leaky
        current = input_
        if self._clock is None and self.bias is not None:
            current = current + self.bias
        spk, self._mem, self._clock = relpsp_clock_step(
            current, self._clock, self.threshold, self.dt, self.silent_grad
        )
        return spk

    def forward(self, input_: Tensor, mem: Tensor | None = None):
        spk = self._step(input_, mem)
        if self.output:
            return spk, self._mem
        if self.init_hidden:
            return spk
        return spk, self._mem

    def extra_repr(self) -> str:
        return f"threshold={self.threshold.tolist()}, dt={self.dt}, init_hidden={self.init_hidden}"


class ReLPSPSynaptic(ReLPSP):
    """ReL-PSP neuron with ``snn.Synaptic``'s call convention:
    ``spk, syn, mem = neuron(cur, syn, mem)``; ``syn`` is the slope S = dV/dt (the summed input
    current, which never decays in ReL-PSP). ``init_synaptic()`` returns zeros and resets."""

    def init_synaptic(self) -> tuple[Tensor, Tensor]:
        mem = self.reset_mem()
        return torch.zeros_like(mem), mem

    def forward(self, input_: Tensor, syn: Tensor | None = None, mem: Tensor | None = None):
        if self.init_hidden and (syn is not None or mem is not None):
            raise TypeError(
                "`syn`/`mem` should not be passed as arguments while `init_hidden=True`"
            )
        spk = self._step(input_, mem)
        syn_out = self._clock.s
        if self.output or not self.init_hidden:
            return spk, syn_out, self._mem
        return spk
