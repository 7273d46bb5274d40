# %% [markdown]
# # Why STDBP? Gradients across depth and silent neurons, measured
#
# The paper's argument (Zhang et al., arXiv:2003.11837): with the ReL-PSP kernel
# $K(x) = \max(0, x)$ the slope of the membrane potential at the threshold crossing,
# $S_j = \sum_{i \in C_j} w_{ji}$, does not decay with time, so the exact spike-time gradients
# $\partial t_j / \partial t_i = w_{ji} / S_j$ neither explode (no $dt/dV$ blowing up at a
# flat crossing, as with alpha / exponential PSPs) nor die with a leak, and deep networks train.
# Surrogate-gradient BPTT through leaky integrate-and-fire (LIF) neurons, by contrast, is said to
# suffer from vanishing / exploding gradients across layers and from neurons that stop firing.
#
# We do not take that on faith. On scikit-learn digits (bundled, no download) we build networks
# of 3 to 6 hidden layers of the same width, twice:
#
# - **STDBP**: `stdbp_plugin.nn.ReLPSPLinear` layers on latency-coded input, exact spike-time
#   gradients (no clamp on $1/S$), `temporal_cross_entropy`;
# - **LIF surrogate**: snnTorch `snn.Leaky` (beta 0.9, arctan surrogate) after each `nn.Linear`,
#   BPTT over 25 steps of rate-coded input, `ce_rate_loss` (the package's snnTorch baseline,
#   `stdbp_plugin.models.surrogate_network.SurrogateNetwork`, default initialisation);
#
# and measure (a) the norm of every layer's weight gradient, at initialisation and after a few
# epochs of Adam, and (b) the fraction of hidden neurons that never fire over a batch, per epoch.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import snntorch.functional as snn_functional
import torch
from sklearn.datasets import load_digits
from snntorch import spikegen

import stdbp_plugin as stdbp
from stdbp_plugin.functional import first_spike_predict, temporal_cross_entropy
from stdbp_plugin.models.surrogate_network import SurrogateNetwork

SMALL = os.environ.get("STDBP_NOTEBOOK_SMALL", "0") == "1"  # the test suite sets it
NOTEBOOK_START = time.perf_counter()  # the last cell prints this run's wall-clock time
torch.set_num_threads(1)
DEPTHS = (3, 6) if SMALL else (3, 4, 5, 6)  # hidden layers
WIDTH = 64 if SMALL else 128
N_TRAIN, EPOCHS, BATCH, LR, NUM_STEPS = (256, 2, 32, 2e-3, 25) if SMALL else (1400, 5, 32, 2e-3, 25)

digits = load_digits()
x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)
perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
train_idx, test_idx = perm[:N_TRAIN], perm[1400:]  # the last 397 digits are never trained on
probe = train_idx[:256]  # the fixed batch on which gradients and silent neurons are measured
print(f"{N_TRAIN} training digits, {len(test_idx)} test digits, depths {DEPTHS}, width {WIDTH}")

# %% [markdown]
# ## The two model families and what is measured
# Both expose the same four functions: build a network, its loss on a batch, which hidden neurons
# fired (per sample) on a batch, and its test accuracy. The gradient norm of layer $l$ is
# $\lVert \partial L / \partial W_l \rVert_F$ of the mean loss over the 256-digit probe batch;
# a hidden neuron is *silent* if it fires for none of those 256 digits.


# %%
def stdbp_build(depth: int) -> torch.nn.Sequential:
    sizes = [64] + [WIDTH] * depth + [10]
    layers = [stdbp.nn.ReLPSPLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    return torch.nn.Sequential(stdbp.nn.LatencyEncoder(), *layers)


def stdbp_loss(net, xb, yb):
    return temporal_cross_entropy(net(xb), yb, tau=0.1, keep_target_alive=1.0)


def stdbp_fired(net, xb):  # [batch, width] booleans per hidden layer: spike time finite
    t, fired = net[0](xb), []
    for layer in net[1:-1]:
        t = layer(t)
        fired.append(torch.isfinite(t))
    return fired


def stdbp_accuracy(net, xb, yb):
    return (first_spike_predict(net(xb)) == yb).float().mean().item()


def lif_build(depth: int) -> SurrogateNetwork:
    spec = "-".join([str(WIDTH)] * depth + ["10"])
    return SurrogateNetwork("snntorch", spec, (1, 8, 8), num_steps=NUM_STEPS, beta=0.9)


def lif_loss(net, xb, yb):
    return snn_functional.ce_rate_loss()(
        net.run(spikegen.rate(xb, num_steps=NUM_STEPS)).readout, yb
    )


def lif_fired(net, xb):  # at least one spike in the T steps
    trains = net.run(spikegen.rate(xb, num_steps=NUM_STEPS)).layer_spikes[:-1]
    return [train.sum(0) > 0 for train in trains]


def lif_accuracy(net, xb, yb):
    counts = net.run(spikegen.rate(xb, num_steps=NUM_STEPS)).readout.sum(0)
    return (counts.argmax(1) == yb).float().mean().item()


MODELS = {
    "STDBP (ReL-PSP)": (stdbp_build, stdbp_loss, stdbp_fired, stdbp_accuracy),
    "LIF surrogate (snnTorch)": (lif_build, lif_loss, lif_fired, lif_accuracy),
}


def weight_grad_norms(net, loss_fn) -> list[float]:
    """||dL/dW_l||_F for every weight layer, input side first."""
    weights = [
        m.weight for m in net.modules() if isinstance(m, (torch.nn.Linear, stdbp.nn.ReLPSPLinear))
    ]
    net.zero_grad()
    loss_fn(net, x[probe], y[probe]).backward()
    return [w.grad.norm().item() for w in weights]


def silent_fractions(net, fired_fn) -> list[float]:
    """Per hidden layer: fraction of neurons that fire for no digit of the probe batch."""
    with torch.no_grad():
        return [1.0 - f.any(0).float().mean().item() for f in fired_fn(net, x[probe])]


def spread(norms: list[float]) -> float:
    """max / min over layers of the gradient norm (inf when a layer's gradient is exactly 0)."""
    return max(norms) / min(norms) if min(norms) > 0 else float("inf")


# %% [markdown]
# ## Train and measure
# Same seed, same data order, same optimiser (Adam, lr 2e-3, batch 32) for both families.

# %%
results = {}
for depth in DEPTHS:
    for name, (build, loss_fn, fired_fn, accuracy) in MODELS.items():
        torch.manual_seed(0)
        net = build(depth)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        shuffle = torch.Generator().manual_seed(1)  # the same data order for every model
        start = time.perf_counter()
        grad_init = weight_grad_norms(net, loss_fn)
        silent = [silent_fractions(net, fired_fn)]
        for _ in range(EPOCHS):
            order = train_idx[torch.randperm(N_TRAIN, generator=shuffle)]
            for i in range(0, N_TRAIN, BATCH):
                idx = order[i : i + BATCH]
                loss = loss_fn(net, x[idx], y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            silent.append(silent_fractions(net, fired_fn))
        grad_trained = weight_grad_norms(net, loss_fn)
        with torch.no_grad():
            acc = accuracy(net, x[test_idx], y[test_idx])
        results[name, depth] = dict(
            grad_init=grad_init, grad_trained=grad_trained, silent=np.array(silent), acc=acc
        )
        print(
            f"{name:25s} depth {depth}: test acc {acc:.3f}, {time.perf_counter() - start:5.1f} s, "
            f"silent hidden {np.mean(silent[0]):.2f} -> {np.mean(silent[-1]):.2f}, "
            f"max/min layer grad norm {spread(grad_init):.1e} -> {spread(grad_trained):.1e}"
        )

# %% [markdown]
# ## (a) Gradient norm per layer across depth
# x axis: weight layer, 1 = input -> first hidden, last = last hidden -> output. Log scale; a
# gradient that is exactly zero is drawn on the dotted floor line.

# %%
FLOOR = 1e-8
fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharey=True)
for col, name in enumerate(MODELS):
    for row, key in enumerate(("grad_init", "grad_trained")):
        ax = axes[row, col]
        for depth in DEPTHS:
            g = np.maximum(results[name, depth][key], FLOOR)
            ax.semilogy(range(1, len(g) + 1), g, marker="o", label=f"{depth} hidden")
        ax.axhline(FLOOR, color="k", ls=":", lw=0.8)
        when = "at initialisation" if row == 0 else f"after {EPOCHS} epochs"
        ax.set(title=f"{name}, {when}", xlabel="weight layer (input side = 1)")
        ax.set_ylabel(r"$\|\partial L / \partial W_l\|_F$")
        ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## (b) Silent hidden neurons over training
# Fraction of all hidden neurons (every hidden layer pooled) that fire for none of the 256 probe
# digits; epoch 0 is the initialisation. Below the plot: the per-layer fractions of the deepest
# network.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharey=True)
for ax, name in zip(axes, MODELS, strict=True):
    for depth in DEPTHS:
        ax.plot(results[name, depth]["silent"].mean(1), marker="o", label=f"{depth} hidden")
    ax.set(
        title=name, xlabel="epoch", ylabel="silent hidden neurons (fraction)", ylim=(-0.02, 1.02)
    )
    ax.legend(fontsize=7)
fig.tight_layout()
plt.show()
for name in MODELS:
    s = results[name, DEPTHS[-1]]["silent"]
    print(f"{name}, {DEPTHS[-1]} hidden layers, silent fraction per layer (input side first):")
    print("  at init:     ", np.round(s[0], 2))
    print("  after train: ", np.round(s[-1], 2))

# %% [markdown]
# ## A fairness check: is the LIF network silent only because of its initialisation?
# STDBP layers use `relpsp_init_`, an initialisation chosen so that almost every ReL-PSP neuron
# fires; the LIF baseline uses PyTorch's default `nn.Linear` initialisation. Scaling the LIF
# weights (`weight_gain`) changes how many LIF neurons are silent at initialisation:

# %%
for gain in (1.0, 2.0, 4.0):
    torch.manual_seed(0)
    net = SurrogateNetwork(
        "snntorch", "-".join([str(WIDTH)] * DEPTHS[-1] + ["10"]), (1, 8, 8),
        num_steps=NUM_STEPS, weight_gain=gain,
    )  # fmt: skip
    print(
        f"weight_gain {gain}: silent per hidden layer",
        np.round(silent_fractions(net, lif_fired), 2),
    )

# %% [markdown]
# ## What the measurements show (and what they do not)
#
# Figures quoted here are from one full-size run (`STDBP_NOTEBOOK_SMALL` unset: 1400 training
# digits, width 128, 5 epochs, one thread). Its wall-clock time depends on the machine's load:
# measured at about 2 minutes on a quiet 2-core CPU and 7.5 minutes on a 2-core CPU shared with
# other jobs; the cell below prints this run's own time. The small test-suite run is too short
# to show the figures, so read your own printout and plots above.
#
# | hidden layers | 3 | 4 | 5 | 6 |
# |---|---|---|---|---|
# | STDBP test acc | 0.93 | 0.95 | 0.94 | 0.89 |
# | LIF test acc | 0.94 | 0.94 | 0.70 | 0.22 |
# | STDBP max/min layer grad norm, init -> trained | 21 -> 4 | 110 -> 2 | 74 -> 2 | 570 -> 4 |
# | LIF max/min layer grad norm, init -> trained | 43 -> 31 | 470 -> 110 | inf -> 200 | inf -> 400 |
# | STDBP silent hidden, init -> trained | 0 -> 0.04 | 0 -> 0.06 | 0 -> 0.11 | 0 -> 0.08 |
# | LIF silent hidden, init -> trained | 0.41 -> 0.04 | 0.55 -> 0.03 | 0.65 -> 0.04 | 0.69 -> 0.16 |
#
# **Gradients at initialisation.** "ReL-PSP gradients do not vanish with depth" is *not* what we
# measure at initialisation: STDBP's weight-gradient norm falls towards the input, by a factor
# of about 20 (3 hidden layers) to about 600 (6 hidden layers) between the largest and the
# smallest layer. The formula says why: over the causal set $\sum_i w_{ji}/S_j = 1$, so
# $\partial t_j/\partial t_i$ *shares out* the gradient among the causal inputs instead of
# amplifying it, and with the positive-mean initialisation nearly every input is causal, so each
# gets a small share. The default-initialised LIF network is worse in another way: most neurons of
# its deeper layers never fire, and a layer whose input spikes are all zero gets an *exactly zero*
# weight gradient (points on the floor line, "inf" spread, for 5 and 6 hidden layers).
#
# **Gradients after training.** After 5 epochs STDBP's profile is flat across depth (largest /
# smallest layer within a factor of 2-4 at every depth), with no clamp on $1/S$ and no explosion.
# The LIF network's profile grows towards the input, and its spread grows with depth (31 at 3
# hidden layers, 400 at 6).
#
# **Silent neurons.** STDBP starts with no silent hidden neuron and ends with 4-11% (hidden
# neurons are not protected by `keep_target_alive`; a silent one gets exactly zero gradient, as
# the exact STDBP rule says, and stays silent; in the 6-layer net they sit in layers 2-3). The
# LIF network starts with 41-69% silent hidden neurons (all of the last two layers with 6 hidden
# layers); Adam revives most of them, to 3-4% for 3-5 hidden layers (as few as STDBP) but 16% with
# 6. So "surrogate LIF networks keep many dead neurons" holds only for the deepest net here.
#
# **Honest caveats.** (1) The silent-neuron gap at initialisation is largely an initialisation
# choice: the fairness check above shows that `weight_gain=4` wakes almost all LIF neurons up,
# and STDBP is helped by `relpsp_init_`; we did not train the re-scaled LIF networks. (2) The
# two families have different codes and losses, so absolute gradient norms are not comparable
# between the columns of the plot; only each profile's spread across layers is. (3) One seed,
# one small dataset, 5 epochs, no tuning of either model. The measurements therefore support
# "exact STDBP on ReL-PSP trains 3-6 layer fully connected stacks to a flat gradient profile with
# few dead neurons, and keeps its accuracy with depth where the default LIF baseline does not",
# but not "STDBP gradients are depth-independent from the start", and not that a well-initialised,
# tuned surrogate LIF network could not close the gap.

# %%
print(f"this run took {time.perf_counter() - NOTEBOOK_START:.0f} s of wall-clock time")
