"""One execution of a trial trained in segments (growth, `warm_epochs`), with one history.

Segments resume with `initial_epoch`; the merged history is scored on its best finite epoch.
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
from keras_tuner.errors import FailedTrialError

from kt_nasrepair.repair.budget import best_value


class EpochLog(keras.callbacks.Callback):
    """Keeps every epoch's number and logs across the `fit` calls of one execution."""

    def __init__(self):
        super().__init__()
        self.epochs = []
        self.logs = []
        self.fit_mode = None

    def on_fit_mode(self, mode: str):
        """How the last fit ran, told by the fit itself (see `shape_stable.report_fit_mode`)."""
        if mode.startswith("alone:"):
            mode = f"{self.fit_mode or 'compact'}; {mode}"
        self.fit_mode = mode

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(int(epoch))
        self.logs.append(dict(logs or {}))

    def next_epoch(self, default: int) -> int:
        """The epoch a continued `fit` starts from (`initial_epoch`)."""
        return self.epochs[-1] + 1 if self.epochs else default

    def history(self, last, keep=None) -> keras.callbacks.History:
        """A `History` of the logged epochs where `keep` is true, with `last`'s params and model."""
        keep = [True] * len(self.logs) if keep is None else keep
        merged = keras.callbacks.History()
        merged.history, merged.epoch = {}, []
        for epoch, logs, kept in zip(self.epochs, self.logs, keep):
            if kept:
                merged.epoch.append(epoch)
                for key, value in logs.items():
                    merged.history.setdefault(key, []).append(value)
        merged.params = getattr(last, "params", None)
        if getattr(last, "model", None) is not None:
            merged.set_model(last.model)
        return merged


def is_finite(value) -> bool:
    """Whether a logged value is a finite number (None and non-numbers count as finite)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def finite_epoch(logs: dict, objective) -> bool:
    """Whether an epoch's loss and objective value (when logged) are finite."""
    return (("loss" not in logs or is_finite(logs["loss"]))
            and (not objective.has_value(logs) or is_finite(objective.get_value(logs))))


def results_value(results, objective):
    """The objective's value in what a `HyperModel.fit` returned (a History's best finite epoch)."""
    if isinstance(results, keras.callbacks.History):
        epochs = [dict(zip(results.history, values))
                  for values in zip(*results.history.values())]
        return best_value(objective, [e for e in epochs if finite_epoch(e, objective)])
    if isinstance(results, dict):
        return float(objective.get_value(results)) if objective.has_value(results) else None
    if isinstance(results, (numbers.Real, np.floating)) and not isinstance(results, bool):
        return float(results)
    return None


def merged_results(log: EpochLog, last, segments: int, objective=None):
    """What the execution returns: one `History` of the finite epochs, or the last result."""
    if not isinstance(last, keras.callbacks.History) or not log.logs:
        return last
    keep = [objective is None or finite_epoch(logs, objective) for logs in log.logs]
    return last if segments == 1 and all(keep) else log.history(last, keep)


def raise_if_diverged(log, results, objective, record):
    """Raises `FailedTrialError` when no epoch has a finite loss and objective; otherwise
    sets `record.non_finite_epochs` (`results` is judged when `log` saw no epoch)."""
    if log.logs:
        finite = [finite_epoch(logs, objective) for logs in log.logs]
        if not any(finite):
            losses = [logs.get("loss") for logs in log.logs]
            raise FailedTrialError(
                f"Training diverged: no epoch ended with a finite loss and objective (losses: "
                f"{losses}; add kt_nasrepair.NeuralRepair to recover from non-finite losses)."
            )
        record.non_finite_epochs = [epoch for epoch, ok in zip(log.epochs, finite) if not ok]
        return
    # No epoch seen (a fit that does not pass `callbacks` on): judge what it returned.
    names = {o.name for o in getattr(objective, "objectives", [objective])}
    for history in results if isinstance(results, list) else [results]:
        values = getattr(history, "history", None) or {}
        losses = values.get("loss", [])
        if losses and not _any_finite(losses):
            raise FailedTrialError(f"Training diverged: the loss was never finite: {losses}")
        for name, series in values.items():
            if name in names and not _any_finite(series):
                raise FailedTrialError(f"The objective {name!r} was never finite: {series}")


def _any_finite(series) -> bool:
    return any(v is not None and math.isfinite(v) for v in series)
