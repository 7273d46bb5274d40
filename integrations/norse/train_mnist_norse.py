"""A typical Norse MNIST script: constant-current LIF encoder, Lift(Linear) + LIF layers, LI read-out, BPTT.

Written the way the Norse tutorials write it: a ``SequentialState`` of ``Lift(Linear)`` and
``LIF`` modules over time-first [T, B, ...] tensors, an encoder from ``norse.torch``, and a
leaky-integrator read-out decoded into class scores (maximum membrane over time,
cross-entropy).
train_mnist_norse_stdbp.py is this file with a few lines changed to train the same network with
ReL-PSP neurons and exact STDBP gradients.

    python integrations/norse/train_mnist_norse.py --data-dir ../shared/data --epochs 1
"""

import argparse
import os
import time

import norse.torch as norse
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

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

# Each pixel drives a LIF neuron with a constant current x * input_scale (brighter: more spikes).
encoder = norse.ConstantCurrentLIFEncoder(args.seq_length)
input_scale = 5.0

model = norse.SequentialState(
    norse.Lift(torch.nn.Flatten()),
    norse.Lift(torch.nn.Linear(28 * 28, 800)),
    norse.LIF(),
    norse.Lift(torch.nn.Linear(800, 10)),
    norse.LI(),
)


def decode(v):
    """[T, B, 10] read-out membrane -> class scores: the maximum over time."""
    return v.max(0).values


def loss_fn(v, targets):
    return F.cross_entropy(decode(v), targets)


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
