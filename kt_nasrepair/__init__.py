"""kt-nasrepair: dense architecture search for KerasTuner that warm-starts every trial."""

from kt_nasrepair import datasets, morph, oracles
from kt_nasrepair.hypermodel import DenseHyperModel
from kt_nasrepair.oracles import (
    EntropySearch,
    EntropySearchOracle,
    GrowOracle,
    RandomSearch,
    RandomSearchOracle,
)
from kt_nasrepair.progress import SearchProgress
from kt_nasrepair.repair import NeuralRepair, RepairTuner

__version__ = "0.1.0"

__all__ = [
    "DenseHyperModel",
    "EntropySearch",
    "EntropySearchOracle",
    "GrowOracle",
    "NeuralRepair",
    "RandomSearch",
    "RandomSearchOracle",
    "RepairTuner",
    "SearchProgress",
    "datasets",
    "morph",
    "oracles",
    "__version__",
]
