# %% [markdown]
# # STDBP vs the snnTorch and Norse surrogate-gradient baselines on real MNIST
#
# Three models with the same layer sizes, each trained by a Lightning Trainer
# (`stdbp_plugin.compare`, the code behind `stdbp compare`): **STDBP** (event-driven ReL-PSP,
# latency code, exact spike-time gradients), **snnTorch** (`snn.Leaky`, BPTT, arctan surrogate)
# and **Norse** (`LIFCell` + LI read-out, BPTT, SuperSpike). We compare accuracy per epoch,
# training time per epoch, spikes per sample and decision latency.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from stdbp_plugin.compare import CompareConfig, markdown_table, run_models

SMALL = os.environ.get("STDBP_NOTEBOOK_SMALL", "0") == "1"  # the test suite sets it
DATA = os.environ.get("STDBP_DATA_DIR", "../../shared/data")
cfg = CompareConfig(
    dataset="mnist", data_dir=DATA, spec="100-10" if SMALL else "800-10",
    epochs=1 if SMALL else 2, max_samples=256 if SMALL else 3000, batch_size=32, progress=False,
)  # fmt: skip
# Full size: each model trains in its own process (isolate=True), so that its peak memory is
# its own. The test-suite size trains in this process (faster); see the caveat below the table.
results = run_models(("stdbp", "snntorch", "norse"), cfg, isolate=not SMALL, log=print)

# %% [markdown]
# ## The table
# test acc: first output spike (STDBP), most spikes (snnTorch), largest read-out membrane (Norse);
# latency: when the decision is final, in units of the input window.
# peak MiB: the most memory `Trainer.fit` added to its process. Meaningful only with each model
# in a fresh process (the full size here, and `stdbp compare`); in the test-suite size the three
# models train one after another in this notebook's process, which already holds the memory an
# earlier model freed, so the later figures read near 0 and say nothing.

# %%
from IPython.display import Markdown, display  # noqa: E402

display(Markdown(markdown_table(results)))

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
for r in results:
    acc = r["history"].get("val/acc", [])
    axes[0].plot(range(1, len(acc) + 1), acc, marker="o", label=r["model"])
    lat = np.array([v for v in r["latencies"] if np.isfinite(v)])
    axes[2].hist(lat, bins=30, alpha=0.5, label=r["model"])
names = [r["model"] for r in results]
axes[1].bar(names, [r["epoch_time_s"] for r in results])
axes[0].set(xlabel="epoch", ylabel="validation accuracy", title="accuracy")
axes[0].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
axes[1].set(ylabel="seconds", title="train time per epoch")
axes[2].set(xlabel="decision latency (input windows)", title="when the decision is made")
axes[0].legend()
axes[2].legend()
plt.show()

# %% [markdown]
# **Reading it.** STDBP decides with the first output spike and each of its neurons fires at
# most once; compare its latency and spikes / sample with the rate-coded baselines, which must
# count spikes or read a membrane over the whole window. Its training step has no loop over T
# time steps (no BPTT), which is what the time per epoch compares. All figures are measured in
# this run, on this machine; the small test-suite size is far too short for final accuracies.
