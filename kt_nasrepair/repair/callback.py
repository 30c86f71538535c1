"""`NeuralRepair`: a Keras callback that repairs a dense network while it trains."""

from __future__ import annotations

import copy
import math
import warnings

import keras
import numpy as np
from keras_tuner.engine.metrics_tracking import infer_metric_direction
from keras_tuner.errors import FailedTrialError

from kt_nasrepair._validation import check
from kt_nasrepair._validation import is_int
from kt_nasrepair._validation import is_number
from kt_nasrepair.repair import _dormant


def _to_float(value) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(value)).reshape(-1)[0])


def _all_finite(arrays) -> bool:
    return all(np.isfinite(a).all() for a in arrays)


class NeuralRepair(keras.callbacks.Callback):
    """Repairs a dense network during training: dormant units, NaNs, plateaus.

    Three independent repairs, each switchable:

    1. **Dormant-unit recycling** (ReDo, Sokar et al., ICML 2023). Every
       `frequency` epochs each hidden Dense unit (every Dense but the last) is
       scored by its mean |activation| over a probe batch divided by its
       layer's mean. Units scoring `<= dormant_threshold` get fresh incoming
       weights drawn from the layer's kernel initializer, bias 0, and zero
       outgoing weights in the next Dense, so the model's output is unchanged
       at the moment of repair. Their Adam-style optimizer slots are zeroed
       too. The counts go into `repair_history` and `total_repaired`, never
       into the epoch logs (anything there becomes a metric of the trial, in
       `results_summary` and TensorBoard). Keras callbacks do
       not see the training data, so a probe batch must be given
       (`probe_data` or `set_probe_data()`; `RepairTuner` passes a slice of
       the training inputs); without one, recycling is skipped with a warning
       rather than scoring units on made-up inputs.
    2. **Non-finite recovery.** When a batch loss is NaN or infinite, the last
       finite weights (taken at the start of training and at each epoch end)
       are restored, non-finite optimizer variables are zeroed, the learning
       rate is multiplied by `lr_factor`, the epoch's metrics are reset, and
       training continues. A further non-finite loss after `max_recoveries`
       recoveries restores the finite weights and raises
       `keras_tuner.errors.FailedTrialError`: a KerasTuner tuner records the
       trial as FAILED with `failure_reason` as the message and moves on; a
       plain `model.fit` ends with that exception.
    3. **Growth on plateau** (`grow_on_plateau=True`). When `monitor` has not
       improved by `min_delta` for `patience` epochs the callback requests
       growth: `growth_requested` becomes True and the epoch is appended to
       `growth_requests`. If
       `stop_on_growth_request` is True (`RepairTuner` sets it) training
       stops so the tuner can widen or deepen the model and resume; in a plain
       `model.fit` the request is only recorded, since Keras cannot swap a model
       mid-fit.

    Args:
        recycle_dormant: bool, recycle dormant units. Defaults to `True`.
        dormant_threshold: float >= 0, the ReDo threshold tau on the
            normalised score. `0.0` (default) recycles only units that are
            silent on the whole probe batch; ReDo uses up to `0.1`.
        frequency: int >= 1, recycle every `frequency` epochs. Defaults to 1.
        probe_data: array of model inputs used to score units, or `None`
            (default) to rely on `set_probe_data()`.
        probe_size: int >= 1, the number of probe samples kept. Defaults to 256.
        recover_non_finite: bool, recover from NaN/inf losses. Defaults to
            `True`.
        lr_factor: float in (0, 1), learning-rate multiplier applied at each
            recovery. Defaults to 0.1.
        max_recoveries: int >= 0, recoveries allowed before the trial fails.
            Defaults to 3.
        grow_on_plateau: bool, request growth on a plateau. Defaults to
            `False`.
        monitor: str, the metric watched for plateaus. Defaults to
            `"val_loss"`.
        mode: one of `"auto"` (default), `"min"`, `"max"`. `"auto"` infers the
            direction from the metric's name as KerasTuner does
            (`keras_tuner.engine.metrics_tracking.infer_metric_direction`):
            accuracies, precision, recall, AUC and true positives/negatives
            are maximised; losses and errors minimised. A name it cannot
            place (a metric of your own) raises: pass `mode="min"` or `"max"`.
        patience: int >= 1, epochs without improvement before a request.
            Defaults to 3.
        min_delta: float >= 0, the smallest change that counts as improvement.
            Defaults to 0.
        seed: int or `None`, seeds the re-initialisation draws.
        verbose: int, 0 is silent, 1 prints each repair.

    Attributes:
        total_repaired: units recycled since training began.
        repair_history: one dict per recycling check:
            `{"epoch", "repaired_units", "per_layer": {layer_name: count}}`.
        recoveries: non-finite recoveries performed.
        failure_reason: `None`, or why the trial failed.
        growth_requested: whether a growth request is pending.
        growth_requests: epochs at which growth was requested.
        stop_on_growth_request: bool, stop training on a request
            (default `False`; `RepairTuner` sets it on its copy).

    Raises:
        ValueError: for an argument out of range (the message names it), or
            `mode="auto"` with a `monitor` whose direction cannot be
            inferred.

    References:
        Sokar, Agarwal, Castro & Evci, "The Dormant Neuron Phenomenon in Deep
        Reinforcement Learning", ICML 2023 (ReDo).

    Example:

    ```python
    repair = NeuralRepair(probe_data=x_train[:256], dormant_threshold=0.025)
    model.fit(x_train, y_train, epochs=10, callbacks=[repair])
    print(repair.total_repaired, repair.recoveries)
    ```
    """

    # It reads and rewrites the model's own layers: the shape-stable mode
    # (`kt_nasrepair.shape_stable`) fits a model that has it in its compact shape.
    needs_own_model = True

    def __init__(
        self,
        recycle_dormant: bool = True,
        dormant_threshold: float = 0.0,
        frequency: int = 1,
        probe_data=None,
        probe_size: int = 256,
        recover_non_finite: bool = True,
        lr_factor: float = 0.1,
        max_recoveries: int = 3,
        grow_on_plateau: bool = False,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 3,
        min_delta: float = 0.0,
        seed: int | None = None,
        verbose: int = 0,
    ):
        super().__init__()
        check(is_number(dormant_threshold) and dormant_threshold >= 0,
              "dormant_threshold", dormant_threshold, "a number >= 0")
        check(is_int(frequency) and frequency >= 1,
              "frequency", frequency, "an integer >= 1")
        check(is_int(probe_size) and probe_size >= 1,
              "probe_size", probe_size, "an integer >= 1")
        check(is_number(lr_factor) and 0 < lr_factor < 1,
              "lr_factor", lr_factor, "a number in (0, 1)")
        check(is_int(max_recoveries) and max_recoveries >= 0,
              "max_recoveries", max_recoveries, "an integer >= 0")
        check(isinstance(monitor, str) and bool(monitor),
              "monitor", monitor, "a metric name")
        check(isinstance(mode, str) and mode in ("auto", "min", "max"),
              "mode", mode, "'auto', 'min' or 'max'")
        check(is_int(patience) and patience >= 1,
              "patience", patience, "an integer >= 1")
        check(is_number(min_delta) and min_delta >= 0,
              "min_delta", min_delta, "a number >= 0")
        check(seed is None or is_int(seed), "seed", seed, "an integer or None")
        direction = mode if mode != "auto" else infer_metric_direction(monitor)
        if direction is None:
            raise ValueError(
                f"`mode='auto'` cannot tell whether `monitor={monitor!r}` should be "
                "minimised or maximised (KerasTuner's `infer_metric_direction` does not "
                "know it). Pass `mode='min'` or `mode='max'`."
            )
        self.recycle_dormant = bool(recycle_dormant)
        self.dormant_threshold = float(dormant_threshold)
        self.frequency = frequency
        self.probe_size = probe_size
        self.recover_non_finite = bool(recover_non_finite)
        self.lr_factor = float(lr_factor)
        self.max_recoveries = max_recoveries
        self.grow_on_plateau = bool(grow_on_plateau)
        self.monitor = monitor
        self.mode = mode
        # "min" or "max": the direction `mode` resolves to.
        self.direction = direction
        self.patience = patience
        self.min_delta = float(min_delta)
        self.seed = seed
        self.verbose = verbose
        self.stop_on_growth_request = False
        self.probe_data = None
        if probe_data is not None:
            self.set_probe_data(probe_data)
        self._continue_run = False
        self._warned = set()
        self._reset_run_state()

    # ----------------------------------------------------------------- public

    def set_probe_data(self, x) -> None:
        """Keeps the first `probe_size` samples of `x` to score units with.

        Args:
            x: array-like of model inputs, batch first.

        Raises:
            ValueError: if `x` has no samples.
        """
        x = np.asarray(keras.ops.convert_to_numpy(x))
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(
                "`probe_data` must hold at least one sample, batch first. "
                f"Received: probe_data.shape={x.shape}"
            )
        self.probe_data = np.array(x[: self.probe_size], copy=True)

    def reset_growth_request(self) -> None:
        """Clears a pending growth request and the patience counter.

        Call it after growing the model and before training on: the next
        `on_train_begin` then continues the run (counters, histories and the
        best monitored value are kept) instead of starting afresh.
        """
        self.growth_requested = False
        self._wait = 0
        self._continue_run = True

    def summary(self) -> dict:
        """What the callback did so far, as plain JSON-serialisable values.

        Returns:
            dict with `total_repaired`, `repair_history`, `recoveries`,
            `failure_reason`, `growth_requested` and `growth_requests`.
        """
        return copy.deepcopy(
            {
                "total_repaired": self.total_repaired,
                "repair_history": self.repair_history,
                "recoveries": self.recoveries,
                "failure_reason": self.failure_reason,
                "growth_requested": self.growth_requested,
                "growth_requests": self.growth_requests,
            }
        )

    def set_model(self, model) -> None:
        if model is not self._model:
            # A new model (e.g. grown by RepairTuner) has other layers and shapes.
            self._plan = None
            self._snapshot = None
        super().set_model(model)

    def __deepcopy__(self, memo):
        # KerasTuner deep-copies callbacks for every trial: copy the settings
        # and counters, never the attached model or its weight snapshot.
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            if key in ("_model", "_snapshot", "_plan"):
                value = None
            clone.__dict__[key] = copy.deepcopy(value, memo)
        return clone

    # -------------------------------------------------------------- callbacks

    def on_train_begin(self, logs=None):
        if not self._continue_run:
            self._reset_run_state()
        self._continue_run = False
        self._warned = set()
        if self.recycle_dormant and self.probe_data is None:
            self._warn_once(
                "probe",
                "NeuralRepair: no probe data, so dormant units are not "
                "recycled. Pass `probe_data=x_train[:256]` or call "
                "`set_probe_data(x)`.",
            )
        if self.recover_non_finite:
            weights = self.model.get_weights()
            self._snapshot = weights if _all_finite(weights) else None

    def on_train_batch_end(self, batch, logs=None):
        if not self.recover_non_finite or not logs or "loss" not in logs:
            return
        if math.isfinite(_to_float(logs["loss"])):
            return
        self._recover(batch)

    def on_epoch_end(self, epoch, logs=None):
        # NOTE: `logs` is only read: a key written there becomes a metric of the trial.
        logs = logs if logs is not None else {}
        if self.recycle_dormant and (epoch + 1) % self.frequency == 0:
            self._recycle(epoch)
        if self.recover_non_finite:
            weights = self.model.get_weights()
            if _all_finite(weights):
                self._snapshot = weights
        if self.grow_on_plateau:
            self._watch_plateau(epoch, logs)

    # ------------------------------------------------------------- internals

    def _reset_run_state(self):
        self.total_repaired = 0
        self.repair_history = []
        self.recoveries = 0
        self.failure_reason = None
        self.growth_requested = False
        self.growth_requests = []
        self._wait = 0
        self._best = None
        self._snapshot = None
        self._plan = None
        self._rng = np.random.default_rng(self.seed)

    def _warn_once(self, key, message):
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=3)

    def _say(self, message):
        if self.verbose:
            print(message)

    def _recycle(self, epoch) -> int:
        if self.probe_data is None:
            return 0
        model = self.model
        if self._plan is None:
            self._plan = _dormant.plan_repairs(model, self.probe_data)
            if self._plan.reason is not None:
                self._warn_once(
                    "chain",
                    "NeuralRepair recycles units of Dense chains only; model "
                    f"'{model.name}' is skipped because {self._plan.reason}.",
                )
        per_layer = _dormant.recycle_model(
            self._plan, self.probe_data, self.dormant_threshold, self._rng,
            optimizer=getattr(model, "optimizer", None),
        )
        if not per_layer:
            return 0
        repaired = sum(per_layer.values())
        self.total_repaired += repaired
        self.repair_history.append(
            {"epoch": epoch, "repaired_units": repaired, "per_layer": per_layer}
        )
        if repaired:
            self._say(
                f"\nEpoch {epoch + 1}: NeuralRepair recycled {repaired} dormant "
                f"units {per_layer}."
            )
        return repaired

    def _recover(self, batch):
        model = self.model  # on JAX this syncs the in-flight state first
        if self._snapshot is None:
            self._fail(
                f"the loss became non-finite at batch {batch} and no finite "
                "weights were kept"
            )
        model.set_weights(self._snapshot)
        if self.recoveries >= self.max_recoveries:
            self._fail(
                f"the loss became non-finite again after {self.recoveries} "
                f"recoveries (max_recoveries={self.max_recoveries}); last finite "
                "weights restored"
            )
        optimizer = model.optimizer
        for variable in optimizer.variables:
            values = keras.ops.convert_to_numpy(variable)
            if variable.path.endswith("learning_rate"):
                continue
            if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
                # Moments that saw an inf/NaN gradient would poison every update.
                variable.assign(np.zeros_like(values))
        self._scale_learning_rate(optimizer)
        # Otherwise the running loss mean stays NaN for the rest of the epoch.
        model.reset_metrics()
        self.recoveries += 1
        self._say(
            f"\nNeuralRepair: non-finite loss at batch {batch}; weights restored, "
            f"learning rate x{self.lr_factor} "
            f"(recovery {self.recoveries}/{self.max_recoveries})."
        )

    def _scale_learning_rate(self, optimizer):
        try:
            current = _to_float(optimizer.learning_rate)
            optimizer.learning_rate = current * self.lr_factor
        except TypeError:
            self._warn_once(
                "schedule",
                "NeuralRepair cannot scale a LearningRateSchedule; the learning "
                "rate is left unchanged.",
            )

    def _fail(self, reason):
        self.failure_reason = f"NeuralRepair: {reason}."
        self.model.stop_training = True
        raise FailedTrialError(self.failure_reason)

    def _watch_plateau(self, epoch, logs) -> bool:
        if self.monitor not in logs:
            self._warn_once(
                "monitor",
                f"NeuralRepair: growth on plateau watches `{self.monitor}`, which "
                f"is not in the logs. Available: {', '.join(sorted(logs))}.",
            )
            return False
        current = _to_float(logs[self.monitor])
        sign = 1.0 if self.direction == "max" else -1.0
        if self._best is None or sign * (current - self._best) > self.min_delta:
            self._best, self._wait = current, 0
            return False
        self._wait += 1
        if self._wait < self.patience:
            return False
        self._wait = 0
        self.growth_requested = True
        self.growth_requests.append(epoch)
        self._say(
            f"\nEpoch {epoch + 1}: NeuralRepair requests growth ({self.monitor} "
            f"has not improved for {self.patience} epochs)."
        )
        if self.stop_on_growth_request:
            self.model.stop_training = True
        return True
