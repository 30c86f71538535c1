"""Builds a lazily built model from the shapes of the trial's data, so it can warm-start.

No batch is consumed: a Python iterator's first element is put back in front of it.
"""

from __future__ import annotations

import collections.abc
import itertools
import warnings

import keras

_END = object()


class NoSample(Exception):
    """The data gives no input shape to build a model from (the message says why)."""


def input_shapes(x):
    """The input shape(s) of one batch of `x` (arrays, a `tf.data.Dataset` or a `PyDataset`),
    batch axis `None`; raises `NoSample` when `x` gives none."""
    if x is None:
        raise NoSample("no `x` given to search()")
    if hasattr(x, "element_spec"):  # a tf.data.Dataset, read without iterating
        return _shapes(x.element_spec, _spec_shape, features=True)
    if isinstance(x, keras.utils.PyDataset):
        if not len(x):
            raise NoSample("an empty PyDataset")
        return _shapes(x[0], _array_shape, features=True)
    return _shapes(x, _array_shape)


def _spec_shape(spec):
    shape = getattr(spec, "shape", None)
    if shape is None:
        raise NoSample(f"a dataset element of type {type(spec).__name__}")
    dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
    if not dims:
        raise NoSample("a dataset of scalars (batch it first)")
    return (None, *dims[1:])


def _array_shape(array):
    if not (hasattr(array, "shape") and getattr(array, "ndim", 0) >= 1):
        raise NoSample(f"an `x` of type {type(array).__name__}")
    return (None, *(int(d) if d is not None else None for d in array.shape[1:]))


def _shapes(element, shape_of, features=False):
    # A dataset's element is (x, y) or (x, y, sample_weight): the model sees x.
    if features and isinstance(element, tuple) and 2 <= len(element) <= 3:
        element = element[0]
    if isinstance(element, dict):
        return {key: _shapes(value, shape_of, features) for key, value in element.items()}
    if isinstance(element, (list, tuple)):
        return [_shapes(value, shape_of, features) for value in element]
    return shape_of(element)


def build_from_data(model, args, kwargs, rebuild):
    """Builds `model` from the data of `search(*args, **kwargs)` when it has no weights; never
    raises. `rebuild()` gives a fresh model when a build failed halfway.

    Returns:
        `(model, args, kwargs, why)`: `why` is None when the model is built, else why not.
    """
    if model.built:
        return model, args, kwargs, None
    x = args[0] if args else kwargs.get("x")
    try:
        if isinstance(x, collections.abc.Iterator):
            first = next(x, _END)
            if first is _END:
                raise NoSample("an exhausted iterator")
            x = itertools.chain([first], x)
            args, kwargs = ((x, *args[1:]), kwargs) if args else (args, {**kwargs, "x": x})
            shapes = _shapes(first, _array_shape, features=True)
        else:
            shapes = input_shapes(x)
    except NoSample as error:
        return model, args, kwargs, f"no input shape in the data: {error}"
    except Exception as error:  # a PyDataset whose first batch raises, say: fit will tell
        return model, args, kwargs, f"no sample read ({type(error).__name__}: {error})"
    failure = ""
    try:
        with warnings.catch_warnings():
            # Unlike `build_from_config`, a symbolic call also marks a subclassed model built.
            warnings.simplefilter("ignore")
            model(keras.tree.map_shape_structure(keras.KerasTensor, shapes))
    except Exception as error:
        failure = f" ({type(error).__name__}: {error})"
    if not failure and model.built and model.weights:
        return model, args, kwargs, None
    # A failed build may leave layers half built: train a fresh model, built by `fit`.
    return rebuild(), args, kwargs, f"building it from the input shape {shapes} failed{failure}"
