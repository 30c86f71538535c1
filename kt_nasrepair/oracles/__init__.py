"""Search strategies as KerasTuner oracles: quasi-random search, MES and growth."""

from kt_nasrepair.oracles.entropy_search import EntropySearch
from kt_nasrepair.oracles.entropy_search import EntropySearchOracle
from kt_nasrepair.oracles.grow import GrowOracle
from kt_nasrepair.oracles.random_search import RandomSearch
from kt_nasrepair.oracles.random_search import RandomSearchOracle

__all__ = ["EntropySearch", "EntropySearchOracle", "GrowOracle", "RandomSearch", "RandomSearchOracle"]
