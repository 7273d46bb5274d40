# %% [markdown]
# # Swap the neurons of a Norse model for ReL-PSP (STDBP), keep the training loop
#
# A Norse `SequentialState` of `Lift(Linear)` and `LIF` modules on first-spike (latency) input.
# `stdbp.convert(model, sample=...)` replaces each `LIF` by the whole-sequence
# `stdbp_plugin.norse.ReLPSP` (same weights, thresholds from one batch). The loss reads the first
# output spike times (`FirstSpikeTimeDecoder`, in steps) with `temporal_cross_entropy`.
# `compare_model` then trains the model as it is (LIF, surrogate gradients) against
# `convert(mode="clock")` and `convert(mode="event")` with the same budget.

# %%
import os

import matplotlib.pyplot as plt
import norse.torch as norse
import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

import stdbp_plugin as stdbp
from stdbp_plugin.compare import compare_model
from stdbp_plugin.norse import FirstSpikeTimeDecoder

SMALL = os.environ.get("STDBP_NOTEBOOK_SMALL", "0") == "1"  # the test suite sets it
DATA = os.environ.get("STDBP_DATA_DIR", "../../shared/data")
torch.manual_seed(0)
n_train, n_test, epochs = (256, 256, 2) if SMALL else (800, 500, 3)
tf = transforms.ToTensor()
train = Subset(datasets.MNIST(DATA, train=True, download=False, transform=tf), range(n_train))
test = Subset(datasets.MNIST(DATA, train=False, download=False, transform=tf), range(n_test))
train_loader = DataLoader(train, batch_size=32, shuffle=True)
test_loader = DataLoader(test, batch_size=256)
num_steps = 32
encoder = norse.SpikeLatencyLIFEncoder(num_steps)


def encode(images, steps=num_steps):
    """Images [B, 1, 28, 28] -> latency spikes [T, B, 1, 28, 28] (Norse's encoder)."""
    return encoder(images * 5.0)


def make_model():
    return norse.SequentialState(
        norse.Lift(torch.nn.Flatten()),
        norse.Lift(torch.nn.Linear(784, 800)),
        norse.LIF(),
        norse.Lift(torch.nn.Linear(800, 10)),
        norse.LIF(),
    )


first_spike = FirstSpikeTimeDecoder(dt=1.0)  # first output spike, in steps


def loss_fn(z, targets):
    return stdbp.functional.temporal_cross_entropy(first_spike(z), targets, keep_target_alive=1.0)


# %% [markdown]
# `convert` says what it switched and what the loop must change:

# %%
torch.manual_seed(0)
model = stdbp.convert(make_model(), sample=encode(next(iter(train_loader))[0]), report=True)

# %% [markdown]
# The training loop, with the converted model: the model returns `(z, state)` as Norse's does.

# %%
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
accs = []
for _ in range(epochs):
    for data, targets in train_loader:
        z, _ = model(encode(data))
        loss = loss_fn(z, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        correct = sum((first_spike(model(encode(d))[0]).argmin(1) == t).sum().item()
                      for d, t in test_loader)  # fmt: skip
    accs.append(correct / n_test)
    print(f"loss {loss.item():.3f}, test accuracy {accs[-1]:.3f}")

# %%
with torch.no_grad():
    data, targets = next(iter(test_loader))
    t_out = first_spike(model(encode(data))[0])
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].plot(range(1, epochs + 1), accs, marker="o")
axes[0].set(xlabel="epoch", ylabel="test accuracy")
axes[1].hist(t_out.min(1).values[torch.isfinite(t_out.min(1).values)].numpy(), bins=20)
axes[1].set(xlabel="first output spike (step)", ylabel="test samples", title="decision time")
plt.show()

# %% [markdown]
# The Norse model kept its structure and weights; only the neurons changed. Each output neuron
# fires at most once and the earliest decides, so the decision time (right) is the time of the
# first output spike: compare it with the 32-step window.
#
# ## One call: the LIF model as it is against its ReL-PSP versions
#
# `compare_model` takes the model (or a factory such as `make_model`), the loss (here a callable
# used by the LIF and the clock model alike; the event model always trains on exact spike times
# with `temporal_cross_entropy`), the data and the encoding (here Norse's own encoder, as a
# callable), and trains the three variants with the same data, budget, seeds and initial
# weights. It writes the report of `stdbp compare` (table, plots, what `convert` switched). The
# command-line twin takes a named encoding: `stdbp compare --model my_module:make_model
# --loss my_module:loss_fn --encoding latency`.

# %%
results = compare_model(
    make_model,
    loss=loss_fn,
    readout="first_spike",
    data=(train_loader, test_loader),
    encoding=encode,
    num_steps=num_steps,
    epochs=epochs,
    out="stdbp_report/04_norse",
    progress=False,
)
for r in results:
    if "skipped" in r:
        print(f"{r['model']:6s} skipped: {r['skipped']}")
    else:
        print(f"{r['model']:6s} test accuracy {r['test_acc']:.3f}, "
              f"{r['epoch_time_s']:.1f} s / epoch, {r['spikes_per_sample']:.0f} spikes / sample")  # fmt: skip

# %%
fig, ax = plt.subplots(figsize=(5, 3))
for r in results:
    if "skipped" not in r:
        acc = r["history"]["val/acc"]
        ax.plot(range(1, len(acc) + 1), acc, marker="o", label=r["model"])
ax.set(xlabel="epoch", ylabel="test accuracy")
ax.legend(fontsize=8)
plt.show()
