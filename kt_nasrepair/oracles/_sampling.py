"""Reproducible quasi-random (scrambled Sobol) points in the probability space."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

class UnitCubeSampler:
    """Draws points of a scrambled Sobol sequence in [0, 1)^d one at a time.

    Owen scrambling, scipy.stats.qmc. The stream is a function of
    `(seed, dimension, position)`, so saving `position` is enough to resume it.
    When the dimension changes (the space grew) a new stream starts.

    Args:
        seed: integer seed.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self.dimension = None
        self.position = 0
        self._engine = None

    def get_state(self) -> dict:
        return {"dimension": self.dimension, "position": self.position}

    def set_state(self, state: dict) -> None:
        self.dimension = state["dimension"]
        self.position = int(state["position"])
        self._engine = None

    def draw(self, dimension: int) -> np.ndarray:
        """The next point of the stream for `dimension` coordinates."""
        if dimension != self.dimension:
            self.dimension, self.position, self._engine = dimension, 0, None
        if dimension == 0:
            self.position += 1
            return np.zeros(0)
        if self._engine is None:
            self._engine = qmc.Sobol(
                dimension, scramble=True, seed=np.random.default_rng([self.seed, dimension])
            )
            if self.position:
                self._engine.fast_forward(self.position)
        with warnings.catch_warnings():
            # Balance warnings concern sample sizes; we draw one by one.
            warnings.simplefilter("ignore", UserWarning)
            point = self._engine.random(1)[0]
        self.position += 1
        return point


def sobol_points(num_points: int, dimension: int, rng) -> np.ndarray:
    """A fresh scrambled Sobol set of `num_points` points (candidate sets)."""
    if dimension == 0:
        return np.zeros((num_points, 0))
    engine = qmc.Sobol(dimension, scramble=True, seed=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(num_points)
