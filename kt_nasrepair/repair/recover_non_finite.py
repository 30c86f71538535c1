"""`RecoverNonFinite`: restores the last finite weights when the loss turns NaN or infinite."""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
from keras_tuner.errors import FailedTrialError

from kt_nasrepair._validation import check, is_int, is_number
from kt_nasrepair.repair._callback_base import RepairCallback, to_float


class RecoverNonFinite(RepairCallback):
    """Restores the last finite weights on a NaN or infinite batch loss, or fails the trial.

    After `max_recoveries` recoveries it raises `keras_tuner.errors.FailedTrialError`.

    Args:
        lr_factor: float in (0, 1), the learning-rate multiplier of a recovery.
        max_recoveries: int >= 0, recoveries allowed before the trial fails.
        verbose: int, 0 is silent, 1 prints each recovery.
    """

    _detached = ("_model", "_snapshot")

    def __init__(self, lr_factor: float = 0.1, max_recoveries: int = 3, verbose: int = 0):
        super().__init__(verbose)
        check(is_number(lr_factor) and 0 < lr_factor < 1,
              "lr_factor", lr_factor, "a number in (0, 1)")
        check(is_int(max_recoveries) and max_recoveries >= 0,
              "max_recoveries", max_recoveries, "an integer >= 0")
        self.lr_factor, self.max_recoveries = float(lr_factor), max_recoveries
        self.recoveries, self.failure_reason, self._snapshot = 0, None, None

    def on_train_begin(self, logs=None):
        self._snapshot = None  # until weights are finite
        self.on_epoch_end(None)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 0:  # a new run; `initial_epoch > 0` continues the last one
            self.recoveries, self.failure_reason = 0, None

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs and not math.isfinite(to_float(logs["loss"])):
            self._recover(batch)

    def on_epoch_end(self, epoch, logs=None):
        weights = self.model.get_weights()
        if all(np.isfinite(w).all() for w in weights):
            self._snapshot = weights

    def _recover(self, batch):
        model = self.model  # on JAX this syncs the in-flight state first
        if self._snapshot is None:
            self._fail(f"the loss became non-finite at batch {batch} and no finite "
                       "weights were kept")
        model.set_weights(self._snapshot)
        if self.recoveries >= self.max_recoveries:
            self._fail(f"the loss became non-finite again after {self.recoveries} recoveries "
                       f"(max_recoveries={self.max_recoveries}); last finite weights restored")
        for variable in model.optimizer.variables:  # zero moments poisoned by inf/NaN
            values = keras.ops.convert_to_numpy(variable)
            if (np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all()
                    and not variable.path.endswith("learning_rate")):
                variable.assign(np.zeros_like(values))
        try:
            model.optimizer.learning_rate = (to_float(model.optimizer.learning_rate)
                                             * self.lr_factor)
        except TypeError:
            warnings.warn("RecoverNonFinite cannot scale a LearningRateSchedule; the "
                          "learning rate is left unchanged.", stacklevel=2)
        model.reset_metrics()  # else the running loss mean stays NaN for the epoch
        self.recoveries += 1
        self._say(f"\nRecoverNonFinite: non-finite loss at batch {batch}; weights restored, "
                  f"learning rate x{self.lr_factor} (recovery {self.recoveries}/"
                  f"{self.max_recoveries}).")

    def _fail(self, reason):
        self.failure_reason = f"RecoverNonFinite: {reason}."
        self.model.stop_training = True
        raise FailedTrialError(self.failure_reason)
