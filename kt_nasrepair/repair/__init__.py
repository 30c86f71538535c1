"""Warm starts across trials (`RepairTuner`) and repairs during training (`NeuralRepair`)."""

from kt_nasrepair.repair.callback import NeuralRepair
from kt_nasrepair.repair.mixin import RepairMixin
from kt_nasrepair.repair.tuner import RepairTuner, with_repair

__all__ = ["NeuralRepair", "RepairMixin", "RepairTuner", "with_repair"]
