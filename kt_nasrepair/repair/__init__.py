"""Warm starts across trials (`RepairTuner`) and repairs during training (`NeuralRepair`)."""

from kt_nasrepair.repair.callback import NeuralRepair
from kt_nasrepair.repair.tuner import RepairTuner

__all__ = ["NeuralRepair", "RepairTuner"]
