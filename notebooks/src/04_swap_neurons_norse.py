# %% [markdown]
# # Swap the neurons of a Norse model for ReL-PSP (STDBP), keep the training loop
#
# A Norse `SequentialState` of `Lift(Linear)` and `LIF` modules on first-spike (latency) input.
# `stdbp.convert(model, sample=...)` replaces each `LIF` by the whole-sequence
# `stdbp_plugin.norse.ReLPSP` (same weights, thresholds from one batch). The loss reads the first
# output spike times (`FirstSpikeTimeDecoder`, in steps) with `temporal_cross_entropy`.

# %%
import os

import matplotlib.pyplot as plt
import norse.torch as norse
import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

import stdbp_plugin as stdbp
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
encoder = norse.SpikeLatencyLIFEncoder(32)
model = norse.SequentialState(
    norse.Lift(torch.nn.Flatten()),
    norse.Lift(torch.nn.Linear(784, 800)),
    norse.LIF(),
    norse.Lift(torch.nn.Linear(800, 10)),
    norse.LIF(),
)
model = stdbp.convert(model, sample=encoder(next(iter(train_loader))[0] * 5.0))
print(model)
first_spike = FirstSpikeTimeDecoder(dt=1.0)

# %%
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
accs = []
for _ in range(epochs):
    for data, targets in train_loader:
        z, _ = model(encoder(data * 5.0))
        loss = stdbp.functional.temporal_cross_entropy(
            first_spike(z), targets, keep_target_alive=1.0
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        correct = sum((first_spike(model(encoder(d * 5.0))[0]).argmin(1) == t).sum().item()
                      for d, t in test_loader)  # fmt: skip
    accs.append(correct / n_test)
    print(f"loss {loss.item():.3f}, test accuracy {accs[-1]:.3f}")

# %%
with torch.no_grad():
    data, targets = next(iter(test_loader))
    t_out = first_spike(model(encoder(data * 5.0))[0])
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
