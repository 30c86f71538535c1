"""Behaviour shared by the oracles of this package (the Oracle contract of docs/oracles.md)."""

from __future__ import annotations

import inspect
import os

import keras_tuner
import numpy as np
from keras_tuner.engine.trial import TrialStatus

from kt_nasrepair._io import atomic_write_json
from kt_nasrepair._validation import check
from kt_nasrepair._validation import is_int
from kt_nasrepair.oracles._encoding import UnitCubeEncoder
from kt_nasrepair.oracles._encoding import UnitCubeSampler

# Finite spaces up to this many raw combinations are enumerated: the search stops exactly when
# every configuration has been tried.
ENUMERATION_LIMIT = 20_000
# Quasi-random draws tried before falling back to enumeration / stopping.
MAX_DRAWS = 64


def oracle_from_arguments(oracle_class, arguments: dict):
    """`oracle_class` built from a tuner's `__init__` arguments (its `locals()`), by name."""
    names = inspect.signature(oracle_class).parameters
    return oracle_class(**{name: arguments[name] for name in names})


class BaseSearchOracle(keras_tuner.Oracle):
    """An `Oracle` with quasi-random proposals, clear errors and a resumable random stream.

    Subclasses implement `populate_space`. The arguments are those of `RandomSearchOracle`.
    """

    def __init__(self, objective=None, max_trials=10, seed=None, hyperparameters=None,
                 allow_new_entries=True, tune_new_entries=True, max_retries_per_trial=0,
                 max_consecutive_failed_trials=3):
        check(max_trials is None or (is_int(max_trials) and max_trials >= 1), "max_trials",
              max_trials, "an integer >= 1 (or None for no limit)")
        check(seed is None or (is_int(seed) and seed >= 0), "seed", seed,
              "None or an integer >= 0")
        # KerasTuner fails late and obscurely on these, or never stops on failures.
        check(hyperparameters is None or isinstance(hyperparameters, keras_tuner.HyperParameters),
              "hyperparameters", hyperparameters, "None or a `keras_tuner.HyperParameters`",
              error=TypeError)
        check(is_int(max_retries_per_trial) and max_retries_per_trial >= 0,
              "max_retries_per_trial", max_retries_per_trial, "an integer >= 0")
        check(is_int(max_consecutive_failed_trials) and max_consecutive_failed_trials >= 1,
              "max_consecutive_failed_trials", max_consecutive_failed_trials, "an integer >= 1")
        super().__init__(
            objective=objective, max_trials=max_trials, seed=seed, hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries, tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        if seed is not None:
            # NOTE: KerasTuner draws a random seed for a falsy `seed`; seed=0 must stay 0.
            self.seed = self._seed_state = int(seed)
        self._sampler = UnitCubeSampler(self.seed)
        self._num_proposals = 0

    def next_rng(self) -> np.random.Generator:
        """A generator for one proposal, a function of (seed, proposal count)."""
        rng = np.random.default_rng([int(self.seed), self._num_proposals])
        self._num_proposals += 1
        return rng

    def make_encoder(self) -> UnitCubeEncoder:
        """The encoder of the current (possibly extended) search space."""
        return UnitCubeEncoder(self.hyperparameters)

    def _first_untried(self, candidates):
        return next((values for values in candidates if not self._duplicate(values)), None)

    def quasi_random_values(self, encoder=None):
        """Untried values, or None when the space is exhausted.

        `MAX_DRAWS` Sobol points, then a uniform draw among the untried configurations of a
        finite space, or `MAX_DRAWS` plain random draws of one too large to enumerate.
        """
        encoder = encoder or self.make_encoder()
        draws = (self._sampler.draw(encoder.num_probs) for _ in range(MAX_DRAWS))
        values = self._first_untried(map(encoder.probs_to_values, draws))
        if values is not None:
            return values
        configs = encoder.enumerate(ENUMERATION_LIMIT)
        rng = self.next_rng()
        if configs is None:
            draws = (rng.uniform(size=encoder.num_probs) for _ in range(MAX_DRAWS))
            return self._first_untried(map(encoder.probs_to_values, draws))
        untried = [values for values in configs if not self._duplicate(values)]
        return untried[int(rng.integers(len(untried)))] if untried else None

    def quasi_random_response(self, encoder=None) -> dict:
        values = self.quasi_random_values(encoder)
        return {"status": TrialStatus.STOPPED if values is None else TrialStatus.RUNNING,
                "values": values}

    def objective_names(self) -> list[str]:
        # KerasTuner's `MultiObjective` (not exported) has `name_to_direction`.
        return list(getattr(self.objective, "name_to_direction", [self.objective.name]))

    def known_trials(self) -> list:
        """Every trial: those started here (`start_order`), then the others by id."""
        # NOTE: not dict order: a reloaded oracle reads trials back in file-system order, and the
        # GP fit depends on row order in the last bits, which L-BFGS-B amplifies.
        started = [i for i in dict.fromkeys(self.start_order) if i in self.trials]
        others = sorted(set(self.trials) - set(started), key=str)
        return [self.trials[i] for i in started + others]

    def completed_trials(self) -> list:
        """The completed trials with a finite score, in the order of `known_trials`."""
        return [t for t in self.known_trials() if t.status == TrialStatus.COMPLETED
                and t.score is not None and np.isfinite(t.score)]

    def record_known_trials(self) -> None:
        """Marks trials added outside `create_trial` as tried (KerasTuner records only its own)."""
        for trial in self.trials.values():
            if trial.trial_id not in self._id_to_hash:  # every trial KerasTuner recorded
                self._record_values(trial)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        self.record_known_trials()
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        """Records metrics; a missing objective is reported at `end_trial`."""
        if all(name in metrics for name in self.objective_names()):
            return super().update_trial(trial_id, metrics, step=step)
        trial = self.trials[trial_id]
        for name, value in metrics.items():
            trial.metrics.update(name, value, step=step)
        self._save_trial(trial)
        return trial

    @keras_tuner.synchronized  # as KerasTuner's: the checks read state other workers share
    def end_trial(self, trial):
        """Ends a trial; a `ValueError` names a completed trial's missing objective and metrics."""
        if trial.status == TrialStatus.COMPLETED:
            reported = sorted(self.trials[trial.trial_id].metrics.metrics)
            missing = [n for n in self.objective_names() if n not in reported]
            if missing:
                raise ValueError(
                    f"The objective {missing if len(missing) > 1 else missing[0]!r} "
                    f"was not reported by trial {trial.trial_id}. Reported metrics: "
                    f"{reported}. Pass an `objective` that names one of them.")
        return super().end_trial(trial)

    def score_trial(self, trial):
        """Scores a trial; a multi-objective without a "multi_objective" metric from its parts."""
        multi_objective = hasattr(self.objective, "name_to_direction")
        if not multi_objective or trial.metrics.exists(self.objective.name):
            return super().score_trial(trial)
        names = self.objective_names()
        trial.score = self.objective.get_value({n: trial.metrics.get_best_value(n) for n in names})
        trial.best_step = trial.metrics.get_best_step(names[0])

    def save(self):
        # KerasTuner writes oracle.json in place; a kill mid-write breaks `overwrite=False`.
        atomic_write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        # Same for trial.json (a private hook: tests/reliability/test_atomic_io.py checks it).
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        atomic_write_json(path, trial.get_state())

    def get_state(self):
        state = super().get_state()
        # KerasTuner saves its `_tried_so_far` set in hash order, which changes with PYTHONHASHSEED.
        state["tried_so_far"] = sorted(state.get("tried_so_far", []))
        state.update(sampler_state=self._sampler.get_state(), num_proposals=self._num_proposals)
        return state

    def set_state(self, state):
        super().set_state(state)
        self._sampler = UnitCubeSampler(self.seed)
        if "sampler_state" in state:
            self._sampler.set_state(state["sampler_state"])
        self._num_proposals = int(state.get("num_proposals", 0))
