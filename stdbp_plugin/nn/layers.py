"""nn.Module wrappers of the event-driven ReL-PSP layers (spike-time tensors in and out)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from stdbp_plugin import functional as SF
from stdbp_plugin.functional.validation import check_number
from stdbp_plugin.nn.init import MEAN_GAIN, STD_GAIN, relpsp_init_


class LatencyEncoder(nn.Module):
    """x in [0, 1] -> spike times t = t_max (1 - x); x <= x_min never spikes (+inf)."""

    def __init__(self, t_max: float = 1.0, x_min: float = 0.0) -> None:
        super().__init__()
        check_number(t_max, "t_max")
        check_number(x_min, "x_min", strict=False)
        if not 0.0 <= x_min < 1.0:
            raise ValueError(f"x_min must lie in [0, 1), got {x_min!r}")
        self.t_max = t_max
        self.x_min = x_min

    def forward(self, x: Tensor) -> Tensor:
        return SF.latency_encode(x, t_max=self.t_max, x_min=self.x_min)

    def extra_repr(self) -> str:
        return f"t_max={self.t_max}, x_min={self.x_min}"


class _ReLPSPBase(nn.Module):
    """Shared threshold / backend handling of the ReL-PSP layers."""

    def _setup(
        self,
        weight_shape: tuple[int, ...],
        *,
        bias: bool,
        threshold: float,
        learn_threshold: bool,
        per_neuron: bool,
        max_inv_slope: float | None,
        horizon: float | None,
        backend: str,
        mean_gain: float,
        std_gain: float,
        input_dropout: float,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        out_features = weight_shape[0]
        if not 0.0 <= input_dropout < 1.0:
            raise ValueError(f"input_dropout must be in [0, 1), got {input_dropout}")
        check_number(threshold, "threshold")
        for name, value in (("max_inv_slope", max_inv_slope), ("horizon", horizon)):
            if value is not None:
                check_number(value, name)
        factory = {"device": device, "dtype": dtype}
        self.input_dropout = input_dropout
        if len(weight_shape) == 2:
            # linear: bias and weight^T as rows of one contiguous [bias + N_in, N_out] tensor,
            # the layout the numba kernel walks; no copy per call, and the kernel's weight
            # gradient, laid out the same, is taken as .grad without a transposing copy
            rows = torch.empty(int(bias) + weight_shape[1], out_features, **factory)
            self.weight = nn.Parameter(rows[int(bias) :].t())
            self.bias = nn.Parameter(rows[0]) if bias else None
        else:
            self.weight = nn.Parameter(torch.empty(weight_shape, **factory))
            self.bias = nn.Parameter(torch.empty(out_features, **factory)) if bias else None
        self.max_inv_slope, self.horizon, self.backend = max_inv_slope, horizon, backend
        self.mean_gain, self.std_gain = mean_gain, std_gain
        shape = (out_features,) if per_neuron else ()
        value = torch.full(shape, float(threshold), **factory)
        if learn_threshold:
            self.threshold = nn.Parameter(value)
        else:
            self.register_buffer("threshold", value)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        theta = float(self.threshold.detach().mean())
        if self.weight.is_contiguous():
            relpsp_init_(self.weight, self.bias, theta, self.mean_gain, self.std_gain)
            return
        # linear: drawn as a contiguous [N_out, N_in] (the same values for a given seed)
        weight = torch.empty_like(self.weight, memory_format=torch.contiguous_format)
        relpsp_init_(weight, self.bias, theta, self.mean_gain, self.std_gain)
        with torch.no_grad():
            self.weight.copy_(weight)

    def _dropout_repr(self) -> str:
        return f", input_dropout={self.input_dropout}" if self.input_dropout else ""

    def _dropped(self, t_in: Tensor) -> tuple[Tensor, Tensor]:
        """Inverted dropout of input spikes (training only): each input spike is silenced
        (t = +inf) with probability p = ``input_dropout`` and the input weights are scaled by
        1 / (1 - p), so E[V(t)] during training equals V(t) at evaluation (V is linear in w);
        the bias, an input at t = 0, is never dropped."""
        p = self.input_dropout
        if not (self.training and p > 0):
            return t_in, self.weight
        silenced = torch.rand_like(t_in) < p
        return t_in.masked_fill(silenced, float("inf")), self.weight / (1 - p)


class ReLPSPLinear(_ReLPSPBase):
    """Fully connected ReL-PSP layer: t_out = relpsp_linear(t_in, weight, bias, threshold).

    Weight layout and ``bias`` follow ``nn.Linear``, so weights can be copied between the two.
    In memory, bias and weight^T are the rows of one contiguous [1 + N_in, N_out] tensor (the
    weight is a non-contiguous view), which the CPU kernel walks without a copy per call; a
    layer whose parameters were replaced or copied apart (``.to(dtype)``, deepcopy) computes
    the same through one copy per call.
    Options after the sizes are keyword-only; ``device`` / ``dtype`` as for ``nn.Linear``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        threshold: float = 1.0,
        learn_threshold: bool = False,
        per_neuron_threshold: bool = False,
        max_inv_slope: float | None = None,
        horizon: float | None = None,
        backend: str = "auto",
        mean_gain: float = MEAN_GAIN,
        std_gain: float = STD_GAIN,
        input_dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._setup(
            (out_features, in_features),
            bias=bias,
            threshold=threshold,
            learn_threshold=learn_threshold,
            per_neuron=per_neuron_threshold,
            max_inv_slope=max_inv_slope,
            horizon=horizon,
            backend=backend,
            mean_gain=mean_gain,
            std_gain=std_gain,
            input_dropout=input_dropout,
            device=device,
            dtype=dtype,
        )

    def forward(self, t_in: Tensor) -> Tensor:
        t_in, weight = self._dropped(t_in)
        return SF.relpsp_linear(
            t_in,
            weight,
            bias=self.bias,
            threshold=self.threshold,
            backend=self.backend,
            max_inv_slope=self.max_inv_slope,
            horizon=self.horizon,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, bias={self.bias is not None}, "
            f"backend={self.backend!r}{self._dropout_repr()}"
        )


class ReLPSPConv2d(_ReLPSPBase):
    """ReL-PSP convolution over spike-time maps [B, C, H, W] (``nn.Conv2d`` weight layout).

    ``stride`` and ``padding`` may be given by position as for ``nn.Conv2d``; the other options
    are keyword-only; ``device`` / ``dtype`` as for ``nn.Conv2d``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        *,
        bias: bool = True,
        threshold: float = 1.0,
        learn_threshold: bool = False,
        per_neuron_threshold: bool = False,
        max_inv_slope: float | None = None,
        horizon: float | None = None,
        backend: str = "auto",
        mean_gain: float = MEAN_GAIN,
        std_gain: float = STD_GAIN,
        input_dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self._setup(
            (out_channels, in_channels, kh, kw),
            bias=bias,
            threshold=threshold,
            learn_threshold=learn_threshold,
            per_neuron=per_neuron_threshold,
            max_inv_slope=max_inv_slope,
            horizon=horizon,
            backend=backend,
            mean_gain=mean_gain,
            std_gain=std_gain,
            input_dropout=input_dropout,
            device=device,
            dtype=dtype,
        )

    def forward(self, t_in: Tensor) -> Tensor:
        t_in, weight = self._dropped(t_in)
        return SF.relpsp_conv2d(
            t_in,
            weight,
            bias=self.bias,
            threshold=self.threshold,
            stride=self.stride,
            padding=self.padding,
            backend=self.backend,
            max_inv_slope=self.max_inv_slope,
            horizon=self.horizon,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, backend={self.backend!r}"
            f"{self._dropout_repr()}"
        )


class EarliestSpikePool2d(nn.Module):
    """Pooling in time: each window passes on its earliest spike."""

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, t_in: Tensor) -> Tensor:
        return SF.earliest_spike_pool2d(t_in, kernel_size=self.kernel_size, stride=self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
