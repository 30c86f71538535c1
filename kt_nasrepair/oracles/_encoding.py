"""Hyperparameter values <-> points in the unit cube.

Two spaces are used by the oracles:

- the *probability space*: one coordinate in [0, 1) per tunable hyperparameter,
  read through each hyperparameter's own `prob_to_value` (so `step`, `log` and
  `reverse_log` sampling are always respected). Quasi-random points and
  perturbations live here.
- the *feature space*: what the Gaussian process sees. Numeric and ordered
  hyperparameters keep their (bucket-centred) probability coordinate;
  unordered `Choice`s are one-hot encoded so that categories are not given a
  spurious order (KerasTuner's Bayesian oracle uses the index).
"""

from __future__ import annotations

import hashlib

import numpy as np
from keras_tuner.engine import hyperparameters as hp_module

# NOTE: `prob_to_index` floors prob * n; a prob of exactly 1.0 is folded back by
# KerasTuner, but staying strictly below 1 keeps every mapping well inside.
_PROB_MAX = 1.0 - 1e-9


def is_discrete(hp) -> bool:
    """Whether `hp` takes finitely many values."""
    if isinstance(hp, hp_module.Float):
        return hp.step is not None
    return isinstance(hp, (hp_module.Int, hp_module.Choice, hp_module.Boolean))


def values_hash(values: dict) -> str:
    """The same hash KerasTuner's `Oracle` uses for `_tried_so_far`."""
    keys = sorted(values.keys())
    text = "".join(f"{k}={values[k]}" for k in keys)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]



def prob_to_value(hp, prob: float):
    """`hp.prob_to_value(prob)`, kept inside `[min_value, max_value]`.

    NOTE: KerasTuner's `reverse_log` sampling can return a value below the range near
    `prob = 0` (`Int(19, 20, sampling="reverse_log").prob_to_value(0.0)` is 18, keras-tuner
    1.4.8); a proposal outside the space would be a trial KerasTuner rejects.
    """
    return _clamp(hp, hp.prob_to_value(prob))


def _clamp(hp, value):
    low, high = getattr(hp, "min_value", None), getattr(hp, "max_value", None)
    if low is None or high is None or isinstance(value, bool):
        return value
    return type(value)(min(max(value, low), high))

class UnitCubeEncoder:
    """Maps a KerasTuner search space to and from the unit cube.

    Args:
        hyperparameters: a `keras_tuner.HyperParameters` search space. `Fixed`
            entries are not tunable and take no coordinate.

    Example:

    ```python
    hps = keras_tuner.HyperParameters()
    hps.Int("units", 8, 64, step=8)
    hps.Choice("act", ["relu", "tanh"])
    encoder = UnitCubeEncoder(hps)
    values = encoder.probs_to_values([0.3, 0.9])   # {"units": 24, "act": "tanh"}
    features = encoder.encode(values)              # shape (encoder.num_features,)
    ```
    """

    def __init__(self, hyperparameters):
        self.space = list(hyperparameters.space)
        self.tunable = [
            hp for hp in self.space if not isinstance(hp, hp_module.Fixed)
        ]
        self.has_conditions = any(hp.conditions for hp in self.space)
        self._slices = []
        start = 0
        for hp in self.tunable:
            width = len(hp.values) if self._one_hot(hp) else 1
            self._slices.append(slice(start, start + width))
            start += width
        self.num_features = start
        # Continuous coordinates (Float without step): refinable by L-BFGS-B.
        self.continuous = np.array(
            [not is_discrete(hp) for hp in self.tunable], dtype=bool
        )
        # Keyed by identity: one name may be declared twice under different conditions.
        self._grid_sizes = {
            id(hp): len(list(hp.values)) for hp in self.tunable if _is_linear_float_grid(hp)
        }

    def _value_to_prob(self, hp, value) -> float:
        """`hp.value_to_prob`, without its rounding error on linear `Float` step grids."""
        if id(hp) not in self._grid_sizes:
            # NOTE: log sampling can land 1e-16 outside [0, 1] at the range's ends.
            return min(max(hp.value_to_prob(value), 0.0), 1.0)
        # NOTE: KerasTuner finds the grid index with (value - min) // step, which
        # lands one step low when min + i * step is not exact in binary
        # (0.25 // 0.05 == 4.0): such values were encoded, and decoded, a step
        # lower. Rounding finds the grid point; the bucket centre is as KerasTuner's.
        size = self._grid_sizes[id(hp)]
        index = int(round((value - hp.min_value) / hp.step))
        return (min(max(index, 0), size - 1) + 0.5) / size

    @staticmethod
    def _one_hot(hp) -> bool:
        return isinstance(hp, hp_module.Choice) and not hp.ordered

    @property
    def num_probs(self) -> int:
        """Number of coordinates of the probability space."""
        return len(self.tunable)

    def is_finite(self) -> bool:
        """Whether every tunable hyperparameter is discrete."""
        return all(is_discrete(hp) for hp in self.tunable)

    def probs_to_values(self, probs) -> dict:
        """Maps one point of the probability space to active values."""
        probs = np.clip(np.asarray(probs, dtype=float), 0.0, _PROB_MAX)
        by_name = {
            hp.name: prob_to_value(hp, float(p))
            for hp, p in zip(self.tunable, probs)
        }
        return self._active_values(by_name)

    def _active_values(self, by_name: dict) -> dict:
        # Conditions are checked in space order, as KerasTuner does, so that a
        # child is active only when its parent's value (just set) allows it.
        hps = hp_module.HyperParameters()
        for hp in self.space:
            hps.merge([hp])
            if hps.is_active(hp):
                if isinstance(hp, hp_module.Fixed):
                    hps.values[hp.name] = hp.value
                else:
                    hps.values[hp.name] = by_name.get(hp.name, hp.default)
        return dict(hps.values)

    def values_to_probs(self, values: dict) -> np.ndarray:
        """Maps values to the probability space (defaults for inactive hps)."""
        return np.array(
            [self._value_to_prob(hp, values.get(hp.name, hp.default)) for hp in self.tunable],
            dtype=float,
        ).reshape(-1)

    def encode(self, values: dict) -> np.ndarray:
        """Maps values to the feature space seen by the surrogate.

        Hyperparameters missing from `values` (inactive, or added to the space
        after the trial ran) are encoded at their default, as in KerasTuner.
        """
        features = np.empty(self.num_features)
        for hp, cols in zip(self.tunable, self._slices):
            value = values.get(hp.name, hp.default)
            if hp.name in values and not _is_valid(hp, value):
                value = hp.default
            if self._one_hot(hp):
                features[cols] = 0.0
                features[cols.start + list(hp.values).index(value)] = 1.0
            else:
                features[cols] = self._value_to_prob(hp, value)
        return features

    def decode(self, features) -> dict:
        """Maps a feature vector back to active values (argmax for one-hot)."""
        features = np.asarray(features, dtype=float)
        by_name = {}
        for hp, cols in zip(self.tunable, self._slices):
            if self._one_hot(hp):
                by_name[hp.name] = hp.values[int(np.argmax(features[cols]))]
            else:
                prob = float(np.clip(features[cols][0], 0.0, _PROB_MAX))
                by_name[hp.name] = prob_to_value(hp, prob)
        return self._active_values(by_name)

    def probs_to_features(self, probs) -> np.ndarray:
        """Vectorised `encode(probs_to_values(p))` for a batch of points.

        Discrete coordinates are snapped to their bucket centres so that the
        surrogate is evaluated exactly where a trial would run.
        """
        probs = np.clip(np.atleast_2d(np.asarray(probs, dtype=float)), 0, _PROB_MAX)
        if self.has_conditions:
            return np.array([self.encode(self.probs_to_values(p)) for p in probs])
        features = np.empty((len(probs), self.num_features))
        for j, (hp, cols) in enumerate(zip(self.tunable, self._slices)):
            column = probs[:, j]
            if self._one_hot(hp):
                index = np.minimum((column * len(hp.values)).astype(int), len(hp.values) - 1)
                features[:, cols] = np.eye(len(hp.values))[index]
            elif is_discrete(hp):
                features[:, cols.start] = [
                    self._value_to_prob(hp, prob_to_value(hp, float(p))) for p in column
                ]
            else:
                # NOTE: KerasTuner encodes the one value of a Float with min == max
                # at 0.5, whatever the probability it was drawn from.
                features[:, cols.start] = column if hp.max_value > hp.min_value else 0.5
        return features

    def enumerate(self, limit: int) -> list[dict] | None:
        """All distinct configurations of a finite space, or None.

        Returns None when the space has a continuous hyperparameter or more
        than `limit` raw combinations.
        """
        if not self.is_finite():
            return None
        sizes = [_grid_size(hp) for hp in self.tunable]
        if float(np.prod(sizes, dtype=float)) > limit:
            return None
        grids = [_grid(hp) for hp in self.tunable]
        configs, seen = [], set()
        for index in np.ndindex(*sizes) if sizes else [()]:
            by_name = {hp.name: grid[i] for hp, grid, i in zip(self.tunable, grids, index)}
            values = self._active_values(by_name)
            key = values_hash(values)
            if key not in seen:
                seen.add(key)
                configs.append(values)
        return configs


def _grid_size(hp) -> int:
    if isinstance(hp, hp_module.Int) and hp.step is None:
        return hp.max_value - hp.min_value + 1
    return len(list(hp.values))


def _grid(hp) -> list:
    """Every value of a discrete `hp`, as `prob_to_value` returns it."""
    # NOTE: `Int.values` is not that grid: without a step (log sampling) it
    # holds only 10 sample values, and with a log step it holds floats (2.0,
    # 4.0) where `prob_to_value` returns ints. Enumerating it missed
    # configurations, or re-proposed tried ones with float values.
    if isinstance(hp, hp_module.Int):
        if hp.step is None:
            return list(range(hp.min_value, hp.max_value + 1))
        return [int(v) for v in hp.values]
    # `Float.values` with reverse_log steps can end above `max_value`, where `prob_to_value` is
    # clamped: enumerating it re-proposed the clamped value, tried, under another float.
    return [_clamp(hp, v) for v in hp.values]


def _is_linear_float_grid(hp) -> bool:
    return (
        isinstance(hp, hp_module.Float) and hp.step is not None and hp.sampling == "linear"
    )


def _is_valid(hp, value) -> bool:
    if isinstance(hp, hp_module.Choice):
        return value in hp.values
    return True
