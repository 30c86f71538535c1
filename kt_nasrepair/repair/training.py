"""One execution of a trial trained in segments, with one continuous history.

A trial's `fit` may stop before `epochs` for two reasons: a `NeuralRepair` callback asked for
growth (the model is widened, then training resumes), or a warm child reached its short
budget (`warm_epochs`; it resumes only when promoted). Each resumption is the same training
continued with `initial_epoch`, never a restart, and the epochs of all segments form one
history, so KerasTuner scores the trial on its best epoch as usual.
"""

from __future__ import annotations

import keras


class EpochLog(keras.callbacks.Callback):
    """Keeps every epoch's number and logs across the `fit` calls of one execution.

    Reading epochs from a callback (not from what `fit` returns) also works for a
    `HyperModel.fit` that returns a dict or a float, as KerasTuner allows.
    """

    def __init__(self):
        super().__init__()
        self.epochs = []
        self.logs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(int(epoch))
        self.logs.append(dict(logs or {}))

    def next_epoch(self, default: int) -> int:
        """The epoch a continued `fit` starts from (`initial_epoch`)."""
        return self.epochs[-1] + 1 if self.epochs else default

    def history(self, last) -> keras.callbacks.History:
        """A `History` holding every epoch logged, with `last`'s params and model."""
        merged = keras.callbacks.History()
        merged.history = {}
        for logs in self.logs:
            for key, value in logs.items():
                merged.history.setdefault(key, []).append(value)
        merged.epoch = list(self.epochs)
        merged.params = getattr(last, "params", None)
        model = getattr(last, "model", None)
        if model is not None:
            merged.set_model(model)
        return merged


def merged_results(log: EpochLog, last, segments: int):
    """What the execution returns to KerasTuner.

    One segment: `fit`'s own return value, untouched. Several: one `History` of all epochs
    when `fit` returns histories; otherwise (a dict or a float) the last segment's value.
    """
    if segments == 1 or not isinstance(last, keras.callbacks.History):
        return last
    return log.history(last)
