"""Bad input to every public function and module: a ValueError / TypeError naming the argument.

Each public callable has a good call (random valid inputs) and, for each argument, the kinds
of garbage it must refuse: NaN, +-inf where not allowed, negative, wrong dtype, wrong device
(the meta device), empty batch, huge, wrong type. Hypothesis draws the good inputs (seed,
batch size, which element is spoiled); every (callable, argument, garbage) triple is a case.
A garbage kind an argument legitimately accepts (+inf spike times = "no spike", a negative
weight, a huge finite time) must then give a result without NaN: nothing returns NaN silently.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import stdbp_plugin as stdbp
from stdbp_plugin import functional as SF
from stdbp_plugin import metrics as SM
from stdbp_plugin import nn as SN

TENSOR_KINDS = ("nan", "inf", "-inf", "neg", "huge", "int", "f64", "meta", "empty", "list")
SCALAR_KINDS = ("nan", "inf", "neg", "zero", "huge", "str", "bool")
HUGE = 1e30


@dataclass
class Case:
    """A public callable: ``make(gen, batch)`` -> keyword arguments of a good call; ``call``
    runs it; ``args`` maps each checked argument to the garbage kinds it accepts as valid."""

    name: str
    make: Callable[[torch.Generator, int], dict]
    call: Callable[..., object]
    args: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _times(gen, *shape, silent=0.2):
    """Spike times >= 0 with some +inf (silent)."""
    t = torch.rand(*shape, generator=gen)
    return t.masked_fill(torch.rand(*shape, generator=gen) < silent, float("inf"))


def _w(gen, *shape):
    return torch.randn(*shape, generator=gen)


def _labels(gen, batch, classes=4):
    return torch.randint(0, classes, (batch,), generator=gen)


# ---- the public API --------------------------------------------------------------------------
# valid garbage kinds, by role
TIMES_OK = ("inf", "huge")  # +inf = no spike; a huge time is a late spike
WEIGHT_OK = ("neg", "huge")  # weights and biases: any finite value
ALL_FLOAT_OK = ("f64",)  # a lone tensor argument may be float64

CASES = [
    Case(
        "relpsp_linear",
        lambda g, b: {
            "t_in": _times(g, b, 4),
            "weight": _w(g, 5, 4),
            "bias": _w(g, 5),
            "threshold": 1.0,
            "horizon": 3.0,
            "max_inv_slope": 1e3,
        },
        lambda **kw: SF.relpsp_linear(**kw),
        {
            "t_in": TIMES_OK,
            "weight": WEIGHT_OK,
            "bias": WEIGHT_OK,
            "threshold": ("huge",),
            "horizon": ("huge",),
            "max_inv_slope": ("huge",),
        },
    ),  # fmt: skip
    Case(
        "relpsp_conv2d",
        lambda g, b: {
            "t_in": _times(g, b, 2, 5, 5),
            "weight": _w(g, 3, 2, 3, 3),
            "bias": _w(g, 3),
            "threshold": 1.0,
            "stride": 1,
            "padding": 0,
        },
        lambda **kw: SF.relpsp_conv2d(**kw),
        {
            "t_in": TIMES_OK,
            "weight": WEIGHT_OK,
            "bias": WEIGHT_OK,
            "threshold": ("huge",),
            "stride": (),
            "padding": ("zero",),
        },
    ),  # fmt: skip
    Case(
        "earliest_spike_pool2d",
        lambda g, b: {"t_in": _times(g, b, 2, 4, 4), "kernel_size": 2},
        lambda **kw: SF.earliest_spike_pool2d(**kw),
        {"t_in": (*TIMES_OK, *ALL_FLOAT_OK), "kernel_size": ()},
    ),
    Case(
        "first_spike_predict",
        lambda g, b: {"t_out": _times(g, b, 4)},
        lambda **kw: SF.first_spike_predict(**kw),
        {"t_out": (*TIMES_OK, *ALL_FLOAT_OK)},
    ),
    Case(
        "latency_encode",
        lambda g, b: {"x": torch.rand(b, 6, generator=g), "t_max": 1.0, "x_min": 0.0},
        lambda **kw: SF.latency_encode(**kw),
        {"x": (*ALL_FLOAT_OK, "int"), "t_max": ("huge",), "x_min": ("zero",)},
    ),
    Case(
        "spikes_to_times",
        lambda g, b: {"spikes": (torch.rand(6, b, 3, generator=g) < 0.3).float(), "dt": 1.0},
        lambda **kw: SF.spikes_to_times(**kw),
        {"spikes": (*ALL_FLOAT_OK, "int", "huge"), "dt": ("huge",)},
    ),
    Case(
        "times_to_spikes",
        lambda g, b: {"t": _times(g, b, 3) * 5, "num_steps": 6, "dt": 1.0},
        lambda **kw: SF.times_to_spikes(**kw),
        {"t": (*TIMES_OK, *ALL_FLOAT_OK), "num_steps": (), "dt": ("huge",)},
    ),
    Case(
        "temporal_cross_entropy",
        lambda g, b: {
            "t_out": _times(g, b, 4),
            "target": _labels(g, b),
            "tau": 1.0,
            "keep_target_alive": 0.0,
        },
        lambda **kw: SF.temporal_cross_entropy(**kw),
        {
            "t_out": (*TIMES_OK, *ALL_FLOAT_OK),
            "target": (),
            "tau": ("huge",),
            "keep_target_alive": ("zero", "huge"),
        },
    ),  # fmt: skip
    Case(
        "nn.ReLPSPLinear",
        lambda g, b: {"t_in": _times(g, b, 4), "threshold": 1.0, "horizon": 3.0},
        lambda t_in, **kw: SN.ReLPSPLinear(4, 5, **kw)(t_in),
        {"t_in": TIMES_OK, "threshold": ("huge",), "horizon": ("huge",)},
    ),
    Case(
        "nn.ReLPSPConv2d",
        lambda g, b: {"t_in": _times(g, b, 2, 5, 5), "threshold": 1.0, "mean_gain": 8.0},
        lambda t_in, **kw: SN.ReLPSPConv2d(2, 3, 3, **kw)(t_in),
        {"t_in": TIMES_OK, "threshold": ("huge",), "mean_gain": ("huge", "neg", "zero")},
    ),
    Case(
        "nn.EarliestSpikePool2d",
        lambda g, b: {"t_in": _times(g, b, 2, 4, 4), "kernel_size": 2},
        lambda t_in, kernel_size: SN.EarliestSpikePool2d(kernel_size)(t_in),
        {"t_in": (*TIMES_OK, *ALL_FLOAT_OK), "kernel_size": ()},
    ),
    Case(
        "nn.LatencyEncoder",
        lambda g, b: {"x": torch.rand(b, 6, generator=g), "t_max": 1.0},
        lambda x, **kw: SN.LatencyEncoder(**kw)(x),
        {"x": (*ALL_FLOAT_OK, "int"), "t_max": ("huge",)},
    ),
    Case(
        "nn.relpsp_init_",
        lambda g, b: {"weight": torch.empty(5, 4), "threshold": 1.0, "mean_gain": 8.0},
        lambda **kw: SN.relpsp_init_(**kw),
        {"threshold": ("huge",), "mean_gain": ("huge", "neg", "zero")},
    ),
    Case(
        "metrics.FirstSpikeAccuracy",
        lambda g, b: {"t_out": _times(g, b, 4), "target": _labels(g, b)},
        lambda **kw: SM.FirstSpikeAccuracy().update(**kw),
        {"t_out": (*TIMES_OK, *ALL_FLOAT_OK), "target": ()},
    ),
    Case(
        "metrics.DecisionLatency",
        lambda g, b: {"latency": torch.rand(b, generator=g)},
        lambda **kw: SM.DecisionLatency().update(**kw),
        {"latency": ("inf", "huge", "f64", "int")},
    ),
    Case(
        "metrics.SynapticOperations",
        lambda g, b: {"synops": torch.rand(b, generator=g) * 100},
        lambda **kw: SM.SynapticOperations().update(**kw),
        {"synops": ("huge", "f64", "int")},
    ),
]


def _snntorch_cases() -> list[Case]:
    if importlib.util.find_spec("snntorch") is None:
        return []
    from stdbp_plugin import snntorch as rsnn

    def run(cls, input_, **kw):
        return cls(**kw)(input_)[0]

    neuron_args = {"input_": ("neg", "f64", "huge"), "threshold": ("huge",), "dt": ("huge",)}
    decays = {rsnn.ReLPSP: {"beta": 0.9}, rsnn.ReLPSPLapicque: {"beta": 0.9},
              rsnn.ReLPSPSynaptic: {"alpha": 0.9, "beta": 0.8},
              rsnn.ReLPSPAlpha: {"alpha": 0.9, "beta": 0.8}}  # fmt: skip
    return [
        Case(
            f"snntorch.{cls.__name__}",
            lambda g, b: {"input_": torch.rand(b, 4, generator=g) * 2, "threshold": 1.0, "dt": 1.0},
            lambda cls=cls, kw0=kw0, **kw: run(cls, **kw0, **kw),
            neuron_args,
        )
        for cls, kw0 in decays.items()
    ]


def _norse_cases() -> list[Case]:
    if importlib.util.find_spec("norse") is None:
        return []
    from stdbp_plugin import norse as rnorse

    return [
        Case(
            "norse.ReLPSPCell",
            lambda g, b: {"input_tensor": torch.rand(b, 4, generator=g) * 200, "dt": 1e-3},
            lambda input_tensor, **kw: rnorse.ReLPSPCell(**kw)(input_tensor)[0],
            {"input_tensor": ("neg", "f64", "huge", "int"), "dt": ("huge",)},
        ),
        Case(
            "norse.ReLPSP",
            lambda g, b: {"input_tensor": torch.rand(6, b, 4, generator=g) * 200, "dt": 1e-3},
            lambda input_tensor, **kw: rnorse.ReLPSP(**kw)(input_tensor)[0],
            {"input_tensor": ("neg", "f64", "huge", "int"), "dt": ("huge",)},
        ),
    ]


def _convert_cases() -> list[Case]:
    if importlib.util.find_spec("snntorch") is None:
        return []
    import snntorch as snn

    def net():
        return torch.nn.Sequential(
            torch.nn.Linear(4, 6), snn.Leaky(beta=0.9, init_hidden=True, output=True)
        )

    return [
        Case(
            "convert",
            lambda g, b: {
                "sample": (torch.rand(5, b, 4, generator=g) < 0.5).float(),
                "fire_fraction": 0.5,
                "silent_grad": 1.0,
            },  # fmt: skip
            lambda **kw: stdbp.convert(net(), mode="clock", **kw),
            {
                "sample": ("huge", "f64", "int"),
                "fire_fraction": (),
                "silent_grad": ("zero", "huge"),
            },
        )
    ]


def _nir_cases() -> list[Case]:
    if importlib.util.find_spec("nir") is None:
        return []
    from stdbp_plugin import nir as snir

    def net():
        torch.manual_seed(0)
        return torch.nn.Sequential(SN.ReLPSPLinear(4, 6), SN.ReLPSPLinear(6, 3))

    graph = snir.export(net())
    return [
        Case(
            "nir.export",
            lambda g, b: {
                "sample_input": _times(g, b, 4),
                "dt": 1e-3,
                "tau": 1e4,
                "reset_gap": 1e3,
            },  # fmt: skip
            lambda **kw: snir.export(net(), compat="norse", **kw),
            {"sample_input": TIMES_OK, "dt": ("huge",), "tau": ("huge",), "reset_gap": ("huge",)},
        ),
        Case(
            "nir.load",
            lambda g, b: {"t_in": _times(g, b, 4), "dt": 1.0, "readout_threshold": 1.0},
            lambda t_in, **kw: snir.load(graph, **kw)(t_in),
            {"t_in": TIMES_OK, "dt": ("huge",), "readout_threshold": ("huge",)},
        ),
        Case(
            "nir.simulate",
            lambda g, b: {"spikes": (torch.rand(20, b, 4, generator=g) < 0.2).float(), "dt": 0.05},
            lambda **kw: snir.simulate(graph, **kw),
            {"spikes": ("f64", "int", "huge"), "dt": ("huge",)},
        ),
        Case(
            "nir.first_spike_steps",
            lambda g, b: {"spikes": (torch.rand(20, b, 3, generator=g) < 0.2).float()},
            lambda **kw: snir.first_spike_steps(**kw),
            {"spikes": ("f64", "int", "huge")},
        ),
    ]


ALL_CASES = CASES + _snntorch_cases() + _norse_cases() + _convert_cases() + _nir_cases()


# ---- garbage ---------------------------------------------------------------------------------
def spoil(value, kind: str, index: int):
    """``value`` with garbage of ``kind``; None where the kind does not apply to it."""
    if isinstance(value, torch.Tensor):
        if kind not in TENSOR_KINDS or value.numel() == 0:
            return None
        flat = value.clone().reshape(-1)
        i = index % flat.numel()
        if kind in ("nan", "inf", "-inf", "neg", "huge"):
            if not flat.is_floating_point():  # integer labels: out of range instead
                flat[i] = -1 if kind == "neg" else (2**40 if kind == "huge" else flat[i])
                return flat.reshape(value.shape) if kind in ("neg", "huge") else None
            flat[i] = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"),
                       "neg": -flat[i].abs() - 1.0, "huge": HUGE}[kind]  # fmt: skip
            return flat.reshape(value.shape)
        if kind == "int":
            return value.long() if value.is_floating_point() else value.float()
        if kind == "f64":
            return value.double() if value.is_floating_point() else None
        if kind == "meta":
            return value.to("meta")
        if kind == "empty":
            return value[:0]
        return value.tolist()  # "list": not a tensor
    if isinstance(value, bool) or not isinstance(value, (int, float)) or kind not in SCALAR_KINDS:
        return None
    return {"nan": float("nan"), "inf": float("inf"), "neg": -abs(value) - 1, "zero": 0,
            "huge": HUGE if isinstance(value, float) else 2**62, "str": str(value),
            "bool": True}[kind]  # fmt: skip


def _has_nan(out) -> bool:
    if isinstance(out, torch.Tensor):
        return out.device.type != "meta" and out.is_floating_point() and bool(out.isnan().any())
    if isinstance(out, (tuple, list)):
        return any(_has_nan(o) for o in out)
    if isinstance(out, torch.nn.Module):
        return any(_has_nan(p) for p in out.parameters())
    return False


#: Garbage still accepted (or refused without naming the argument) at the time of writing,
#: each an expected failure (strict: a fixed one turns into an XPASS; move it out of here).
#: NaN / inf weights and biases of relpsp_linear / relpsp_conv2d, and NaN / inf input currents
#: of the snnTorch / Norse neurons, would need a value check (a device sync on a GPU) per
#: call / per time step; a huge int stride / padding / kernel_size / num_steps fails in torch
#: (an allocation or overflow error) rather than naming the argument (earliest_spike_pool2d
#: names kernel_size since its CPU kernel checks the map's size); an empty weight [0, N]
#: is refused naming bias (linear) or fails in torch (conv).
KNOWN_GAPS: dict[tuple[str, str], tuple[str, ...]] = {
    ("relpsp_linear", "weight"): ("nan", "inf", "-inf", "empty"),
    ("relpsp_linear", "bias"): ("nan", "inf", "-inf"),
    ("relpsp_conv2d", "weight"): ("nan", "inf", "-inf", "empty"),
    ("relpsp_conv2d", "bias"): ("nan", "inf", "-inf"),
    ("relpsp_conv2d", "stride"): ("huge",),
    ("relpsp_conv2d", "padding"): ("huge",),
    ("times_to_spikes", "num_steps"): ("huge",),
    ("snntorch.ReLPSP", "input_"): ("nan", "inf", "-inf"),
    ("snntorch.ReLPSPLapicque", "input_"): ("nan", "inf", "-inf"),
    ("snntorch.ReLPSPSynaptic", "input_"): ("nan", "inf", "-inf"),
    ("snntorch.ReLPSPAlpha", "input_"): ("nan", "inf", "-inf"),
    ("norse.ReLPSPCell", "input_tensor"): ("nan", "inf", "-inf"),
    ("norse.ReLPSP", "input_tensor"): ("nan", "inf", "-inf"),
}


def _kinds(value) -> tuple[str, ...]:
    kinds = TENSOR_KINDS if isinstance(value, torch.Tensor) else SCALAR_KINDS
    return tuple(k for k in kinds if spoil(value, k, 0) is not None)


TRIPLES = [
    (case, arg, kind)
    for case in ALL_CASES
    for arg in case.args
    for kind in _kinds(case.make(torch.Generator().manual_seed(0), 3)[arg])
]
CHECKED = [
    pytest.param(c, a, k, id=f"{c.name}-{a}-{k}")
    for c, a, k in TRIPLES
    if k not in KNOWN_GAPS.get((c.name, a), ())
]
GAPS = [
    pytest.param(c, a, k, id=f"{c.name}-{a}-{k}")
    for c, a, k in TRIPLES
    if k in KNOWN_GAPS.get((c.name, a), ())
]


def check_refused(case: Case, arg: str, kind: str, seed: int, batch: int, index: int) -> None:
    """The spoiled call raises ValueError / TypeError naming ``arg``, or (for a kind ``arg``
    accepts) returns no NaN."""
    kwargs = case.make(torch.Generator().manual_seed(seed), batch)
    kwargs[arg] = spoil(kwargs[arg], kind, index)
    valid = kind in case.args[arg]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = case.call(**kwargs)
    except (ValueError, TypeError) as err:
        assert arg in str(err), f"{case.name}: {kind} {arg} -> {type(err).__name__}: {err}"
        return
    assert valid, f"{case.name}: {kind} {arg} was accepted silently"
    assert not _has_nan(out), f"{case.name}: {kind} {arg} (valid) returned NaN"


@pytest.mark.parametrize(("case", "arg", "kind"), CHECKED)
@settings(
    max_examples=2, deadline=None, database=None, phases=(Phase.generate,),
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 4), index=st.integers(0, 10**6))
def test_bad_input_is_refused_naming_the_argument(case, arg, kind, seed, batch, index):
    check_refused(case, arg, kind, seed, batch, index)


@pytest.mark.xfail(strict=True, reason="known gap (KNOWN_GAPS): accepted, or not named")
@pytest.mark.parametrize(("case", "arg", "kind"), GAPS)
def test_known_gaps_still_fail(case, arg, kind):
    """One fixed example per known gap; a gap that gets fixed turns into a strict XPASS."""
    check_refused(case, arg, kind, seed=0, batch=3, index=5)


def test_every_known_gap_is_a_case():
    cases = {(c.name, a, k) for c, a, k in TRIPLES}
    assert {(c, a, k) for (c, a), ks in KNOWN_GAPS.items() for k in ks} <= cases


def test_good_calls_run_without_nan():
    """The good call of every case runs and returns no NaN (the cases above are meaningful)."""
    for case in ALL_CASES:
        out = case.call(**case.make(torch.Generator().manual_seed(0), 3))
        assert not _has_nan(out), case.name
