"""Search strategies as KerasTuner oracles: quasi-random search, MES and growth."""

from kt_nasrepair.oracles.entropy_search import EntropySearch
from kt_nasrepair.oracles.entropy_search import EntropySearchOracle
from kt_nasrepair.oracles.grow import GrowOracle
from kt_nasrepair.oracles.quasi_random_search import QuasiRandomSearch
from kt_nasrepair.oracles.quasi_random_search import QuasiRandomSearchOracle

__all__ = [
    "EntropySearch",
    "EntropySearchOracle",
    "GrowOracle",
    "QuasiRandomSearch",
    "QuasiRandomSearchOracle",
]
