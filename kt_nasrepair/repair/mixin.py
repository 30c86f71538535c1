"""`RepairMixin`: the KerasTuner hooks through which a tuner warm-starts its trials.

`RepairTuner` and `with_repair(cls)` (`tuner.py`) put it on a tuner class. Each execution of a
trial is one `TrialRun` (`trial_run.py`); the mixin holds only what KerasTuner calls.
"""

from __future__ import annotations

import collections
import json
import os
import warnings

import keras
import keras_tuner
from keras_tuner import errors as kt_errors
from keras_tuner.engine.tuner import maybe_distribute

from kt_nasrepair import morph
from kt_nasrepair._io import atomic_write_json, read_json
from kt_nasrepair._validation import check, is_number
from kt_nasrepair.progress import describe_origin
from kt_nasrepair.repair import backend_state
from kt_nasrepair.repair import budget as budget_lib
from kt_nasrepair.repair import checkpoints
from kt_nasrepair.repair import growth as growth_lib
from kt_nasrepair.repair.lineage import Lineage, describe_record
from kt_nasrepair.repair.population import PopulationSearch, auto_population_size
from kt_nasrepair.repair.record import TrialRecord, missing_record, recorded_trial_ids
from kt_nasrepair.repair.trial_run import TrialRun

WARM_START_POLICIES = ("best_compatible", "none")
# Bound at import: whatever `keras_tuner.Tuner` names later (a test's substitute), a donor is
# rebuilt by KerasTuner's own plain build.
_PLAIN_BUILD_HYPERMODEL = keras_tuner.Tuner._build_hypermodel
_BASE_TUNER = keras_tuner.engine.base_tuner.BaseTuner
# NOTE: at most the 25 best completed trials are donors (donors.MAX_DONOR_CANDIDATES); a few
# more cached bounds a long search's memory while the usual donors stay built.
MAX_CACHED_DONORS = 32


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
    """Warm-starts each new trial from a trained relative; put it before the tuner class.

    See `RepairTuner` for the behaviour and `with_repair` for use with any tuner class. The
    subclass's `__init__` must call `_init_repair(...)` (`with_repair` and `RepairTuner` do).

    Class attributes:
        jax_compilation_cache: `True` (default) stores JAX's compiled programs in
            `<project_dir>/jax_compilation_cache`, a string there, `False` leaves JAX's
            cache settings alone. Ignored on other backends.
    """

    jax_compilation_cache: bool | str = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        mro = cls.__mro__
        if any(issubclass(k, _BASE_TUNER) and not issubclass(k, RepairMixin)
               for k in mro[:mro.index(RepairMixin)]):
            raise TypeError(f"{cls.__name__}: put RepairMixin before the tuner class among its "
                            f"bases, or use kt_nasrepair.with_repair(tuner_class). Received "
                            f"bases: {[b.__name__ for b in cls.__bases__]}")

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
        self._records = {}  # trial_id -> TrialRecord of the runs in this process
        self._donor_models = collections.OrderedDict()
        self._gradients_before = {}
        self._tuner_payload = None

    def repair_seed(self):
        """The morphing seed: the tuner's, else the oracle's."""
        return self.seed if self.seed is not None else getattr(self.oracle, "seed", None)

    # -- the search: one trial at a time, or several together -------------------------------

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

    def _build_and_fit_model(self, trial, *args, **kwargs):
        """One execution of `trial` (KerasTuner's hook): a `TrialRun`."""
        execution = self._executions[trial.trial_id] = self._executions.get(trial.trial_id, -1) + 1
        run = TrialRun(self, trial, execution)
        self._records[trial.trial_id] = run.record
        return run.run(args, kwargs)

    def _fit_model(self, trial, model, *args, **kwargs):
        """`HyperModel.fit`, through the population when the search trains several trials."""
        hp = trial.hyperparameters
        population = self._population
        if population is None or not population.in_loop():
            return self.hypermodel.fit(hp, model, *args, **kwargs)
        from kt_nasrepair.hypermodel import DenseHyperModel

        dense = type(self.hypermodel).fit is DenseHyperModel.fit
        return population.fit(self.hypermodel, hp, model, args, kwargs, dense, trial.trial_id)

    # -- building ---------------------------------------------------------------------------

    def _try_build(self, hp):
        """KerasTuner's `_try_build` without its session reset before every build.

        Removes `keras.backend.clear_session()` + `gc.collect()` (1.3-1.9 s a trial with
        TensorFlow loaded on 2 cores, docs/performance.md) and the size count when
        `max_model_size` is unset. Safe: Keras 3 runs eagerly, each model owns its variables
        and compiled functions, and checkpoints store weights by position, not layer name.
        """
        self._maybe_enable_jax_cache()
        model = self._build_hypermodel(hp)
        if not isinstance(model, keras.models.Model):
            raise kt_errors.FatalTypeError(
                "Expected the model-building function, or HyperModel.build() "
                "to return a valid Keras Model instance. "
                f"Received: {model} of type {type(model)}."
            )
        if self.max_model_size:
            size = backend_state.model_size(model)
            if size > self.max_model_size:
                raise kt_errors.FailedTrialError(f"Oversized model: {size} parameters. Skip model.")
        return model

    def _maybe_enable_jax_cache(self):
        setting = self.jax_compilation_cache
        if setting:
            default = os.path.join(str(self.project_dir), backend_state.JAX_CACHE_DIRNAME)
            backend_state.enable_jax_compilation_cache(
                setting if isinstance(setting, str) else default)

    def grown_parent(self, hp):
        """The id of the Hyperband trial `hp` continues when that trial's checkpoint holds a
        grown architecture, else None."""
        parent = hp.values.get("tuner/trial_id")
        if parent is None or not os.path.exists(
                checkpoints.architecture_fname(self.get_trial_dir(parent))):
            return None
        return parent

    def _build_hypermodel(self, hp):
        """KerasTuner's build; a Hyperband trial continuing a grown trial gets its grown model.

        Hyperband reloads the continued trial's checkpoint into a model built from the
        hyperparameters, which cannot hold weights that grew: the stored architecture is
        rebuilt instead, with the checkpoint's weights.
        """
        parent = self.grown_parent(hp)
        if parent is None:
            return super()._build_hypermodel(hp)
        with maybe_distribute(self.distribution_strategy):
            model = checkpoints.stored_architecture(self.get_trial_dir(parent))
            checkpoints.load_weights(model, self._get_checkpoint_fname(parent))
        return model

    def _architecture(self, trial):
        """A model with the architecture `trial`'s checkpoint holds, its weights created.

        KerasTuner's plain `Tuner._build_hypermodel` on purpose: a tuner's own override
        (Hyperband's loads a parent checkpoint) has no business here. A lazily built model is
        built from the build config saved after training, as in KerasTuner's `load_model`.
        """
        with maybe_distribute(self.distribution_strategy):
            model = checkpoints.stored_architecture(self.get_trial_dir(trial.trial_id))
            if model is None:
                model = _PLAIN_BUILD_HYPERMODEL(self, trial.hyperparameters.copy())
            checkpoints.build_if_needed(
                model, read_json(self._get_build_config_fname(trial.trial_id)))
        return model

    def _load_checkpoint(self, model, trial):
        with maybe_distribute(self.distribution_strategy):
            checkpoints.load_weights(model, self._get_checkpoint_fname(trial.trial_id))
        return model

    def load_model(self, trial):
        """Rebuilds `trial`'s model with its best weights, in the architecture they had.

        The checkpoint is the trial's best epoch over all its executions; when the model had
        grown by then, the grown architecture stored with it is rebuilt. Always a new model.
        """
        return self._load_checkpoint(self._architecture(trial), trial)

    def donor_model(self, trial, weights=True):
        """`trial`'s model as a donor, its checkpoint loaded when `weights` is true; built once
        per process for a completed trial (the transfer only reads it)."""
        if trial.status != keras_tuner.engine.trial.TrialStatus.COMPLETED:
            model = self._architecture(trial)
        else:
            cache = self._donor_models
            model = cache.pop(trial.trial_id, None) or self._architecture(trial)
            cache[trial.trial_id] = model  # most recently used last
            while len(cache) > MAX_CACHED_DONORS:
                cache.popitem(last=False)
        return self._load_checkpoint(model, trial) if weights else model

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

    # -- what a trial leaves behind -----------------------------------------------------------

    def on_trial_begin(self, trial):
        self._gradients_before[trial.trial_id] = backend_state.custom_gradient_names()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        """KerasTuner's `on_trial_end`, then the trial's TensorFlow state is released (its
        custom-gradient registrations and eager kernels: docs/performance.md, "Memory")."""
        try:
            super().on_trial_end(trial)
        finally:
            before = self._gradients_before.pop(trial.trial_id, None)
            try:
                if before is not None:
                    backend_state.release_trial_gradients(before)
                if self._population is None:
                    # Not while a population trains: its program's kernels would be made
                    # again mid-fit; its members' own models never ran a traced function.
                    backend_state.clear_eager_kernel_cache()
            except Exception as error:  # TensorFlow internals moved: memory grows, search goes on
                warnings.warn(f"kt_nasrepair could not release a finished trial's TensorFlow "
                              f"state ({type(error).__name__}: {error}); memory may grow per trial")

    def reload(self):
        """KerasTuner's `reload`, less the finished trials it would send for retry.

        KerasTuner's `end_trial` saves the oracle before it drops the trial from
        `ongoing_trials`: a search killed between the two reloads that finished trial as an
        interrupted one and would train it again over its checkpoint.
        """
        super().reload()
        if self._is_worker():
            return  # the chief's oracle reloads (and filters) in the chief
        oracle = self.oracle
        finished = (keras_tuner.engine.trial.TrialStatus.COMPLETED,
                    keras_tuner.engine.trial.TrialStatus.FAILED)
        oracle._retry_queue = [trial_id for trial_id in oracle._retry_queue
                               if oracle.trials[trial_id].status not in finished]

    def save(self):
        """Saves the oracle on every call, as KerasTuner does (a resumed search relies on it);
        writes the tuner file only when it changes or is missing."""
        if not self._is_worker():
            self.oracle.save()
        fname = self._get_tuner_fname()
        payload = json.dumps(self.get_state(), sort_keys=True)
        if payload != self._tuner_payload or not os.path.exists(fname):
            atomic_write_json(fname, self.get_state())
            self._tuner_payload = payload

    # -- records ----------------------------------------------------------------------------

    def _progress_origin(self, trial_id):
        # The progress line's "warm from 03" / "cold" (SearchProgressMixin.progress_details).
        return describe_origin(self.trial_record(trial_id))

    def trial_record(self, trial_id) -> dict | None:
        """`trial_id`'s lineage record as a dict: in memory when this process ran it, else
        read from its directory (another worker's, or a resumed search's); None if none."""
        record = self._records.get(trial_id) or TrialRecord.read(self.get_trial_dir(trial_id))
        return None if record is None else record.to_dict()

    def lineage(self) -> Lineage:
        """The warm-start lineage of every trial; `print(tuner.lineage())` shows a table.

        Returns:
            A `Lineage`: a `dict` `{trial_id: record}` whose `str()` is a table (trial,
            architecture, origin, epochs trained, score), including the trials run by other
            workers. docs/warm_start.md lists the record's fields.
        """
        trials = getattr(self.oracle, "trials", {})
        ids = set(recorded_trial_ids(self.project_dir)) | set(trials) | set(self._records)
        return Lineage({i: self.trial_record(i) or missing_record(i) for i in sorted(ids)},
                       trials or None)

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
            print(describe_record(records.get(trial.trial_id)))
