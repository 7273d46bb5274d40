"""train_mnist_snntorch.py switched to ReL-PSP neurons and exact STDBP through the plugin.

The changed lines are marked "# STDBP:". ``stdbp.convert`` swaps every ``snn.Leaky`` for the
clock-driven ``stdbp_plugin.snntorch.ReLPSP`` (weights kept, Linear biases moved into the
neurons as an input spike at t = 0) and sets the thresholds from one sample batch so that the
neurons fire inside the num_steps window. The model, the loss and the training loop are the
snnTorch ones, unchanged: autograd through the ReL-PSP neurons gives the exact spike-time gradient.

    python integrations/snntorch/train_mnist_snntorch_stdbp.py --data-dir ../shared/data --epochs 1
"""

import argparse
import os
import time

import snntorch as snn
import snntorch.functional as SF
import torch
import torch.nn as nn
from snntorch import spikegen
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

import stdbp_plugin as stdbp  # STDBP: the plugin

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", default=os.environ.get("STDBP_DATA_DIR", "data/"))
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--max-samples", type=int, default=None, help="train on a subset")
parser.add_argument("--num-steps", type=int, default=25)
parser.add_argument("--lr", type=float, default=2e-3)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.manual_seed(args.seed)

# Data: MNIST from a local folder (no download), pixels in [0, 1]
transform = transforms.Compose([transforms.ToTensor()])
mnist_train = datasets.MNIST(args.data_dir, train=True, download=False, transform=transform)
mnist_test = datasets.MNIST(args.data_dir, train=False, download=False, transform=transform)
if args.max_samples:
    mnist_train = Subset(mnist_train, range(args.max_samples))
    mnist_test = Subset(mnist_test, range(args.max_samples))
train_loader = DataLoader(mnist_train, batch_size=args.batch_size, shuffle=True, drop_last=True)
test_loader = DataLoader(mnist_test, batch_size=args.batch_size, shuffle=False)

# Network architecture
num_inputs, num_hidden, num_outputs = 28 * 28, 800, 10
num_steps = args.num_steps
beta = 0.95


def encode(data):
    """[B, 1, 28, 28] -> [T, B, 784]: brighter pixels spike earlier (one spike each)."""
    return spikegen.latency(
        data.view(data.size(0), -1), num_steps=num_steps, tau=5, threshold=0.01,
        clip=True, normalize=True, linear=True,
    )  # fmt: skip


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(num_inputs, num_hidden)
        self.lif1 = snn.Leaky(beta=beta)
        self.fc2 = nn.Linear(num_hidden, num_outputs)
        self.lif2 = snn.Leaky(beta=beta)

    def forward(self, x):
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        spk2_rec = []
        for step in range(x.size(0)):
            cur1 = self.fc1(x[step])
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
        return torch.stack(spk2_rec)


net = Net()
sample = encode(next(iter(train_loader))[0])  # STDBP: one batch to calibrate the thresholds
net = stdbp.convert(net, sample=sample)  # STDBP: Leaky -> ReL-PSP, same weights
loss_fn = SF.ce_temporal_loss()
optimizer = torch.optim.Adam(net.parameters(), lr=args.lr, betas=(0.9, 0.999))

# Training loop
for epoch in range(args.epochs):
    start = time.perf_counter()
    net.train()
    for batch, (data, targets) in enumerate(train_loader):
        spk_rec = net(encode(data))
        loss_val = loss_fn(spk_rec, targets)
        optimizer.zero_grad()
        loss_val.backward()
        optimizer.step()
        if batch % 50 == 0:
            print(f"epoch {epoch + 1}, batch {batch}/{len(train_loader)}: loss {loss_val.item():.4f}", flush=True)  # fmt: skip
    elapsed = time.perf_counter() - start

    # Test set accuracy
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for data, targets in test_loader:
            spk_rec = net(encode(data))
            correct += SF.accuracy_temporal(spk_rec, targets) * targets.size(0)
            total += targets.size(0)
    print(f"epoch {epoch + 1}: loss {loss_val.item():.4f}, test accuracy {correct / total:.4f}, "
          f"{elapsed:.1f} s")  # fmt: skip
