"""What ``convert`` did, as data (``model.stdbp_conversion_report``) and as a printed summary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ConversionReport:
    """The record of one ``convert`` call.

    replaced: (name, old class, new class) per neuron; ignored: name -> arguments of the old
    neuron that have no ReL-PSP meaning (with their values); thresholds: name -> threshold
    (a float, or "min..max" when per neuron) in the event-driven units (weights x time);
    biases: "layer.bias -> ..." lines; kept: (name, class, why) for modules left as they are;
    flow: how the data flow was found; actions: what the user must change in the loop.
    """

    mode: str
    framework: str
    dt: float
    calibrated: bool
    silent_grad: float
    flow: str = ""
    replaced: list[tuple[str, str, str]] = field(default_factory=list)
    ignored: dict[str, list[str]] = field(default_factory=dict)
    thresholds: dict[str, str] = field(default_factory=dict)
    biases: list[str] = field(default_factory=list)
    kept: list[tuple[str, str, str]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f"stdbp convert ({self.framework}, mode={self.mode!r}, dt={self.dt:g}, "
            f"silent_grad={self.silent_grad:g}{', thresholds calibrated' if self.calibrated else ''})",
            f"  data flow: {self.flow}",
        ]
        for name, old, new in self.replaced:
            extra = f", threshold {self.thresholds[name]}" if name in self.thresholds else ""
            lines.append(f"  {name}: {old} -> {new}{extra}")
            if self.ignored.get(name):
                lines.append(f"    no ReL-PSP meaning, ignored: {', '.join(self.ignored[name])}")
        for name, cls, why in self.kept:
            lines.append(f"  {name}: {cls} kept ({why})")
        lines += [f"  bias {line}" for line in self.biases]
        lines += [f"  change: {line}" for line in self.actions]
        return "\n".join(lines)
