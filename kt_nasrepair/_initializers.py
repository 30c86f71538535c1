"""Weight initialization in numpy, for models whose layer shapes change every trial."""

from __future__ import annotations

import keras
import numpy as np


class NumpyGlorotUniform(keras.initializers.Initializer):
    """Keras' default `GlorotUniform` (Glorot & Bengio 2010, eq. 16), drawn with numpy.

    NOTE: on JAX each new weight shape compiles its initializer (0.5-1 s, docs/performance.md).
    Draws use numpy's global state (seeded by `keras.utils.set_random_seed`); built layers get
    Keras' own `GlorotUniform` back, so saved models load without this package.
    """

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = int(shape[-2]), int(shape[-1])
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        values = np.random.uniform(-limit, limit, size=tuple(shape))
        return values.astype(keras.backend.standardize_dtype(dtype or "float32"))
