"""train_mnist_norse.py switched to ReL-PSP neurons and exact STDBP through the plugin.

The changed lines are marked "# STDBP:". ReL-PSP neurons fire once and code with the time of
that spike, so the input keeps each pixel's first spike (Norse's SpikeLatencyLIFEncoder), the
read-out is a spiking layer whose first spike decides the class, and the loss is the temporal
cross-entropy over the output spike times. ``stdbp.convert`` swaps every ``LIF`` for the
whole-sequence ``stdbp_plugin.norse.ReLPSP`` (weights kept) and sets the thresholds from one
sample batch so that the neurons fire inside the window. The training loop is unchanged.

    python integrations/norse/train_mnist_norse_stdbp.py --data-dir ../shared/data --epochs 1
"""

import argparse
import os
import time

import norse.torch as norse
import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

import stdbp_plugin as stdbp  # STDBP: the plugin
from stdbp_plugin.norse import FirstSpikeTimeDecoder  # STDBP

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data-dir", default=os.environ.get("STDBP_DATA_DIR", "data/"))
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--max-samples", type=int, default=None, help="train on a subset")
parser.add_argument("--seq-length", type=int, default=32)
parser.add_argument("--lr", type=float, default=2e-3)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.manual_seed(args.seed)

transform = transforms.Compose([transforms.ToTensor()])
train_data = datasets.MNIST(args.data_dir, train=True, download=False, transform=transform)
test_data = datasets.MNIST(args.data_dir, train=False, download=False, transform=transform)
if args.max_samples:
    train_data = Subset(train_data, range(args.max_samples))
    test_data = Subset(test_data, range(args.max_samples))
train_loader = DataLoader(train_data, batch_size=args.batch_size, shuffle=True, drop_last=True)
test_loader = DataLoader(test_data, batch_size=args.batch_size, shuffle=False)

# Each pixel drives a LIF neuron with a constant current x * input_scale (brighter: earlier).
encoder = norse.SpikeLatencyLIFEncoder(args.seq_length)  # STDBP: first spike of each pixel
input_scale = 5.0

model = norse.SequentialState(
    norse.Lift(torch.nn.Flatten()),
    norse.Lift(torch.nn.Linear(28 * 28, 800)),
    norse.LIF(),
    norse.Lift(torch.nn.Linear(800, 10)),
    norse.LIF(),  # STDBP: a spiking read-out (its first spike decides)
)


sample = encoder(next(iter(train_loader))[0] * input_scale)  # STDBP: to calibrate thresholds
model = stdbp.convert(model, sample=sample)  # STDBP: LIF -> ReL-PSP, same weights
first_spike_time = FirstSpikeTimeDecoder(dt=1.0)  # STDBP: output spike times in steps


def decode(z):  # STDBP: the earliest output spike wins
    return -first_spike_time(z)


def loss_fn(z, targets):  # STDBP: temporal cross-entropy over the output spike times
    return stdbp.functional.temporal_cross_entropy(
        first_spike_time(z), targets, keep_target_alive=1.0
    )


optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

for epoch in range(args.epochs):
    start = time.perf_counter()
    model.train()
    for batch, (data, targets) in enumerate(train_loader):
        z, _ = model(encoder(data * input_scale))
        loss = loss_fn(z, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if batch % 50 == 0:
            print(f"epoch {epoch + 1}, batch {batch}/{len(train_loader)}: loss {loss.item():.4f}", flush=True)  # fmt: skip
    elapsed = time.perf_counter() - start

    model.eval()
    correct = total = 0
    with torch.no_grad():
        for data, targets in test_loader:
            z, _ = model(encoder(data * input_scale))
            correct += (decode(z).argmax(1) == targets).sum().item()
            total += targets.size(0)
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}, test accuracy {correct / total:.4f}, "
          f"{elapsed:.1f} s")  # fmt: skip
