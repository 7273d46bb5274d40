# %% [markdown]
# # Swap the neurons of an snnTorch model for ReL-PSP (STDBP), keep the training loop
#
# Below: a typical snnTorch model (two `snn.Leaky` layers, latency-coded MNIST,
# `ce_temporal_loss`) and a training loop written once. We train it as it is, then call
# `stdbp.convert(net, sample=...)`, which replaces each `snn.Leaky` by the clock-driven ReL-PSP
# neuron (same weights, thresholds calibrated on one batch), and run **the same loop** again.

# %%
import os
import time

import matplotlib.pyplot as plt
import snntorch as snn
import snntorch.functional as SF
import torch
import torch.nn as nn
from snntorch import spikegen
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

import stdbp_plugin as stdbp

SMALL = os.environ.get("STDBP_NOTEBOOK_SMALL", "0") == "1"  # the test suite sets it
DATA = os.environ.get("STDBP_DATA_DIR", "../../shared/data")
torch.manual_seed(0)
n_train, n_test, epochs = (256, 256, 1) if SMALL else (1000, 500, 2)
tf = transforms.ToTensor()
train = Subset(datasets.MNIST(DATA, train=True, download=False, transform=tf), range(n_train))
test = Subset(datasets.MNIST(DATA, train=False, download=False, transform=tf), range(n_test))
train_loader = DataLoader(train, batch_size=64, shuffle=True)
test_loader = DataLoader(test, batch_size=256)
num_steps = 25


def encode(data):
    return spikegen.latency(data.flatten(1), num_steps=num_steps, tau=5, threshold=0.01,
                            clip=True, normalize=True, linear=True)  # fmt: skip


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(784, 800), snn.Leaky(beta=0.95)
        self.fc2, self.lif2 = nn.Linear(800, 10), snn.Leaky(beta=0.95)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for step in range(x.size(0)):
            spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


# %% [markdown]
# The training loop, written once and used for both models.


# %%
def fit(net):
    loss_fn = SF.ce_temporal_loss()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    accs, start = [], time.perf_counter()
    for _ in range(epochs):
        for data, targets in train_loader:
            loss = loss_fn(net(encode(data)), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            accs.append(
                sum(SF.accuracy_temporal(net(encode(d)), t) * len(t) for d, t in test_loader)
                / n_test
            )
    return accs, (time.perf_counter() - start) / epochs


torch.manual_seed(0)
lif_net = Net()
torch.manual_seed(0)
relpsp_net = stdbp.convert(Net(), sample=encode(next(iter(train_loader))[0]))
print(relpsp_net)

# %%
results = {
    "snn.Leaky (surrogate BPTT)": fit(lif_net),
    "ReL-PSP (STDBP, converted)": fit(relpsp_net),
}
for name, (accs, sec) in results.items():
    print(f"{name:28s} test accuracy {accs[-1]:.3f}, {sec:.1f} s / epoch")

# %%
fig, ax = plt.subplots(figsize=(5, 3))
for name, (accs, _) in results.items():
    ax.plot(range(1, epochs + 1), accs, marker="o", label=name)
ax.set(xlabel="epoch", ylabel="test accuracy")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# `convert` changed only the neurons: `fc1`/`fc2` are the same `nn.Linear` layers (their biases now
# live in the neurons as one input spike at $t=0$), and `fit` is the same function. The ReL-PSP
# neurons fire once each and autograd through them gives the exact spike-time (STDBP) gradient;
# `ce_temporal_loss`'s gradient at the first-spike step is turned into $dL/dt^*$ by the neuron.
