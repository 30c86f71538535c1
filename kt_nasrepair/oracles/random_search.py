"""Deprecated names of the quasi-random search: `RandomSearchOracle`, `RandomSearch`.

They shadowed KerasTuner's `RandomSearchOracle` / `RandomSearch` (same names, other classes)
and took `sampler` positionally before `hyperparameters`. Use `QuasiRandomSearchOracle` and
`QuasiRandomSearch` (`kt_nasrepair.oracles.quasi_random_search`). These aliases keep the old
signature, emit a `DeprecationWarning` when constructed, and will be removed in the next
release together with this module.
"""

from __future__ import annotations

import warnings

from kt_nasrepair.oracles.quasi_random_search import QuasiRandomSearch
from kt_nasrepair.oracles.quasi_random_search import QuasiRandomSearchOracle


def _warn(old: str, new: str) -> None:
    warnings.warn(
        f"`kt_nasrepair.{old}` is deprecated and will be removed in the next release: it "
        f"shadows `keras_tuner.{old}`. Use `kt_nasrepair.{new}` (same behaviour; "
        "`sampler` is keyword-only there).",
        DeprecationWarning,
        stacklevel=3,
    )


class RandomSearchOracle(QuasiRandomSearchOracle):
    """Deprecated: use `QuasiRandomSearchOracle`; the old positional order is kept."""

    def __init__(
        self,
        objective=None,
        max_trials=10,
        seed=None,
        sampler="sobol",
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
    ):
        _warn("RandomSearchOracle", "QuasiRandomSearchOracle")
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            sampler=sampler,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )


class RandomSearch(QuasiRandomSearch):
    """Deprecated: use `QuasiRandomSearch`; the old positional order is kept."""

    def __init__(
        self,
        hypermodel=None,
        objective=None,
        max_trials=10,
        seed=None,
        sampler="sobol",
        hyperparameters=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        **kwargs,
    ):
        _warn("RandomSearch", "QuasiRandomSearch")
        super().__init__(
            hypermodel=hypermodel,
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            sampler=sampler,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            **kwargs,
        )
