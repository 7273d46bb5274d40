# %% [markdown]
# # Swap the neurons of an snnTorch model for ReL-PSP (STDBP), keep the training loop
#
# Below: a typical snnTorch model (two `snn.Leaky` layers, latency-coded MNIST,
# `ce_temporal_loss`). `stdbp.convert(net, sample=...)` replaces each `snn.Leaky` by the
# clock-driven ReL-PSP neuron (same weights, thresholds calibrated on one batch), and
# `stdbp_plugin.compare.compare_model` trains your model as it is against its converted versions
# with the same budget.

# %%
import os

import matplotlib.pyplot as plt
import snntorch as snn
import torch
import torch.nn as nn
from snntorch import spikegen
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

import stdbp_plugin as stdbp
import stdbp_plugin.snntorch.functional as SF
from stdbp_plugin.compare import compare_model

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
        spk_rec, mem_rec = [], []
        for step in range(x.size(0)):
            spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk_rec.append(spk2)
            mem_rec.append(mem2)
        return torch.stack(spk_rec), torch.stack(mem_rec)


# %% [markdown]
# `stdbp.convert` swaps the neurons and says what it switched (and what the loop must change):

# %%
sample = encode(next(iter(train_loader))[0])
torch.manual_seed(0)
relpsp_net = stdbp.convert(Net(), sample=sample, report=True)

# %% [markdown]
# ## One call: your model as it is, `convert(mode="clock")` and `convert(mode="event")`
#
# `compare_model` trains the three with the same data, budget, seeds and initial weights, in the
# Lightning pipeline of `stdbp compare`, and writes the same report (table, plots, what
# `convert` switched). The model contract: input train `[T, B, ...]` -> output train
# `[T, B, N]` (or a tuple starting with it, like `Net` above). Your loss, by snnTorch name, trains
# your model with `snntorch.functional`'s and the clock model with the same name from
# `stdbp_plugin.snntorch.functional`; the event model trains on spike times. The command-line
# twin: `stdbp compare --model my_module:Net --loss ce_temporal_loss --encoding latency --flatten`.

# %%
torch.manual_seed(0)
results = compare_model(
    Net(),
    loss="ce_temporal_loss",
    data=(train_loader, test_loader),
    encoding="latency",
    num_steps=num_steps,
    flatten=True,
    epochs=epochs,
    lr=2e-3,
    out="stdbp_report/03_snntorch",
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

# %% [markdown]
# ## The same switch in your own loop
#
# `convert` changed only the neurons: `fc1`/`fc2` are the same `nn.Linear` layers (their biases
# reach the neurons at $t=0$ only, as one input spike) and the `state_dict` keys are kept. In a
# hand-written loop the one line that changes is the import of the readout, because a ReL-PSP
# neuron fires once: `import stdbp_plugin.snntorch.functional as SF` (the same names, read on the
# first spike). One step of that loop:

# %%
opt = torch.optim.Adam(relpsp_net.parameters(), lr=2e-3)
data, targets = next(iter(train_loader))
loss = SF.ce_temporal_loss()(relpsp_net(encode(data))[0], targets)
opt.zero_grad()
loss.backward()
opt.step()
print(
    f"loss {loss.item():.3f}; accuracy {SF.accuracy_temporal(relpsp_net(encode(data))[0], targets):.3f}"
)
