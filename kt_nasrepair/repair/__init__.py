"""Warm starts across trials (`RepairTuner`) and repairs during training (the callbacks)."""

from kt_nasrepair.repair.callback import NeuralRepair
from kt_nasrepair.repair.grow_on_plateau import GrowOnPlateau
from kt_nasrepair.repair.mixin import RepairMixin
from kt_nasrepair.repair.recover_non_finite import RecoverNonFinite
from kt_nasrepair.repair.recycle_dormant import RecycleDormant
from kt_nasrepair.repair.tuner import RepairTuner, with_repair

__all__ = ["GrowOnPlateau", "NeuralRepair", "RecoverNonFinite", "RecycleDormant",
           "RepairMixin", "RepairTuner", "with_repair"]
