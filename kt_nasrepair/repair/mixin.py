"""`RepairMixin`: warm starts, growth and budgeted warm trials for any KerasTuner tuner.

`RepairTuner` is this mixin on `keras_tuner.Tuner` with our oracles; `with_repair(cls)` puts
it on a user's tuner class (`keras_tuner.RandomSearch`, `Hyperband`, ...), keeping that
tuner's search algorithm. The mixin only orchestrates a trial; donor choice
(`repair/donors.py`), growth (`repair/growth.py`), segmented training
(`repair/training.py`), budgets (`repair/budget.py`) and records (`repair/lineage.py`) each
sit in their own module.
"""

from __future__ import annotations

import os
import time

import keras
import keras_tuner
from keras_tuner.errors import FailedTrialError

from kt_nasrepair import morph
from kt_nasrepair._io import atomic_write_json, read_json
from kt_nasrepair._validation import check, is_number
from kt_nasrepair.progress import SearchProgressMixin, describe_origin
from kt_nasrepair.repair import budget as budget_lib
from kt_nasrepair.repair import checkpoints
from kt_nasrepair.repair import donors as donors_lib
from kt_nasrepair.repair import growth as growth_lib
from kt_nasrepair.repair import lazy_build
from kt_nasrepair.repair import lineage as lineage_lib
from kt_nasrepair.repair._checks import (
    check_fit_results,
    check_input_shapes,
    check_max_trials_accepted,
    check_objective_reported,
)
from kt_nasrepair.repair.callback import NeuralRepair
from kt_nasrepair.repair.population import PopulationSearch, auto_population_size
from kt_nasrepair.repair.training import (
    EpochLog,
    merged_results,
    raise_if_diverged,
    results_value,
)
from kt_nasrepair.shape_stable import ShapeStableRunner

WARM_START_POLICIES = ("best_compatible", "none")
# Set on KerasTuner's best-epoch callback: which execution and epoch its checkpoint holds.
_SAVED_ATTRIBUTE = "kt_nasrepair_saved"
# Hyperband writes these into a trial's values; such a trial has its own epoch budget.
_HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/trial_id")
# Bound at import: whatever `keras_tuner.Tuner` names later (a test's substitute), a donor is
# rebuilt by KerasTuner's own plain build.
_PLAIN_BUILD_HYPERMODEL = keras_tuner.Tuner._build_hypermodel


def check_repair_arguments(warm_start, donor_pool, noise_std, growth_factor, warm_epochs,
                           population="auto"):
    """Validates the repair arguments shared by `RepairTuner` and `with_repair` tuners."""
    check(population == "auto" or (isinstance(population, int) and not isinstance(
        population, bool) and population >= 1), "population", population,
        "'auto' or a whole number >= 1: how many trials train together (1: one at a time)")
    check(warm_start in WARM_START_POLICIES, "warm_start", warm_start,
          f"one of {WARM_START_POLICIES}")
    check(is_number(donor_pool) and 0 < donor_pool <= 1, "donor_pool", donor_pool,
          "a fraction in (0, 1]: the share of completed trials, best first, that may be donors")
    check(is_number(noise_std) and noise_std >= 0, "noise_std", noise_std, "a number >= 0")
    check(is_number(growth_factor) and growth_factor >= 1, "growth_factor", growth_factor,
          "a finite number >= 1")
    budget_lib.check_warm_epochs(warm_epochs)


class RepairMixin:
    """Warm-starts each new trial from a trained relative; put it first among the bases.

    See `RepairTuner` for the behaviour and `with_repair` for use with any tuner class. The
    subclass's `__init__` must call `_init_repair(...)` (`with_repair` and `RepairTuner` do).
    """

    # -- set-up -----------------------------------------------------------------------------

    def _init_repair(self, *, warm_start="best_compatible", donor_pool=0.5,
                     noise_std=morph.DEFAULT_NOISE_STD, growth_factor=2.0, warm_epochs="auto",
                     seed=None, population="auto"):
        check_repair_arguments(warm_start, donor_pool, noise_std, growth_factor, warm_epochs,
                               population)
        self.population = population
        self._population = None
        # The compiled population programs, kept across searches: `{key: PopulationDenseModel}`.
        self.population_programs = {}
        self.warm_start = warm_start
        self.donor_pool = float(donor_pool)
        self.noise_std = float(noise_std)
        self.growth_factor = float(growth_factor)
        self.warm_epochs = warm_epochs
        self.seed = seed
        self._executions = {}

    def _repair_seed(self):
        if self.seed is not None:
            return self.seed
        return getattr(self.oracle, "seed", None)

    # -- trials trained together ---------------------------------------------------------------

    def population_size(self) -> int:
        """How many trials this search trains together (`population`, resolved)."""
        if self.distribution_strategy is not None:
            return 1  # a tf.distribute strategy spreads one model over the devices
        if self.population == "auto":
            return auto_population_size(keras.backend.backend(),
                                        getattr(self.oracle, "max_trials", None))
        if keras.backend.backend() not in ("tensorflow", "jax"):
            return 1  # torch's optimizers update with one scalar learning rate
        return int(self.population)

    def search(self, *fit_args, **fit_kwargs):
        """KerasTuner's `search`, training up to `population_size()` trials at once."""
        from keras_tuner.src.distribute import utils as dist_utils

        size = self.population_size()
        if size <= 1 or dist_utils.is_chief_oracle():
            return super().search(*fit_args, **fit_kwargs)
        if "verbose" in fit_kwargs and (not dist_utils.has_chief_oracle()
                                        or dist_utils.is_chief_oracle()):
            self.oracle.verbose = fit_kwargs["verbose"]
        runner = getattr(self.hypermodel, "runner", None)
        self._population = PopulationSearch(
            self, size, self.population_programs, max_depth=getattr(runner, "max_depth", None),
            max_width=getattr(runner, "max_width", None),
        )
        self.on_search_begin()
        try:
            self._population.run(fit_args, fit_kwargs)
        finally:
            self._population = None
        self.on_search_end()

    def _population_loop(self, population, tuner_id, fit_args, fit_kwargs):
        # KerasTuner's own trial loop (`BaseTuner.search`), for one of the population's ids.
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(tuner_id)
            if trial.status == keras_tuner.engine.trial.TrialStatus.STOPPED:
                break
            if trial.status == keras_tuner.engine.trial.TrialStatus.IDLE:
                population.idle()
                continue
            self.on_trial_begin(trial)
            self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            self.on_trial_end(trial)

    def _fit_model(self, trial, model, *args, **kwargs):
        """`HyperModel.fit`, through the population when the search trains several trials."""
        hp = trial.hyperparameters
        population = self._population
        if population is None or not population.in_loop():
            return self.hypermodel.fit(hp, model, *args, **kwargs)
        from kt_nasrepair.hypermodel import DenseHyperModel

        dense = type(self.hypermodel).fit is DenseHyperModel.fit
        return population.fit(self.hypermodel, hp, model, args, kwargs, dense, trial.trial_id)

    # -- files ------------------------------------------------------------------------------

    def _trial_dir(self, trial_id) -> str:
        return self.get_trial_dir(trial_id)

    def _write_record(self, trial_id, record) -> None:
        lineage_lib.write_record(self._trial_dir(trial_id), record)

    # -- building ---------------------------------------------------------------------------

    def _build_trial_architecture(self, trial):
        """A model with the architecture `trial`'s checkpoint holds, its weights created.

        KerasTuner's plain `Tuner._build_hypermodel` is used on purpose: a tuner's own
        override (Hyperband's loads a parent checkpoint) has no business here. A model built
        lazily (a `Sequential` without `Input`, a subclassed model) is built from the build
        config saved after training, as in KerasTuner's `load_model`.
        """
        trial_dir = self._trial_dir(trial.trial_id)
        with keras_tuner.engine.tuner.maybe_distribute(self.distribution_strategy):
            model = checkpoints.stored_architecture(trial_dir)
            if model is None:
                model = _PLAIN_BUILD_HYPERMODEL(self, trial.hyperparameters.copy())
            checkpoints.build_if_needed(
                model, read_json(self._get_build_config_fname(trial.trial_id))
            )
        return model

    def _grown_parent(self, hp):
        """The id of the Hyperband trial `hp` continues when that trial's checkpoint holds a
        grown architecture, else None."""
        parent = hp.values.get("tuner/trial_id")
        if parent is None:
            return None
        if not os.path.exists(checkpoints.architecture_fname(self._trial_dir(parent))):
            return None
        return parent

    def _build_hypermodel(self, hp):
        """KerasTuner's build; a Hyperband trial continuing a grown trial gets its grown model.

        Hyperband reloads the continued trial's checkpoint into a model built from the
        hyperparameters, which cannot hold weights that grew: the stored architecture is
        rebuilt instead, with the checkpoint's weights.
        """
        parent = self._grown_parent(hp)
        if parent is None:
            return super()._build_hypermodel(hp)
        with keras_tuner.engine.tuner.maybe_distribute(self.distribution_strategy):
            model = checkpoints.stored_architecture(self._trial_dir(parent))
            checkpoints.load_weights(model, self._get_checkpoint_fname(parent))
        return model

    def load_model(self, trial):
        """Rebuilds `trial`'s model with its best weights (in the architecture they had).

        The checkpoint is the trial's best epoch over all its executions; when the model had
        grown by then, the grown architecture stored with it is rebuilt.
        """
        return self._load_donor(trial, weights=True)

    def _load_donor(self, trial, weights=True):
        model = self._build_trial_architecture(trial)
        if weights:
            with keras_tuner.engine.tuner.maybe_distribute(self.distribution_strategy):
                checkpoints.load_weights(model, self._get_checkpoint_fname(trial.trial_id))
        return model

    # -- one execution of a trial -----------------------------------------------------------

    def _build_and_fit_model(self, trial, *args, **kwargs):
        started_at = time.time()
        execution = self._executions[trial.trial_id] = self._executions.get(trial.trial_id, -1) + 1
        model = self._try_build(trial.hyperparameters)
        # A model without Input gets its weights from the data's shapes, to be warm-started.
        model, args, kwargs, unbuilt = lazy_build.build_from_data(
            model, args, kwargs, rebuild=lambda: self._try_build(trial.hyperparameters)
        )
        try:
            check_input_shapes(model, trial.trial_id, args, kwargs)
        except FailedTrialError as error:
            record = lineage_lib.new_record(trial.trial_id)
            record.update(reason="the data does not fit the model's input",
                          error=f"{type(error).__name__}: {error}",
                          started_at=started_at, ended_at=time.time(),
                          tuner_id=self.tuner_id, execution=execution)
            self._write_record(trial.trial_id, record)
            raise
        probe = donors_lib.probe_batch(args, kwargs, model)
        previous = lineage_lib.read_record(self._trial_dir(trial.trial_id))
        record = self.warm_start_model(trial, model, probe)
        if unbuilt is not None and record.get("short_reason") == "model not built":
            record["reason"] += f" ({unbuilt})"
        record.update(started_at=started_at, tuner_id=self.tuner_id, execution=execution)
        # A record without an end is a run that was killed; counting it keeps the history.
        restarts = (previous or {}).get("restarts", 0)
        if previous is not None and previous.get("ended_at") is None:
            restarts += 1
        record["restarts"] = restarts
        self._write_record(trial.trial_id, record)
        guard = self._guard_checkpoint(
            trial, model, record, execution, kwargs,
            stored_from_start=self._grown_parent(trial.hyperparameters) is not None,
        )
        fit_start = time.perf_counter()
        try:
            results, model, log = self._fit_in_segments(
                trial, model, record, probe, execution, *args, **kwargs
            )
            raise_if_diverged(log, results, self.oracle.objective, record)
            check_objective_reported(results, self.oracle.objective)
        except Exception as error:
            # Keep what is known about a failing trial next to its KerasTuner record.
            record["error"] = f"{type(error).__name__}: {error}"
            record["ended_at"] = time.time()
            self._write_record(trial.trial_id, record)
            raise
        record["train_seconds"] = time.perf_counter() - fit_start
        record["ended_at"] = time.time()
        if guard is not None:
            record["checkpoint"] = getattr(guard.inner, _SAVED_ATTRIBUTE, None)
        repairs = _repair_callbacks(kwargs)
        if repairs:
            record["repairs"] = {
                "repaired_units": sum(cb.total_repaired for cb in repairs),
                "recoveries": sum(cb.recoveries for cb in repairs),
            }
        self._write_record(trial.trial_id, record)
        atomic_write_json(self._get_build_config_fname(trial.trial_id), model.get_build_config())
        return results

    def _guard_checkpoint(self, trial, built, record, execution, kwargs,
                          stored_from_start=False):
        """Puts a `BestEpochGuard` in place of KerasTuner's best-epoch checkpoint callback.

        The checkpoint (one per trial, shared by its executions as in KerasTuner) then only
        takes finite epochs, and every save stores the architecture of the weights saved: the
        grown one when `built` has grown by then, none (the hyperparameters' own) otherwise.
        So the architecture `load_model` reads always matches the checkpoint, whichever
        execution or retry wrote it. `stored_from_start`: `built` itself already has an
        architecture the hyperparameters do not build (a Hyperband continuation of a grown
        trial), so it is stored at every save.

        Returns:
            The guard, or None when the run has no such callback (a custom `run_trial`).
        """
        trial_dir = self._trial_dir(trial.trial_id)
        fname = self._get_checkpoint_fname(trial.trial_id)
        callbacks = list(kwargs.get("callbacks", []))
        guard = None
        for index, callback in enumerate(callbacks):
            if checkpoints.is_best_epoch_callback(callback, fname):

                def on_save(model, epoch, inner=callback):
                    grown = stored_from_start or model is not built
                    checkpoints.store_architecture(trial_dir, model if grown else None)
                    saved = {"execution": execution, "epoch": int(epoch), "grown": grown}
                    setattr(inner, _SAVED_ATTRIBUTE, saved)
                    record["checkpoint"] = saved

                guard = callbacks[index] = checkpoints.BestEpochGuard(callback, on_save)
        kwargs["callbacks"] = callbacks
        return guard

    def warm_start_model(self, trial, model, probe=None) -> dict:
        """Writes the best reachable donor's weights into `model`; returns the lineage record.

        Args:
            trial: The `keras_tuner.engine.trial.Trial` being run.
            model: Its freshly built target model (modified in place on a warm start).
            probe: Optional input batch on which the transfer's deviation is measured.

        Returns:
            A dict with `donor` (trial id or None), `ops`, `reason` (why it started cold),
            `growth`, `transfer_seconds`, `max_deviation` and `donor_epochs`.
        """
        record = lineage_lib.new_record(trial.trial_id)
        values = trial.hyperparameters.values
        if values.get("tuner/trial_id") is not None:
            record["reason"] = (
                f"continues Hyperband trial {values['tuner/trial_id']} from its own weights"
            )
            return record
        if self.warm_start == "none":
            record.update(reason="warm start disabled (warm_start='none')",
                          short_reason="warm start off")
            return record
        try:
            morph.describe(model)
        except Exception as error:  # NotMorphableError, or a model morph cannot even read
            record.update(reason=f"target model cannot be morphed: {error}",
                          short_reason=donors_lib.refusal_label(model))
            return record
        candidates = donors_lib.donor_candidates(self.oracle, trial.trial_id, self.donor_pool)
        if not candidates:
            record.update(reason="no completed trial to start from yet",
                          short_reason="no finished trial yet")
            return record
        execution = self._executions.get(trial.trial_id, 0)
        outcome = donors_lib.warm_start(
            model,
            candidates,
            load_donor=self._load_donor,
            noise_std=self.noise_std,
            seed=donors_lib.transfer_seed(self._repair_seed(), trial.trial_id, execution),
            probe=probe,
        )
        record.update(outcome)
        if outcome["donor"] is None:
            record["refused"] = []  # the reason lists them
            record["short_reason"] = "no reachable donor"
            record["reason"] = (
                f"no eligible donor is reachable (donor_pool={self.donor_pool:g}): "
                + outcome["reason"]
            )
        else:
            donor_record = lineage_lib.read_record(self._trial_dir(outcome["donor"]))
            record["donor_epochs"] = lineage_lib.lineage_epochs(donor_record)
        return record

    # -- training in segments: growth and the warm budget ---------------------------------

    def _fit_in_segments(self, trial, model, record, probe, execution, *args, **kwargs):
        """Trains one execution, growing on request and stopping at the warm budget.

        Returns:
            `(results, model, log)`: what KerasTuner scores, the final (maybe grown) model and
            the `EpochLog` of every epoch trained.
        """
        hp = trial.hyperparameters
        objective = self.oracle.objective
        repairs = _repair_callbacks(kwargs)
        for callback in repairs:
            if probe is not None and callback.probe_data is None:
                callback.set_probe_data(probe)
        growers = [cb for cb in repairs if cb.grow_on_plateau]
        for callback in growers:
            # Stop to grow unless growth failed earlier in this execution (`_grow_or_skip`).
            callback.set_growth_hook(lambda epoch: not record["growth_skipped"])
        log = EpochLog()
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), log]
        epochs = kwargs.get("epochs", 1)
        done = kwargs.get("initial_epoch", 0)
        stop_at = epochs
        warm_budget = self._warm_budget(trial, record, epochs - done)
        if warm_budget is not None:
            stop_at = done + warm_budget
            record["warm_epochs"] = warm_budget
        segments = 0
        while True:
            results = self._fit_model(
                trial, model, *args, **{**kwargs, "initial_epoch": done, "epochs": stop_at}
            )
            check_fit_results(results, objective)
            segments += 1
            if not log.epochs:
                # Nothing of ours ran: take the fit as having trained what it was asked.
                record["notes"] = [
                    "HyperModel.fit did not pass `callbacks` on to `model.fit`: no epoch was "
                    "seen, so growth on plateau and the finite-epoch checks could not run"
                ]
            done = log.next_epoch(stop_at)
            growth_requested = any(cb.growth_requested for cb in growers)
            if done < stop_at and not growth_requested:
                break  # stopped by a callback of the user's (EarlyStopping, say)
            if done >= stop_at:
                if stop_at >= epochs:
                    break
                # The warm budget is spent: go on only when promising.
                value = budget_lib.best_value(objective, log.logs)
                if value is None:  # an objective computed by `fit` itself, not logged
                    value = results_value(results, objective)
                promoted = budget_lib.should_promote(
                    objective, value, self._donor_score(record["donor"])
                )
                record.update(value_at_warm_epochs=value, promoted=promoted)
                if not promoted:
                    break
                stop_at = epochs
            if growth_requested:
                model = self._grow_or_skip(trial, model, record, execution, done)
        record["epochs_trained"] = len(log.epochs) if log.epochs else None
        population_mode = self._population.last_mode() if self._population else None
        runner = getattr(self.hypermodel, "runner", None)
        if population_mode is not None and population_mode.startswith("population"):
            record["fit_mode"] = population_mode
        elif isinstance(runner, ShapeStableRunner) and runner.last_mode is not None:
            record["fit_mode"] = runner.last_mode + (
                f" ({runner.last_reason})" if runner.last_reason else ""
            ) + (f"; {population_mode}" if population_mode else "")
        elif population_mode is not None:
            record["fit_mode"] = f"compact; {population_mode}"
        return merged_results(log, results, segments, objective), model, log

    def _warm_budget(self, trial, record, epochs):
        if record.get("donor") is None:
            return None
        if any(key in trial.hyperparameters.values for key in _HYPERBAND_KEYS):
            return None  # Hyperband budgets its trials itself
        return budget_lib.resolve_warm_epochs(self.warm_epochs, epochs)

    def _donor_score(self, donor_id):
        trials = getattr(self.oracle, "trials", None)
        donor = trials.get(donor_id) if trials is not None else self.oracle.get_trial(donor_id)
        return None if donor is None else donor.score

    def grow(self, model, seed=None) -> tuple[keras.Model, list[str]]:
        """Widens every hidden Dense layer of `model` by `growth_factor` (Net2WiderNet).

        Override to grow differently (deepen, widen one layer, ...). Must return a new model
        whose function equals `model`'s up to the morphing noise, and the operations. An
        exception means the model cannot grow: training goes on without growth.

        Args:
            model: The model being trained.
            seed: The growth's seed, derived from the tuner's seed, the trial, the execution
                and the epoch (an override may omit this argument).
        """
        return growth_lib.widen_all(model, self.growth_factor, self.noise_std, seed=seed)

    def _grow_or_skip(self, trial, model, record, execution, epoch):
        """The grown model; on any failure the model itself, with the reason recorded.

        Growth is then switched off for the rest of this execution (the growth hook refuses
        once `growth_skipped` is not empty), so training runs on to its `epochs`.
        """
        try:
            grown = self._grow(trial, model, record, execution, epoch)
        except Exception as error:
            record["growth_skipped"].append(growth_lib.skipped_entry(epoch, error))
            grown = model
        self._write_record(trial.trial_id, record)
        return grown

    def _grow(self, trial, model, record, execution, epoch):
        start = time.perf_counter()
        before = morph.hidden_widths(model)
        seed = growth_lib.growth_seed(self._repair_seed(), trial.trial_id, execution, epoch)
        grown, ops = growth_lib.call_grow(self.grow, model, seed)
        grown.compile_from_config(model.get_compile_config())
        checkpoints.check_storable(grown)  # else load_model could not rebuild the checkpoint
        # The checkpoint keeps the architecture it was saved in; the next save of the grown
        # model stores the grown one with it (`_guard_checkpoint`).
        record["growth"].append(growth_lib.growth_entry(epoch, ops, before, grown, start, seed))
        return grown

    # -- reporting --------------------------------------------------------------------------

    def _progress_origin(self, trial_id):
        # The progress line's "warm from 03" / "cold" (SearchProgressMixin.progress_details).
        return describe_origin(lineage_lib.read_record(self._trial_dir(trial_id)))

    def lineage(self) -> dict:
        """The warm-start lineage of every trial; `print(tuner.lineage())` shows a table.

        Returns:
            A `Lineage`: a `dict` `{trial_id: record}` whose `str()` is a table (trial,
            architecture, origin, epochs trained, score), read from the trials' directories
            (so it includes trials run by other workers). A record holds `donor` (trial id
            or None), `ops`, `reason` (why it started cold), `refused`, `growth`, `growth_skipped`,
            `checkpoint`, `non_finite_epochs`, `transfer_seconds`, `max_deviation`,
            `epochs_trained`, `warm_epochs`, `promoted`, `donor_epochs`, `notes` and
            `fit_mode` (see docs/warm_start.md).
        """
        trial_ids = set(lineage_lib.recorded_trial_ids(self.project_dir))
        trial_ids.update(getattr(self.oracle, "trials", {}).keys())
        result = {}
        for trial_id in sorted(trial_ids):
            record = lineage_lib.read_record(self._trial_dir(trial_id))
            result[trial_id] = record if record is not None else lineage_lib.missing_record(
                trial_id
            )
        return lineage_lib.Lineage(result, getattr(self.oracle, "trials", None))

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


def with_repair(tuner_class: type) -> type:
    """Returns a subclass of `tuner_class` that warm-starts its trials like `RepairTuner`.

    The tuner keeps its own search algorithm (its oracle) and arguments; it gains the
    keyword arguments `warm_start`, `donor_pool`, `noise_std`, `growth_factor`,
    `warm_epochs` and `repair_seed` (the morphing seed; defaults to the oracle's `seed`),
    `lineage()`, a progress line per trial and `RepairTuner`'s lighter per-trial
    bookkeeping (`repair/bookkeeping.py`). With `keras_tuner.Hyperband`, a continued
    trial keeps Hyperband's own reload of its parent's weights and budget; only a new
    configuration is warm-started from a relative.

    Args:
        tuner_class: A `keras_tuner.Tuner` subclass, e.g. `keras_tuner.Hyperband`.

    Returns:
        A class named `"<name>WithRepair"`.

    Raises:
        TypeError: when `tuner_class` is not a `keras_tuner.Tuner` subclass.

    Example:

    ```python
    Tuner = kt_nasrepair.with_repair(keras_tuner.Hyperband)
    tuner = Tuner(build_model, objective="val_accuracy", max_epochs=9, directory="runs")
    ```
    """
    if not (isinstance(tuner_class, type) and issubclass(tuner_class, keras_tuner.Tuner)):
        raise TypeError(
            "`tuner_class` must be a keras_tuner.Tuner subclass, e.g. keras_tuner.Hyperband. "
            f"Received: tuner_class={tuner_class!r}"
        )
    if issubclass(tuner_class, RepairMixin):
        return tuner_class

    def __init__(self, *args, warm_start="best_compatible", donor_pool=0.5,
                 noise_std=morph.DEFAULT_NOISE_STD, growth_factor=2.0, warm_epochs="auto",
                 repair_seed=None, population="auto", **kwargs):
        check_max_trials_accepted(tuner_class, kwargs)
        self._init_repair(warm_start=warm_start, donor_pool=donor_pool, noise_std=noise_std,
                          growth_factor=growth_factor, warm_epochs=warm_epochs,
                          seed=repair_seed, population=population)
        tuner_class.__init__(self, *args, **kwargs)

    # LeanTrialsMixin (repair/bookkeeping.py) must precede RepairMixin: it caches donors.
    from kt_nasrepair.repair.bookkeeping import LeanTrialsMixin

    bases = (LeanTrialsMixin, RepairMixin, SearchProgressMixin, tuner_class)
    if issubclass(tuner_class, SearchProgressMixin):
        bases = (LeanTrialsMixin, RepairMixin, tuner_class)
    return type(f"{tuner_class.__name__}WithRepair", bases,
                {"__init__": __init__, "__doc__": with_repair.__doc__})


def _repair_callbacks(kwargs):
    return [cb for cb in kwargs.get("callbacks", []) if isinstance(cb, NeuralRepair)]
