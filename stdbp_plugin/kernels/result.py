"""What a forward kernel returns: the spike times plus what its backward needs."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class ForwardResult(NamedTuple):
    """t_out [B, O] (inf = silent); order [B, I] the stable argsort of each sample's input times;
    n_causal [B, O] the number of sorted inputs in the causal set (0 when silent);
    slope [B, O] the slope S_j = sum of causal weights at the crossing (0 when silent)."""

    t_out: Tensor
    order: Tensor
    n_causal: Tensor
    slope: Tensor
