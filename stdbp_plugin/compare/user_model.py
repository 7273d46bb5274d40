"""Compare a user's own snnTorch / Norse model with its ReL-PSP versions: ``compare_model``.

Three variants, same data, epochs, batch size, learning rate, seeds and initial weights:

- ``user``:  the model as it is (its neurons, surrogate gradients, the user's loss);
- ``clock``: ``stdbp.convert(model, mode="clock")`` (thresholds calibrated on one batch);
- ``event``: ``stdbp.convert(model, mode="event")``, trained on the output spike times with
  ``temporal_cross_entropy`` (skipped, with the reason recorded, where convert refuses the
  model or the input has no spike times).

Each variant trains as a :class:`~stdbp_plugin.lightning.user_model.UserModelClassifier` in
the Lightning pipeline of ``stdbp compare`` and the same report is written (table, plots) plus
what ``convert`` switched.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from stdbp_plugin.compare.train_one import CompareConfig
from stdbp_plugin.conversion import copy_model

VARIANTS = ("user", "clock", "event")
#: snnTorch readouts by name -> how the class is read from the surrogate model's output.
SNNTORCH_LOSSES = {
    "ce_rate_loss": "count",
    "ce_count_loss": "count",
    "mse_count_loss": "count",
    "ce_temporal_loss": "first_spike",
    "mse_temporal_loss": "first_spike",
    "ce_max_membrane_loss": "max_membrane",
    "mse_membrane_loss": "max_membrane",
}
#: temperature of the event variant's temporal cross-entropy, in input windows (T dt)
EVENT_TAU_WINDOWS = 1 / 16


class ModelSpecError(ValueError):
    """The model, loss or data given to the comparison does not fit (one clear line)."""


class VariantSkipped(Exception):
    """A variant cannot run on this model; the message says why."""


@dataclass
class UserCompareConfig(CompareConfig):
    """CompareConfig plus what the user's model needs (JSON-friendly, for the child processes).

    model: "module:attribute" (None for an in-memory model); loss: an snnTorch readout name,
    "module:attribute" of a callable, or None (ce_rate_loss for spike outputs,
    ce_max_membrane_loss for membrane outputs); encoding: "rate" | "latency" | "direct";
    readout: None (from the loss) or one of UserModelClassifier's; flatten: [T, B, C*H*W] input.
    """

    epochs: int = 3
    model: str | None = None
    loss: str | None = None
    encoding: str = "rate"
    readout: str | None = None
    flatten: bool = False
    lr: float = 2e-3
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    calibrate: bool = True
    convert_options: dict = field(default_factory=dict)


# ---- loading "module:attribute" ---------------------------------------------------------------
def _import_attribute(spec: str, what: str):
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ModelSpecError(f"{what} must be given as 'module:attribute', got {spec!r}")
    module_name, attr = spec.split(":")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ModelSpecError(
            f"cannot import module {module_name!r} of {what} {spec!r} ({err}); "
            "run from the folder that holds it or put it on PYTHONPATH"
        ) from None
    except Exception as err:  # the user's module raised while importing
        raise ModelSpecError(
            f"importing module {module_name!r} of {what} {spec!r} failed: "
            f"{type(err).__name__}: {err}"
        ) from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelSpecError(
                f"module {module_name!r} has no attribute {attr!r} ({what} {spec!r})"
            )
        obj = getattr(obj, part)
    return obj


def load_model(spec: str) -> nn.Module:
    """``"module:attribute"`` -> the nn.Module it names, or what its zero-argument factory
    returns. The current directory is on ``sys.path``. Raises ModelSpecError."""
    obj = _import_attribute(spec, "--model")
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        try:
            obj = obj()
        except TypeError as err:
            raise ModelSpecError(
                f"{spec!r} is callable but not a zero-argument factory of an nn.Module ({err})"
            ) from None
        if isinstance(obj, nn.Module):
            return obj
    raise ModelSpecError(
        f"{spec!r} is not an nn.Module or a zero-argument factory of one "
        f"(it is of type {type(obj).__name__})"
    )


# ---- the loss of each variant -------------------------------------------------------------------
@dataclass
class LossChoice:
    """The user's loss and what stands in for it after the switch."""

    name: str
    surrogate: Callable[[Tensor, Tensor], Tensor]
    switched: Callable[[Tensor, Tensor], Tensor]
    readout: str | None  # None: from the output (spikes: count, else max_membrane)


def _snntorch_pair(name: str, instance=None) -> tuple[Callable, Callable]:
    import snntorch.functional as upstream

    import stdbp_plugin.snntorch.functional as relpsp

    surrogate = instance if instance is not None else getattr(upstream, name)()
    cls = getattr(relpsp, name, None)
    if cls is None:
        return surrogate, surrogate
    kwargs = {}
    if instance is not None:  # rebuild with the instance's constructor arguments
        for p in inspect.signature(cls).parameters.values():
            if p.kind is p.POSITIONAL_OR_KEYWORD and hasattr(instance, p.name):
                kwargs[p.name] = getattr(instance, p.name)
    try:
        return surrogate, cls(**kwargs)
    except (TypeError, ValueError):
        return surrogate, cls()


def resolve_loss(loss, spiking_output: bool) -> LossChoice:
    """The loss of the surrogate model and of the switched clock model (see ``compare_model``)."""
    if loss is None:
        loss = "ce_rate_loss" if spiking_output else "ce_max_membrane_loss"
    if isinstance(loss, str) and ":" in loss:
        obj = _import_attribute(loss, "--loss")
        loss = obj() if isinstance(obj, type) else obj
    if isinstance(loss, str):
        if loss not in SNNTORCH_LOSSES:
            raise ModelSpecError(
                f"loss {loss!r} is not one of snnTorch's readouts {tuple(SNNTORCH_LOSSES)}; "
                "pass a callable (Python) or 'module:attribute' (command line)"
            )
        surrogate, switched = _snntorch_pair(loss)
        return LossChoice(loss, surrogate, switched, SNNTORCH_LOSSES[loss])
    if not callable(loss):
        raise ModelSpecError(f"loss must be a name, a callable or None, got {type(loss).__name__}")
    cls_name = type(loss).__name__
    if type(loss).__module__.startswith("snntorch.functional") and cls_name in SNNTORCH_LOSSES:
        surrogate, switched = _snntorch_pair(cls_name, loss)
        return LossChoice(cls_name, surrogate, switched, SNNTORCH_LOSSES[cls_name])
    name = getattr(loss, "__name__", cls_name)
    return LossChoice(name, loss, loss, None)


# ---- data ------------------------------------------------------------------------------------------
def _loader_datamodule(loaders):
    import lightning as L

    class LoaderDataModule(L.LightningDataModule):
        """(train, test) or (train, val, test) DataLoaders of (images, labels)."""

        def __init__(self, train, val, test) -> None:
            super().__init__()
            self._train, self._val, self._test = train, val, test

        def train_dataloader(self):
            return self._train

        def val_dataloader(self):
            return self._val

        def test_dataloader(self):
            return self._test

    if len(loaders) == 2:
        return LoaderDataModule(loaders[0], loaders[1], loaders[1])
    if len(loaders) == 3:
        return LoaderDataModule(*loaders)
    raise ModelSpecError("data as loaders must be (train, test) or (train, val, test)")


def make_datamodule(data, cfg: UserCompareConfig):
    """A set-up DataModule from a data set name, a LightningDataModule or a tuple of loaders."""
    import lightning as L

    from stdbp_plugin.data import DATASETS
    from stdbp_plugin.lightning import SpikingDataModule

    if isinstance(data, str):
        if data not in DATASETS:
            raise ModelSpecError(f"data must be one of {DATASETS}, a DataModule or loaders")
        dm = SpikingDataModule(
            data, cfg.data_dir, cfg.batch_size, max_samples=cfg.max_samples, seed=cfg.seed,
            max_shift=cfg.max_shift,
        )  # fmt: skip
    elif isinstance(data, L.LightningDataModule):
        dm = data
    elif isinstance(data, (tuple, list)):
        dm = _loader_datamodule(tuple(data))
    else:
        raise ModelSpecError(f"data must be a name, a LightningDataModule or loaders, got {data!r}")
    dm.setup("fit")
    dm.setup("test")
    return dm


# ---- the model contract ------------------------------------------------------------------------
def _encode(x: Tensor, cfg: UserCompareConfig) -> Tensor:
    from stdbp_plugin.lightning.user_model import encode_images

    return encode_images(x.flatten(1) if cfg.flatten else x, cfg.encoding, cfg.num_steps)


def check_model(net: nn.Module, x: Tensor, cfg: UserCompareConfig, num_classes: int | None):
    """Run ``net`` on the encoded images ``x``; return its output train [T, B, N] or raise
    ModelSpecError saying what is wrong."""
    if not isinstance(net, nn.Module):
        raise ModelSpecError(f"the model must be an nn.Module, got {type(net).__name__}")
    train = _encode(x, cfg)
    try:
        with torch.no_grad():
            out = copy_model(net)(train)
    except Exception as err:
        hint = "" if cfg.flatten else " (if it expects [T, B, features], use flatten / --flatten)"
        raise ModelSpecError(
            f"the model failed on an input train of shape {tuple(train.shape)}: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}{hint}"
        ) from None
    first = out[0] if isinstance(out, (tuple, list)) and out else out
    steps, batch = train.shape[:2]
    if not isinstance(first, Tensor) or first.ndim != 3 or tuple(first.shape[:2]) != (steps, batch):
        got = tuple(first.shape) if isinstance(first, Tensor) else type(first).__name__
        raise ModelSpecError(
            "the model must map an input train [T, B, ...] to an output train [T, B, N] (or a "
            f"tuple whose first element is that); for input {tuple(train.shape)} it gave {got}"
        )
    if num_classes is not None and first.shape[2] < num_classes:
        raise ModelSpecError(
            f"the model has {first.shape[2]} outputs but the data has {num_classes} classes"
        )
    return first


def _is_spiking(train: Tensor) -> bool:
    return bool(((train == 0) | (train == 1)).all())


# ---- one variant ---------------------------------------------------------------------------------
def _conversion(base: nn.Module, mode: str, sample: Tensor, cfg: UserCompareConfig):
    """(converted model, its report as text, a note or None)."""
    import stdbp_plugin as stdbp

    note = None
    options = dict(cfg.convert_options)
    try:
        net = stdbp.convert(base, mode=mode, sample=sample if cfg.calibrate else None, **options)
    except ValueError as err:
        if mode == "event" or not cfg.calibrate:
            raise VariantSkipped(str(err)) from None
        try:  # calibration builds the event-driven layers; the clock model may still work
            net = stdbp.convert(base, mode=mode, **options)
        except ValueError as err2:
            raise VariantSkipped(str(err2)) from None
        note = f"thresholds not calibrated: convert(sample=...) refused: {err}"
    return net, str(getattr(net, "stdbp_conversion_report", "")), note


def build_variant(variant: str, base: nn.Module, sample: Tensor, loss, cfg: UserCompareConfig):
    """(UserModelClassifier, record) for one variant; raises VariantSkipped with the reason."""
    from stdbp_plugin.functional import temporal_cross_entropy
    from stdbp_plugin.lightning.user_model import UserModelClassifier

    with torch.no_grad():
        out = base(sample)
    spiking = _is_spiking(out[0] if isinstance(out, (tuple, list)) else out)
    choice = resolve_loss(loss, spiking)
    user_readout = cfg.readout or choice.readout or ("count" if spiking else "max_membrane")
    record = {"variant": variant, "loss": choice.name, "conversion": None, "note": None}
    dt = 1.0
    if variant == "user":
        net, fn, readout = base, choice.surrogate, user_readout
    elif variant == "clock":
        net, record["conversion"], record["note"] = _conversion(base, "clock", sample, cfg)
        fn = choice.switched
        readout = "first_spike" if user_readout in ("count", "first_spike") else user_readout
    elif variant == "event":
        if cfg.encoding == "direct":
            raise VariantSkipped(
                "direct (analog) input has no spike times: the event-driven model reads only "
                "the first non-zero step of each input (step 0 for every non-zero pixel); use "
                "encoding 'latency' or 'rate'"
            )
        net, record["conversion"], record["note"] = _conversion(base, "event", sample, cfg)
        dt = float(getattr(net, "dt", 1.0))
        tau = EVENT_TAU_WINDOWS * cfg.num_steps * dt
        fn = partial(temporal_cross_entropy, tau=tau, keep_target_alive=1.0)
        record["loss"] = f"temporal_cross_entropy(tau={tau:g})"
        readout = "spike_times"
    else:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    record["readout"] = readout
    model = UserModelClassifier(
        net, fn, readout, cfg.encoding, cfg.num_steps, dt, cfg.flatten, lr=cfg.lr
    )
    return model, record


def train_variant(variant: str, cfg: UserCompareConfig, model=None, data=None, loss=None) -> dict:
    """Train and test one variant; returns one row of the report (or a skipped record).

    ``model`` / ``data`` / ``loss``: in-memory objects; where None they come from ``cfg``
    (``cfg.model`` "module:attribute", ``cfg.dataset``, ``cfg.loss``), as in a child process."""
    import lightning as L

    from stdbp_plugin.compare.threads import restore_threads, set_threads
    from stdbp_plugin.compare.train_one import fit_and_measure

    previous = set_threads(cfg.threads)
    try:
        L.seed_everything(cfg.seed, verbose=False)
        if model is None:
            model = load_model(cfg.model)  # import after seeding: same initial weights
        base = model() if not isinstance(model, nn.Module) else copy_model(model)
        dm = make_datamodule(cfg.dataset if data is None else data, cfg)
        x, _ = next(iter(dm.train_dataloader()))
        sample = _encode(x, cfg)
        try:
            classifier, record = build_variant(
                variant, base, sample, cfg.loss if loss is None else loss, cfg
            )
        except VariantSkipped as why:
            return {"model": variant, "skipped": str(why)}
        L.seed_everything(cfg.seed, verbose=False)
        result = fit_and_measure(variant, classifier, dm, cfg)
        return {**result, **record}
    finally:
        restore_threads(previous)


def _train_variant_child(variant: str, cfg_dict: dict) -> dict:
    return train_variant(variant, UserCompareConfig(**cfg_dict))


# ---- the whole comparison -------------------------------------------------------------------------
def compare_model(
    model: nn.Module | Callable[[], nn.Module] | str,
    loss: str | Callable | None = None,
    data="digits",
    encoding: str | Callable[[Tensor, int], Tensor] = "rate",
    num_steps: int = 25,
    epochs: int = 3,
    batch_size: int = 32,
    max_samples: int | None = None,
    lr: float = 2e-3,
    readout: str | None = None,
    flatten: bool = False,
    variants: tuple[str, ...] = VARIANTS,
    seed: int = 0,
    threads: int = 1,
    data_dir: str | None = None,
    max_shift: int = 0,
    calibrate: bool = True,
    convert_options: dict | None = None,
    out: str | Path | None = "stdbp_report",
    overwrite: bool = False,
    isolate: bool | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Train the user's model as it is and switched to ReL-PSP (clock and event); write the report.

    The model contract: ``model(x)`` maps an input train x [T, B, ...] (T = ``num_steps``, B the
    batch, ... the image [C, H, W], or [C*H*W] with ``flatten``) to an output train [T, B, N]
    with N >= the number of classes, or to a tuple whose first element is that
    (``spk_rec, mem_rec = net(x)`` in snnTorch, ``out, state = net(x)`` in Norse). It resets its
    own state at each call (``init_leaky()`` in forward, Norse state None).

    Args:
        model: an nn.Module (deep-copied for each variant), a zero-argument factory, or
            "module:attribute" naming either (then each variant trains in its own process).
        loss: an snnTorch readout name ("ce_rate_loss", "ce_count_loss", "mse_count_loss",
            "ce_temporal_loss", "mse_temporal_loss", "ce_max_membrane_loss",
            "mse_membrane_loss") or an instance of one: the user model trains with
            ``snntorch.functional``'s, the clock model with the same name from
            ``stdbp_plugin.snntorch.functional`` (first-spike versions); or any callable
            ``loss(output, targets)`` (both use it); or "module:attribute"; None:
            ce_rate_loss for spike outputs, ce_max_membrane_loss for membrane outputs. The
            event model always trains on spike times with ``temporal_cross_entropy``
            (tau = T dt / 16, keep_target_alive = 1).
        data: "digits" | "mnist" | "fashion-mnist", a LightningDataModule, or (train, test) /
            (train, val, test) DataLoaders of (images in [0, 1], labels).
        encoding: "rate", "latency" or "direct" (see ``encode_images``), or a callable
            (images [B, ...], T) -> input train [T, B, ...]; the event variant is skipped for
            "direct".
        readout: how the user model's class is read ("count", "first_spike", "max_membrane");
            None: from the loss. The switched models read the first output spike (a kept
            membrane read-out keeps the user's readout).
        variants: a subset of ("user", "clock", "event").
        num_steps, epochs, batch_size, max_samples, lr, seed, threads, data_dir, max_shift:
            the budget, the same for every variant (Adam, cosine schedule).
        calibrate: let convert calibrate thresholds on one encoded training batch.
        convert_options: more keyword arguments of ``stdbp.convert`` for both switched variants
            (e.g. ``{"silent_grad": 1.0}``, ``{"fire_fraction": 0.8}``).
        out: report folder (None: no report); an existing non-empty folder stops the call
            before training unless ``overwrite`` (then the new report replaces it atomically).
        isolate: train each variant in a fresh process (default: only for
            "module:attribute" models with a named data set).

    Returns:
        One dict per variant, in order: the figures of ``stdbp compare`` (test_acc,
        epoch_time_s, peak_rss_mib, spikes_per_sample, decision_latency, synops_per_sample,
        history, ...) plus ``loss``, ``readout``, ``conversion`` (convert's report) and
        ``note``; a variant that could not run is ``{"model": name, "skipped": reason}``.

    Raises:
        ModelSpecError (a ValueError) for a model, loss or data that does not fit, or an
        ``out`` that is a file, or a non-empty folder without ``overwrite=True``.
    """
    from stdbp_plugin.compare.report import print_table, write_report
    from stdbp_plugin.compare.runner import run_isolated
    from stdbp_plugin.lightning.user_model import ENCODINGS

    check_out(out, overwrite)
    variants = tuple(variants)
    if not variants or any(v not in VARIANTS for v in variants):
        raise ModelSpecError(f"variants must be drawn from {VARIANTS}, got {variants!r}")
    if not callable(encoding) and encoding not in ENCODINGS:
        raise ModelSpecError(f"encoding must be one of {ENCODINGS} or a callable, got {encoding!r}")
    if isolate is None:
        isolate = isinstance(model, str) and isinstance(data, str)
    if isolate and not (isinstance(model, str) and isinstance(data, str)):
        raise ModelSpecError("isolate=True needs model as 'module:attribute' and data as a name")
    if isolate and not (loss is None or isinstance(loss, str)) or (isolate and callable(encoding)):
        raise ModelSpecError(
            "isolate=True needs loss as a name or 'module:attribute' and a named encoding"
        )
    cfg = UserCompareConfig(
        dataset=data if isinstance(data, str) else "custom", data_dir=data_dir,
        epochs=epochs, batch_size=batch_size, max_samples=max_samples, num_steps=num_steps,
        max_shift=max_shift, seed=seed, threads=threads, progress=progress,
        model=model if isinstance(model, str) else None,
        loss=loss if isinstance(loss, str) or loss is None else None,
        encoding=encoding, readout=readout, flatten=flatten, lr=lr, variants=list(variants),
        calibrate=calibrate, convert_options=dict(convert_options or {}),
    )  # fmt: skip
    # check everything once, here, before any training
    torch.manual_seed(seed)
    obj = load_model(model) if isinstance(model, str) else model
    if not isinstance(obj, nn.Module) and not callable(obj):
        raise ModelSpecError(f"model must be an nn.Module or a factory, got {type(obj).__name__}")
    dm = make_datamodule(data, cfg)
    x, _ = next(iter(dm.train_dataloader()))
    probe = obj if isinstance(obj, nn.Module) else obj()
    output = check_model(probe, x[:4], cfg, getattr(dm, "num_classes", None))
    resolve_loss(loss, _is_spiking(output))
    name = model if isinstance(model, str) else type(probe).__name__
    results = []
    for variant in variants:
        log(f"training {variant} ({name}, {cfg.epochs} epochs, {cfg.dataset})")
        if isolate:
            results.append(
                run_isolated(_train_variant_child, variant, cfg.to_dict(), label=f"{variant}")
            )
        else:
            in_memory = None if isinstance(model, str) else model
            results.append(
                train_variant(
                    variant, cfg, in_memory, None if isinstance(data, str) else dm,
                    None if isinstance(loss, str) else loss,
                )
            )  # fmt: skip
        if "skipped" in results[-1]:
            log(f"  {variant} skipped: {results[-1]['skipped']}")
    losses = [r["loss"] for r in results if r.get("model") == "user" and "loss" in r]
    config = {**cfg.to_dict(), "model": name, "loss": losses[0] if losses else cfg.loss}
    if callable(encoding):
        config["encoding"] = getattr(encoding, "__name__", type(encoding).__name__)
    config.pop("spec", None)
    if out is not None:
        print_table(results)
        folder = write_report(
            results, config, out, title=f"Your model ({name}) and its ReL-PSP versions",
            notes=USER_NOTES, sections=[conversion_section(results)],
        )  # fmt: skip
        log(f"report written to {Path(folder).resolve()}/report.md")
    return results


def check_out(out: str | Path | None, overwrite: bool) -> None:
    """The report folder ``out`` may be written: None, absent, empty, or ``overwrite``."""
    if out is None:
        return
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise ModelSpecError(f"out must be a folder path or None, got {out!r}")
    if not isinstance(overwrite, bool):
        raise ModelSpecError(f"overwrite must be True or False, got {overwrite!r}")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ModelSpecError(f"out {str(out)!r} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ModelSpecError(
            f"out {str(out)!r}: the folder already exists and is not empty; pass "
            "overwrite=True to replace it, or choose another out"
        )


def conversion_section(results: list[dict]) -> str:
    """Markdown: the loss and readout of each variant, what convert switched, what was skipped."""
    lines = ["## What was compared and what `convert` switched", ""]
    for r in results:
        if "skipped" in r:
            lines += [f"- **{r['model']}**: not run: {r['skipped']}", ""]
            continue
        lines.append(f"- **{r['model']}**: loss `{r['loss']}`, readout `{r['readout']}`")
        if r.get("note"):
            lines.append(f"  ({r['note']})")
        if r.get("conversion"):
            lines += ["", "```", r["conversion"], "```"]
        lines.append("")
    return "\n".join(lines)


USER_NOTES = """
## How the figures are measured

Variants: **user** = the model as given, its neurons and surrogate gradients, the given loss;
**clock** = `stdbp.convert(model, mode="clock")`, the same model with ReL-PSP neurons (exact
spike-time gradients), the loss of the same name from `stdbp_plugin.snntorch.functional`
(first-spike versions of snnTorch's readouts) or the given callable; **event** =
`stdbp.convert(model, mode="event")`, the event-driven STDBP network with the same weights,
trained on output spike times with `temporal_cross_entropy`. Same data, input encoding,
epochs, batch size, learning rate (Adam, cosine schedule), seeds and initial weights.

- **test accuracy**: share of the test set classified correctly by the variant's readout
  (count: most output spikes; first_spike / spike_times: earliest output spike; max_membrane:
  largest membrane maximum); a sample without a decision (no output spike) counts as wrong.
- **train time / epoch**: wall-clock seconds of one training epoch (validation excluded).
- **peak memory**: increase of the process's resident memory while `Trainer.fit` runs
  (a fresh process per variant on the command line; in-process runs overlap).
- **spikes / sample**: spikes of all spiking neuron layers for one test sample (input spikes
  and non-spiking read-outs excluded).
- **decision latency**: in units of the input window; count / max_membrane: (first step after
  which the argmax no longer changes + 1) / T; first_spike: (step of the first output spike
  + 1) / T; spike_times: first output spike time / (T dt).
- **synaptic ops / sample**: sum over Linear / Conv2d layers of (non-zero inputs x fan-out).
"""
