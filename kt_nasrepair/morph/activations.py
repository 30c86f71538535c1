"""Activations as the morphisms see them: names, identities, value ranges, element-wise-ness.

Keras activations are recognised by identity (`keras.activations.get(fn.__name__) is fn`),
never by name alone: a user function called `relu` is the unknown function it is. Unknown
callables are compared by their code (two builds of one `build_model` give equal keys) and
checked numerically for element-wise-ness.
"""

from __future__ import annotations

import functools
import math
import warnings

import keras
import numpy as np

REAL_LINE = (-math.inf, math.inf)
# Conservative output ranges (`linear` keeps its input's), and the sets where an activation
# is the identity: the values an identity-initialised layer with it reproduces exactly.
_RANGES = {"relu": (0.0, math.inf), "relu6": (0.0, 6.0), "sigmoid": (0.0, 1.0),
           "hard_sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0),
           "softplus": (0.0, math.inf), "elu": (-1.0, math.inf)}
_FIXED_SETS = {"linear": REAL_LINE, "relu": (0.0, math.inf), "relu6": (0.0, 6.0)}

# Keras activations acting on each unit alone (Net2Net widening copies units, exact only
# then), and those that mix the units of a sample (normalise or split the last axis).
ELEMENTWISE = frozenset({
    "celu", "elu", "exponential", "gelu", "hard_shrink", "hard_sigmoid", "hard_silu",
    "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "mish", "relu", "relu6", "selu",
    "sigmoid", "silu", "soft_shrink", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
    "squareplus", "tanh", "tanh_shrink", "threshold",
})
MIXING = frozenset({"softmax", "log_softmax", "sparsemax", "glu"})


def _keras_name(fn) -> str | None:
    """The Keras name of `fn` when it is a Keras activation, else `None`."""
    if fn is None:
        return "linear"
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str):
        return None
    try:
        return name if keras.activations.get(name) is fn else None
    except (ValueError, TypeError):
        return None


def activation_name(fn) -> str:
    """Readable name of an activation: `"relu"` for Keras', `"custom:<qualname>"` otherwise."""
    name = _keras_name(fn)
    if name is not None:
        return name
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return f"custom:{qualname or type(fn).__name__}"


def activation_key(fn):
    """A hashable key, equal for two activations that compute the same function.

    Keras activations by name; Python functions by code, closure and defaults (two equal
    lambdas written at one place compare equal); any other callable by identity.
    """
    name = _keras_name(fn)
    if name is not None:
        return name
    code = getattr(fn, "__code__", None)
    if code is None:
        return ("object", id(fn))
    try:
        key = ("function", code, tuple(c.cell_contents for c in fn.__closure__ or ()),
               fn.__defaults__)
        hash(key)
    except (TypeError, ValueError):  # unhashable closure values, or an empty cell
        return ("object", id(fn))
    return key


def activation_range(name: str, input_range=REAL_LINE):
    """Interval containing the outputs of activation `name` (conservative)."""
    return input_range if name == "linear" else _RANGES.get(name, REAL_LINE)


def is_identity_on(name: str, value_range) -> bool:
    """Whether activation `name` leaves every value of `value_range` unchanged."""
    fixed = _FIXED_SETS.get(name)
    return fixed is not None and fixed[0] <= value_range[0] and value_range[1] <= fixed[1]


def mixing_reason(fn) -> str | None:
    """Why activation `fn` is not element-wise, or `None` when it is.

    Keras activations are looked up in `ELEMENTWISE`/`MIXING`; any other callable must give
    on a test matrix what it gives on each column alone and on each element alone (checked
    once per function).
    """
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
    # NOTE: a shuffled grid over [-4, 4] (zero included) covers the regions where common
    # activations differ; tolerances allow float32 rounding and nothing more.
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
    for other in (columns, single):
        if not np.allclose(whole, other, rtol=1e-5, atol=1e-6, equal_nan=True):
            return (f"activation {label!r} is not element-wise (a unit's output depends on "
                    "other units)")
    return None


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_NUMPY = {"linear": lambda x: x, "relu": lambda x: np.maximum(x, 0),
          "relu6": lambda x: np.clip(x, 0, 6), "tanh": np.tanh,
          "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "softmax": _softmax}


def apply(fn, x: np.ndarray) -> np.ndarray:
    """`fn(x)` on a numpy array: numpy for the common activations, `keras.ops` otherwise."""
    name = _keras_name(fn)
    return _NUMPY[name](x) if name in _NUMPY else _keras_apply(fn, x)
