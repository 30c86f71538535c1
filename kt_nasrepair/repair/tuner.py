"""`RepairTuner`: a KerasTuner `Tuner` that warm-starts every trial from a trained relative.

The tuner only wires an oracle; the behaviour is `RepairMixin`'s (`repair/mixin.py`).
"""

from __future__ import annotations

import keras_tuner

from kt_nasrepair import morph
from kt_nasrepair.progress import SearchProgressMixin
from kt_nasrepair.repair.bookkeeping import LeanTrialsMixin
from kt_nasrepair.repair.mixin import RepairMixin, check_repair_arguments

STRATEGIES = ("entropy", "quasi_random")
# Oracle arguments a user may give either to `RepairTuner` or to the oracle, not both.
_ORACLE_ARGUMENTS = ("objective", "max_trials", "hyperparameters", "tune_new_entries",
                     "allow_new_entries", "max_retries_per_trial",
                     "max_consecutive_failed_trials")


class RepairTuner(LeanTrialsMixin, RepairMixin, SearchProgressMixin, keras_tuner.Tuner):
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
    remaining epochs; the architecture of its best epoch is stored with the checkpoint, so
    `get_best_models()`, `load_model()` and later warm starts rebuild the model that scored
    (grown or not).

    Args:
        hypermodel: A `keras_tuner.HyperModel` or a `build_model(hp)` function.
        oracle: Any `keras_tuner.Oracle`. When omitted, `strategy` builds one of ours from
            `objective`, `max_trials`, `seed` and the other oracle arguments.
        objective: The objective (e.g. `"val_accuracy"`), when `oracle` is omitted.
        max_trials: Number of trials, when `oracle` is omitted. Defaults to 10.
        strategy: `"entropy"` (`EntropySearchOracle`) or `"quasi_random"`
            (`QuasiRandomSearchOracle`: scrambled Sobol points).
            A `keras_tuner.oracles.HyperbandOracle` cannot be passed as `oracle`: its budget
            lives in `keras_tuner.Hyperband.run_trial`; use
            `kt_nasrepair.with_repair(keras_tuner.Hyperband)` instead.
        warm_start: `"best_compatible"` (the best trial of the donor pool the target is
            reachable from) or `"none"` (always cold).
        donor_pool: The share, best first, of the 25 best completed trials that may be
            donors (at least one always may). The default 0.5 keeps poor networks, whose
            bottlenecks would be inherited, from being grown; 1.0 lets any of those 25 be a
            donor.
        warm_epochs: The short budget of a warm-started trial: it trains `warm_epochs`
            epochs, then continues to the full `epochs` (resuming the same `fit`) only when
            its objective already beats its donor's score; otherwise it stops and is scored
            on what it reached. `"auto"` (the default) is a third of `epochs`, rounded up,
            chosen by measurement (docs/performance.md: the same best accuracy as
            `None` in less time); `None` trains every trial its full `epochs`, as before.
            Cold trials always train in full.
        population: How many trials train at once. The oracle hands out up to that many
            trials together (as to the workers of KerasTuner's distributed mode); those
            whose models are plain Dense stacks sharing data and compile settings train in
            one compiled program (`kt_nasrepair.shape_stable.PopulationDenseModel`), each
            reported, checkpointed and scored exactly as if it had trained alone; others
            fit one at a time. `"auto"` (the default) is 8 on TensorFlow and JAX (at most a
            quarter of `max_trials`), 1 on torch; 1 trains one trial at a time.
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
        if strategy not in STRATEGIES:
            raise ValueError(
                f"`strategy` must be one of {STRATEGIES}. Received: strategy={strategy!r}"
            )
        check_repair_arguments(warm_start, donor_pool, noise_std, growth_factor, warm_epochs,
                               population)
        oracle_kwargs = dict(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
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
