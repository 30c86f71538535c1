"""`GrowOnPlateau`: asks for a bigger model when a metric stops improving."""

from __future__ import annotations

import warnings
from typing import Callable

from keras_tuner.engine.metrics_tracking import infer_metric_direction

from kt_nasrepair._validation import check, is_int, is_number
from kt_nasrepair.repair._callback_base import RepairCallback, to_float


class GrowOnPlateau(RepairCallback):
    """Requests growth when `monitor` has not improved for `patience` epochs.

    A request is appended to `growth_requests` and put to the growth hook (`set_growth_hook`).

    Args:
        monitor: str, the metric watched.
        mode: `"auto"`, `"min"` or `"max"`; `"auto"` infers the direction as KerasTuner does
            and raises `ValueError` for a `monitor` it cannot place.
        patience: int >= 1, epochs without improvement before a request.
        min_delta: float >= 0, the smallest change that counts as improvement.
        verbose: int, 0 is silent, 1 prints each request.
    """

    _detached = ("_model", "_growth_hook")

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 3,
                 min_delta: float = 0.0, verbose: int = 0):
        super().__init__(verbose)
        check(isinstance(monitor, str) and bool(monitor), "monitor", monitor, "a metric name")
        check(isinstance(mode, str) and mode in ("auto", "min", "max"),
              "mode", mode, "'auto', 'min' or 'max'")
        check(is_int(patience) and patience >= 1, "patience", patience, "an integer >= 1")
        check(is_number(min_delta) and min_delta >= 0, "min_delta", min_delta, "a number >= 0")
        self.direction = mode if mode != "auto" else infer_metric_direction(monitor)
        if self.direction is None:
            raise ValueError(f"`mode='auto'` cannot tell whether `monitor={monitor!r}` should "
                             "be minimised or maximised (KerasTuner's `infer_metric_direction` "
                             "does not know it). Pass `mode='min'` or `mode='max'`.")
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.min_delta, self.growth_requests, self._growth_hook = float(min_delta), [], None
        self.on_train_begin()

    @property
    def growth_requested(self) -> bool:
        """Whether a request of this `fit` was accepted, or made with no hook to ask."""
        return self._growth_requested

    def set_growth_hook(self, hook: Callable[[int], bool] | None) -> None:
        """Sets `hook(epoch) -> bool` (True: it grows the model, so training stops) or `None`."""
        check(hook is None or callable(hook), "hook", hook, "a callable or None", TypeError)
        self._growth_hook = hook

    def on_train_begin(self, logs=None):
        # A new fit trains a grown model or continues a run: either way a new plateau.
        self._best, self._wait, self._growth_requested = None, 0, False

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 0:  # a new run; `initial_epoch > 0` continues the last one
            self.growth_requests = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            warnings.warn(f"GrowOnPlateau watches `{self.monitor}`, which is not in the logs. "
                          f"Available: {', '.join(sorted(logs))}.", stacklevel=2)
            return
        current = to_float(logs[self.monitor])
        sign = 1.0 if self.direction == "max" else -1.0
        if self._best is None or sign * (current - self._best) > self.min_delta:
            self._best, self._wait = current, 0
            return
        self._wait = 0 if self._wait + 1 >= self.patience else self._wait + 1  # 0: request due
        if self._wait:
            return
        self.growth_requests.append(epoch)
        self._say(f"\nEpoch {epoch + 1}: GrowOnPlateau requests growth ({self.monitor} "
                  f"has not improved for {self.patience} epochs).")
        hook = self._growth_hook
        if hook is None or hook(epoch):
            self._growth_requested = True
            if hook is not None:  # it will grow the model: let it
                self.model.stop_training = True
