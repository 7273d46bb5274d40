"""`stdbp compare`: STDBP against snnTorch and Norse surrogate-gradient baselines."""

from stdbp_plugin.compare.report import markdown_table, print_table, write_report
from stdbp_plugin.compare.runner import run_models
from stdbp_plugin.compare.train_one import MODELS, CompareConfig, train_one

__all__ = [
    "MODELS",
    "CompareConfig",
    "markdown_table",
    "print_table",
    "run_models",
    "train_one",
    "write_report",
]
