"""What the repair callbacks share: a `copy.deepcopy` without the model, `verbose` output."""

from __future__ import annotations

import copy

import keras
import numpy as np


def to_float(value) -> float:
    """A scalar log value or variable, on any backend, as a Python float."""
    return float(np.ravel(keras.ops.convert_to_numpy(value))[0])


class RepairCallback(keras.callbacks.Callback):
    # Shape-stable and population training would leave its model in its compact shape.
    needs_own_model = True
    _detached = ("_model",)  # bound to one model or tuner: a copy starts without

    def __init__(self, verbose: int = 0):
        super().__init__()
        self.verbose = verbose

    def __deepcopy__(self, memo):
        clone = memo[id(self)] = self.__class__.__new__(self.__class__)
        for key, value in self.__dict__.items():
            clone.__dict__[key] = None if key in self._detached else copy.deepcopy(value, memo)
        return clone

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message)
