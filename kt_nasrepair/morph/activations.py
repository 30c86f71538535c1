"""Activations as the morphisms see them: names, keys, value ranges, element-wise-ness.

Keras activations are recognised by identity, never by name alone; see docs/morph.md.
"""

from __future__ import annotations

import functools
import math
import warnings

import keras
import numpy as np

REAL_LINE = (-math.inf, math.inf)
# Conservative output ranges (`linear` keeps its input's), and where each is the identity.
_RANGES = {"relu": (0.0, math.inf), "relu6": (0.0, 6.0), "sigmoid": (0.0, 1.0),
           "hard_sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0),
           "softplus": (0.0, math.inf), "elu": (-1.0, math.inf)}
_FIXED_SETS = {"linear": REAL_LINE, "relu": (0.0, math.inf), "relu6": (0.0, 6.0)}

# Keras activations acting on each unit alone (widening is exact only then), and the others.
ELEMENTWISE = frozenset(
    "celu elu exponential gelu hard_shrink hard_sigmoid hard_silu hard_tanh leaky_relu linear "
    "log_sigmoid mish relu relu6 selu sigmoid silu soft_shrink softplus softsign sparse_plus "
    "sparse_sigmoid squareplus tanh tanh_shrink threshold".split())
MIXING = frozenset({"softmax", "log_softmax", "sparsemax", "glu"})


def _keras_name(fn) -> str | None:
    """The Keras name of `fn` when it is a Keras activation, else `None`."""
    if fn is None:
        return "linear"
    name = getattr(fn, "__name__", None)
    try:
        return name if isinstance(name, str) and keras.activations.get(name) is fn else None
    except (ValueError, TypeError):
        return None


def activation_name(fn) -> str:
    """Readable name of an activation: `"relu"` for Keras', `"custom:<qualname>"` otherwise."""
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return _keras_name(fn) or f"custom:{qualname or type(fn).__name__}"


def activation_key(fn):
    """A hashable key equal for equal activations: Keras' name, or code, closure and defaults."""
    try:
        key = _keras_name(fn) or ("function", fn.__code__, tuple(
            c.cell_contents for c in fn.__closure__ or ()), fn.__defaults__)
        hash(key)
        return key
    except (AttributeError, TypeError, ValueError):  # no code, unhashable cells, empty cell
        return ("object", id(fn))


def activation_range(name: str, input_range=REAL_LINE):
    """Interval containing the outputs of activation `name` (conservative)."""
    return input_range if name == "linear" else _RANGES.get(name, REAL_LINE)


def is_identity_on(name: str, value_range) -> bool:
    """Whether activation `name` leaves every value of `value_range` unchanged."""
    fixed = _FIXED_SETS.get(name)
    return fixed is not None and fixed[0] <= value_range[0] and value_range[1] <= fixed[1]


def mixing_reason(fn) -> str | None:
    """Why activation `fn` is not element-wise (Keras' from the tables, others checked once)."""
    name = _keras_name(fn)
    if name in ELEMENTWISE:
        return None
    if name in MIXING:
        return f"activation {name!r} mixes the units of a sample"
    try:
        return _numeric_mixing_reason(fn)
    except TypeError:  # an unhashable callable: no caching
        return _numeric_mixing_reason.__wrapped__(fn)


def _keras_apply(fn, x):
    return keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x)))


@functools.lru_cache(maxsize=256)
def _numeric_mixing_reason(fn) -> str | None:
    label = activation_name(fn)
    # NOTE: a shuffled grid over [-4, 4] covers where common activations differ; float32 tols.
    grid = np.random.default_rng(0).permutation(np.linspace(-4.0, 4.0, 24)).reshape(6, 4)
    grid = grid.astype(np.float32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            whole = _keras_apply(fn, grid)
            columns = np.concatenate([_keras_apply(fn, grid[:, j:j + 1]) for j in range(4)], 1)
            single = _keras_apply(fn, grid.reshape(-1, 1)).reshape(grid.shape)
    except Exception as error:  # any failure of a user function means "cannot tell"
        return (f"activation {label!r} could not be checked for element-wise-ness "
                f"({type(error).__name__}: {error})")
    if whole.shape != grid.shape:
        return f"activation {label!r} changes the shape of its input"
    if not all(np.allclose(whole, other, rtol=1e-5, atol=1e-6, equal_nan=True)
               for other in (columns, single)):
        return f"activation {label!r} is not element-wise (a unit's output depends on others)"
    return None


_NUMPY = {"linear": lambda x: x, "relu": lambda x: np.maximum(x, 0),
          "relu6": lambda x: np.clip(x, 0, 6), "tanh": np.tanh,
          "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "softmax": lambda x: (
              e := np.exp(x - x.max(axis=-1, keepdims=True))) / e.sum(axis=-1, keepdims=True)}


def apply(fn, x: np.ndarray) -> np.ndarray:
    """`fn(x)` on a numpy array: numpy for the common activations, `keras.ops` otherwise."""
    name = _keras_name(fn)
    return _NUMPY[name](x) if name in _NUMPY else _keras_apply(fn, x)
