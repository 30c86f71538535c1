"""The warm-child options `warm_start_gap.py` measures, kept here because none was adopted.

docs/performance.md ("Closing the warm-start gap") measured them against plain warm training
and found none worth a default: shrink-and-perturb lost on every pair, the cosine schedule won
on one dataset and lost on the other, the warm-up changed nothing. They left the library; this
file keeps what the benchmark needs to rerun that measurement.

- `shrink_perturb_model`: θ ← λθ + σ·θ_fresh on the trainable weights (Ash & Adams 2020, "On
  Warm-Starting Neural Network Training", NeurIPS, Sec. 4; their code's defaults λ = 0.4,
  σ = 0.1). Non-trainable state (BatchNormalization statistics) is left as inherited, as their
  code leaves PyTorch buffers alone.
- `CosineSchedule`: a cosine decay of the compiled learning rate over each `fit`, per batch,
  optionally from a lower start and after a linear warm-up (SGDR without restarts, Loshchilov &
  Hutter 2017, Eq. 5, as NASH trains each morphed child: Elsken et al. 2017, arXiv 1711.04528).
"""

from __future__ import annotations

import math

import keras
import numpy as np


def trainable_arrays(model) -> list[np.ndarray]:
    """Copies of `model.trainable_weights` as numpy arrays (the fresh init, before a transfer)."""
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_weights]


def shrink_perturb_model(model, fresh_weights, shrink: float = 0.4, perturb: float = 0.1):
    """θ ← shrink·θ + perturb·θ_fresh, in place, on `model.trainable_weights`.

    Args:
        model: the warm child (its weights already inherited).
        fresh_weights: `trainable_arrays(model)` taken before the transfer.
        shrink: λ in [0, 1]. perturb: σ >= 0.
    """
    variables = list(model.trainable_weights)
    if len(variables) != len(fresh_weights):
        raise ValueError(f"`fresh_weights` must hold {len(variables)} arrays, one per trainable "
                         f"weight. Received: {len(fresh_weights)} arrays")
    for variable, fresh in zip(variables, fresh_weights):
        warm = keras.ops.convert_to_numpy(variable)
        # NOTE: float64, so float32 weights are rounded once, not twice.
        mixed = shrink * warm.astype(np.float64) + perturb * np.asarray(fresh, np.float64)
        variable.assign(mixed.astype(warm.dtype))


def cosine_factor(step, total: int, start: float = 1.0, end: float = 0.0,
                  warmup: int = 0) -> float:
    """The learning-rate multiple at `step` (0-based) of a `total`-step schedule.

    Linear warm-up to `start` over the first `warmup` steps (`start * (step + 1) / warmup`),
    then `end + (start - end) * (1 + cos(pi * u)) / 2` with
    `u = (step - warmup) / (total - warmup)`; steps past `total` keep `end`.
    """
    if step < warmup:
        return start * (step + 1) / warmup
    u = min(1.0, (step - warmup) / max(total - warmup, 1))
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * u))


class CosineSchedule(keras.callbacks.Callback):
    """One cosine cycle of the learning rate over each `fit`, per batch; restored at the end.

    Args:
        start_factor: the rate after the warm-up, a multiple of the compiled rate.
        end_factor: the rate at the end, a multiple of the compiled rate
            (`end_factor == start_factor`: a constant rate).
        warmup: share of the schedule spent rising linearly to `start_factor`, in [0, 1).
    """

    def __init__(self, start_factor: float = 1.0, end_factor: float = 0.0, warmup: float = 0.0):
        super().__init__()
        if not (start_factor > 0 and 0 <= end_factor <= start_factor and 0 <= warmup < 1):
            raise ValueError(
                "CosineSchedule needs start_factor > 0, 0 <= end_factor <= start_factor and "
                f"0 <= warmup < 1. Received: start_factor={start_factor!r}, "
                f"end_factor={end_factor!r}, warmup={warmup!r}")
        self.start_factor, self.end_factor, self.warmup = start_factor, end_factor, warmup
        self.rates = []  # the rate set at each step of the last fit

    def on_train_begin(self, logs=None):
        self._base = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.rates, self._step, self._total = [], 0, None

    def on_epoch_begin(self, epoch, logs=None):
        if self._total is None:  # the first epoch of this fit (it may have an initial_epoch)
            epochs = max(int(self.params["epochs"]) - epoch, 1)
            self._total = epochs * int(self.params["steps"])
            self._warmup_steps = min(int(round(self.warmup * self._total)), self._total - 1)

    def on_train_batch_begin(self, batch, logs=None):
        rate = self._base * cosine_factor(self._step, self._total, self.start_factor,
                                          self.end_factor, self._warmup_steps)
        self.model.optimizer.learning_rate.assign(rate)
        self.rates.append(rate)
        self._step += 1

    def on_train_end(self, logs=None):
        self.model.optimizer.learning_rate.assign(self._base)
