"""`RepairTuner`: a KerasTuner `Tuner` that warm-starts every trial from a trained relative."""

from __future__ import annotations

import math
import os
import time
import warnings
import zlib

import keras
import keras_tuner
import numpy as np
from keras_tuner.errors import FailedTrialError

from kt_nasrepair import morph
from kt_nasrepair._io import atomic_write_json, read_json
from kt_nasrepair.progress import SearchProgressMixin, describe_origin
from kt_nasrepair.repair import lineage as lineage_lib
from kt_nasrepair.repair._checks import check_input_shapes, check_objective_reported
from kt_nasrepair.repair.callback import NeuralRepair

STRATEGIES = ("entropy", "random")
WARM_START_POLICIES = ("best_compatible", "best", "none")

# NOTE: how many of the best completed trials are considered as donors. Checking one costs a
# model build (milliseconds for an MLP); 25 keeps a long search's per-trial overhead bounded.
_MAX_DONOR_CANDIDATES = 25
_PROBE_ROWS = 256


class RepairTuner(SearchProgressMixin, keras_tuner.Tuner):
    """A KerasTuner tuner that warm-starts each trial with Net2Net instead of training cold.

    For every new trial the target model is built from the trial's hyperparameters as usual.
    The donor is the best completed trial (by the oracle's objective); when the target is
    reachable from it (`kt_nasrepair.morph.can_transfer`: same inputs and outputs, at least
    as deep, at least as wide), the donor's best checkpoint (the one KerasTuner saved) is
    loaded and grown into the target by function-preserving widening and deepening
    (`kt_nasrepair.morph.transfer`). The trial then trains and is scored exactly as in
    KerasTuner. Models that cannot be morphed (a Conv net, say) are trained cold, with the
    reason recorded, never an error. A trial whose array data does not fit the model's input,
    or whose training never reports the objective, fails with a message naming the expected
    and received shapes, or the objective and the metrics reported (KerasTuner stops the
    search after `max_consecutive_failed_trials` failures in a row).

    Every trial's lineage (donor, operations, transfer time, or why it started cold, and any
    growth during training) is written to `repair.json` in the trial's directory, so it
    survives a reload and is visible to every worker sharing the directory. See `lineage()`.

    With a `kt_nasrepair.NeuralRepair(grow_on_plateau=True)` callback in `search(callbacks=...)`
    a trial whose monitored metric stalls is widened with Net2Net and trains on for its
    remaining epochs; its final architecture is stored, so `get_best_models()`, `load_model()`
    and later warm starts rebuild the grown model.

    Args:
        hypermodel: A `keras_tuner.HyperModel` or a `build_model(hp)` function.
        oracle: Any `keras_tuner.Oracle`. When omitted, `strategy` builds one of ours from
            `objective`, `max_trials`, `seed` and the other oracle arguments.
        objective: The objective (e.g. `"val_accuracy"`), when `oracle` is omitted.
        max_trials: Number of trials, when `oracle` is omitted. Defaults to 10.
        strategy: `"entropy"` (`EntropySearchOracle`) or `"random"` (`RandomSearchOracle`).
        warm_start: `"best_compatible"` (the best completed trial the target is reachable
            from), `"best"` (only the best completed trial) or `"none"` (always cold).
        donor_pool: The share, best first, of the 25 best completed trials that may be
            donors (at least one always may). The default 0.5 keeps poor networks, whose
            bottlenecks would be inherited, from being grown; 1.0 lets any of those 25 be a
            donor.
        noise_std: Net2Net symmetry-breaking noise (see `kt_nasrepair.morph`).
        growth_factor: How much a plateau growth widens each hidden layer (>= 1; at least one
            unit is always added).
        seed: Seed of the oracle and of the morphing noise.
        hyperparameters: Passed to the oracle built from `strategy`, as KerasTuner's own
            tuners do; so are `tune_new_entries`, `allow_new_entries`,
            `max_retries_per_trial` and `max_consecutive_failed_trials`.
        **tuner_kwargs: `keras_tuner.Tuner` arguments (`directory`, `project_name`,
            `overwrite`, `executions_per_trial`, ...).

    Example:

    ```python
    # Was: tuner = keras_tuner.RandomSearch(build_model, objective="val_accuracy", ...)
    tuner = kt_nasrepair.RepairTuner(build_model, objective="val_accuracy", max_trials=10,
                                     directory="runs", project_name="mnist")
    tuner.search(x, y, epochs=5, validation_data=(x_val, y_val))
    tuner.lineage()  # {"01": {"donor": "00", "ops": ["widen dense_0 32->64"], ...}, ...}
    ```
    """

    def __init__(
        self,
        hypermodel=None,
        oracle=None,
        *,
        objective=None,
        max_trials=None,
        strategy: str = "entropy",
        warm_start: str = "best_compatible",
        donor_pool: float = 0.5,
        noise_std: float = morph.DEFAULT_NOISE_STD,
        growth_factor: float = 2.0,
        seed: int | None = None,
        hyperparameters=None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **tuner_kwargs,
    ):
        if strategy not in STRATEGIES:
            raise ValueError(
                f"`strategy` must be one of {STRATEGIES}. Received: strategy={strategy!r}"
            )
        if warm_start not in WARM_START_POLICIES:
            raise ValueError(
                f"`warm_start` must be one of {WARM_START_POLICIES}. "
                f"Received: warm_start={warm_start!r}"
            )
        if isinstance(donor_pool, bool) or not (
            isinstance(donor_pool, (int, float)) and 0 < donor_pool <= 1
        ):
            raise ValueError(
                "`donor_pool` must be a fraction in (0, 1]: the share of completed trials, "
                f"best first, that may be donors. Received: donor_pool={donor_pool!r}"
            )
        if not (isinstance(noise_std, (int, float)) and noise_std >= 0):
            raise ValueError(f"`noise_std` must be a number >= 0. Received: noise_std={noise_std!r}")
        if not (isinstance(growth_factor, (int, float)) and growth_factor >= 1):
            raise ValueError(
                f"`growth_factor` must be a number >= 1. Received: growth_factor={growth_factor!r}"
            )
        if oracle is None:
            oracle = _make_oracle(
                strategy,
                objective=objective,
                max_trials=10 if max_trials is None else max_trials,
                seed=seed,
                hyperparameters=hyperparameters,
                tune_new_entries=tune_new_entries,
                allow_new_entries=allow_new_entries,
                max_retries_per_trial=max_retries_per_trial,
                max_consecutive_failed_trials=max_consecutive_failed_trials,
            )
        elif not isinstance(oracle, keras_tuner.Oracle):
            raise TypeError(
                "`oracle` must be a `keras_tuner.Oracle` instance (or None to build one from "
                "`strategy`); pass the objective as `objective=`. "
                f"Received: oracle={oracle!r}"
            )
        elif objective is not None or max_trials is not None:
            raise ValueError(
                "`objective` and `max_trials` belong to the oracle when `oracle` is given. "
                f"Received: objective={objective!r}, max_trials={max_trials!r}"
            )
        self.strategy = strategy
        self.warm_start = warm_start
        self.donor_pool = float(donor_pool)
        self.noise_std = float(noise_std)
        self.growth_factor = float(growth_factor)
        self.seed = seed
        super().__init__(oracle=oracle, hypermodel=hypermodel, **tuner_kwargs)

    # -- files ------------------------------------------------------------------------------

    def _record_fname(self, trial_id) -> str:
        return os.path.join(self.get_trial_dir(trial_id), lineage_lib.RECORD_FILENAME)

    def _architecture_fname(self, trial_id) -> str:
        return os.path.join(self.get_trial_dir(trial_id), "architecture.json")

    # -- building ---------------------------------------------------------------------------

    def _build_trial_architecture(self, trial):
        """An uncompiled-weights model with the architecture `trial`'s checkpoint holds."""
        stored = read_json(self._architecture_fname(trial.trial_id))
        if stored is not None:
            model = keras.models.model_from_json(stored["model"])
            if stored.get("compile"):
                model.compile_from_config(stored["compile"])
            return model
        return self._build_hypermodel(trial.hyperparameters.copy())

    def load_model(self, trial):
        """Rebuilds `trial`'s model (grown architecture included) with its best weights."""
        model = self._build_trial_architecture(trial)
        _load_weights(model, self._get_checkpoint_fname(trial.trial_id))
        return model

    # -- one trial --------------------------------------------------------------------------

    def _build_and_fit_model(self, trial, *args, **kwargs):
        started_at = time.time()
        model = self._try_build(trial.hyperparameters)
        try:
            check_input_shapes(model, trial.trial_id, args, kwargs)
        except FailedTrialError as error:
            record = lineage_lib.new_record(trial.trial_id)
            record.update(reason="the data does not fit the model's input",
                          error=f"{type(error).__name__}: {error}",
                          started_at=started_at, ended_at=time.time(),
                          tuner_id=self.tuner_id)
            atomic_write_json(self._record_fname(trial.trial_id), record)
            raise
        probe = _probe_batch(args, kwargs)
        previous = read_json(self._record_fname(trial.trial_id))
        record = self.warm_start_model(trial, model, probe)
        record["started_at"] = started_at
        record["tuner_id"] = self.tuner_id
        # A record without an end is a run that was killed; counting it keeps the history.
        restarts = (previous or {}).get("restarts", 0)
        if previous is not None and previous.get("ended_at") is None:
            restarts += 1
        record["restarts"] = restarts
        atomic_write_json(self._record_fname(trial.trial_id), record)
        fit_start = time.perf_counter()
        try:
            results, model = self._fit_with_growth(trial, model, record, probe, *args, **kwargs)
            check_objective_reported(results, self.oracle.objective)
        except Exception as error:
            # Keep what is known about a failing trial next to its KerasTuner record.
            record["error"] = f"{type(error).__name__}: {error}"
            record["ended_at"] = time.time()
            atomic_write_json(self._record_fname(trial.trial_id), record)
            raise
        record["train_seconds"] = time.perf_counter() - fit_start
        record["ended_at"] = time.time()
        repairs = [cb for cb in kwargs.get("callbacks", []) if isinstance(cb, NeuralRepair)]
        if repairs:
            record["repairs"] = {
                "repaired_units": sum(cb.total_repaired for cb in repairs),
                "recoveries": sum(cb.recoveries for cb in repairs),
            }
        atomic_write_json(self._record_fname(trial.trial_id), record)
        atomic_write_json(
            os.path.join(self.get_trial_dir(trial.trial_id), "build_config.json"),
            model.get_build_config(),
        )
        _raise_if_diverged(results, self.oracle.objective)
        return results

    def warm_start_model(self, trial, model, probe=None) -> dict:
        """Writes the best reachable donor's weights into `model`; returns the lineage record.

        Args:
            trial: The `keras_tuner.engine.trial.Trial` being run.
            model: Its freshly built target model (modified in place on a warm start).
            probe: Optional input batch on which the transfer's deviation is measured.

        Returns:
            A dict with `donor` (trial id or None), `ops`, `reason` (why it started cold),
            `growth`, `transfer_seconds` and `max_deviation`.
        """
        record = lineage_lib.new_record(trial.trial_id)
        if self.warm_start == "none":
            record["reason"] = "warm start disabled (warm_start='none')"
            return record
        try:
            morph.describe(model)
        except morph.NotMorphableError as error:
            record["reason"] = f"target model cannot be morphed: {error}"
            return record
        candidates = self._donor_candidates(trial)
        if not candidates:
            record["reason"] = "no completed trial to start from yet"
            return record
        if self.warm_start == "best":
            candidates = candidates[:1]
        refusals = []
        for donor_trial in candidates:
            try:
                donor = self._build_trial_architecture(donor_trial)
            except Exception as error:  # a user's build_model may fail on old values
                refusals.append(f"trial {donor_trial.trial_id}: rebuild failed ({error})")
                continue
            reachable, why = morph.can_transfer(donor, model)
            if not reachable:
                refusals.append(f"trial {donor_trial.trial_id}: {why}")
                continue
            try:
                _load_weights(donor, self._get_checkpoint_fname(donor_trial.trial_id))
            except Exception as error:
                record["reason"] = (
                    f"checkpoint of donor trial {donor_trial.trial_id} is missing or "
                    f"unreadable ({type(error).__name__}: {error}); trained cold"
                )
                return record
            report = morph.transfer(
                donor,
                model,
                noise_std=self.noise_std,
                seed=self._trial_seed(trial.trial_id),
                probe=probe,
            )
            record.update(
                donor=donor_trial.trial_id,
                ops=list(report.ops),
                transfer_seconds=report.seconds,
                max_deviation=report.max_deviation,
            )
            return record
        record["reason"] = (
            f"no eligible donor is reachable (donor_pool={self.donor_pool:g}): "
            + "; ".join(refusals)
        )
        return record

    def _donor_candidates(self, trial) -> list:
        best = self.oracle.get_best_trials(_MAX_DONOR_CANDIDATES)
        completed = [
            t
            for t in best
            if t.trial_id != trial.trial_id
            and t.status == keras_tuner.engine.trial.TrialStatus.COMPLETED
            and t.score is not None
            and math.isfinite(t.score)
        ]
        # NOTE: by default only the better half is eligible. A poor donor (a 1-unit
        # bottleneck, say) passes its bottleneck on to every descendant: widened copies of one
        # unit stay near-identical, so its children trail a cold start (docs/warm_start.md).
        return completed[: max(1, math.ceil(len(completed) * self.donor_pool))]

    def _trial_seed(self, trial_id) -> int:
        return zlib.crc32(f"{self.seed}:{trial_id}".encode()) & 0x7FFFFFFF

    # -- training with growth ---------------------------------------------------------------

    def _fit_with_growth(self, trial, model, record, probe, *args, **kwargs):
        hp = trial.hyperparameters
        repairs = [cb for cb in kwargs.get("callbacks", []) if isinstance(cb, NeuralRepair)]
        for callback in repairs:
            if probe is not None and callback.probe_data is None:
                callback.set_probe_data(probe)
        growers = [cb for cb in repairs if cb.grow_on_plateau]
        for callback in growers:
            callback.stop_on_growth_request = True
        epochs = kwargs.get("epochs", 1)
        history = self.hypermodel.fit(hp, model, *args, **kwargs)
        merged = _History.from_history(history)
        while any(cb.growth_requested for cb in growers):
            done = merged.epoch[-1] + 1 if merged.epoch else kwargs.get("initial_epoch", 0)
            if done >= epochs:
                break
            model = self._grow(trial, model, record, epoch=done)
            for callback in growers:
                callback.reset_growth_request()
            history = self.hypermodel.fit(hp, model, *args, **{**kwargs, "initial_epoch": done})
            merged.extend(history)
        return merged.as_results(history), model

    def grow(self, model) -> tuple[keras.Model, list[str]]:
        """Widens every hidden Dense layer of `model` by `growth_factor` (Net2WiderNet).

        Override to grow differently (deepen, widen one layer, ...). Must return a new model
        whose function equals `model`'s up to the morphing noise, and the operations.
        """
        grown, ops = model, []
        for layer in morph.describe(model):
            units = max(layer["units"] + 1, int(round(layer["units"] * self.growth_factor)))
            grown = morph.widen(grown, layer["name"], units, noise_std=self.noise_std)
            ops.append(f"widen {layer['name']} {layer['units']}->{units}")
        return grown, ops

    def _grow(self, trial, model, record, epoch):
        start = time.perf_counter()
        before = morph.hidden_widths(model)
        grown, ops = self.grow(model)
        grown.compile_from_config(model.get_compile_config())
        # The checkpoint holds the best epoch so far, in the old architecture. Grow it too
        # (exactly: noise 0) so checkpoint and stored architecture always agree and the
        # trial's best score stays the score of what `load_model` returns.
        checkpoint = self._get_checkpoint_fname(trial.trial_id)
        if os.path.exists(checkpoint):
            best_before = keras.models.clone_model(model)
            _load_weights(best_before, checkpoint)
            best_after = keras.models.clone_model(grown)
            morph.transfer(best_before, best_after, noise_std=0.0)
            tmp = checkpoint + ".tmp.weights.h5"
            best_after.save_weights(tmp)
            os.replace(tmp, checkpoint)
        atomic_write_json(
            self._architecture_fname(trial.trial_id),
            {"model": grown.to_json(), "compile": grown.get_compile_config()},
        )
        record["growth"].append(
            {
                "epoch": epoch,
                "ops": ops,
                "widths_before": before,
                "widths_after": morph.hidden_widths(grown),
                "seconds": time.perf_counter() - start,
            }
        )
        atomic_write_json(self._record_fname(trial.trial_id), record)
        return grown

    # -- reporting --------------------------------------------------------------------------

    def _progress_origin(self, trial_id):
        # The progress line's "warm from 03" / "cold" (SearchProgressMixin.progress_details).
        return describe_origin(read_json(self._record_fname(trial_id)))

    def lineage(self) -> dict:
        """The warm-start lineage of every trial.

        Returns:
            `{trial_id: {"donor": donor_trial_id or None, "ops": [...], "reason": str or None,
            "growth": [...], "transfer_seconds": ..., "max_deviation": ...}}`, read from the
            trials' directories (so it includes trials run by other workers).
        """
        trial_ids = set(lineage_lib.recorded_trial_ids(self.project_dir))
        trial_ids.update(getattr(self.oracle, "trials", {}).keys())
        result = {}
        for trial_id in sorted(trial_ids):
            record = read_json(self._record_fname(trial_id))
            result[trial_id] = record if record is not None else lineage_lib.missing_record(
                trial_id
            )
        return result

    def results_summary(self, num_trials=10):
        """Prints KerasTuner's results summary, with each trial's donor."""
        print("Results summary")
        print(f"Results in {self.project_dir}")
        print(f"Showing {num_trials} best trials")
        print(f"{self.oracle.objective}")
        records = self.lineage()
        for trial in self.oracle.get_best_trials(num_trials):
            print()
            trial.summary()
            print(lineage_lib.describe_record(records.get(trial.trial_id)))


def _make_oracle(strategy, **kwargs):
    from kt_nasrepair import oracles

    cls = oracles.EntropySearchOracle if strategy == "entropy" else oracles.RandomSearchOracle
    return cls(**kwargs)


def _load_weights(model, path):
    # Checkpoints also hold the donor's optimizer slots; a fresh model has none yet and
    # Keras warns about skipping them. Only the weights are wanted (see docs/morph.md).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)


def _probe_batch(args, kwargs):
    x = args[0] if args else kwargs.get("x")
    if isinstance(x, np.ndarray) and x.ndim >= 2 and len(x):
        return x[:_PROBE_ROWS]
    return None


def _raise_if_diverged(results, objective):
    """A trial whose training ended non-finite must fail, never become the best."""
    histories = results if isinstance(results, list) else [results]
    for history in histories:
        values = getattr(history, "history", None)
        if not values:
            continue
        final_loss = values.get("loss", [0.0])[-1]
        if final_loss is None or not math.isfinite(final_loss):
            raise FailedTrialError(
                f"Training diverged: the loss was {final_loss} at the last epoch "
                "(add kt_nasrepair.NeuralRepair to recover from non-finite losses)."
            )
        for name, series in values.items():
            if name in _objective_names(objective) and not any(
                v is not None and math.isfinite(v) for v in series
            ):
                raise FailedTrialError(f"The objective {name!r} was never finite: {series}")


def _objective_names(objective):
    if hasattr(objective, "objectives"):
        return {o.name for o in objective.objectives}
    return {objective.name}


class _History(keras.callbacks.History):
    """The history of a trial trained in several `fit` calls (one per growth)."""

    @classmethod
    def from_history(cls, history):
        merged = cls()
        merged.history = {k: list(v) for k, v in getattr(history, "history", {}).items()}
        merged.epoch = list(getattr(history, "epoch", []))
        merged.params = getattr(history, "params", None)
        return merged

    def extend(self, history):
        for key, values in history.history.items():
            self.history.setdefault(key, []).extend(values)
        self.epoch.extend(history.epoch)

    def as_results(self, last):
        # A user HyperModel.fit may return a dict or a float: leave those untouched.
        return self if isinstance(last, keras.callbacks.History) else last
