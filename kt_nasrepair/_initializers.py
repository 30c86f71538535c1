"""Weight initialization in numpy, for models whose layer shapes change every trial."""

from __future__ import annotations

import keras
import numpy as np


class NumpyGlorotUniform(keras.initializers.Initializer):
    """Keras' default `GlorotUniform`, drawn with numpy.

    On JAX each new weight shape compiles its initializer (0.5-1 s for a small MLP on our
    CPUs, measured in docs/performance.md), so a search of ever-new widths paid it every
    trial; numpy draws the same distribution in microseconds. Draws come from numpy's global
    state, which `keras.utils.set_random_seed` seeds. Only used while building: the built
    layers get Keras' own `GlorotUniform` back, so saved models load without this package.

    Limit `sqrt(6 / (fan_in + fan_out))` (Glorot & Bengio, AISTATS 2010, eq. 16).
    """

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = int(shape[-2]), int(shape[-1])
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        values = np.random.uniform(-limit, limit, size=tuple(shape))
        return values.astype(keras.backend.standardize_dtype(dtype or "float32"))
