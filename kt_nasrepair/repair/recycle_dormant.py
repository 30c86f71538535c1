"""`RecycleDormant`: re-initialises the hidden Dense units that stopped firing (ReDo)."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from kt_nasrepair._validation import check, is_int, is_number
from kt_nasrepair.repair import _dormant
from kt_nasrepair.repair._callback_base import RepairCallback


class RecycleDormant(RepairCallback):
    """Recycles the dormant units of hidden Dense layers every `frequency` epochs (ReDo).

    Records what it did in `total_repaired` and `repair_history`.

    Args:
        dormant_threshold: float >= 0, ReDo's tau: units scoring `<=` it are recycled.
        frequency: int >= 1, recycle every `frequency` epochs.
        probe_data: array of model inputs to score units on, or `None` (see `set_probe_data`).
        probe_size: int >= 1, the number of probe samples kept.
        seed: int or `None`, seeds the re-initialisation draws.
        verbose: int, 0 is silent, 1 prints each recycling.
    """

    _detached = ("_model", "_plan")

    def __init__(self, dormant_threshold: float = 0.0, frequency: int = 1, probe_data=None,
                 probe_size: int = 256, seed: int | None = None, verbose: int = 0):
        super().__init__(verbose)
        check(is_number(dormant_threshold) and dormant_threshold >= 0,
              "dormant_threshold", dormant_threshold, "a number >= 0")
        check(is_int(frequency) and frequency >= 1, "frequency", frequency, "an integer >= 1")
        check(is_int(probe_size) and probe_size >= 1, "probe_size", probe_size, "an integer >= 1")
        check(seed is None or is_int(seed), "seed", seed, "an integer or None")
        self.dormant_threshold, self.frequency = float(dormant_threshold), frequency
        self.probe_size, self.seed, self.probe_data, self._plan = probe_size, seed, None, None
        if probe_data is not None:
            self.set_probe_data(probe_data)
        self.on_epoch_begin(0)

    def set_probe_data(self, x) -> None:
        """Keeps the first `probe_size` samples of `x` (model inputs, batch first) to score on."""
        x = np.asarray(keras.ops.convert_to_numpy(x))
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError("`probe_data` must hold at least one sample, batch first. "
                             f"Received: probe_data.shape={x.shape}")
        self.probe_data = np.array(x[: self.probe_size], copy=True)

    def on_train_begin(self, logs=None):
        self._plan = None  # the model may be new (grown): plan its repairs again
        if self.probe_data is None:
            warnings.warn("RecycleDormant has no probe data, so dormant units are not recycled. "
                          "Pass `probe_data=x_train[:256]` or call `set_probe_data(x)`.",
                          stacklevel=2)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 0:  # a new run; `initial_epoch > 0` continues the last one
            self.total_repaired, self.repair_history = 0, []
            self._rng = np.random.default_rng(self.seed)

    def on_epoch_end(self, epoch, logs=None):
        if self.probe_data is None or (epoch + 1) % self.frequency:
            return
        model = self.model
        if self._plan is None:
            self._plan = _dormant.plan_repairs(model, self.probe_data)
            if self._plan.reason is not None:
                warnings.warn(f"RecycleDormant recycles units of Dense chains only; model "
                              f"'{model.name}' is skipped because {self._plan.reason}.",
                              stacklevel=2)
        per_layer = _dormant.recycle_model(self._plan, self.probe_data, self.dormant_threshold,
                                           self._rng, getattr(model, "optimizer", None))
        if not per_layer:
            return
        repaired = sum(per_layer.values())
        self.total_repaired += repaired
        self.repair_history.append(dict(epoch=epoch, repaired_units=repaired, per_layer=per_layer))
        if repaired:
            self._say(f"\nEpoch {epoch + 1}: RecycleDormant recycled {repaired} dormant "
                      f"units {per_layer}.")
