"""stdbp_plugin.models and stdbp_plugin.data are plain torch: they import without Lightning."""

from __future__ import annotations

import subprocess
import sys

BLOCKER = """
import sys

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('lightning', 'pytorch_lightning', 'torchmetrics'):
            raise ImportError('blocked for the test: ' + name)

sys.meta_path.insert(0, Blocker())
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code], capture_output=True, text=True, timeout=300
    )


def test_models_and_data_import_and_run_without_lightning():
    proc = run(
        "try:\n"
        "    import stdbp_plugin.lightning\n"
        "    raise SystemExit('the blocker let Lightning through')\n"
        "except ImportError as err:\n"
        "    assert 'blocked for the test' in str(err), err\n"
        "for name in [m for m in sys.modules if m.startswith('stdbp_plugin')]:\n"
        "    del sys.modules[name]\n"
        "import torch\n"
        "import stdbp_plugin.data, stdbp_plugin.models\n"
        "from stdbp_plugin.models import STDBPNetwork\n"
        "net = STDBPNetwork('8-10', (1, 8, 8), backend='torch')\n"
        "train, _ = stdbp_plugin.data.load_dataset('digits')\n"
        "print(tuple(net(train.tensors[0][:4]).shape))\n"
        "assert not any(m.split('.')[0] in ('lightning', 'torchmetrics') for m in sys.modules)\n"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "(4, 10)"


def test_datamodule_still_importable_from_data():
    """The DataModule moved to stdbp_plugin.lightning; the old import path still works."""
    from stdbp_plugin.data import SpikingDataModule
    from stdbp_plugin.lightning import SpikingDataModule as New

    assert SpikingDataModule is New
