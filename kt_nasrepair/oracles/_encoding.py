"""Hyperparameter values <-> points in the unit cube, and reproducible Sobol points in it.

The probability space has one coordinate in [0, 1) per tunable hyperparameter (its own
`prob_to_value`); the feature space (the GP's) is the same with unordered `Choice`s one-hot.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import warnings

import numpy as np
from keras_tuner.engine import hyperparameters as hp_module
from scipy.stats import qmc

# NOTE: `prob_to_index` floors prob * n: staying strictly below 1 keeps every mapping inside.
_PROB_MAX = 1.0 - 1e-9


def is_discrete(hp) -> bool:
    """Whether `hp` takes finitely many values."""
    if isinstance(hp, hp_module.Float):
        return hp.step is not None
    return isinstance(hp, (hp_module.Int, hp_module.Choice, hp_module.Boolean))


def values_hash(values: dict) -> str:
    """The same hash KerasTuner's `Oracle` uses for `_tried_so_far`."""
    text = "".join(f"{k}={values[k]}" for k in sorted(values))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def prob_to_value(hp, prob: float):
    """`hp.prob_to_value(prob)`, kept inside `[min_value, max_value]`."""
    # NOTE: `Int(19, 20, sampling="reverse_log").prob_to_value(0.0)` is 18 (keras-tuner 1.4.8).
    return _clamp(hp, hp.prob_to_value(prob))


def _clamp(hp, value):
    low, high = getattr(hp, "min_value", None), getattr(hp, "max_value", None)
    if low is None or high is None or isinstance(value, bool):
        return value
    return type(value)(min(max(value, low), high))


def _one_hot(hp) -> bool:
    return isinstance(hp, hp_module.Choice) and not hp.ordered


class UnitCubeEncoder:
    """Maps a `keras_tuner.HyperParameters` space to and from the unit cube (`Fixed`: no axis)."""

    def __init__(self, hyperparameters):
        self.space = list(hyperparameters.space)
        self.tunable = [hp for hp in self.space if not isinstance(hp, hp_module.Fixed)]
        self.has_conditions = any(hp.conditions for hp in self.space)
        widths = [len(hp.values) if _one_hot(hp) else 1 for hp in self.tunable]
        ends = np.cumsum([0] + widths).tolist()
        self._slices = [slice(a, b) for a, b in zip(ends, ends[1:])]
        self.num_features = ends[-1]
        self.continuous = np.array([not is_discrete(hp) for hp in self.tunable], dtype=bool)
        # Keyed by identity: one name may be declared twice under different conditions.
        self._grid_sizes = {
            id(hp): len(list(hp.values)) for hp in self.tunable
            if isinstance(hp, hp_module.Float) and hp.step is not None and hp.sampling == "linear"}

    @property
    def num_probs(self) -> int:
        """Number of coordinates of the probability space."""
        return len(self.tunable)

    def _value_to_prob(self, hp, value) -> float:
        """`hp.value_to_prob`, without its rounding error on linear `Float` step grids."""
        if id(hp) not in self._grid_sizes:
            # NOTE: log sampling can land 1e-16 outside [0, 1] at the range's ends.
            return min(max(hp.value_to_prob(value), 0.0), 1.0)
        # NOTE: KerasTuner's (value - min) // step lands one step low when min + i * step is
        # inexact in binary (0.25 // 0.05 == 4.0); rounding finds the grid point.
        size = self._grid_sizes[id(hp)]
        index = int(round((value - hp.min_value) / hp.step))
        return (min(max(index, 0), size - 1) + 0.5) / size

    def probs_to_values(self, probs) -> dict:
        """Maps one point of the probability space to active values."""
        probs = np.clip(np.asarray(probs, dtype=float), 0.0, _PROB_MAX)
        return self._active_values({hp.name: prob_to_value(hp, float(p))
                                    for hp, p in zip(self.tunable, probs)})

    def _active_values(self, by_name: dict) -> dict:
        # In space order, as KerasTuner: a child is active only if its parent's value allows it.
        hps = hp_module.HyperParameters()
        for hp in self.space:
            hps.merge([hp])
            if hps.is_active(hp):
                fixed = isinstance(hp, hp_module.Fixed)
                hps.values[hp.name] = hp.value if fixed else by_name.get(hp.name, hp.default)
        return dict(hps.values)

    def values_to_probs(self, values: dict) -> np.ndarray:
        """Maps values to the probability space (defaults for inactive hps)."""
        return np.array([self._value_to_prob(hp, values.get(hp.name, hp.default))
                         for hp in self.tunable], dtype=float)

    def encode(self, values: dict) -> np.ndarray:
        """Maps values to the feature space; missing ones (inactive, added later) at defaults."""
        features = np.empty(self.num_features)
        for hp, cols in zip(self.tunable, self._slices):
            value = values.get(hp.name, hp.default)
            if isinstance(hp, hp_module.Choice) and value not in hp.values:
                value = hp.default
            if _one_hot(hp):
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
            if _one_hot(hp):
                by_name[hp.name] = hp.values[int(np.argmax(features[cols]))]
            else:
                prob = float(np.clip(features[cols][0], 0.0, _PROB_MAX))
                by_name[hp.name] = prob_to_value(hp, prob)
        return self._active_values(by_name)

    def probs_to_features(self, probs) -> np.ndarray:
        """Vectorised `encode(probs_to_values(p))` for a batch (discrete values snapped)."""
        probs = np.clip(np.atleast_2d(np.asarray(probs, dtype=float)), 0, _PROB_MAX)
        if self.has_conditions:
            return np.array([self.encode(self.probs_to_values(p)) for p in probs])
        features = np.empty((len(probs), self.num_features))
        for j, (hp, cols) in enumerate(zip(self.tunable, self._slices)):
            column = probs[:, j]
            if _one_hot(hp):
                index = np.minimum((column * len(hp.values)).astype(int), len(hp.values) - 1)
                features[:, cols] = np.eye(len(hp.values))[index]
            elif is_discrete(hp):
                features[:, cols.start] = [
                    self._value_to_prob(hp, prob_to_value(hp, float(p))) for p in column
                ]
            else:
                # NOTE: KerasTuner encodes the one value of a Float with min == max at 0.5.
                features[:, cols.start] = column if hp.max_value > hp.min_value else 0.5
        return features

    def enumerate(self, limit: int) -> list[dict] | None:
        """All distinct configurations of a finite space, or None (continuous, or over `limit`)."""
        if not all(is_discrete(hp) for hp in self.tunable):
            return None
        grids = [_grid(hp) for hp in self.tunable]
        if math.prod(len(grid) for grid in grids) > limit:
            return None
        configs = {}
        for combination in itertools.product(*grids):
            values = self._active_values({hp.name: v for hp, v in zip(self.tunable, combination)})
            configs.setdefault(values_hash(values), values)
        return list(configs.values())


def _grid(hp):
    """Every value of a discrete `hp`, as `prob_to_value` returns it (clamped to the range)."""
    # NOTE: `hp.values` is not that grid: 10 samples for a stepless `Int`, floats (2.0, 4.0) for a
    # log step, reverse_log `Float` steps above `max_value`; enumerating it missed configurations.
    if isinstance(hp, hp_module.Int):
        if hp.step is None:
            return range(hp.min_value, hp.max_value + 1)
        return [int(v) for v in hp.values]
    return [_clamp(hp, v) for v in hp.values]


def _random(engine, num_points: int) -> np.ndarray:
    with warnings.catch_warnings():
        # Balance warnings concern sample sizes; we draw one point or candidate set at a time.
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(num_points)


class UnitCubeSampler:
    """Draws a scrambled Sobol sequence in [0, 1)^d one point at a time, resumable.

    The stream is a function of `(seed, dimension, position)`; a new dimension starts anew.
    """

    def __init__(self, seed: int):
        self.seed, self.dimension, self.position, self._engine = int(seed), None, 0, None

    def get_state(self) -> dict:
        return {"dimension": self.dimension, "position": self.position}

    def set_state(self, state: dict) -> None:
        self.dimension, self.position = state["dimension"], int(state["position"])
        self._engine = None

    def draw(self, dimension: int) -> np.ndarray:
        """The next point of the stream for `dimension` coordinates."""
        if dimension != self.dimension:
            self.dimension, self.position, self._engine = dimension, 0, None
        if dimension and self._engine is None:
            seed = np.random.default_rng([self.seed, dimension])
            self._engine = qmc.Sobol(dimension, scramble=True, seed=seed)
            if self.position:
                self._engine.fast_forward(self.position)
        self.position += 1
        return _random(self._engine, 1)[0] if dimension else np.zeros(0)


def sobol_points(num_points: int, dimension: int, rng) -> np.ndarray:
    """A fresh scrambled Sobol set of `num_points` points (candidate sets)."""
    if dimension == 0:
        return np.zeros((num_points, 0))
    return _random(qmc.Sobol(dimension, scramble=True, seed=rng), num_points)
