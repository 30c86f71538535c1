"""Quasi-random search: `QuasiRandomSearchOracle` and its `QuasiRandomSearch` tuner."""

from __future__ import annotations

import keras_tuner

from kt_nasrepair.oracles._base import BaseSearchOracle


class QuasiRandomSearchOracle(BaseSearchOracle):
    """Quasi-random search over a KerasTuner space.

    The i-th trial uses the i-th point of a scrambled Sobol sequence (Owen
    1998; scipy.stats.qmc), one coordinate per tunable hyperparameter, mapped
    through that hyperparameter's own `prob_to_value`, so the trials cover
    the space more evenly than independent draws while `step`, `log`
    sampling and conditions are kept. A configuration is never proposed
    twice; a finite space is enumerated without replacement once the
    sequence only hits tried configurations, and the search reports
    `STOPPED` when every configuration has been tried.

    The arguments are those of KerasTuner's `RandomSearchOracle`, in the same
    positions, so a call written for it means the same here.

    Args:
        objective: a string, `keras_tuner.Objective` or list of them, as for
            any KerasTuner oracle. Defaults to None (the value returned by
            `run_trial`, minimised).
        max_trials: integer >= 1 (or None), the number of trials to create at
            most. Defaults to 10.
        seed: optional integer seed of the sequence.
        hyperparameters: optional `HyperParameters` to register in advance.
        allow_new_entries: whether the hypermodel may add entries. Defaults to
            True.
        tune_new_entries: whether added entries are tuned. Defaults to True.
        max_retries_per_trial: retries of a crashed trial. Defaults to 0.
        max_consecutive_failed_trials: failures in a row that stop the
            search. Defaults to 3.

    Raises:
        ValueError: for `max_trials` < 1, a `seed` that is not an integer >= 0,
            `max_retries_per_trial` < 0 or `max_consecutive_failed_trials` < 1.
        TypeError: for `hyperparameters` that are not a `keras_tuner.HyperParameters`.

    Example:

    ```python
    oracle = QuasiRandomSearchOracle(objective="val_accuracy", max_trials=20, seed=1)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=build_model)
    ```
    """

    def __init__(
        self,
        objective=None,
        max_trials=10,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
    ):
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )

    def populate_space(self, trial_id):
        """Returns the next untried quasi-random configuration.

        Args:
            trial_id: the id of the trial being created.

        Returns:
            `{"status": "RUNNING", "values": {...}}`, or status "STOPPED" when
            the space is exhausted.
        """
        self.record_known_trials()
        return self.quasi_random_response()


class QuasiRandomSearch(keras_tuner.Tuner):
    """A `keras_tuner.Tuner` driven by `QuasiRandomSearchOracle`.

    Positional arguments are those of `keras_tuner.RandomSearch`, in its
    order.

    Args:
        hypermodel: a `HyperModel` or a function `hp -> model`; optional when
            `run_trial` is overridden.
        objective: passed to `QuasiRandomSearchOracle`, as are all the other
            arguments but `**kwargs` (see its documentation).
        **kwargs: any other `keras_tuner.Tuner` argument (`directory`,
            `project_name`, `overwrite`, ...).

    Example:

    ```python
    tuner = QuasiRandomSearch(build_model, objective="val_accuracy", max_trials=20)
    tuner.search(x, y, validation_split=0.2, epochs=3)
    ```
    """

    def __init__(
        self,
        hypermodel=None,
        objective=None,
        max_trials=10,
        seed=None,
        hyperparameters=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        **kwargs,
    ):
        self.seed = seed
        oracle = QuasiRandomSearchOracle(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
