"""Quasi-random search: `QuasiRandomSearchOracle` and its `QuasiRandomSearch` tuner."""

from __future__ import annotations

import keras_tuner

from kt_nasrepair.oracles._base import BaseSearchOracle
from kt_nasrepair.oracles._base import oracle_from_arguments


class QuasiRandomSearchOracle(BaseSearchOracle):
    """Quasi-random search: the i-th trial is the i-th point of a scrambled Sobol sequence.

    Values go through each hyperparameter's `prob_to_value`; no configuration is proposed
    twice, and a finite space ends with `STOPPED` once all are tried (docs/oracles.md).

    Args:
        objective: a string, `keras_tuner.Objective` or list of them. Defaults to None (the
            value returned by `run_trial`, minimised).
        max_trials: integer >= 1 (or None), the number of trials at most. Defaults to 10.
        seed: optional integer seed of the sequence.
        hyperparameters: optional `HyperParameters` to register in advance; it and the other
            arguments are those of KerasTuner's `RandomSearchOracle`, in its order.

    Example:

    ```python
    oracle = QuasiRandomSearchOracle("val_accuracy", 20, 1)  # as RandomSearchOracle's
    keras_tuner.Tuner(oracle=oracle, hypermodel=build_model).search(x, y, epochs=3)
    ```
    """

    def populate_space(self, trial_id):
        """Proposes the next untried quasi-random configuration, or "STOPPED" when none is left."""
        self.record_known_trials()
        return self.quasi_random_response()


class QuasiRandomSearch(keras_tuner.Tuner):
    """A `keras_tuner.Tuner` driven by `QuasiRandomSearchOracle`, in `RandomSearch`'s order.

    Args:
        hypermodel: a `HyperModel` or a function `hp -> model`; optional when `run_trial` is
            overridden.
        objective: passed to `QuasiRandomSearchOracle`, as are all the other arguments but
            `**kwargs`, any other `keras_tuner.Tuner` argument (`directory`, `project_name`, ...).

    Example:

    ```python
    tuner = QuasiRandomSearch(build_model, "val_accuracy", 20, directory="runs")  # as RandomSearch
    tuner.search(x, y, validation_split=0.2, epochs=3)
    ```
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=10, seed=None,
                 hyperparameters=None, tune_new_entries=True, allow_new_entries=True,
                 max_retries_per_trial=0, max_consecutive_failed_trials=3, **kwargs):
        self.seed = seed
        oracle = oracle_from_arguments(QuasiRandomSearchOracle, locals())
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
