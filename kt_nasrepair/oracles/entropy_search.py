"""Max-value Entropy Search: `EntropySearchOracle` and its `EntropySearch` tuner.

The method and references: docs/oracles.md; overridable steps: docs/guides/custom_oracle.md.
"""

from __future__ import annotations

import keras_tuner
import numpy as np
import threadpoolctl
from keras_tuner.engine.trial import TrialStatus
from scipy import optimize

from kt_nasrepair._validation import check
from kt_nasrepair._validation import is_int
from kt_nasrepair.oracles import _mes
from kt_nasrepair.oracles._base import BaseSearchOracle
from kt_nasrepair.oracles._base import oracle_from_arguments
from kt_nasrepair.oracles._encoding import sobol_points
from kt_nasrepair.oracles._gp import GaussianProcessSurrogate

# Distinct candidates checked against the tried configurations before giving up.
_MAX_CHECKED = 256


class EntropySearchOracle(BaseSearchOracle):
    """Bayesian optimisation with Max-value Entropy Search (Wang & Jegelka 2017).

    A GP on the encoded completed trials, MES over Sobol candidates and perturbations of the
    best trials; running trials enter as kriging-believer fantasies (docs/oracles.md).

    Args:
        objective: a string, `keras_tuner.Objective` or list of them.
            Defaults to None (the value returned by `run_trial`, minimised).
        max_trials: integer >= 1 (or None). Defaults to 10.
        num_initial_points: integer >= 1, completed quasi-random trials before the GP is used.
            Defaults to None: max(number of tunable hyperparameters + 1, 5).
        num_max_samples: integer >= 1, the y* samples averaged by the acquisition. Defaults to 10.
        num_candidates: integer >= 1, Sobol candidates per proposal. Defaults to 1024.
        seed: optional integer seed.
        hyperparameters: as for any KerasTuner oracle; so are the other arguments.

    Example:

    ```python
    oracle = EntropySearchOracle(objective="val_accuracy", max_trials=30, seed=1)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=build_model)
    ```
    """

    def __init__(self, objective=None, max_trials=10, num_initial_points=None,
                 num_max_samples=10, num_candidates=1024, seed=None, hyperparameters=None,
                 allow_new_entries=True, tune_new_entries=True, max_retries_per_trial=0,
                 max_consecutive_failed_trials=3):
        counts = {"num_initial_points": num_initial_points, "num_max_samples": num_max_samples,
                  "num_candidates": num_candidates}
        for name, value in counts.items():
            optional = value is None and name == "num_initial_points"
            check(optional or (is_int(value) and value >= 1), name, value, "an integer >= 1")
        super().__init__(objective, max_trials, seed, hyperparameters, allow_new_entries,
                         tune_new_entries, max_retries_per_trial, max_consecutive_failed_trials)
        self.num_initial_points = num_initial_points
        self.num_max_samples = int(num_max_samples)
        self.num_candidates = int(num_candidates)
        self._theta = None  # the kernel's warm start, saved: a reload proposes the same

    def populate_space(self, trial_id):
        """Proposes the untried configuration with the highest MES acquisition, or "STOPPED"."""
        # NOTE: matrices of a few hundred rows: BLAS threads only add synchronisation (14x
        # slower measured on 2 busy cores).
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            return self._propose()

    def _propose(self):
        encoder = self.make_encoder()
        self.record_known_trials()
        completed = self.completed_trials()
        num_initial = self.num_initial_points or max(encoder.num_probs + 1, 5)
        if len(completed) < num_initial or encoder.num_probs == 0:
            return self.quasi_random_response(encoder)
        rng = self.next_rng()
        x, y = self.encode_trials(encoder, completed)
        surrogate = self.fit_surrogate(x, y, rng)
        pending = [encoder.encode(t.hyperparameters.values) for t in self.ongoing_trials.values()
                   if t.status == TrialStatus.RUNNING]
        if pending:
            surrogate = surrogate.with_fantasies(np.array(pending))
        probs = self.generate_candidates(encoder, x, y, completed, rng)
        features = encoder.probs_to_features(probs)
        max_values = self.sample_max_values(surrogate, np.vstack([features, x]), y, rng)

        def score(batch):
            return self.acquisition(surrogate, batch, max_values)

        values = self.choose_candidate(encoder, probs, score(features), score)
        if values is None:
            return self.quasi_random_response(encoder)
        return {"status": TrialStatus.RUNNING, "values": values}

    def encode_trials(self, encoder, trials):
        """`(x, y)`: features (n, num_features) and scores (n,) of trials, negated if minimised."""
        x = np.array([encoder.encode(t.hyperparameters.values) for t in trials])
        sign = 1.0 if self.objective.direction == "max" else -1.0
        return x, sign * np.array([float(t.score) for t in trials])

    def fit_surrogate(self, x, y, rng):
        """A `GaussianProcessSurrogate` fitted to `(x, y)`, warm-started from the last fit."""
        # NOTE: a random restart only every fifth proposal (or without a warm start): the warm
        # start is usually at the optimum already, and a restart costs as much as the rest.
        restarts = 1 if self._theta is None or self._num_proposals % 5 == 0 else 0
        surrogate = GaussianProcessSurrogate(restarts, seed=int(rng.integers(2**31 - 1)))
        surrogate.fit(x, y, theta=self._theta)
        self._theta = [float(v) for v in surrogate.theta]
        return surrogate

    def generate_candidates(self, encoder, x, y, trials, rng):
        """Sobol points and perturbations (sd 0.1) of the five best trials: (m, num_probs)."""
        sobol = sobol_points(self.num_candidates, encoder.num_probs, rng)
        centres = np.array([encoder.values_to_probs(trials[i].hyperparameters.values)
                            for i in np.argsort(-y)[:5]])
        local = centres[rng.integers(len(centres), size=max(self.num_candidates // 4, 1))]
        local = local + rng.normal(scale=0.1, size=local.shape)
        return np.clip(np.vstack([sobol, local]), 0.0, 1.0 - 1e-9)

    def sample_max_values(self, surrogate, features, y, rng):
        """`num_max_samples` Gumbel-approximated samples of y* on `features`, floored at max(y)."""
        mean, std = surrogate.predict(features)
        # NOTE: y* below an observed value is impossible (Wang & Jegelka 2017, sec. 3.1).
        floor = float(np.max(y)) + 1e-6 * (float(np.std(y)) + 1e-12)
        return _mes.gumbel_max_value_samples(mean, std, self.num_max_samples, rng, floor)

    def acquisition(self, surrogate, features, max_values):
        """The MES acquisition (n,), larger is better, of features (n, d), given y* samples."""
        mean, std = surrogate.predict(features)
        return _mes.mes_acquisition(mean, std, max_values)

    def choose_candidate(self, encoder, probs, scores, score_fn):
        """The best untried candidate (a values dict, or None), the three best refined first.

        The refinement is L-BFGS-B on `score_fn` over the stepless `Float` coordinates.
        """
        order = np.argsort(-scores, kind="stable")
        if encoder.continuous.any() and not encoder.has_conditions:
            refined = [self._refine(encoder, probs[i], score_fn) for i in order[:3]]
            probs = np.vstack([np.array(refined), probs])
            scores = np.concatenate([score_fn(encoder.probs_to_features(probs[:3])), scores])
            order = np.argsort(-scores, kind="stable")
        seen = set()
        for index in order:
            values = encoder.probs_to_values(probs[index])
            key = tuple(sorted((k, str(v)) for k, v in values.items()))
            if key in seen:
                continue
            seen.add(key)
            if not self._duplicate(values):
                return values
            if len(seen) >= _MAX_CHECKED:
                return None
        return None

    def _refine(self, encoder, start, score_fn):
        mask = encoder.continuous
        num_free, step = int(mask.sum()), 1e-6
        # NOTE: forward differences: the point and its shifted copies go through the GP in one
        # batch, which costs about as much as one point.

        def loss_and_grad(z):
            points = np.repeat(start[None], num_free + 1, axis=0)
            points[:, mask] = z
            points[1:, mask] += step * np.eye(num_free)
            values = -score_fn(encoder.probs_to_features(points))
            return float(values[0]), (values[1:] - values[0]) / step

        result = optimize.minimize(loss_and_grad, start[mask], jac=True, method="L-BFGS-B",
                                   bounds=[(0.0, 1.0 - 1e-5)] * num_free, options={"maxiter": 30})
        point = start.copy()
        point[mask] = np.clip(result.x, 0.0, 1.0 - 1e-9)
        return point

    def get_state(self):
        state = super().get_state()
        state.update(num_initial_points=self.num_initial_points, kernel_theta=self._theta,
                     num_max_samples=self.num_max_samples, num_candidates=self.num_candidates)
        return state

    def set_state(self, state):
        # NOTE: the constructor's settings win over the saved ones (KerasTuner issue #803).
        super().set_state(state)
        theta = state.get("kernel_theta")
        self._theta = [float(v) for v in theta] if isinstance(theta, list) else None


class EntropySearch(keras_tuner.Tuner):
    """A `keras_tuner.Tuner` driven by `EntropySearchOracle`.

    Args:
        hypermodel: a `HyperModel` or a function `hp -> model`; optional when `run_trial` is
            overridden.
        objective: passed to `EntropySearchOracle`, as are all the other arguments but
            `**kwargs`, any other `keras_tuner.Tuner` argument.

    Example:

    ```python
    tuner = EntropySearch(build_model, objective="val_accuracy", max_trials=30)
    tuner.search(x, y, validation_split=0.2, epochs=3)
    ```
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=10, num_initial_points=None,
                 num_max_samples=10, num_candidates=1024, seed=None, hyperparameters=None,
                 tune_new_entries=True, allow_new_entries=True, max_retries_per_trial=0,
                 max_consecutive_failed_trials=3, **kwargs):
        oracle = oracle_from_arguments(EntropySearchOracle, locals())
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
