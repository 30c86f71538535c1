"""Checks that fail a mismatched trial with a clear message, not an error from deep inside
Keras or KerasTuner (`KeyError: 'val_f1'` for an objective the model never reports)."""

from __future__ import annotations

import inspect
import numbers

import keras
import keras_tuner
import numpy as np
from keras_tuner.errors import FailedTrialError, FatalTypeError, FatalValueError

_FIT = "HyperModel.fit()"


def check_input_shapes(model, trial_id, args, kwargs) -> None:
    """Raises `FailedTrialError` when NumPy `x` or `validation_data` cannot feed `model`."""
    expected = single_input_shape(model)
    if expected is None:
        return
    validation = kwargs.get("validation_data")
    x_val = validation[0] if isinstance(validation, (tuple, list)) and validation else None
    for argument, data in (("x", args[0] if args else kwargs.get("x")),
                           ("validation_data", x_val)):
        if isinstance(data, np.ndarray) and data.ndim >= 2 \
                and not shapes_compatible(expected, data.shape):
            raise FailedTrialError(
                f"The model of trial {trial_id} expects inputs of shape {expected} "
                f"(one sample: {tuple(expected[1:])}), but `{argument}` has shape "
                f"{data.shape} (one sample: {data.shape[1:]}). Check that the data "
                "matches the hypermodel's `input_shape`.")


def check_fit_results(results, objective) -> None:
    """Stops the search when `HyperModel.fit()` returned what KerasTuner cannot score
    (KerasTuner's own rules and wording)."""
    if isinstance(results, list):
        for result in results:
            check_fit_results(result, objective)
        return
    if isinstance(results, numbers.Real) and not isinstance(results, bool):
        return
    if results is None:
        raise FatalTypeError(
            f"The return value of {_FIT} is None. Did you forget to return the metrics?")
    received = f"Received: {results!r} of type {type(results)}."
    if type(objective).__name__ == "DefaultObjective" and not (
        isinstance(results, dict) and objective.name in results
    ):
        raise FatalTypeError(
            f"Expected the return value of {_FIT} to be a single float when `objective` "
            f"is left unspecified. {received}")
    if isinstance(results, dict) and objective.name not in results:
        raise FatalValueError(
            f"Expected the returned dictionary from {_FIT} to have the specified "
            f"objective, {objective.name}, as one of the keys. Received: {results}.")
    if isinstance(results, (dict, keras.callbacks.History)):
        return
    raise FatalTypeError(
        f"Expected the return value of {_FIT} to be one of float, dict, "
        f"keras.callbacks.History, or a list of one of these types. {received}")


def check_objective_reported(results, objective) -> None:
    """Raises `FailedTrialError` when a training `History` lacks an objective metric."""
    names = [o.name for o in getattr(objective, "objectives", [objective])]
    for history in results if isinstance(results, list) else [results]:
        if not isinstance(history, keras.callbacks.History):
            continue
        reported = sorted(history.history)
        missing = [name for name in names if name not in reported]
        if not missing:
            continue
        hint = ""
        if type(objective).__name__ == "DefaultObjective":
            hint = " No `objective` was given: pass one, e.g. objective='val_accuracy'."
        elif any(n.startswith("val_") for n in missing) and not any(
                r.startswith("val_") for r in reported):
            hint = (" Metrics starting with 'val_' need `validation_data` or "
                    "`validation_split` in `search()`.")
        raise FailedTrialError(
            f"The objective {missing[0] if len(missing) == 1 else missing!r} is not among "
            f"the metrics the model reported: {reported}. Pass an `objective` that names one "
            f"of them, or compile the model with the missing metric.{hint}"
        )


def single_input_shape(model):
    """The shape of `model`'s single input, or None (not built, or several inputs)."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):  # not built, or no defined input
        return None
    single = isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape)
    return shape if single else None


def shapes_compatible(expected, received) -> bool:
    """Whether data of shape `received` feeds an input of shape `expected` (batch axes aside)."""
    # Keras squeezes or expands a trailing axis of size 1 (Functional._adjust_input_rank).
    want, got = (_strip_ones(tuple(shape[1:])) for shape in (expected, received))
    return len(want) == len(got) and all(w is None or w == g for w, g in zip(want, got))


def _strip_ones(shape):
    return _strip_ones(shape[:-1]) if shape and shape[-1] == 1 else shape


def check_max_trials_accepted(tuner_class: type, kwargs: dict) -> None:
    """Raises `ValueError` for `max_trials` given to a Hyperband class that does not take it."""
    if "max_trials" not in kwargs or not issubclass(tuner_class, keras_tuner.Hyperband):
        return
    if any("max_trials" in inspect.signature(cls.__init__).parameters
           for cls in tuner_class.__mro__ if "__init__" in vars(cls)):
        return
    raise ValueError(
        f"`max_trials` is not an argument of {tuner_class.__qualname__}: Hyperband sizes its "
        "search by `max_epochs` (the most epochs one model trains), `factor` and "
        "`hyperband_iterations` (how many times its brackets run); drop `max_trials` and set "
        f"those. Received: max_trials={kwargs['max_trials']!r}"
    )
