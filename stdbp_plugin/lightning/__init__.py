"""Lightning integration: classifiers, data, callbacks (imports lightning and torchmetrics)."""

from stdbp_plugin.data import SpikingDataModule
from stdbp_plugin.lightning.callbacks import EpochTimer, SpikeStatisticsCallback
from stdbp_plugin.lightning.stdbp_classifier import STDBPClassifier
from stdbp_plugin.lightning.surrogate_classifier import SurrogateClassifier
from stdbp_plugin.lightning.user_model import UserModelClassifier

__all__ = [
    "EpochTimer",
    "STDBPClassifier",
    "SpikeStatisticsCallback",
    "SpikingDataModule",
    "SurrogateClassifier",
    "UserModelClassifier",
]
