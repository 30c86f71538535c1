"""`GrowOnPlateau`: asks for a bigger model when a metric stops improving."""

from __future__ import annotations

import warnings
from typing import Callable

from keras_tuner.engine.metrics_tracking import infer_metric_direction

from kt_nasrepair._validation import check, is_int, is_number
from kt_nasrepair.repair._callback_base import RepairCallback, to_float


class GrowOnPlateau(RepairCallback):
    """Requests growth when `monitor` has not improved for `patience` epochs.

    A request appends the epoch to `growth_requests`, restarts the patience count and calls
    the growth hook (`set_growth_hook`). If the hook returns True, training stops and
    `growth_requested` is True until the next `on_train_begin` (`RepairTuner` then grows the
    model and fits it on from `initial_epoch`); if it returns False, training goes on.
    Without a hook (a plain `model.fit` cannot swap its model) the request is only recorded,
    with `growth_requested` set. Each `fit` starts the plateau afresh; `growth_requests`
    starts afresh with a `fit` from epoch 0 and carries on through one from `initial_epoch`.

    Args:
        monitor: str, the metric watched. Defaults to `"val_loss"`.
        mode: `"auto"` (default), `"min"` or `"max"`. `"auto"` infers the direction from
            the name as KerasTuner does (`infer_metric_direction`); a name it cannot place
            raises.
        patience: int >= 1, epochs without improvement before a request. Defaults to 3.
        min_delta: float >= 0, the smallest change that counts as improvement. Defaults to 0.
        verbose: int, 0 is silent, 1 prints each request.

    Attributes:
        direction: `"min"` or `"max"`, what `mode` resolves to.
        growth_requests: epochs at which growth was requested.
        growth_requested: bool, read-only: a request of this `fit` was not refused.

    Raises:
        ValueError: for an argument out of range (the message names it), or `mode="auto"`
            with a `monitor` whose direction cannot be inferred.

    Example:

    ```python
    grow = GrowOnPlateau(monitor="val_loss", patience=2)
    model.fit(x, y, validation_split=0.1, epochs=20, callbacks=[grow])
    print(grow.growth_requests)
    ```
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
        self.monitor, self.mode = monitor, mode
        self.patience, self.min_delta = patience, float(min_delta)
        self.growth_requests = []
        self._growth_hook = None
        self.on_train_begin()

    @property
    def growth_requested(self) -> bool:
        """Whether a request of this `fit` was accepted, or made with no hook to ask."""
        return self._growth_requested

    def set_growth_hook(self, hook: Callable[[int], bool] | None) -> None:
        """Sets who is asked to grow the model on a plateau.

        Args:
            hook: `hook(epoch) -> bool`, True when it will grow the model (training then
                stops), False when it cannot (training goes on); or `None`.

        Raises:
            TypeError: if `hook` is neither callable nor `None`.
        """
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
        self._wait += 1
        if self._wait < self.patience:
            return
        self._wait = 0
        self.growth_requests.append(epoch)
        self._say(f"\nEpoch {epoch + 1}: GrowOnPlateau requests growth ({self.monitor} "
                  f"has not improved for {self.patience} epochs).")
        hook = self._growth_hook
        if hook is None or hook(epoch):
            self._growth_requested = True
            if hook is not None:  # it will grow the model: let it
                self.model.stop_training = True
