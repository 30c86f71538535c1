"""Options for training a warm child well in a short budget: shrink-and-perturb, a fresh schedule.

A child grown from a trained donor (Net2Net, `kt_nasrepair.morph.transfer`) starts exactly at
its donor's function, and training it on tends to generalise worse than training the same
child cold (Ash & Adams 2020, "On Warm-Starting Neural Network Training", NeurIPS). Two
remedies from the literature are here, as small pieces the tuner (or a user) can apply:

- `shrink_perturb` / `shrink_perturb_model`: θ ← λθ + σ·θ_fresh (Ash & Adams 2020, Sec. 4;
  their code's defaults λ = 0.4, σ = 0.1). It gives up exact function preservation.
- `CosineSchedule`: a Keras callback that gives the child a fresh learning-rate schedule over
  its short budget, a cosine decay from the compiled rate (SGDR, Loshchilov & Hutter 2017, as
  NASH trains each morphed child: Elsken et al. 2017, arXiv 1711.04528), optionally from a
  lower start and after a linear warm-up, restoring the compiled rate at the end of `fit`.

Carried optimizer state is not an option: a grown model's variables have new shapes and the
copied/divided Net2Net weights have no moments of their own (docs/warm_start.md). The warm-up
of `CosineSchedule` is the measured substitute for it (docs/performance.md).
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np

from kt_nasrepair._validation import check, is_int, is_number

# Ash & Adams 2020, code release (github.com/JordanAsh/warm_start): shrink 0.4, perturb 0.1.
DEFAULT_SHRINK = 0.4
DEFAULT_PERTURB = 0.1


def _check_shrink_perturb(shrink, perturb):
    check(is_number(shrink) and 0 <= shrink <= 1, "shrink", shrink,
          "a number in [0, 1]: the factor on the inherited weights (1 keeps them)")
    check(is_number(perturb) and perturb >= 0, "perturb", perturb,
          "a finite number >= 0: the factor on the freshly initialised weights")


def shrink_perturb(warm_weights, fresh_weights, shrink: float = DEFAULT_SHRINK,
                   perturb: float = DEFAULT_PERTURB) -> list[np.ndarray]:
    """Shrinks inherited weights towards zero and adds a fraction of a fresh initialisation.

    θ ← λ·θ_warm + σ·θ_fresh, array by array (Ash & Adams 2020, Sec. 4).

    Args:
        warm_weights: The inherited arrays (e.g. after `morph.transfer`).
        fresh_weights: Arrays of the same shapes from a fresh initialisation of the same
            architecture (for a bias or a BatchNormalization `beta`, Keras' zeros).
        shrink: λ in [0, 1]. Defaults to 0.4.
        perturb: σ >= 0. Defaults to 0.1.

    Returns:
        A new list of arrays, each of its warm array's dtype (nothing is modified in place).

    Raises:
        ValueError: for a bad `shrink`/`perturb`, lists of different lengths or arrays of
            different shapes (naming the index).

    Example:

    ```python
    new = shrink_perturb(model.get_weights(), fresh.get_weights(), shrink=0.4, perturb=0.1)
    ```
    """
    _check_shrink_perturb(shrink, perturb)
    warm_weights, fresh_weights = list(warm_weights), list(fresh_weights)
    check(len(warm_weights) == len(fresh_weights), "fresh_weights",
          f"<{len(fresh_weights)} arrays>",
          f"as many arrays as `warm_weights` ({len(warm_weights)})")
    result = []
    for index, (warm, fresh) in enumerate(zip(warm_weights, fresh_weights)):
        warm, fresh = np.asarray(warm), np.asarray(fresh)
        check(warm.shape == fresh.shape, f"fresh_weights[{index}]",
              f"<array of shape {fresh.shape}>", f"an array of shape {warm.shape}")
        # NOTE: computed in float64 so float32 weights get one rounding, not two.
        mixed = shrink * warm.astype(np.float64) + perturb * fresh.astype(np.float64)
        result.append(mixed.astype(warm.dtype))
    return result


def trainable_arrays(model) -> list[np.ndarray]:
    """Copies of `model.trainable_weights` as numpy arrays (the fresh init, before a transfer)."""
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_weights]


def shrink_perturb_model(model, fresh_weights, shrink: float = DEFAULT_SHRINK,
                         perturb: float = DEFAULT_PERTURB) -> None:
    """Applies `shrink_perturb` in place to a model's trainable weights.

    Kernels, biases and BatchNormalization `gamma`/`beta` are shrunk and perturbed, as Ash &
    Adams' code does to every `model.parameters()`. Non-trainable state (BatchNormalization
    moving mean and variance) is left as inherited: it is a running estimate, not a
    parameter (their code leaves PyTorch buffers alone too), and training re-estimates it.
    Biases are included: Keras initialises them to zero, so for them the operation is a
    shrink towards zero, which keeps the inherited biases on the scale of the shrunk kernels.

    Args:
        model: The warm child (its weights already inherited).
        fresh_weights: `trainable_arrays(model)` taken before the transfer, or a model of the
            same architecture freshly initialised.
        shrink: λ in [0, 1]. Defaults to 0.4.
        perturb: σ >= 0. Defaults to 0.1.

    Raises:
        ValueError: for bad factors or fresh weights that do not match the model.

    Example:

    ```python
    fresh = trainable_arrays(child)          # right after building it
    morph.transfer(donor, child)
    shrink_perturb_model(child, fresh)       # λ = 0.4, σ = 0.1
    ```
    """
    if isinstance(fresh_weights, keras.Model):
        fresh_weights = trainable_arrays(fresh_weights)
    variables = list(model.trainable_weights)
    warm = [keras.ops.convert_to_numpy(v) for v in variables]
    for variable, value in zip(variables, shrink_perturb(warm, fresh_weights, shrink, perturb)):
        variable.assign(value)


def cosine_factor(step, total: int, start: float = 1.0, end: float = 0.0,
                  warmup: int = 0) -> float:
    """The learning-rate multiple at `step` (0-based) of a `total`-step cosine schedule.

    During the first `warmup` steps the multiple rises linearly to `start`
    (`start * (step + 1) / warmup`); then it follows
    `end + (start - end) * (1 + cos(pi * u)) / 2` with `u = (step - warmup) / (total - warmup)`
    (SGDR without restarts, Loshchilov & Hutter 2017, Eq. 5). Steps past `total` keep `end`.

    Args:
        step: The step (or epoch) index, >= 0.
        total: The schedule's length in steps, >= 1.
        start: Multiple of the compiled rate after the warm-up.
        end: Multiple of the compiled rate at the end.
        warmup: Steps of linear warm-up, 0 <= warmup < total.

    Returns:
        A float.
    """
    if step < warmup:
        return start * (step + 1) / warmup
    u = min(1.0, (step - warmup) / max(total - warmup, 1))
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * u))


class CosineSchedule(keras.callbacks.Callback):
    """A fresh cosine learning-rate schedule over each `fit`, from the compiled rate.

    Meant for a warm child's short budget: each `fit` call is one cosine cycle over its
    epochs (from `initial_epoch` to `epochs`), so a promoted child that continues in a
    second `fit` gets a warm restart, as in SGDR. The rate is set with
    `optimizer.learning_rate.assign` (any backend) and the compiled rate is restored at the
    end of training. An optimizer whose learning rate is itself a `LearningRateSchedule`
    cannot be set: the callback then warns once and leaves it alone, so it never fails a fit.

    Args:
        start_factor: The rate at the start of the cosine, as a multiple of the compiled rate
            (> 0). Defaults to 1.0. A value below 1 gives a lower start rate.
        end_factor: The rate at the end, as a multiple of the compiled rate, in
            [0, start_factor]. Defaults to 0.0. `end_factor == start_factor` keeps the rate
            constant (a plain lower rate).
        warmup: Share of the schedule, in [0, 1), spent rising linearly to `start_factor`
            first (the fresh optimizer's moment estimates settle). Defaults to 0.0.
        per_batch: Update the rate every batch (True, default) or every epoch. Per batch
            needs the number of steps per epoch; when Keras does not know it, the schedule
            falls back to per epoch.
        verbose: 1 prints the rate at each epoch start.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    ```python
    model.fit(x, y, epochs=2, callbacks=[CosineSchedule()])  # 1e-3 -> 0 over 2 epochs
    ```
    """

    def __init__(self, start_factor: float = 1.0, end_factor: float = 0.0,
                 warmup: float = 0.0, per_batch: bool = True, verbose: int = 0):
        super().__init__()
        check(is_number(start_factor) and start_factor > 0, "start_factor", start_factor,
              "a finite number > 0 (a multiple of the compiled learning rate)")
        check(is_number(end_factor) and 0 <= end_factor <= start_factor, "end_factor",
              end_factor, f"a number in [0, start_factor={start_factor!r}]")
        check(is_number(warmup) and 0 <= warmup < 1, "warmup", warmup,
              "a share of the schedule in [0, 1)")
        check(per_batch in (True, False), "per_batch", per_batch, "True or False")
        check(is_int(verbose) and verbose in (0, 1), "verbose", verbose, "0 or 1")
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        self.warmup = float(warmup)
        self.per_batch = bool(per_batch)
        self.verbose = int(verbose)
        self.rates = []  # the rate set at each update of the last fit, for inspection

    def _variable(self):
        rate = getattr(self.model.optimizer, "learning_rate", None)
        return rate if isinstance(rate, keras.Variable) else None

    def on_train_begin(self, logs=None):
        self.rates = []
        self._first_epoch = None
        self._step = 0
        variable = self._variable()
        if variable is None:
            warnings.warn(
                "CosineSchedule leaves the learning rate alone: the optimizer's learning rate "
                "is not a variable (a LearningRateSchedule?), so it cannot be set.",
                stacklevel=2,
            )
            self._base = None
            return
        self._base = float(keras.ops.convert_to_numpy(variable))

    def _begin_schedule(self, epoch):
        self._first_epoch = epoch
        epochs = max(int(self.params.get("epochs") or epoch + 1) - epoch, 1)
        steps = self.params.get("steps")
        self._by_batch = self.per_batch and bool(steps)
        self._total = epochs * int(steps) if self._by_batch else epochs
        self._warmup_steps = int(round(self.warmup * self._total))
        if self._warmup_steps >= self._total:
            self._warmup_steps = self._total - 1

    def _set(self, index):
        factor = cosine_factor(index, self._total, self.start_factor, self.end_factor,
                               self._warmup_steps)
        rate = self._base * factor
        self._variable().assign(rate)
        self.rates.append(rate)
        return rate

    def on_epoch_begin(self, epoch, logs=None):
        if self._base is None:
            return
        if self._first_epoch is None:
            self._begin_schedule(epoch)
        if not self._by_batch:
            rate = self._set(epoch - self._first_epoch)
        else:
            rate = self._base * cosine_factor(self._step, self._total, self.start_factor,
                                              self.end_factor, self._warmup_steps)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: CosineSchedule learning rate {rate:.3g}.")

    def on_train_batch_begin(self, batch, logs=None):
        if self._base is None or not self._by_batch:
            return
        self._set(self._step)
        self._step += 1

    def on_train_end(self, logs=None):
        if self._base is not None:
            self._variable().assign(self._base)
