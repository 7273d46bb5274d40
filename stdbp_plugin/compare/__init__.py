"""`stdbp compare`: STDBP against snnTorch and Norse surrogate-gradient baselines, and
``compare_model``: a user's own model as it is against its ``convert``ed ReL-PSP versions."""

from stdbp_plugin.compare.options import CompareOptions, OptionError, parse_options
from stdbp_plugin.compare.report import markdown_table, print_table, write_report
from stdbp_plugin.compare.runner import run_models
from stdbp_plugin.compare.train_one import MODELS, CompareConfig, train_one
from stdbp_plugin.compare.user_model import VARIANTS, ModelSpecError, compare_model

__all__ = [
    "MODELS",
    "VARIANTS",
    "CompareConfig",
    "CompareOptions",
    "OptionError",
    "ModelSpecError",
    "compare_model",
    "markdown_table",
    "parse_options",
    "print_table",
    "run_models",
    "train_one",
    "write_report",
]
