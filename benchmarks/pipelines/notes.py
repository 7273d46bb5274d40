"""Hand-written analysis for docs/pipelines.md, keyed by (pipeline, variant); ("*", "*") is a
closing note and (pipeline, "*") applies to every variant of that pipeline. Written after the
measured run it explains: update it with the run."""

from __future__ import annotations

_DIRECT_FIRST_SPIKE = (
    "Why: with direct input every output neuron receives the same strong current at every "
    "step, so the ReL-PSP outputs cross threshold within the first few steps, and the "
    "first-spike readout that the count-named `SF` losses and `SF.accuracy_rate` become reads "
    "integer step indices: when several outputs first fire in the same step the readout cannot "
    "order them (ties go to the lowest index), and the loss sees equal logits. The share of "
    "test images without a single earliest output, measured above, bounds what the readout can "
    "get right. The exact sub-step spike times exist (`neuron.spike_time`) but the tutorial's "
    "readout reads the spike train. A LIF output under a count readout has no such limit: "
    "counts over 25 (50) steps separate the classes."
)

_SWAP_BIAS = (
    "The literal swap and `convert` differ in one respect: the swapped model keeps "
    "`nn.Linear`'s bias as a current added at every step (for a ReL-PSP neuron a ramp that "
    "grows with time), while `convert` hands each bias to its neuron at step 0 only (an input "
    "spike at t = 0, as the neuron model defines it) and sets `silent_grad=1.0` on the output "
    "layer; a literal `ReLPSP(...)` / `ReLPSP()` has `silent_grad=0` (exact STDBP: a silent "
    "output gets no gradient, see docs/readouts.md)."
)

NOTES: dict[tuple[str, str], str] = {
    ("snntorch_tutorial5", "swap"): _DIRECT_FIRST_SPIKE + " " + _SWAP_BIAS,
    ("snntorch_tutorial5", "clock"): _DIRECT_FIRST_SPIKE,
    ("snntorch_tutorial6", "swap"): _DIRECT_FIRST_SPIKE + " " + _SWAP_BIAS,
    ("snntorch_tutorial6", "clock"): _DIRECT_FIRST_SPIKE,
    ("snntorch_tutorial5", "event"): "Not a miss of the neuron: the event-driven model needs "
    "spike-time input (see snntorch_temporal for the latency-coded pipeline).",
    ("snntorch_tutorial6", "event"): "Not a miss of the neuron: the event-driven model needs "
    "spike-time input (see snntorch_temporal for the latency-coded pipeline).",
    ("norse_mnist_task", "event"): "By design: the model holds its input encoder "
    "(`ConstantCurrentLIFEncoder`, LIF dynamics) and its read-out is a leaky integrator "
    "(`LILinearCell`); neither has an event-driven form, and `convert(mode='event')` refuses "
    "them with the message above.",
    ("norse_readme", "event"): "By design: the `LICell` read-out has no event-driven form.",
    ("norse_readme", "swap"): _SWAP_BIAS,
    ("norse_latency", "swap"): _SWAP_BIAS,
    ("snntorch_temporal", "swap"): _SWAP_BIAS,
}
