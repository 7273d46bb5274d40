"""Lightning integration: classifiers, the DataModule, callbacks (imports lightning and
torchmetrics). The plain-torch networks they train live in stdbp_plugin.models."""

from stdbp_plugin.lightning.callbacks import EpochTimer, SpikeStatisticsCallback
from stdbp_plugin.lightning.datamodule import SpikingDataModule
from stdbp_plugin.lightning.ema import EMAWeightAveraging
from stdbp_plugin.lightning.stdbp_classifier import STDBPClassifier
from stdbp_plugin.lightning.surrogate_classifier import SurrogateClassifier
from stdbp_plugin.lightning.user_model import UserModelClassifier

__all__ = [
    "EMAWeightAveraging",
    "EpochTimer",
    "STDBPClassifier",
    "SpikeStatisticsCallback",
    "SpikingDataModule",
    "SurrogateClassifier",
    "UserModelClassifier",
]
