"""kt-nasrepair: dense architecture search for KerasTuner, warm-starting trials from relatives.

Public names are imported on first use (PEP 562): `--help` answers without loading Keras.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> the module that defines it. A submodule maps to itself.
_EXPORTS = {
    "DenseHyperModel": "kt_nasrepair.hypermodel",
    "EntropySearch": "kt_nasrepair.oracles",
    "EntropySearchOracle": "kt_nasrepair.oracles",
    "GrowOnPlateau": "kt_nasrepair.repair",
    "NeuralRepair": "kt_nasrepair.repair",
    "QuasiRandomSearch": "kt_nasrepair.oracles",
    "QuasiRandomSearchOracle": "kt_nasrepair.oracles",
    "RecoverNonFinite": "kt_nasrepair.repair",
    "RecycleDormant": "kt_nasrepair.repair",
    "RepairMixin": "kt_nasrepair.repair",
    "RepairTuner": "kt_nasrepair.repair",
    "SearchProgress": "kt_nasrepair.progress",
    "datasets": "kt_nasrepair.datasets",
    "morph": "kt_nasrepair.morph",
    "oracles": "kt_nasrepair.oracles",
    "with_repair": "kt_nasrepair.repair",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:  # static analysers and IDEs see ordinary imports
    from kt_nasrepair import datasets, morph, oracles
    from kt_nasrepair.hypermodel import DenseHyperModel
    from kt_nasrepair.oracles import (EntropySearch, EntropySearchOracle, QuasiRandomSearch,
                                      QuasiRandomSearchOracle)
    from kt_nasrepair.progress import SearchProgress
    from kt_nasrepair.repair import (GrowOnPlateau, NeuralRepair, RecoverNonFinite, RecycleDormant,
                                     RepairMixin, RepairTuner, with_repair)


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'kt_nasrepair' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
