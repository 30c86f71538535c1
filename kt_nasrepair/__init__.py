"""kt-nasrepair: dense architecture search for KerasTuner that warm-starts every trial."""

from kt_nasrepair import datasets, morph, oracles
from kt_nasrepair.hypermodel import DenseHyperModel
from kt_nasrepair.oracles import (
    EntropySearch,
    EntropySearchOracle,
    QuasiRandomSearch,
    QuasiRandomSearchOracle,
    RandomSearch,  # deprecated alias of QuasiRandomSearch
    RandomSearchOracle,  # deprecated alias of QuasiRandomSearchOracle
)
from kt_nasrepair.progress import SearchProgress
from kt_nasrepair.repair import NeuralRepair, RepairTuner, with_repair

__version__ = "0.1.0"

__all__ = [
    "DenseHyperModel",
    "EntropySearch",
    "EntropySearchOracle",
    "NeuralRepair",
    "QuasiRandomSearch",
    "QuasiRandomSearchOracle",
    "RandomSearch",
    "RandomSearchOracle",
    "RepairTuner",
    "SearchProgress",
    "datasets",
    "morph",
    "oracles",
    "with_repair",
    "__version__",
]
