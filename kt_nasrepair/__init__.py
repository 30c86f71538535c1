"""kt-nasrepair: dense architecture search for KerasTuner that warm-starts every trial."""

from kt_nasrepair import datasets
from kt_nasrepair.hypermodel import DenseHyperModel

__version__ = "0.1.0"

__all__ = ["DenseHyperModel", "datasets", "__version__"]
