# %% [markdown]
# # Quickstart: one ReL-PSP layer, its potentials, and a small STDBP network
#
# A ReL-PSP neuron sums ramps: $V_j(t) = \sum_i w_{ji}\,\max(0, t - t_i)$. It fires once, at
# the first $t$ where $V_j(t) = \theta$, which has the closed form
# $t_j = (\theta + \sum_{i \in C_j} w_{ji} t_i) / \sum_{i \in C_j} w_{ji}$ (the causal set $C_j$ are
# the inputs before the crossing). STDBP back-propagates through that closed form exactly.

# %%
import os

import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits

import stdbp_plugin as stdbp
from stdbp_plugin.functional import first_spike_predict, temporal_cross_entropy

SMALL = os.environ.get("STDBP_NOTEBOOK_SMALL", "0") == "1"  # the test suite sets it
torch.manual_seed(0)
torch.set_num_threads(1)

# %% [markdown]
# ## 1. Encode an image: brighter pixels spike earlier
# Latency coding: $t = t_{max}(1 - x)$; a black pixel ($x = 0$) never spikes.

# %%
digits = load_digits()
x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
y = torch.tensor(digits.target)
encoder = stdbp.nn.LatencyEncoder(t_max=1.0)
t_in = encoder(x[:1])
fig, axes = plt.subplots(1, 2, figsize=(7, 3))
axes[0].imshow(x[0].reshape(8, 8), cmap="gray")
axes[0].set_title(f"digit {int(y[0])}")
axes[1].imshow(t_in[0].reshape(8, 8).clamp(max=1.2), cmap="viridis")
axes[1].set_title("spike time (yellow: late / none)")
plt.show()

# %% [markdown]
# ## 2. One ReL-PSP layer and its membrane potentials
# We compute $V_j(t)$ on a fine grid directly from the definition and mark the spike time the layer
# returns: the trace crosses $\theta$ exactly there.

# %%
layer = stdbp.nn.ReLPSPLinear(64, 5, bias=False)
t_out = layer(t_in).detach()[0]
grid = torch.linspace(0, 2.0, 400)
ramps = torch.clamp(grid[:, None] - t_in[0][None, :], min=0)
ramps = torch.where(torch.isfinite(ramps), ramps, torch.zeros_like(ramps))
v = ramps @ layer.weight.detach().T  # [time, neuron]
fig, ax = plt.subplots(figsize=(7, 3.5))
for j in range(5):
    (line,) = ax.plot(grid, v[:, j], label=f"neuron {j}")
    if torch.isfinite(t_out[j]):
        ax.axvline(t_out[j], color=line.get_color(), ls=":")
ax.axhline(float(layer.threshold), color="k", lw=0.8)
ax.set(xlabel="t", ylabel="V(t)", ylim=(-1, 3), title="V(t); dotted: spike time from the layer")
ax.legend(fontsize=7)
plt.show()
print("spike times:", t_out.numpy().round(3))

# %% [markdown]
# ## 3. Train a small network on the digits
# 64 inputs, one hidden ReL-PSP layer, 10 outputs; the class is the output neuron that fires first.
# The loss is the cross-entropy over $\mathrm{softmax}(-t_{out}/\tau)$.

# %%
n_train = 400 if SMALL else 1400
epochs = 3 if SMALL else 15
perm = torch.randperm(len(x))
tr, te = perm[:n_train], perm[n_train:]
net = torch.nn.Sequential(
    stdbp.nn.LatencyEncoder(),
    stdbp.nn.ReLPSPLinear(64, 128, max_inv_slope=3.0),
    stdbp.nn.ReLPSPLinear(128, 10, max_inv_slope=3.0),
)
opt = torch.optim.Adam(net.parameters(), lr=2e-3)
history = []
for epoch in range(epochs):
    order = tr[torch.randperm(n_train)]
    total = 0.0  # summed over the epoch's samples: the printed loss is the epoch mean
    for start in range(0, n_train, 32):
        idx = order[start : start + 32]
        loss = temporal_cross_entropy(net(x[idx]), y[idx], tau=0.1, keep_target_alive=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    with torch.no_grad():
        acc = (first_spike_predict(net(x[te])) == y[te]).float().mean().item()
    history.append((total / n_train, acc))
    print(
        f"epoch {epoch + 1}: mean training loss {total / n_train:.3f}, held-out accuracy {acc:.3f}"
    )

# %%
from matplotlib.ticker import MaxNLocator  # noqa: E402

fig, (ax_loss, ax) = plt.subplots(1, 2, figsize=(9, 3))
ax_loss.plot(range(1, epochs + 1), [loss for loss, _ in history], marker="o")
ax_loss.set(xlabel="epoch", ylabel="mean training loss", title="loss (epoch mean)")
ax.plot(range(1, epochs + 1), [a for _, a in history], marker="o")
ax.set(xlabel="epoch", ylabel="held-out accuracy", title="STDBP on digits")
for a in (ax_loss, ax):
    a.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
plt.show()

# %% [markdown]
# The accuracy above is measured on digits the network never saw. Each output neuron fires at most
# once, so the whole network makes its decision with one spike.
