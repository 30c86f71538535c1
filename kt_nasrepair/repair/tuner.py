"""The two ways to a repairing tuner: `RepairTuner` (`RepairMixin` on `keras_tuner.Tuner`,
wired to one of our oracles) and `with_repair(tuner_class)` (on any KerasTuner tuner)."""

from __future__ import annotations

import keras_tuner

from kt_nasrepair import morph
from kt_nasrepair._validation import check
from kt_nasrepair.progress import SearchProgressMixin
from kt_nasrepair.repair.fit_checks import check_max_trials_accepted
from kt_nasrepair.repair.mixin import RepairMixin, check_repair_arguments

STRATEGIES = ("entropy", "quasi_random")
# Oracle arguments a user may give either to `RepairTuner` or to the oracle, not both.
_ORACLE_ARGUMENTS = ("objective", "max_trials", "hyperparameters", "tune_new_entries",
                     "allow_new_entries", "max_retries_per_trial",
                     "max_consecutive_failed_trials")


class RepairTuner(RepairMixin, SearchProgressMixin, keras_tuner.Tuner):
    """A KerasTuner tuner that warm-starts each trial with Net2Net instead of training cold.

    Each new trial's model is built from its hyperparameters as usual; when it is reachable
    from one of the best completed trials (`kt_nasrepair.morph.can_transfer`: same inputs
    and outputs, at least as deep and wide), that donor's best checkpoint is grown into it by
    function-preserving widening and deepening, then the trial trains and is scored exactly
    as in KerasTuner. A model that cannot be morphed (a Conv net) trains cold with the reason
    recorded, never an error; data that does not fit the model, or an objective the model
    never reports, fails the trial with a message naming both sides. Every trial's record
    (`lineage()`, `repair.json` in its directory) survives a reload and is shared by every
    worker. With `NeuralRepair(grow_on_plateau=True)` in `search(callbacks=...)` a stalled
    trial is widened and trains on; `load_model` rebuilds the architecture of its best epoch.

    Args:
        hypermodel: A `keras_tuner.HyperModel` or a `build_model(hp)` function.
        oracle: Any `keras_tuner.Oracle`. When omitted, `strategy` builds one of ours from
            `objective`, `max_trials`, `seed` and the other oracle arguments.
        objective: The objective (e.g. `"val_accuracy"`), when `oracle` is omitted.
        max_trials: Number of trials, when `oracle` is omitted. Defaults to 10.
        strategy: `"entropy"` (`EntropySearchOracle`) or `"quasi_random"`
            (`QuasiRandomSearchOracle`: scrambled Sobol points).
            For Hyperband use `kt_nasrepair.with_repair(keras_tuner.Hyperband)`.
        warm_start: `"best_compatible"` (the best trial of the donor pool the target is
            reachable from) or `"none"` (always cold).
        donor_pool: The share, best first, of the 25 best completed trials that may be
            donors (at least one always may); 0.5 keeps poor networks' bottlenecks from
            being inherited.
        warm_epochs: A warm-started trial trains `warm_epochs` epochs, then goes on to
            `epochs` only when its objective already beats its donor's score. `"auto"`
            (default, measured in docs/performance.md) is a third of `epochs`, rounded up;
            `None` trains every trial in full. Cold trials always train in full.
        population: How many trials train at once, in one compiled program when their
            models are plain Dense stacks sharing data and compile settings, each scored
            as if alone (docs/guides/population.md). `"auto"` (default): 8 on TensorFlow
            and JAX (at most a quarter of `max_trials`), 1 on torch.
        noise_std: Net2Net symmetry-breaking noise (see `kt_nasrepair.morph`).
        growth_factor: How much a plateau growth widens each hidden layer (>= 1; at least one
            unit is always added).
        seed: Seed of the oracle and of the morphing noise (with `oracle=`, give the seed
            to the oracle: the morphing noise follows it).
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
        warm_epochs="auto",
        population="auto",
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
        check(strategy in STRATEGIES, "strategy", strategy, f"one of {STRATEGIES}")
        check_repair_arguments(warm_start, donor_pool, noise_std, growth_factor, warm_epochs,
                               population)
        oracle_kwargs = dict(
            objective=objective, max_trials=max_trials, hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries, allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials)
        if oracle is None:
            oracle_kwargs["max_trials"] = 10 if max_trials is None else max_trials
            oracle = _make_oracle(strategy, seed=seed, **oracle_kwargs)
        else:
            # The morphing noise then follows the oracle's own seed.
            _check_given_oracle(oracle, {**oracle_kwargs, "seed": seed})
        self._init_repair(warm_start=warm_start, donor_pool=donor_pool, noise_std=noise_std,
                          growth_factor=growth_factor, warm_epochs=warm_epochs, seed=seed,
                          population=population)
        self.strategy = strategy
        super().__init__(oracle=oracle, hypermodel=hypermodel, **tuner_kwargs)


def _make_oracle(strategy, **kwargs):
    from kt_nasrepair import oracles

    cls = oracles.EntropySearchOracle if strategy == "entropy" else oracles.QuasiRandomSearchOracle
    return cls(**kwargs)


def _check_given_oracle(oracle, oracle_kwargs):
    if not isinstance(oracle, keras_tuner.Oracle):
        # KerasTuner's Tuner raises a ValueError worded so; code written for it catches that.
        raise ValueError(
            "Expected `oracle` argument to be an instance of `Oracle` (or None to build one "
            "from `strategy`); pass the objective as `objective=`. "
            f"Received: oracle={oracle!r}"
        )
    if isinstance(oracle, keras_tuner.oracles.HyperbandOracle):
        raise ValueError(
            "`oracle` cannot be a HyperbandOracle: Hyperband's epoch budget and weight "
            "reloading live in `keras_tuner.Hyperband`, not in its oracle. Use "
            "`kt_nasrepair.with_repair(keras_tuner.Hyperband)(hypermodel, objective=..., "
            f"max_epochs=...)` instead. Received: oracle={oracle!r}"
        )
    defaults = {"tune_new_entries": True, "allow_new_entries": True,
                "max_retries_per_trial": 0, "max_consecutive_failed_trials": 3}
    given = {k: v for k, v in oracle_kwargs.items()
             if (v is not None if k not in defaults else v != defaults[k])}
    if given:
        raise ValueError(
            f"{sorted(given)} belong to the oracle when `oracle` is given: set them on the "
            f"oracle instead. Received: {', '.join(f'{k}={v!r}' for k, v in sorted(given.items()))}"
        )


def with_repair(tuner_class: type) -> type:
    """Returns `"<name>WithRepair"`, `tuner_class` warm-starting its trials like `RepairTuner`.

    It keeps its own oracle and arguments and gains `RepairTuner`'s `warm_start`,
    `donor_pool`, `noise_std`, `growth_factor`, `warm_epochs`, `population` and
    `repair_seed` (the morphing seed; defaults to the oracle's), `lineage()` and a progress
    line. A continued Hyperband trial keeps Hyperband's own reload of its parent's weights.

    Args:
        tuner_class: A `keras_tuner.Tuner` subclass, e.g. `keras_tuner.Hyperband`.

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

    bases = (RepairMixin, SearchProgressMixin, tuner_class)
    if issubclass(tuner_class, SearchProgressMixin):
        bases = (RepairMixin, tuner_class)
    return type(f"{tuner_class.__name__}WithRepair", bases,
                {"__init__": __init__, "__doc__": with_repair.__doc__})
