"""Search strategies as KerasTuner oracles: quasi-random search and Max-value Entropy Search."""

from kt_nasrepair.oracles.entropy_search import EntropySearch
from kt_nasrepair.oracles.entropy_search import EntropySearchOracle
from kt_nasrepair.oracles.quasi_random_search import QuasiRandomSearch
from kt_nasrepair.oracles.quasi_random_search import QuasiRandomSearchOracle

__all__ = ["EntropySearch", "EntropySearchOracle", "QuasiRandomSearch", "QuasiRandomSearchOracle"]
