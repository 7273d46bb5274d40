"""What convert needs to know about each framework's neurons (imports only what is loaded)."""

from __future__ import annotations

import sys

import torch
from torch import Tensor, nn


def _value(v) -> str:
    if isinstance(v, Tensor):
        return f"{v.item():g}" if v.numel() == 1 else f"tensor{tuple(v.shape)}"
    name = getattr(v, "__qualname__", None)
    return name.split(".")[0] if name else repr(v)


class SnnTorchAdapter:
    """snnTorch: Leaky / Lapicque -> ReLPSP, Synaptic -> ReLPSPSynaptic; time unit = one step."""

    name = "snntorch"
    default_dt = 1.0

    def __init__(self) -> None:
        import snntorch as snn

        from stdbp_plugin import snntorch as relpsp

        self.snn, self.relpsp = snn, relpsp
        self.recurrent = tuple(getattr(snn, n) for n in ("RLeaky", "RSynaptic") if hasattr(snn, n))

    def is_neuron(self, m: nn.Module) -> bool:
        return isinstance(m, self.snn.SpikingNeuron)

    def is_readout(self, m: nn.Module) -> bool:
        """Non-spiking by construction: none in snnTorch (see ``membrane_readout``)."""
        return False

    def is_encoder(self, m: nn.Module) -> bool:
        """snnTorch encodes with functions (``spikegen``), not modules."""
        return False

    def membrane_readout(self, m: nn.Module) -> bool:
        """A Leaky with ``reset_mechanism="none"``: when it is the last neuron, convert keeps it
        as a membrane read-out (its ``mem`` integrates the ReL-PSP spikes before it)."""
        return (
            isinstance(m, self.snn.Leaky)
            and not isinstance(m, self.relpsp.ReLPSP)
            and getattr(m, "reset_mechanism", None) == "none"
        )

    def check(self, name: str, m: nn.Module) -> None:
        if isinstance(m, self.recurrent):
            raise ValueError(
                f"convert: cannot convert {name!r} ({type(m).__name__}): recurrent "
                "neurons have no ReL-PSP counterpart (feed-forward only)"
            )
        if isinstance(m, self.relpsp.ReLPSP):
            return
        if not isinstance(m, (self.snn.Leaky, self.snn.Lapicque, self.snn.Synaptic)):
            raise ValueError(
                f"convert: cannot convert {name!r} ({type(m).__name__}): only "
                "Leaky, Lapicque and Synaptic neurons are supported"
            )
        graded = getattr(m, "graded_spikes_factor", torch.tensor(1.0))
        if getattr(m, "inhibition", False) or m.state_quant or not bool((graded == 1).all()):
            raise ValueError(
                f"convert: cannot convert {name!r} ({type(m).__name__}): inhibition, state_quant "
                "and graded spikes have no ReL-PSP counterpart"
            )

    def ignored(self, m: nn.Module) -> list[str]:
        """Arguments of the old neuron with no ReL-PSP meaning (no leak, no reset, no surrogate)."""
        if isinstance(m, self.relpsp.ReLPSP):
            return []
        out = [
            f"{k}={_value(getattr(m, k))}"
            for k in ("alpha", "beta", "R", "C", "time_step")
            if isinstance(getattr(m, k, None), Tensor)
        ]
        if getattr(m, "spike_grad", None) is not None:
            out.append(f"spike_grad={_value(m.spike_grad)} (STDBP: exact spike-time gradients)")
        out.append(f"reset_mechanism={m.reset_mechanism!r} (fires once, no reset)")
        return out

    def threshold(self, m: nn.Module) -> Tensor:
        """Threshold in the units of the event-driven layers (weights x time)."""
        return m.threshold.detach().clone().float()

    def dt_of(self, m: nn.Module) -> float | None:
        return getattr(m, "dt", None) if isinstance(m, self.relpsp.ReLPSP) else None

    def clock(self, m: nn.Module, dt: float, theta: Tensor, silent_grad: float) -> nn.Module:
        synaptic = isinstance(m, (self.snn.Synaptic, self.relpsp.ReLPSPSynaptic))
        cls = self.relpsp.ReLPSPSynaptic if synaptic else self.relpsp.ReLPSP
        learn = isinstance(m.threshold, nn.Parameter)
        new = cls(
            threshold=theta,
            learn_threshold=learn,
            init_hidden=m.init_hidden,
            output=m.output,
            dt=dt,
            silent_grad=silent_grad,
        )
        return new.to(m.threshold.device)


class NorseAdapter:
    """Norse: LIFCell / LIFBoxCell -> ReLPSPCell, LIF -> ReLPSP, gain 1/dt, threshold v_th.
    LICell / LILinearCell / LIBoxCell / LI are non-spiking read-outs: kept as they are."""

    name = "norse"
    default_dt = 1e-3

    def __init__(self) -> None:
        import norse.torch as norse

        from stdbp_plugin import norse as relpsp

        self.norse, self.relpsp = norse, relpsp
        self.cells = (norse.LIFCell, norse.LIFBoxCell)
        self.sequences = (norse.LIF,)
        self.ours = (relpsp.ReLPSPCell, relpsp.ReLPSP)
        self.readouts = tuple(
            getattr(norse, n)
            for n in ("LICell", "LILinearCell", "LIBoxCell", "LI")
            if hasattr(norse, n)
        )
        from norse.torch.module import encode

        self.encoders = tuple(
            c for c in vars(encode).values() if isinstance(c, type) and issubclass(c, nn.Module)
        )

    def is_encoder(self, m: nn.Module) -> bool:
        """Norse's input encoders (``ConstantCurrentLIFEncoder``, ``PoissonEncoder``, ...)
        inside a model: kept as they are in clock mode (they make the input spikes)."""
        return isinstance(m, self.encoders)

    def is_readout(self, m: nn.Module) -> bool:
        return isinstance(m, self.readouts)

    def is_neuron(self, m: nn.Module) -> bool:
        from norse.torch.module.snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

        kinds = (SNN, SNNCell, SNNRecurrent, SNNRecurrentCell) + self.ours
        return isinstance(m, kinds) and not self.is_readout(m)

    def membrane_readout(self, m: nn.Module) -> bool:
        return False

    def check(self, name: str, m: nn.Module) -> None:
        from norse.torch.module.snn import SNNRecurrent, SNNRecurrentCell

        if isinstance(m, (SNNRecurrent, SNNRecurrentCell)):
            raise ValueError(
                f"convert: cannot convert {name!r} ({type(m).__name__}): recurrent "
                "neurons have no ReL-PSP counterpart (feed-forward only)"
            )
        if not isinstance(m, self.cells + self.sequences + self.ours):
            raise ValueError(
                f"convert: cannot convert {name!r} ({type(m).__name__}): only "
                "LIF, LIFCell and LIFBoxCell neurons (and LI read-outs, kept) are supported"
            )

    def ignored(self, m: nn.Module) -> list[str]:
        if isinstance(m, self.ours):
            return [f"{k}={_value(getattr(m.p, k))}" for k in m.ignored_parameters]
        p = m.p
        out = [
            f"{k}={_value(getattr(p, k))}"
            for k in ("tau_syn_inv", "v_leak", "v_reset")
            if hasattr(p, k)
        ]
        out.append(f"tau_mem_inv={_value(p.tau_mem_inv)} (ReL-PSP gain is 1/dt)")
        if hasattr(p, "method"):
            out.append(f"method={p.method!r} (STDBP: exact spike-time gradients)")
        return out

    def threshold(self, m: nn.Module) -> Tensor:
        """The threshold of the equivalent event-driven layer: v_th dt for a LIF (gain 1/dt,
        see clock), v_th / tau_mem_inv for a ReL-PSP neuron."""
        if isinstance(m, self.ours):  # ReLPSPParameters or a Norse parameter set swapped in
            like = torch.zeros((), dtype=torch.float32)
            theta = self.relpsp.gain_and_threshold(m.p, float(m.dt), like)[1]
        else:
            theta = torch.as_tensor(m.p.v_th, dtype=torch.float32) * float(m.dt)
        return theta.float().detach().clone()

    def dt_of(self, m: nn.Module) -> float | None:
        return float(m.dt)

    def clock(self, m: nn.Module, dt: float, theta: Tensor, silent_grad: float) -> nn.Module:
        """Gain g = 1/dt (not the LIF's tau_mem_inv): one unit of input current raises V by one
        unit per step, the scale on which the snnTorch conversion fires on latency-coded input
        (Norse's default LIF gain, 100/s at dt = 1 ms, leaves most ReL-PSP neurons silent)."""
        gain = torch.as_tensor(1.0 / dt, dtype=torch.float32)
        p = self.relpsp.ReLPSPParameters(tau_mem_inv=gain, v_th=theta * gain)
        seq = isinstance(m, self.sequences + (self.relpsp.ReLPSP,))
        cls = self.relpsp.ReLPSP if seq else self.relpsp.ReLPSPCell
        return cls(p=p, dt=dt, silent_grad=silent_grad)


def adapter_for(model: nn.Module):
    """The adapter of the framework whose neurons ``model`` contains (ValueError if none)."""
    found = []
    if "snntorch" in sys.modules:
        a = SnnTorchAdapter()
        if any(a.is_neuron(m) for m in model.modules()):
            found.append(a)
    if "norse" in sys.modules:
        a = NorseAdapter()
        if any(a.is_neuron(m) or a.is_readout(m) for m in model.modules()):
            found.append(a)
    if len(found) != 1:
        what = "neurons of both snnTorch and Norse" if found else "no snnTorch or Norse neuron"
        raise ValueError(f"convert: model must hold spiking neurons of one framework; found {what}")
    return found[0]
